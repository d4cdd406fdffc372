# -*- test-case-name: fxim.test.test_storage -*-
"""
The embedded SQLite store (the default: C{<data-dir>/fxim.sqlite3}).

One writer connection (a one-thread L{adbapi.ConnectionPool}) in WAL mode
does every write; a small pool of read-only connections serves reads, which
WAL lets run while the writer writes.  Nothing blocks the reactor thread.

Durability: C{synchronous=FULL} by default, so a committed (acked) message
survives a process kill and also an OS crash or power loss; C{NORMAL} (in
WAL mode) survives a process kill (SIGKILL) but may lose the last commits
on power loss.
"""

from twisted.enterprise import adbapi
from twisted.logger import Logger

from fxim.storage.dialect import SQLITE
from fxim.storage.sqlstore import SQLStore

_log = Logger()

SYNCHRONOUS_MODES = ("FULL", "NORMAL", "EXTRA")


def _pool(reactor, path, size, openfun):
    return adbapi.ConnectionPool(
        "sqlite3", path, check_same_thread=False, isolation_level=None,
        timeout=30, cp_min=1, cp_max=size, cp_openfun=openfun,
        cp_reactor=reactor, cp_noisy=False)


def openSqlite(reactor, path, synchronous="FULL", readers=2):
    """
    Open (creating if needed) the SQLite database at C{path} and migrate
    it.

    @param path: a file name (not C{:memory:}: readers and writer need one
        shared file).
    @param synchronous: C{"FULL"} (default) or C{"NORMAL"}, see the module
        docstring.
    @param readers: read connections.
    @return: L{Deferred} firing with an open L{SQLStore}.
    """
    synchronous = synchronous.upper()
    if synchronous not in SYNCHRONOUS_MODES:
        raise ValueError("synchronous must be one of %s" % (SYNCHRONOUS_MODES,))

    def openWriter(conn):
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=%s" % (synchronous,))
        conn.execute("PRAGMA busy_timeout=30000")

    def openReader(conn):
        conn.execute("PRAGMA query_only=1")
        conn.execute("PRAGMA busy_timeout=30000")

    writer = _pool(reactor, path, 1, openWriter)
    store = SQLStore(SQLITE, writer)

    def migrated(applied):
        if applied:
            _log.info("SQLite {path}: applied schema deltas {applied}",
                      path=path, applied=applied)
        store._readPool = _pool(reactor, path, readers, openReader)
        return store

    def failed(failure):
        writer.close()
        return failure
    d = store.migrate(int(reactor.seconds() * 1000))
    return d.addCallbacks(migrated, failed)
