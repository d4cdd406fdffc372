# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
Schema migrations.

The rules:

  - The schema is the result of applying, in order, the delta files of
    this package, named C{NNN_description.sql} (C{NNN}: a version number,
    unique and increasing).  A delta may have per-dialect variants named
    C{NNN_description.sqlite.sql} or C{NNN_description.postgres.sql}; a
    variant for the running dialect replaces the generic file.
  - Generic files use SQL that both SQLite and PostgreSQL understand; the
    one rewrite is the column type C{BLOB}, which becomes C{BYTEA} on
    PostgreSQL.  Statements end with C{;} at the end of a line; lines
    starting with C{--} are comments.
  - At startup (L{applyMigrations_txn}), every version not yet recorded in
    the C{schema_version} table is applied, in order, and recorded with its
    name and time, in one transaction (PostgreSQL: under an advisory lock,
    so nodes starting together do not race).
  - B{Never edit a delta that may have been applied anywhere}: add a new
    one (C{002_...sql}) instead, even to fix a mistake.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any, Dict, List, Tuple

_DELTA = re.compile(r"^(\d+)_(\w+?)(?:\.(sqlite|postgres))?\.sql$")


def deltas(dialectName: str) -> List[Tuple[int, str, str]]:
    """
    The schema deltas for one dialect, in order.

    @param dialectName: C{"sqlite"} or C{"postgres"}.
    @return: a list of C{(version, name, text)}.
    """
    found: Dict[int, Tuple[int, str, str]] = {}
    for entry in resources.files(__name__).iterdir():
        match = _DELTA.match(entry.name)
        if match is None:
            continue
        version, name, variant = match.groups()
        if variant not in (None, dialectName):
            continue
        key = int(version)
        if variant is None and key in found:
            continue
        found[key] = (key, name, entry.read_text(encoding="utf-8"))
    return [found[k] for k in sorted(found)]


def statements(text: str) -> List[str]:
    """
    Split a delta into statements.

    @return: a list of SQL statements, without comments.
    """
    lines = [line for line in text.splitlines()
             if not line.lstrip().startswith("--")]
    parts = re.split(r";[ \t]*$", "\n".join(lines), flags=re.MULTILINE)
    return [p.strip() for p in parts if p.strip()]


def applyMigrations_txn(txn: Any, dialect: Any, now: int) -> List[int]:
    """
    Apply the deltas not yet recorded in C{schema_version}.

    @param txn: a cursor, in a write transaction.
    @param dialect: the L{fxim.storage.dialect.Dialect}.
    @param now: the time (ms) to record.
    @return: the list of versions applied now.
    """
    dialect.lockMigrations(txn)
    txn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL,"
        " applied_at BIGINT NOT NULL)")
    txn.execute("SELECT version FROM schema_version")
    done = {row[0] for row in txn.fetchall()}
    applied = []
    for version, name, text in deltas(dialect.name):
        if version in done:
            continue
        for statement in statements(dialect.schemaText(text)):
            txn.execute(statement)
        txn.execute(dialect.q(
            "INSERT INTO schema_version (version, name, applied_at)"
            " VALUES (?, ?, ?)"), (version, name, now))
        applied.append(version)
    return applied
