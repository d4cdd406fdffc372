# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
The few differences between SQLite and PostgreSQL SQL, in one place.

Queries (the C{*_txn} functions of L{fxim.storage.users} and its
siblings) are written once, with C{?} placeholders,
C{INSERT ... ON CONFLICT ... DO UPDATE} upserts and C{RETURNING} (SQLite
3.35 and later understand all three); a L{Dialect} turns placeholders into
the driver's style and supplies the rest.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable


class Dialect:
    """
    SQL differences of one database.

    @cvar name: C{"sqlite"} or C{"postgres"}: selects per-dialect schema
        delta files.
    @cvar forUpdate: clause locking the rows a C{SELECT} reads, or C{""}.
    @cvar maxParams: bound parameters allowed in one statement.
    @cvar begin: the statement that starts a write transaction, or C{""}
        when the driver begins one itself.
    @cvar jsonRows: whether many rows are inserted from one JSON parameter
        (C{json_populate_recordset}) rather than a parameter per value.
    @cvar q: C{q(sql)} is C{sql} with the driver's placeholders.  It runs
        once per statement, so it is no Python function of ours: C{str}
        (the identity) where the driver takes C{?}, a cache of the
        translated texts elsewhere.
    """

    name = ""
    forUpdate = ""
    maxParams = 30000
    begin = ""
    jsonRows = False
    q: Callable[[str], str] = staticmethod(str)

    def lockMigrations(self, txn: Any) -> None:
        """
        Keep concurrent starters from applying migrations at once.
        """

    def contains(self, column: str) -> str:
        """
        @return: an SQL expression true when C{column} contains the next
            bound parameter as literal text (case-sensitive).
        """
        raise NotImplementedError()

    def schemaText(self, text: str) -> str:
        """
        @return: the text of a generic schema delta for this dialect.
        """
        return text

    def isIntegrityError(self, exc: BaseException) -> bool:
        """
        @return: whether C{exc} is a constraint violation.
        """
        raise NotImplementedError()

    def isRetryable(self, exc: BaseException) -> bool:
        """
        @return: whether a transaction that failed with C{exc} may simply
            be run again (deadlock, serialization failure, busy database).
        """
        return False


class SqliteDialect(Dialect):
    """
    SQLite through the standard library's C{sqlite3}, with connections in
    autocommit mode (C{isolation_level=None}) so transactions are explicit.
    """

    name = "sqlite"
    begin = "BEGIN IMMEDIATE"

    def contains(self, column: str) -> str:
        return "instr(%s, ?) > 0" % (column,)

    def isIntegrityError(self, exc: BaseException) -> bool:
        import sqlite3
        return isinstance(exc, sqlite3.IntegrityError)

    def isRetryable(self, exc: BaseException) -> bool:
        import sqlite3
        return (isinstance(exc, sqlite3.OperationalError)
                and "locked" in str(exc))


def _pgPlaceholders(sql: str) -> str:
    return sql.replace("?", "%s")


class PostgresDialect(Dialect):
    """
    PostgreSQL through psycopg2 (C{%s} placeholders, implicit BEGIN).
    """

    name = "postgres"
    forUpdate = " FOR UPDATE"
    jsonRows = True
    # A hit is answered by the cache alone; a text is translated once.
    q = staticmethod(lru_cache(maxsize=1024)(_pgPlaceholders))
    #: Arbitrary key of the advisory lock held while migrating.
    MIGRATION_LOCK = 0x66786D

    def lockMigrations(self, txn: Any) -> None:
        txn.execute("SELECT pg_advisory_xact_lock(%s)", (self.MIGRATION_LOCK,))

    def contains(self, column: str) -> str:
        return "strpos(%s, ?) > 0" % (column,)

    def schemaText(self, text: str) -> str:
        return text.replace(" BLOB", " BYTEA")

    def isIntegrityError(self, exc: BaseException) -> bool:
        import psycopg2
        return isinstance(exc, psycopg2.IntegrityError)

    def isRetryable(self, exc: BaseException) -> bool:
        # deadlock_detected, serialization_failure: by SQLSTATE, which both
        # drivers set on server errors, and by psycopg2.errors class where
        # that module exists (psycopg2cffi on PyPy has none).
        import psycopg2
        if not isinstance(exc, psycopg2.Error):
            return False
        if getattr(exc, "pgcode", None) in ("40P01", "40001"):
            return True
        try:
            import psycopg2.errors as errors
        except ImportError:
            return False
        return isinstance(exc, (errors.DeadlockDetected, errors.SerializationFailure))


SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()
