"""
Tests for L{fxim.storage.pgbatch}: a batch of messages stored in one
statement on PostgreSQL's asynchronous connections, against a real
PostgreSQL (C{FXIM_TEST_POSTGRES_DSN}).  The store's contract
(L{fxim.test.unit.test_storage.MessageStoreContract}) runs on this path
too; these tests are about what only it does.
"""

from twisted.internet import reactor
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from fxim.storage.messages import MESSAGE_COLUMNS, messageValues
from fxim.storage.pgasync import Interrupted
from fxim.test.unit.test_storage import NOW, POSTGRES_DSN, makeMessage, openSharedPostgres


class OneStatementTests(TestCase):
    """
    The PostgreSQL store stores a batch with one statement on its
    asynchronous connections, and on the pool when it cannot.
    """

    @inlineCallbacks
    def setUp(self):
        self.store = yield openSharedPostgres(self)
        self.addCleanup(lambda: self.store.close())
        self.statements = []
        self.onPool = []
        query = self.store.batchQueries.query
        runWrite = self.store._runWrite

        def recordQuery(sql, args=()):
            if sql.lstrip().startswith("WITH k AS"):
                self.statements.append(args)
            return query(sql, args)

        def recordWrite(func, *args):
            self.onPool.append(func.__name__)
            return runWrite(func, *args)
        self.patch(self.store.batchQueries, "query", recordQuery)
        self.patch(self.store, "_runWrite", recordWrite)

    def connect(self):
        """
        @return: a plain psycopg2 connection to the store's schema.
        """
        import psycopg2
        conn = psycopg2.connect(POSTGRES_DSN, options="-c search_path=%s" % (self.schema,))
        self.addCleanup(conn.close)
        return conn

    def lockHead(self, userId):
        """
        Lock C{userId}'s head row in a transaction of another connection,
        so that a batch storing for that user waits.

        @return: that connection and its cursor.
        """
        locker = self.connect()
        cursor = locker.cursor()
        cursor.execute("SELECT head FROM user_heads WHERE uid = %s FOR UPDATE", (userId,))
        return locker, cursor

    def rows(self, sql, args=()):
        conn = self.connect()
        with conn.cursor() as cursor:
            cursor.execute(sql, args)
            return cursor.fetchall()

    @inlineCallbacks
    def test_oneStatementPerBatch(self):
        """
        Fifty messages stored at once to three users: each batch is one
        statement and nothing runs on the pool; every user's seqs are
        1..N in the order of the calls, and the pulls find them.
        """
        results = yield gatherResults([
            self.store.storeMessage(makeMessage(i + 1), ["u%d" % (i % 3), "all"], None, NOW)
            for i in range(50)])
        self.assertEqual(len(self.statements), self.store.batches)
        self.assertLess(self.store.batches, 50)
        self.assertEqual(self.onPool, [])
        self.assertEqual([r.seqs["all"] for r in results], list(range(1, 51)))
        for u in range(3):
            mine = [r.seqs["u%d" % u] for i, r in enumerate(results) if i % 3 == u]
            self.assertEqual(mine, list(range(1, len(mine) + 1)))
        batch = yield self.store.pullMessages("all", 0, 1 << 30)
        self.assertEqual([(s, m.messageUid) for s, m in batch.entries],
                         [(i, i) for i in range(1, 51)])
        self.assertEqual(self.rows("SELECT uid, head FROM user_heads ORDER BY uid"),
                         [("all", 50), ("u0", 17), ("u1", 17), ("u2", 16)])

    @inlineCallbacks
    def test_resendsSettledAfterwards(self):
        """
        A resend of a stored message (its dedup key taken) is answered
        with the original after the statement, on the pool; the statement
        stores the rest of its batch.
        """
        key = ("alice", "c1", 42)
        first = yield self.store.storeMessage(makeMessage(1, localId=42), ["bob"], key, NOW)
        self.assertEqual(self.onPool, [])
        again, other = yield gatherResults([
            self.store.storeMessage(makeMessage(2, localId=42), ["bob"], key, NOW),
            self.store.storeMessage(makeMessage(3), ["bob"], None, NOW)])
        self.assertTrue(again.duplicate)
        self.assertEqual((again.message, again.seqs), (first.message, first.seqs))
        self.assertEqual(other.seqs, {"bob": 2})
        self.assertEqual(self.onPool, ["settleBatch_txn"])
        self.assertIsNone((yield self.store.getMessage(2)))

    @inlineCallbacks
    def test_storedUidKeepsNoKey(self):
        """
        A message whose uid is stored fails with L{KeyError} and claims no
        dedup key: a later message with that key is stored.
        """
        yield self.store.storeMessage(makeMessage(1), ["bob"], None, NOW)
        key = ("alice", "c1", 9)
        yield self.assertFailure(
            self.store.storeMessage(makeMessage(1, text="again"), ["bob"], key, NOW), KeyError)
        self.assertEqual(self.rows("SELECT count(*) FROM dedup_keys"), [(0,)])
        later = yield self.store.storeMessage(makeMessage(2), ["bob"], key, NOW)
        self.assertFalse(later.duplicate)
        self.assertEqual(later.seqs, {"bob": 2})

    @inlineCallbacks
    def test_uidStoredMeanwhileReleasesKey(self):
        """
        A message whose uid another transaction stores while the statement
        runs (after its dedup key was claimed) fails with L{KeyError}, and
        its key is given back.
        """
        other = self.connect()
        cursor = other.cursor()
        cursor.execute("INSERT INTO messages (%s) VALUES (%s)" % (
            ", ".join(MESSAGE_COLUMNS), ", ".join(["%s"] * len(MESSAGE_COLUMNS))),
            messageValues(makeMessage(7, text="theirs")))
        key = ("alice", "c1", 3)
        stored = self.store.storeMessage(makeMessage(7), ["bob"], key, NOW)
        yield deferLater(reactor, 0.3, lambda: None)
        self.assertEqual(len(self.statements), 1)
        self.assertFalse(stored.called)  # waiting for the other's uid
        other.commit()
        yield self.assertFailure(stored, KeyError)
        self.assertEqual(self.onPool, ["settleBatch_txn"])
        self.assertEqual(self.rows("SELECT count(*) FROM dedup_keys"), [(0,)])
        self.assertEqual(self.rows("SELECT count(*) FROM inboxes"), [(0,)])

    @inlineCallbacks
    def test_interruptedNotRetried(self):
        """
        A statement whose connection is lost while it runs may have
        committed: its batch fails with L{Interrupted} and is not stored
        again on the pool.
        """
        yield self.store.storeMessage(makeMessage(1), ["bob"], None, NOW)
        locker, cursor = self.lockHead("bob")
        stored = self.store.storeMessage(makeMessage(2), ["bob"], None, NOW)
        yield deferLater(reactor, 0.3, lambda: None)
        self.assertEqual(len(self.statements), 2)
        [batchConnection] = self.store.batchQueries._all
        cursor.execute("SELECT pg_terminate_backend(%s)",
                       (batchConnection._raw.get_backend_pid(),))
        locker.rollback()
        yield self.assertFailure(stored, Interrupted)
        self.assertEqual(self.onPool, [])
        self.assertIsNone((yield self.store.getMessage(2)))
        self.assertEqual((yield self.store.getHead("bob")), 1)

    @inlineCallbacks
    def test_unavailableOnThePool(self):
        """
        While the asynchronous connections are unavailable, batches are
        stored on the pool.
        """
        self.store.batchQueries.close()
        stored = yield self.store.storeMessage(makeMessage(1), ["bob"], None, NOW)
        self.assertEqual(stored.seqs, {"bob": 1})
        self.assertEqual(self.statements, [])
        self.assertEqual(self.onPool, ["storeBatch_txn"])

    @inlineCallbacks
    def test_failedStatementOnThePool(self):
        """
        A statement that fails stored nothing: the batch goes to the pool,
        where one bad message fails alone.
        """
        def failing(sql, args=()):
            self.statements.append(args)
            return query(sql + " ORDER BY no_such_column", args)
        query = self.store.batchQueries.query
        self.patch(self.store.batchQueries, "query", failing)
        ds = [self.store.storeMessage(makeMessage(i + 1), ["bob"], None, NOW) for i in range(5)]
        results = yield gatherResults(ds)
        self.assertEqual(sorted(r.seqs["bob"] for r in results), [1, 2, 3, 4, 5])
        self.assertTrue(self.statements)
        self.assertEqual(set(self.onPool), {"storeBatch_txn"})

    @inlineCallbacks
    def test_pullsNotBehindABatch(self):
        """
        Batches have connections of their own: while one waits for a
        lock, online devices' pulls are answered (even with one connection
        for pulls).
        """
        self.store.queries._max = 1
        yield self.store.storeMessage(makeMessage(1), ["bob"], None, NOW)
        yield self.store.storeMessage(makeMessage(2), ["carol"], None, NOW)
        locker, cursor = self.lockHead("bob")
        stored = self.store.storeMessage(makeMessage(3), ["bob"], None, NOW)
        yield deferLater(reactor, 0.2, lambda: None)
        self.assertEqual(len(self.statements), 3)
        pulls = gatherResults([self.store.pullMessages("carol", 0, 1 << 20) for _ in range(4)])
        yield deferLater(reactor, 0.2, lambda: None)
        self.assertTrue(pulls.called)
        self.assertEqual([[s for s, _ in p.entries] for p in (yield pulls)], [[1]] * 4)
        self.assertFalse(stored.called)
        locker.rollback()
        self.assertEqual((yield stored).seqs, {"bob": 2})

    @inlineCallbacks
    def test_bigBatchOnThePool(self):
        """
        A batch with a message to more receivers than
        C{maxReceiversWithoutThread} (a big group) is stored on the pool,
        with the seqs the statement would give.
        """
        self.store.maxReceiversWithoutThread = 5
        small = yield self.store.storeMessage(makeMessage(1), ["a", "b", "c"], None, NOW)
        self.assertEqual(self.onPool, [])
        big = yield self.store.storeMessage(
            makeMessage(2), ["a", "b", "c", "d", "e", "f"], None, NOW)
        self.assertEqual(self.onPool, ["storeBatch_txn"])
        self.assertEqual(len(self.statements), 1)
        self.assertEqual(small.seqs, {"a": 1, "b": 1, "c": 1})
        self.assertEqual(big.seqs, {"a": 2, "b": 2, "c": 2, "d": 1, "e": 1, "f": 1})
