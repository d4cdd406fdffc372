# -*- test-case-name: fxim.test.unit.test_threadpool -*-
"""
Tests for L{fxim.storage.threadpool}: database calls on pool threads
leave no reference cycle, so what they carried is freed by reference
counting, without waiting for the cyclic garbage collector.
"""

import gc
import weakref

from twisted.enterprise import adbapi
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThreadPool
from twisted.logger import globalLogPublisher
from twisted.python import context
from twisted.python.threadpool import ThreadPool
from twisted.trial.unittest import TestCase

from fxim.storage import openStore
from fxim.storage.messages import DecodedMessages
from fxim.storage.threadpool import AcyclicThreadPool, _Call, acyclic
from fxim.test.unit.test_storage import NOW, makeMessage


class _Payload:
    """
    Something a call carries, whose lifetime the tests watch.
    """


def _echo(payload):
    return payload


def _boom(payload):
    raise ValueError("boom")


class GcOff:
    """
    Run a test with the cyclic garbage collector off, so that only
    reference counting frees objects.
    """

    def setUp(self):
        enabled = gc.isenabled()
        gc.collect()
        gc.disable()
        if enabled:
            self.addCleanup(gc.enable)
        super().setUp()


class AcyclicThreadPoolTests(GcOff, TestCase):
    """
    L{AcyclicThreadPool.callInThreadWithCallback}.
    """

    def setUp(self):
        super().setUp()
        self.pool = AcyclicThreadPool(1, 1)
        self.pool.start()
        self.addCleanup(self.pool.stop)

    def _freedAfter(self, poolType, func):
        """
        Run C{func(payload)} on a new pool of C{poolType}, then stop the
        pool (its thread has returned).

        @return: L{Deferred} firing with whether C{payload} is gone.
        """
        pool = poolType(1, 1)
        pool.start()
        payload = _Payload()
        alive = weakref.ref(payload)
        d = deferToThreadPool(reactor, pool, func, payload)
        del payload

        def check(_):
            pool.stop()
            return alive() is None
        return d.addBoth(lambda result: _nextTurn()).addCallback(check)

    @inlineCallbacks
    def test_freedByRefcount(self):
        """
        Once the result is delivered, neither the pool nor the call keep
        the arguments alive, and no cycle does.
        """
        self.assertTrue((yield self._freedAfter(AcyclicThreadPool, _echo)))

    @inlineCallbacks
    def test_failure(self):
        """
        When the call raises, the failure reaches the caller.
        """
        d = deferToThreadPool(reactor, self.pool, _boom, _Payload())
        yield self.assertFailure(d, ValueError)

    @inlineCallbacks
    def test_noCycle(self):
        """
        A call leaves nothing of its own for the cyclic collector;
        Twisted's own L{ThreadPool} leaves its wrapper in a cycle (what
        this pool is for).
        """
        self.addCleanup(gc.set_debug, gc.get_debug())
        gc.set_debug(gc.DEBUG_SAVEALL)
        self.addCleanup(gc.garbage.clear)
        left = {}
        for poolType in (AcyclicThreadPool, ThreadPool):
            gc.collect()
            del gc.garbage[:]
            yield self._freedAfter(poolType, _echo)
            gc.collect()
            left[poolType] = [o for o in gc.garbage if isinstance(o, _Call) or getattr(
                o, "__qualname__", "").endswith("callInThreadWithCallback.<locals>.inContext")]
        self.assertEqual(left[AcyclicThreadPool], [])
        self.assertEqual(len(left[ThreadPool]), 1)

    @inlineCallbacks
    def test_context(self):
        """
        The call runs in the caller's Twisted context, like Twisted's pool.
        """
        seen = yield context.call({"fxim-test": "here"}, deferToThreadPool, reactor, self.pool,
                                  context.get, "fxim-test")
        self.assertEqual(seen, "here")

    def test_errorWithoutCallbackLogged(self):
        """
        A call without C{onResult} that raises is logged.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        pool = AcyclicThreadPool(0, 1)
        pool.start()
        pool.callInThread(_boom, None)
        pool.stop()  # joins: the call has run
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_joinedPoolRunsNothing(self):
        """
        A stopped pool ignores new calls, as Twisted's does.
        """
        ran = []
        pool = AcyclicThreadPool(0, 1)
        pool.start()
        pool.stop()
        pool.callInThreadWithCallback(lambda ok, r: ran.append(r), _echo, 1)
        self.assertEqual(ran, [])


class AcyclicConnectionPoolTests(GcOff, TestCase):
    """
    L{acyclic} on adbapi pools, and the stores built on them.
    """

    def test_beforeStart(self):
        """
        A pool made before the reactor runs gets an unstarted
        L{AcyclicThreadPool}; adbapi starts it.
        """
        pool = adbapi.ConnectionPool("sqlite3", ":memory:", cp_min=0, cp_max=1,
                                     check_same_thread=False, cp_reactor=_NotRunning())
        acyclic(pool)
        self.assertIsInstance(pool.threadpool, AcyclicThreadPool)
        self.assertFalse(pool.threadpool.started)

    @inlineCallbacks
    def test_whileRunning(self):
        """
        A pool already started (made while the reactor runs: adbapi starts
        its own thread pool at once) gets a started L{AcyclicThreadPool}
        that runs interactions.
        """
        pool = adbapi.ConnectionPool("sqlite3", ":memory:", cp_min=1, cp_max=1,
                                     check_same_thread=False)
        pool.start()
        self.addCleanup(pool.close)
        acyclic(pool)
        self.assertTrue(pool.threadpool.started)
        rows = yield pool.runQuery("SELECT 42")
        self.assertEqual(rows, [(42,)])

    @inlineCallbacks
    def test_storedMessageFreedByRefcount(self):
        """
        A message stored through the SQLite store's group commit and
        writer thread is freed once its caller drops it and the store
        forgets it as its row's decoding: no closure cycle in the write
        path keeps a batch alive.
        """
        store = yield openStore(reactor, dataDir=self.mktemp())
        self.addCleanup(store.close)
        # Only reference counting may free it.
        gc.disable()
        self.addCleanup(gc.enable)
        message = makeMessage(1)
        alive = weakref.ref(message)
        stored = yield store.storeMessage(message, ["alice", "bob"], None, NOW)
        self.assertEqual(sorted(stored.seqs), ["alice", "bob"])
        del message, stored
        yield _nextTurn()
        self.assertIsNotNone(alive())  # kept for its receivers' pulls
        store._decoded = DecodedMessages()
        # The writer thread may still hold its last call for a moment.
        for _ in range(200):
            if alive() is None:
                break
            yield deferLater(reactor, 0.01, lambda: None)
        self.assertIsNone(alive())


def _nextTurn():
    """
    @return: L{Deferred} firing in the reactor's next turn (not later in
        this one), when its loop no longer holds the arguments of the
        thread call it ran last.
    """
    return deferLater(reactor, 0, deferLater, reactor, 0, lambda: None)


class _NotRunning:
    """
    The adbapi calls of a reactor that has not started.
    """

    running = False

    def callWhenRunning(self, f, *args):
        return None
