# -*- test-case-name: fxim.test.unit.test_sqlite_reads -*-
"""
Tests for L{fxim.storage.sqlite.InlineReader}: small reads inline, big
ones (pulls, history) on the pool's threads.
"""

import os
import sqlite3

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks, succeed
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fxim.storage.database import ReadBusy
from fxim.storage.messages import INLINE_PULL_MESSAGES
from fxim.storage.sqlite import InlineReader
from fxim.test.unit.test_storage import NOW, makeMessage


class _Pool:
    def __init__(self):
        self.calls = []

    def runInteraction(self, func, *args):
        self.calls.append(func.__name__)
        return succeed("pooled")

    def close(self):
        pass


def pullMessages_txn(cursor, *args):
    return "inline"


def getHead_txn(cursor, *args):
    return "inline"


class InlineReaderTests(SynchronousTestCase):
    """
    Which reads leave the reactor thread.
    """

    def setUp(self):
        path = os.path.join(self.mktemp() + ".sqlite3")
        self.pool = _Pool()
        self.reader = InlineReader(path, lambda conn: None, self.pool)
        self.addCleanup(self.reader.close)

    def test_pullsGoToThePool(self):
        """
        A pull runs on the pool (it may read C{--pull-max-bytes}).
        """
        self.assertEqual(self.successResultOf(self.reader.runInteraction(pullMessages_txn)),
                         "pooled")
        self.assertEqual(self.pool.calls, ["pullMessages_txn"])

    def test_smallReadsStayInline(self):
        """
        A small lookup runs on the calling thread.
        """
        self.assertEqual(self.successResultOf(self.reader.runInteraction(getHead_txn)),
                         "inline")
        self.assertEqual(self.pool.calls, [])

    def test_busyReadGoesToThePool(self):
        """
        A read SQLite refuses as busy raises L{ReadBusy} from C{runNow} and
        is read on the pool by C{runInteraction}; both are counted.  Other
        errors are raised and fail the L{Deferred}.
        """
        def busy(cursor, *args):
            raise sqlite3.OperationalError("database is locked")

        def broken(cursor, *args):
            raise sqlite3.OperationalError("no such table: nothing")
        self.assertRaises(ReadBusy, self.reader.runNow, busy)
        self.assertEqual(self.successResultOf(self.reader.runInteraction(busy)), "pooled")
        self.assertEqual((self.pool.calls, self.reader.fallbacks), (["busy"], 2))
        self.assertRaises(sqlite3.OperationalError, self.reader.runNow, broken)
        self.failureResultOf(self.reader.runInteraction(broken), sqlite3.OperationalError)
        self.assertEqual(self.reader.runNow(getHead_txn), "inline")


class InlinePullTests(TestCase):
    """
    A pull of a few waiting messages runs inline; a catch-up on the pool.
    """

    @inlineCallbacks
    def setUp(self):
        from fxim.storage import openStore
        self.store = yield openStore(reactor, dataDir=self.mktemp())
        self.addCleanup(lambda: self.store.close())
        reader = self.store._readPool
        self.pooled = []
        runInteraction = reader._fallback.runInteraction

        def spy(func, *args):
            self.pooled.append(func.__name__)
            return runInteraction(func, *args)
        reader._fallback.runInteraction = spy

    @inlineCallbacks
    def _send(self, count):
        for i in range(1, count + 1):
            yield self.store.storeMessage(makeMessage(i), ["alice", "bob"], None, NOW)

    @inlineCallbacks
    def test_fewWaitingInline(self):
        """
        With L{INLINE_PULL_MESSAGES} waiting, the pull is answered on the
        calling thread: the L{Deferred} has fired when C{pullMessages}
        returns, and the pool ran nothing.
        """
        yield self._send(INLINE_PULL_MESSAGES)
        d = self.store.pullMessages("bob", 0, 1 << 20)
        batch = self.successResultOf(d)
        self.assertEqual([seq for seq, _ in batch.entries],
                         list(range(1, INLINE_PULL_MESSAGES + 1)))
        self.assertEqual(batch.head, INLINE_PULL_MESSAGES)
        self.assertEqual(self.pooled, [])

    @inlineCallbacks
    def test_pullNow(self):
        """
        C{pullNow} answers a pull of few waiting messages on the calling
        thread with the batch itself, and says L{None} -- use
        C{pullMessages} -- for a catch-up or when SQLite is busy.
        """
        yield self._send(INLINE_PULL_MESSAGES + 1)
        batch = self.store.pullNow("bob", 1, 1 << 20)
        self.assertEqual([seq for seq, _ in batch.entries],
                         list(range(2, INLINE_PULL_MESSAGES + 2)))
        self.assertEqual(batch.head, INLINE_PULL_MESSAGES + 1)
        self.assertIsNone(self.store.pullNow("bob", 0, 1 << 20))
        reader = self.store._readPool

        def busy(*args):
            raise ReadBusy("database is locked")
        self.patch(reader, "runNow", busy)
        self.assertIsNone(self.store.pullNow("bob", 1, 1 << 20))
        self.assertEqual(self.pooled, [])

    @inlineCallbacks
    def test_catchUpOnThePool(self):
        """
        With more waiting (after C{afterSeq}), the whole pull runs on the
        pool, and returns the same as it would inline.
        """
        yield self._send(INLINE_PULL_MESSAGES + 3)
        batch = yield self.store.pullMessages("bob", 1, 1 << 20)
        self.assertEqual([seq for seq, _ in batch.entries],
                         list(range(2, INLINE_PULL_MESSAGES + 4)))
        self.assertEqual(self.pooled, ["pullMessages_txn"])
        # From further on, few are waiting again: inline.
        batch = yield self.store.pullMessages("bob", 4, 1 << 20)
        self.assertEqual(len(batch.entries), INLINE_PULL_MESSAGES - 1)
        self.assertEqual(self.pooled, ["pullMessages_txn"])
