# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
Storage: the six store interfaces of L{fxim.interfaces}, implemented in
memory (L{fxim.storage.memory.MemoryStore}), on SQLite
(L{fxim.storage.sqlite}) and on PostgreSQL (L{fxim.storage.postgres}).

Use L{openStore} to get the store a server was configured with.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from fxim.storage.sqlstore import SQLStore


def openStore(reactor: Any, databaseUrl: Optional[str] = None, dataDir: str = "fxim-data",
              **options: Any) -> Deferred[SQLStore]:
    """
    Open the configured database, apply pending migrations, and return one
    object providing all six store interfaces plus C{close()}.

    @param databaseUrl: L{None} or C{""} for SQLite in C{dataDir};
        C{sqlite:///absolute/path} or C{sqlite://relative/path} for SQLite
        elsewhere; C{postgresql://...} (or C{postgres://...}) for
        PostgreSQL.
    @param dataDir: where the default SQLite file C{fxim.sqlite3} lives
        (created if missing).
    @param options: passed to L{fxim.storage.sqlite.openSqlite} or
        L{fxim.storage.postgres.openPostgres}.
    @return: L{Deferred} firing with the store.
    """
    if not databaseUrl:
        from fxim.storage.permissions import makeDataDir
        makeDataDir(dataDir)
        databaseUrl = "sqlite://" + os.path.join(dataDir, "fxim.sqlite3")
    if databaseUrl.startswith("sqlite://"):
        from fxim.storage.sqlite import openSqlite
        path = databaseUrl[len("sqlite://"):]
        if not path:
            raise ValueError("no path in %r" % (databaseUrl,))
        if path != ":memory:" and not os.path.exists(path):
            # Created 0600 before SQLite opens it (its -wal/-shm files
            # inherit the mode).
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        return openSqlite(reactor, path, **options)
    if databaseUrl.startswith(("postgresql://", "postgres://")):
        from fxim.storage.postgres import openPostgres
        return openPostgres(reactor, databaseUrl, **options)
    raise ValueError("unsupported database URL %r" % (databaseUrl,))
