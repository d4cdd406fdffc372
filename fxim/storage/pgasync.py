# -*- test-case-name: fxim.test.unit.test_pgasync -*-
"""
Queries on PostgreSQL without a thread: psycopg2's asynchronous
connections, polled by the reactor.

A read on the thread pool costs the node about 80 us of CPU before the
query itself (handing the call to a pool thread, the GIL going back and
forth, waking the reactor with the result), several times what an MP costs
on SQLite.  The hottest read -- an online device's pull -- is one query, so
it can run here instead: the query is sent on the reactor thread and its
answer read when the socket is readable.

An asynchronous connection runs in autocommit mode and one query at a
time; L{AsyncQueries} keeps a few and queues the rest.  When a connection
cannot be made or breaks, queries fail with L{Unavailable} for a second,
and callers use the thread pool (which reports the outage) meanwhile.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any, Deque, List, Optional, Sequence, Tuple

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

_log = Logger()

#: Seconds after a broken or refused connection before one is tried again.
RETRY_AFTER = 1.0

_POLL_OK, _POLL_READ, _POLL_WRITE = 0, 1, 2


class Unavailable(Exception):
    """
    No asynchronous connection could be used: run the query elsewhere.
    """


class Interrupted(Unavailable):
    """
    The connection was lost or closed with the query in flight: whether a
    statement that writes committed is unknown.
    """


class AsyncQueries:
    """
    Up to C{connections} asynchronous psycopg2 connections to one
    database, made when first needed, and the queries waiting for one.
    """

    def __init__(self, reactor: Any, connect: Any, connections: int = 2,
                 purpose: str = "reads") -> None:
        """
        @param connect: makes an asynchronous connection: called with no
            argument, returns a psycopg2 connection still connecting
            (C{psycopg2.connect(dsn, async_=True, ...)}).
        @param purpose: what the queries are, for the log (C{"reads"}).
        """
        self._purpose = purpose
        self._reactor = reactor
        self._connect = connect
        self._max = connections
        self._idle: List[_Connection] = []
        self._all: List[_Connection] = []
        self._waiting: Deque[Tuple[str, Sequence[Any], Deferred[List[Any]]]] = deque()
        self._retryAt = 0.0
        self._paused = False
        self._closed = False

    def available(self) -> bool:
        """
        Whether a query asked for now may be run here (no connection broke
        or was refused in the last L{RETRY_AFTER} seconds).
        """
        return not self._closed and self._reactor.seconds() >= self._retryAt

    def query(self, sql: str, args: Sequence[Any] = ()) -> Deferred[List[Any]]:
        """
        Run one statement (C{%s} placeholders) in autocommit.

        @return: L{Deferred} firing with its rows; failing with the
            driver's error for a bad statement, with L{Unavailable} if
            no connection could run it, or with L{Interrupted} (an
            L{Unavailable}) if its connection broke while it ran.
        """
        d: Deferred[List[Any]] = Deferred()
        if not self.available():
            d.errback(Unavailable("asynchronous PostgreSQL connections unavailable"))
            return d
        self._waiting.append((sql, args, d))
        self._next()
        return d

    def _next(self) -> None:
        while self._waiting and self._idle:
            conn = self._idle.pop()
            sql, args, d = self._waiting.popleft()
            conn.run(sql, args, d)
        if self._waiting and len(self._all) < self._max and self.available():
            try:
                conn = _Connection(self, self._reactor, self._connect())
            except Exception as e:
                self._broken(None, e)
                return
            self._all.append(conn)
            conn.start()

    def _ready(self, conn: _Connection) -> None:
        """
        C{conn} connected or finished its query.
        """
        self._paused = False
        self._idle.append(conn)
        self._next()

    def _broken(self, conn: Optional[_Connection], error: BaseException) -> None:
        """
        C{conn} (or making one) failed: drop it, and let the callers
        waiting use another way for a while.
        """
        if conn is not None:
            if conn in self._all:
                self._all.remove(conn)
            if conn in self._idle:
                self._idle.remove(conn)
        if not self._closed:
            if not self._paused:
                # Once per outage: the pool's errors report the rest.
                self._paused = True
                _log.info("Asynchronous PostgreSQL {purpose} paused (on the pool meanwhile): "
                          "{error}", purpose=self._purpose, error=" ".join(str(error).split()))
            self._retryAt = self._reactor.seconds() + RETRY_AFTER
        self._failWaiting(str(error))

    def _failWaiting(self, why: str) -> None:
        waiting, self._waiting = self._waiting, deque()
        for _, _, d in waiting:
            d.errback(Unavailable(why))

    def close(self) -> None:
        """
        Close every connection; queries waiting fail with L{Unavailable}.
        """
        self._closed = True
        conns, self._all, self._idle = self._all, [], []
        for conn in conns:
            conn.close()
        self._failWaiting("closed")


class _Connection:
    """
    One asynchronous connection, registered with the reactor as a reader
    for as long as it is open (and as a writer while psycopg2 has output
    to flush).

    The reactor watches a duplicate of the driver's socket: libpq closes
    its own descriptor when the connection breaks, and the reactor must
    never be left watching a closed (or reused) number.
    """

    def __init__(self, owner: AsyncQueries, reactor: Any, raw: Any) -> None:
        self._owner = owner
        self._reactor = reactor
        self._raw = raw
        self._socket = raw.fileno()
        self._fd = os.dup(self._socket)
        self._cursor: Any = None
        self._query: Optional[Deferred[List[Any]]] = None
        self._writing = False
        self._open = True

    def start(self) -> None:
        """
        Watch the socket and go on connecting.
        """
        self._reactor.addReader(self)
        self._poll()

    # IReadWriteDescriptor
    def fileno(self) -> int:
        return self._fd

    def logPrefix(self) -> str:
        return "pgasync"

    def doRead(self) -> None:
        self._poll()

    def doWrite(self) -> None:
        self._poll()

    def connectionLost(self, reason: Failure) -> None:
        self._lost(reason.value)

    def run(self, sql: str, args: Sequence[Any], d: Deferred[List[Any]]) -> None:
        self._query = d
        try:
            self._cursor = self._raw.cursor()
            self._cursor.execute(sql, args)
        except Exception as e:
            self._driverError(e)
            return
        self._poll()

    def _poll(self) -> None:
        if not self._open:
            return
        try:
            state = self._raw.poll()
        except Exception as e:
            self._driverError(e)
            return
        if self._cursor is None and state != _POLL_OK and self._raw.fileno() != self._socket:
            # Connecting moved on to another address: watch its socket.
            self._watch(self._raw.fileno())
        if state == _POLL_WRITE:
            if not self._writing:
                self._writing = True
                self._reactor.addWriter(self)
            return
        if self._writing:
            self._writing = False
            self._reactor.removeWriter(self)
        if state != _POLL_OK:
            return
        if self._query is None:
            if self._cursor is None:
                # Connected (or a notice arrived while idle).
                self._cursor = False
                self._owner._ready(self)
            return
        d, self._query = self._query, None
        cursor, self._cursor = self._cursor, False
        try:
            rows = cursor.fetchall()
        except Exception as e:
            self._done(d, cursor, Failure(e))
        else:
            self._done(d, cursor, rows)

    def _done(self, d: Deferred[List[Any]], cursor: Any, result: Any) -> None:
        """
        The query of C{d} ended with C{result}: this connection serves the
        next one first, so that a query made by C{d}'s callbacks finds it
        idle.
        """
        if cursor:
            cursor.close()
        self._owner._ready(self)
        if isinstance(result, Failure):
            d.errback(result)
        else:
            d.callback(result)

    def _driverError(self, error: BaseException) -> None:
        """
        The statement or the connection failed: a statement's error fails
        that query only; a broken connection is dropped.
        """
        if self._query is not None and not self._raw.closed:
            d, self._query = self._query, None
            cursor, self._cursor = self._cursor, False
            self._done(d, cursor, Failure(error))
            return
        self._lost(error)

    def _lost(self, error: BaseException) -> None:
        if self._open:
            d = self._close()
            self._owner._broken(self, error)
            if d is not None:
                d.errback(Interrupted(str(error)))

    def close(self) -> None:
        """
        Close the connection; a query in flight fails with L{Interrupted}.
        """
        d = self._close()
        if d is not None:
            d.errback(Interrupted("closed"))

    def _watch(self, socket: int) -> None:
        writing = self._writing
        self._unwatch()
        self._socket, self._fd = socket, os.dup(socket)
        self._reactor.addReader(self)
        if writing:
            self._writing = True
            self._reactor.addWriter(self)

    def _unwatch(self) -> None:
        self._reactor.removeReader(self)
        if self._writing:
            self._writing = False
            self._reactor.removeWriter(self)
        os.close(self._fd)

    def _close(self) -> Optional[Deferred[List[Any]]]:
        """
        Close the connection if open.

        @return: the L{Deferred} of the query in flight, to fail.
        """
        if not self._open:
            return None
        self._open = False
        self._unwatch()
        try:
            self._raw.close()
        except Exception:
            pass  # already broken: nothing left to release
        d, self._query = self._query, None
        return d
