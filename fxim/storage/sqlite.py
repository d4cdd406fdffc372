# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
The embedded SQLite store (the default: C{<data-dir>/fxim.sqlite3}).

One writer connection (a one-thread L{adbapi.ConnectionPool}) in WAL mode
does every write, so fsyncs never block the reactor thread.  Reads -- small
indexed lookups -- run on a read-only connection on the reactor thread
(L{InlineReader}): in WAL mode they never wait for the writer, and a
thread hop costs several times such a query.  If SQLite reports the
database busy (a rare WAL recovery), the read retries on a pool thread.

Durability: C{synchronous=FULL} by default, so a committed (acked) message
survives a process kill and also an OS crash or power loss; C{NORMAL} (in
WAL mode) survives a process kill (SIGKILL) but may lose the last commits
on power loss.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, List

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from fxim.storage.database import ReadBusy, SQLDatabase
from fxim.storage.dialect import SQLITE
from fxim.storage.sqlstore import SQLStore
from fxim.storage.threadpool import acyclic

_log = Logger()

SYNCHRONOUS_MODES = ("FULL", "NORMAL", "EXTRA")


def _pragma(conn: sqlite3.Connection, sql: str) -> None:
    """
    Run one PRAGMA and close its cursor at once.

    C{conn.execute} leaves an implicit cursor behind; CPython frees it (and
    resets its statement) immediately, PyPy only at its next GC.  A
    statement left unfinished -- C{PRAGMA journal_mode=WAL} returns a row
    nobody reads -- makes every later COMMIT fail with "cannot commit
    transaction - SQL statements in progress".
    """
    cursor = conn.cursor()
    try:
        cursor.execute(sql)
        cursor.fetchall()
    finally:
        cursor.close()


def _pool(reactor: Any, path: str, size: int,
          openfun: Callable[[sqlite3.Connection], None]) -> adbapi.ConnectionPool:
    return acyclic(adbapi.ConnectionPool(
        "sqlite3", path, check_same_thread=False, isolation_level=None,
        timeout=30, cp_min=1, cp_max=size, cp_openfun=openfun,
        cp_reactor=reactor, cp_noisy=False))


class InlineReader:
    """
    Runs read-only interactions on the calling thread with one read-only
    connection, falling back to a thread pool when SQLite is busy.

    @ivar fallbacks: how many reads went to the fallback pool.
    """

    def __init__(self, path: str, openfun: Callable[[sqlite3.Connection], None],
                 fallback: adbapi.ConnectionPool) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                     timeout=0.05)
        openfun(self._conn)
        _pragma(self._conn, "PRAGMA busy_timeout=50")
        self._fallback = fallback
        self.fallbacks = 0

    #: Small reads run on the calling thread (L{SQLDatabase.readsInline}).
    readsInline = True

    #: Reads that can be big (a pull of up to C{--pull-max-bytes}, a page
    #: of history): always on a pool thread, so they never stall the other
    #: clients of the node (i10a).
    offThread = frozenset({"pullMessages_txn", "loadHistory_txn"})

    def runInteraction(self, func: Callable[..., Any], *args: Any) -> Deferred:
        """
        @return: a fired L{Deferred} with C{func(cursor, *args)}'s result,
            or the fallback pool's L{Deferred} if SQLite was busy or the
            read is one of L{offThread}.
        """
        if getattr(func, "__name__", None) in self.offThread:
            return self._fallback.runInteraction(func, *args)
        try:
            result = self.runNow(func, *args)
        except ReadBusy:
            return self._fallback.runInteraction(func, *args)
        except Exception:
            return fail()
        return succeed(result)

    def runNow(self, func: Callable[..., Any], *args: Any) -> Any:
        """
        @return: C{func(cursor, *args)}'s result, read on the calling thread
            (a small read: not one of L{offThread}).
        @raise ReadBusy: if SQLite was busy; L{runInteraction} reads it on
            the fallback pool then.
        """
        cursor = self._conn.cursor()
        try:
            return func(cursor, *args)
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                self.fallbacks += 1
                raise ReadBusy(str(e)) from None
            raise
        finally:
            cursor.close()

    def close(self) -> None:
        self._conn.close()
        self._fallback.close()


def openSqlite(reactor: Any, path: str, synchronous: str = "FULL",
               readers: int = 2) -> Deferred[SQLStore]:
    """
    Open (creating if needed) the SQLite database at C{path} and migrate
    it.

    @param path: a file name (not C{:memory:}: readers and writer need one
        shared file).
    @param synchronous: C{"FULL"} (default) or C{"NORMAL"}, see the module
        docstring.
    @param readers: read connections (of the fallback pool).
    @return: L{Deferred} firing with an open L{SQLStore} that reads
        through an L{InlineReader}.
    """
    synchronous = synchronous.upper()
    if synchronous not in SYNCHRONOUS_MODES:
        raise ValueError("synchronous must be one of %s" % (SYNCHRONOUS_MODES,))

    def openWriter(conn: sqlite3.Connection) -> None:
        _pragma(conn, "PRAGMA journal_mode=WAL")
        _pragma(conn, "PRAGMA synchronous=%s" % (synchronous,))
        _pragma(conn, "PRAGMA busy_timeout=30000")
        # Statement journals (a multi-row INSERT's undo within the
        # transaction) in memory: in a file, every commit created, wrote
        # and unlinked one.  They never outlive the transaction, so
        # durability is unchanged.
        _pragma(conn, "PRAGMA temp_store=MEMORY")

    def openReader(conn: sqlite3.Connection) -> None:
        _pragma(conn, "PRAGMA query_only=1")
        _pragma(conn, "PRAGMA busy_timeout=30000")

    from fxim.storage.permissions import secureDatabaseFile
    secureDatabaseFile(path)
    writer = _pool(reactor, path, 1, openWriter)

    def migrated(applied: List[int]) -> SQLStore:
        if applied:
            _log.info("SQLite {path}: applied schema deltas {applied}",
                      path=path, applied=applied)
        # The readers open on the migrated schema.
        reader = InlineReader(path, openReader, _pool(reactor, path, readers, openReader))
        return SQLStore(SQLITE, writer, readPool=reader)

    def failed(failure: Failure) -> Failure:
        writer.close()
        return failure
    d = SQLDatabase(SQLITE, writer).migrate(int(reactor.seconds() * 1000))
    return d.addCallbacks(migrated, failed)
