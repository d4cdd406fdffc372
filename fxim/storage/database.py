# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
L{SQLDatabase}: running C{*_txn} functions in transactions on the
connection pools of one SQL database (SQLite or PostgreSQL), and the small
query helpers every C{*_txn} module uses.

Each C{*_txn(txn, d, ...)} function runs inside one transaction: C{txn} is
a DB-API cursor (an L{twisted.enterprise.adbapi.Transaction}) and C{d} the
L{fxim.storage.dialect.Dialect}.  They run in a database thread (or, for
SQLite's small reads, inline: L{fxim.storage.sqlite.InlineReader}), never
touch the reactor, and never begin or commit: L{SQLDatabase.runWrite} does.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterable, List, Optional, Protocol, Sequence, TypeVar, cast

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from fxim.storage.dialect import Dialect

_log = Logger()

T = TypeVar("T")


class Pool(Protocol):
    """
    What L{SQLDatabase} needs of a connection pool: an
    L{twisted.enterprise.adbapi.ConnectionPool} or an
    L{fxim.storage.sqlite.InlineReader}.
    """

    def runInteraction(self, interaction: Callable[..., Any], *args: Any) -> Deferred:
        ...

    def close(self) -> None:
        ...


class InlinePool(Pool, Protocol):
    """
    A L{Pool} that also reads on the calling thread (C{readsInline}).
    """

    def runNow(self, interaction: Callable[..., Any], *args: Any) -> Any:
        ...


def one_txn(txn: Any, d: Dialect, sql: str, args: Sequence[Any] = ()) -> Any:
    """
    @return: the first row of C{sql}, or L{None}.
    """
    txn.execute(d.q(sql), args)
    return txn.fetchone()


def all_txn(txn: Any, d: Dialect, sql: str, args: Sequence[Any] = ()) -> List[Any]:
    """
    @return: every row of C{sql}.
    """
    txn.execute(d.q(sql), args)
    return txn.fetchall()


#: C{insertMany_txn}'s head: the table and its columns.
_INSERT_HEAD = re.compile(r"^INSERT INTO (\w+) \(([\w, ]+)\)$")

#: From how many rows C{insertMany_txn} sends them as one JSON parameter
#: where the dialect can (L{Dialect.jsonRows}).
JSON_ROWS_FROM = 8


def insertMany_txn(txn: Any, d: Dialect, head: str, columns: int,
                   rows: Sequence[Sequence[Any]], tail: str = "") -> List[Any]:
    """
    Insert C{rows} with multi-row C{VALUES} statements, as few as the
    dialect's parameter limit allows -- or, on PostgreSQL, from one JSON
    parameter (L{Dialect.jsonRows}).

    @param head: C{"INSERT INTO table (a, b)"}.
    @param columns: the number of values per row.
    @param tail: appended to each statement (C{ON CONFLICT ...},
        C{RETURNING ...}).
    @return: every row returned (with a C{RETURNING} tail).
    """
    if d.jsonRows and len(rows) >= JSON_ROWS_FROM:
        named = _INSERT_HEAD.match(head)
        if named is not None:
            return _insertJson_txn(txn, head, named.group(1),
                                   [c.strip() for c in named.group(2).split(",")], rows, tail)
    out: List[Any] = []
    per = max(1, d.maxParams // columns)
    one = "(" + ", ".join(["?"] * columns) + ")"
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        sql = "%s VALUES %s %s" % (head, ", ".join([one] * len(chunk)), tail)
        txn.execute(d.q(sql), [v for row in chunk for v in row])
        if "RETURNING" in tail:
            out.extend(txn.fetchall())
    return out


def _insertJson_txn(txn: Any, head: str, table: str, names: List[str],
                    rows: Sequence[Sequence[Any]], tail: str) -> List[Any]:
    """
    C{insertMany_txn} on PostgreSQL: the rows as one JSON array of
    objects, made rows of C{table}'s type by C{json_populate_recordset}
    (each value through its column's input function, so C{bytes} are sent
    in bytea's hex form).

    psycopg2 quotes every parameter of a statement on the calling thread,
    about 2 us each: a batch of 380 messages has some 11,000, 22 ms of a
    node's CPU.  One JSON text is dumped in C and quoted once.
    """
    txn.execute("%s SELECT %s FROM json_populate_recordset(NULL::%s, %%s) %s" % (
        head, ", ".join(names), table, tail), (jsonRowsParam(names, rows),))
    return txn.fetchall() if "RETURNING" in tail else []


def jsonRowsParam(names: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """
    @return: C{rows} as the JSON parameter of C{json_populate_recordset}:
        an array of objects keyed by C{names} (C{bytes} in bytea's hex
        form).
    """
    return json.dumps(
        [{n: ("\\x" + v.hex() if type(v) is bytes else v) for n, v in zip(names, row)}
         for row in rows], ensure_ascii=False, separators=(",", ":"))


def upsert(table: str, keys: Sequence[str], columns: Sequence[str], where: str = "") -> str:
    """
    The statement that puts one row by its key: C{INSERT INTO table (keys,
    columns) VALUES (?, ...) ON CONFLICT (keys) DO UPDATE SET} each of
    C{columns} to the value given.  Build it once, at import.

    @param where: C{" WHERE ..."}: update only when this holds.
    """
    names = ", ".join(list(keys) + list(columns))
    return "INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s%s" % (
        table, names, ", ".join("?" * (len(keys) + len(columns))), ", ".join(keys),
        ", ".join("%s = excluded.%s" % (c, c) for c in columns), where)


def nextCounter_txn(txn: Any, d: Dialect, name: str) -> int:
    """
    @return: the next value of counter C{name} (locks it until commit).
    """
    return one_txn(txn, d, "UPDATE counters SET value = value + 1"
                   " WHERE name = ? RETURNING value", (name,))[0]


class ReadBusy(Exception):
    """
    The database was busy for a read on the calling thread
    (L{fxim.storage.sqlite.InlineReader.runNow}): read it where it may wait.
    """


class SQLDatabase:
    """
    Transactions on one SQL database.

    Every per-domain SQL store (L{fxim.storage.users.SQLUserStore} and its
    siblings) is a L{SQLDatabase}; L{fxim.storage.sqlstore.SQLStore}
    combines them on one pair of pools.

    @ivar dialect: the L{fxim.storage.dialect.Dialect}.
    @ivar maxRetries: how often a transaction failing with a retryable
        error (deadlock, busy) is run again.
    """

    maxRetries = 5

    def __init__(self, dialect: Dialect, writePool: Pool,
                 readPool: Optional[Pool] = None) -> None:
        """
        @param writePool: the pool for writes (for SQLite: exactly one
            connection).
        @param readPool: the pool for reads (default: C{writePool}); on
            SQLite an L{fxim.storage.sqlite.InlineReader}.
        """
        self.dialect = dialect
        self._writePool = writePool
        self._readPool = readPool or writePool
        #: Whether small reads run on the calling thread (the read pool
        #: says so: L{fxim.storage.sqlite.InlineReader}).
        self.readsInline: bool = getattr(self._readPool, "readsInline", False)
        #: Where single statements may run without a thread (the read pool
        #: says so: L{fxim.storage.postgres.AutocommitReads}), or L{None}.
        self.queries: Optional[Any] = getattr(self._readPool, "queries", None)
        #: Where message batches may be stored without a thread, or L{None}.
        self.batchQueries: Optional[Any] = getattr(self._readPool, "batches", None)

    def _runRead(self, func: Callable[..., T], *args: Any) -> Deferred[T]:
        """
        Run C{func(txn, dialect, *args)} on the read pool, without an
        explicit transaction.
        """
        return self._readPool.runInteraction(func, self.dialect, *args)

    def _readNow(self, func: Callable[..., T], *args: Any) -> T:
        """
        Run C{func(txn, dialect, *args)} on the calling thread (only where
        L{readsInline}).

        @raise ReadBusy: if the database was busy.
        """
        return cast(InlinePool, self._readPool).runNow(func, self.dialect, *args)

    def _runWrite(self, func: Callable[..., T], *args: Any) -> Deferred[T]:
        """
        Run C{func(txn, dialect, *args)} in one write transaction, again
        (up to L{maxRetries} times) if it fails with a retryable error.

        @return: L{Deferred} firing with C{func}'s result; a constraint
            violation fails it with L{KeyError}.
        """
        d = self.dialect

        def interaction(txn: Any) -> T:
            if d.begin:
                txn.execute(d.begin)
            return func(txn, d, *args)
        # Methods, not closures calling themselves: a closure cycle would
        # keep every batch's messages alive until the cyclic GC ran.
        result = self._writePool.runInteraction(interaction)
        return result.addErrback(self._retryWrite, interaction, self.maxRetries).addErrback(
            self._translateWriteError)

    def _retryWrite(self, failure: Failure, interaction: Callable[[Any], T],
                    left: int) -> Any:
        if left > 0 and self.dialect.isRetryable(failure.value):
            _log.info("retrying transaction after {error}", error=failure.value)
            return self._writePool.runInteraction(interaction).addErrback(
                self._retryWrite, interaction, left - 1)
        return failure

    def _translateWriteError(self, failure: Failure) -> Any:
        if self.dialect.isIntegrityError(failure.value):
            raise KeyError(str(failure.value))
        return failure

    def migrate(self, now: int) -> Deferred[List[int]]:
        """
        Apply pending schema deltas (see L{fxim.storage.schema}).
        @return: L{Deferred} firing with the list of versions applied.
        """
        from fxim.storage.schema import applyMigrations_txn
        return self._runWrite(applyMigrations_txn, now)

    def close(self) -> Deferred[None]:
        """
        Close the pools.
        @return: a fired L{Deferred}.
        """
        self._writePool.close()
        if self._readPool is not self._writePool:
            self._readPool.close()
        return succeed(None)
