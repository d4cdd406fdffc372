"""
Tests for L{fxim.storage.pgasync}: queries on asynchronous psycopg2
connections polled by the reactor, against a real PostgreSQL
(C{FXIM_TEST_POSTGRES_DSN}).
"""

import socket

from twisted.internet import reactor
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from fxim.storage import pgasync
from fxim.storage.pgasync import AsyncQueries, Unavailable
from fxim.test.unit.test_storage import (
    NO_POSTGRES, NOW, POSTGRES_DSN, makeMessage, openSharedPostgres,
)


def connector(dsn):
    def connect():
        import psycopg2
        return psycopg2.connect(dsn, async_=True)
    return connect


def closedPort():
    """
    A local TCP port nothing listens on.
    """
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class AsyncQueriesTests(TestCase):
    """
    L{AsyncQueries} on a real PostgreSQL.
    """

    def setUp(self):
        if not POSTGRES_DSN:
            self.skipTest(NO_POSTGRES)
        self.queries = AsyncQueries(reactor, connector(POSTGRES_DSN), connections=2)
        self.addCleanup(self.queries.close)

    def ours(self):
        """
        The descriptors of C{self.queries} the reactor watches.
        """
        return [d for d in reactor.getReaders() + reactor.getWriters()
                if isinstance(d, pgasync._Connection) and d._owner is self.queries]

    @inlineCallbacks
    def test_rows(self):
        """
        A query's rows, its placeholders filled in by the driver.
        """
        rows = yield self.queries.query("SELECT %s::int + 1, %s", (41, "x"))
        self.assertEqual(rows, [(42, "x")])

    @inlineCallbacks
    def test_manyOnFewConnections(self):
        """
        Forty queries at once on two connections: each gets its own answer.
        """
        answers = yield gatherResults([self.queries.query("SELECT %s::int", (i,))
                                       for i in range(40)])
        self.assertEqual(answers, [[(i,)] for i in range(40)])
        self.assertEqual(len(self.queries._all), 2)

    @inlineCallbacks
    def test_badStatement(self):
        """
        A bad statement fails its query with the driver's error; the
        connection goes on serving.
        """
        import psycopg2
        bad = self.queries.query("SELECT * FROM no_such_table")
        good = self.queries.query("SELECT 1")
        yield self.assertFailure(bad, psycopg2.ProgrammingError)
        self.assertEqual((yield good), [(1,)])
        self.assertEqual((yield self.queries.query("SELECT 2")), [(2,)])
        self.assertTrue(self.queries.available())

    @inlineCallbacks
    def test_refused(self):
        """
        When no connection can be made, the queries fail with
        L{Unavailable} and the next ones at once, for L{RETRY_AFTER}
        seconds; then connecting is tried again.
        """
        self.patch(pgasync, "RETRY_AFTER", 0.2)
        queries = AsyncQueries(reactor, connector(
            "postgresql://nobody@127.0.0.1:%d/none?connect_timeout=2" % (closedPort(),)))
        self.addCleanup(queries.close)
        yield self.assertFailure(queries.query("SELECT 1"), Unavailable)
        self.assertFalse(queries.available())
        yield self.assertFailure(queries.query("SELECT 1"), Unavailable)
        yield deferLater(reactor, 0.3, lambda: None)
        self.assertTrue(queries.available())
        yield self.assertFailure(queries.query("SELECT 1"), Unavailable)
        self.assertEqual(queries._all, [])

    @inlineCallbacks
    def test_connectionKilled(self):
        """
        A connection the server ends fails its query with L{Unavailable},
        leaves the reactor, and a new one serves once the pause is over.
        """
        import psycopg2
        self.patch(pgasync, "RETRY_AFTER", 0.1)
        pid = (yield self.queries.query("SELECT pg_backend_pid()"))[0][0]
        killer = psycopg2.connect(POSTGRES_DSN)
        killer.autocommit = True
        self.addCleanup(killer.close)
        inFlight = self.queries.query("SELECT pg_sleep(5)")
        # One connection so far: the sleep runs on it.
        self.assertEqual(len(self.queries._all), 1)
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
        yield self.assertFailure(inFlight, Unavailable)
        self.assertNotIn(pid, [c._raw.get_backend_pid() for c in self.queries._all])
        yield deferLater(reactor, 0.2, lambda: None)
        rows = yield self.queries.query("SELECT 7")
        self.assertEqual(rows, [(7,)])

    @inlineCallbacks
    def test_close(self):
        """
        L{AsyncQueries.close} fails a query in flight with L{Unavailable},
        takes every connection off the reactor, and refuses new queries.
        """
        yield self.queries.query("SELECT 1")
        self.assertEqual(len(self.ours()), 1)
        inFlight = self.queries.query("SELECT pg_sleep(5)")
        self.queries.close()
        yield self.assertFailure(inFlight, Unavailable)
        self.assertEqual(self.ours(), [])
        yield self.assertFailure(self.queries.query("SELECT 1"), Unavailable)


class AsyncPullTests(TestCase):
    """
    The PostgreSQL store pulls an online device's messages on its
    asynchronous connections, and on the pool when it cannot.
    """

    @inlineCallbacks
    def setUp(self):
        self.store = yield openSharedPostgres(self)
        self.addCleanup(lambda: self.store.close())
        self.assertIsNotNone(self.store.queries)
        self.asked = []
        query = self.store.queries.query
        self.patch(self.store.queries, "query",
                   lambda sql, args=(): self.asked.append(sql) or query(sql, args))

    @inlineCallbacks
    def storeFor(self, userId, count):
        """
        Store C{count} messages for C{userId}; then count only the pulls'
        queries.
        """
        for i in range(count):
            yield self.store.storeMessage(makeMessage(i + 1), [userId], None, NOW)
        del self.asked[:]

    @inlineCallbacks
    def test_pulledWithoutThread(self):
        """
        A pull of a few messages is one asynchronous query when its
        messages were decoded (stored here), two when not (stored by
        another store); the same entries either way.
        """
        yield self.storeFor("bob", 3)
        batch = yield self.store.pullMessages("bob", 0, 1 << 20)
        self.assertEqual([s for s, _ in batch.entries], [1, 2, 3])
        self.assertEqual(batch.head, 3)
        self.assertEqual(len(self.asked), 1)
        other = yield openSharedPostgres(self)
        self.addCleanup(lambda: other.close())
        otherBatch = yield other.pullMessages("bob", 1, 1 << 20)
        self.assertEqual(otherBatch.entries, batch.entries[1:])

    @inlineCallbacks
    def test_catchUpOnThePool(self):
        """
        More messages waiting than an inline pull takes: the first query
        says so, and the pool reads them all.
        """
        yield self.storeFor("bob", 20)
        batch = yield self.store.pullMessages("bob", 0, 1 << 20)
        self.assertEqual([s for s, _ in batch.entries], list(range(1, 21)))
        self.assertEqual(len(self.asked), 1)

    @inlineCallbacks
    def test_unavailableOnThePool(self):
        """
        While the asynchronous connections are unavailable, pulls run on
        the pool with the same answer.
        """
        yield self.storeFor("bob", 2)
        self.store.queries.close()
        batch = yield self.store.pullMessages("bob", 0, 1 << 20)
        self.assertEqual([s for s, _ in batch.entries], [1, 2])
        self.assertEqual(self.asked, [])
