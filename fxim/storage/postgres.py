# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
The PostgreSQL store (C{--database postgresql://user@host:port/db}), via
psycopg2 in an L{adbapi.ConnectionPool}.  Reads run in autocommit mode on the
same connections (L{AutocommitReads}).

Several fxim nodes may share one database: per-user seqs come from
C{user_heads} rows locked by C{INSERT ... ON CONFLICT DO UPDATE ...
RETURNING}, taken in uid order, so concurrent nodes never give the same seq
twice nor leave a gap.  Durability is PostgreSQL's: with the default
C{synchronous_commit=on} an acked message survives a crash or power loss.
"""

from __future__ import annotations

import re
from typing import Any, Callable, List, Optional, TypeVar

from twisted.enterprise import adbapi
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from fxim.storage.dialect import POSTGRES
from fxim.storage.pgasync import AsyncQueries
from fxim.storage.pgdriver import registerDriver
from fxim.storage.sqlstore import SQLStore
from fxim.storage.threadpool import acyclic

_log = Logger()
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
T = TypeVar("T")


class AutocommitReads:
    """
    The read side of a PostgreSQL pool: each read runs on one of the
    pool's connections switched to autocommit for its duration, so it is
    one round trip per statement instead of C{BEGIN}, the statements and
    C{COMMIT}.

    This reads nothing differently: at PostgreSQL's default C{READ
    COMMITTED} every statement of a transaction takes its own snapshot
    anyway, and reads take no locks to hold.  What a store runs as a read
    must write nothing: in autocommit each of its statements would commit
    on its own.
    """

    def __init__(self, pool: adbapi.ConnectionPool, queries: Optional[AsyncQueries] = None,
                 batches: Optional[AsyncQueries] = None) -> None:
        """
        @param queries: where single statements may run without a thread
            (an online device's pull: L{fxim.storage.messages}), or
            L{None}.
        @param batches: where message batches are stored without a thread
            (L{fxim.storage.pgbatch}): connections of their own, so that
            a long batch never keeps a pull waiting.
        """
        self._pool = pool
        self.queries = queries
        self.batches = batches

    def runInteraction(self, interaction: Callable[..., T], *args: Any) -> Deferred[T]:
        return self._pool.runWithConnection(_autocommitted, interaction, *args)

    def close(self) -> None:
        """
        Close the asynchronous connections (the others are the write
        pool's, closed with it).
        """
        for queries in (self.queries, self.batches):
            if queries is not None:
                queries.close()


def _autocommitted(conn: Any, interaction: Callable[..., T], *args: Any) -> T:
    # adbapi's Connection hands attribute reads to the driver's connection,
    # so the method (not an assignment to .autocommit) reaches it.
    conn.set_session(autocommit=True)
    cursor = conn.cursor()
    try:
        return interaction(cursor, *args)
    finally:
        cursor.close()
        conn.set_session(autocommit=False)


def asyncQueries(reactor: Any, dsn: str, schema: Optional[str] = None,
                 connections: int = 2, purpose: str = "reads") -> AsyncQueries:
    """
    Up to C{connections} asynchronous connections to C{dsn} (in
    C{schema}) for C{purpose}; psycopg2 and psycopg2cffi both have them.
    """
    import psycopg2
    options = {"options": "-c search_path=%s" % (schema,)} if schema is not None else {}

    def connect() -> Any:
        return psycopg2.connect(dsn, async_=True, **options)
    return AsyncQueries(reactor, connect, connections, purpose)


def openPostgres(reactor: Any, dsn: str, schema: Optional[str] = None, poolSize: int = 4,
                 maxInflight: int = 1) -> Deferred[SQLStore]:
    """
    Connect to PostgreSQL and migrate the schema.

    @param dsn: a libpq connection string or URI.
    @param schema: a schema to create if needed and use (C{search_path})
        instead of the default one (tests use one each).
    @param poolSize: most connections.
    @param maxInflight: most concurrent group-commit transactions (see
        L{SQLStore}); must be below C{poolSize}.
    @return: L{Deferred} firing with an open L{SQLStore}.
    """
    if schema is not None and not _SCHEMA_NAME.match(schema):
        raise ValueError("bad schema name %r" % (schema,))

    def openfun(conn: Any) -> None:
        if schema is not None:
            cursor = conn.cursor()
            cursor.execute("CREATE SCHEMA IF NOT EXISTS %s" % (schema,))
            cursor.execute("SET search_path TO %s" % (schema,))
            cursor.close()
            conn.commit()

    registerDriver()  # psycopg2cffi on PyPy
    pool = acyclic(adbapi.ConnectionPool(
        "psycopg2", dsn, cp_min=1, cp_max=poolSize, cp_reconnect=True,
        cp_openfun=openfun, cp_reactor=reactor, cp_noisy=False))
    from fxim.storage.quietpool import QuietConnection
    pool.connectionFactory = QuietConnection
    reads = AutocommitReads(pool, asyncQueries(reactor, dsn, schema),
                            asyncQueries(reactor, dsn, schema, maxInflight, "message batches"))
    store = SQLStore(POSTGRES, pool, reads, maxInflight=maxInflight)

    def migrated(applied: List[int]) -> SQLStore:
        if applied:
            _log.info("PostgreSQL: applied schema deltas {applied}",
                      applied=applied)
        return store

    def failed(failure: Failure) -> Failure:
        pool.close()
        return failure
    d = store.migrate(int(reactor.seconds() * 1000))
    return d.addCallbacks(migrated, failed)
