# -*- test-case-name: fxim.test.unit.test_devicecache -*-
"""
The Redis directory's cached device lists (C{deviceCache}) stay correct:
a disconnect is announced like a CONNECT (L{fxim.session.SessionService}),
and while a node's bus is not subscribed it serves no cached list.  The
lists are cached far longer than the tests run, so only an announcement
or the bypass can explain a fresh answer.
"""

from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.trial.unittest import TestCase

from fxim.bus.local import LocalConnections
from fxim.session import SessionService
from fxim.storage.memory import MemoryStore
from fxim.test.redisnode import startRedisNode
from fxim.test.unit.test_bus import FakeConnection, MarkedPushes, waitFor
from fxim.test.unit.test_directory import (
    SKIP_REDIS, TEST_INTERVAL, TEST_TTL, RedisFixtureMixin, realReactor,
)


class TwoNodes(RedisFixtureMixin, TestCase):
    """
    Node A caches device lists for 30 s; devices come and go on node B.
    """

    skip = SKIP_REDIS

    @inlineCallbacks
    def setUp(self):
        yield self.connectRedis()
        self.marked = MarkedPushes()
        self.localA, self.localB = LocalConnections(), LocalConnections()
        self.nodeA = yield self.startNode("A", self.localA)
        self.nodeB = yield self.startNode("B", self.localB)
        self.nodeA.directory.deviceCacheSeconds = 30.0
        self.sessionsB = SessionService("B", MemoryStore(), self.nodeB.directory, self.localB,
                                        self.nodeB.bus)

    @inlineCallbacks
    def startNode(self, nodeId, local):
        node = yield startRedisNode(
            realReactor(), self.url, nodeId, local, self.marked,
            prefix=self.prefix, ttl=TEST_TTL, heartbeatInterval=TEST_INTERVAL)
        self.addCleanup(node.stop)
        return node

    @inlineCallbacks
    def connectB(self, userId, cid):
        """
        What a CONNECT does on node B: add, register, announce.
        """
        conn = FakeConnection(userId, cid)
        self.localB.add(conn)
        yield self.nodeB.directory.register(userId, cid, "B", "tcp")
        yield self.nodeB.bus.presenceChanged(userId)
        return conn

    @inlineCallbacks
    def cachedOnA(self, userId):
        """
        @return: the cids node A lists for C{uid}, once that list is cached.
        """
        yield waitFor(lambda: self.nodeA.directory.devicesOf(userId) and
                      userId in self.nodeA.directory._devices)
        devices = yield self.nodeA.directory.devicesOf(userId)
        return [p.cid for p in devices]



class DeviceListTests(TwoNodes):
    """
    Announcements and the bypass keep node A's lists fresh.
    """

    @inlineCallbacks
    def test_disconnectAnnounced(self):
        """
        A device closing on node B leaves node A's cached list of its user
        at once.
        """
        conn = yield self.connectB("u1", "c1")
        self.assertEqual((yield self.cachedOnA("u1")), ["c1"])
        self.sessionsB.connectionLost(conn)
        yield waitFor(lambda: "u1" not in self.nodeA.directory._devices)
        self.assertEqual((yield self.nodeA.directory.devicesOf("u1")), [])

    @inlineCallbacks
    def test_notSubscribedBypassesCache(self):
        """
        While node A's bus is not subscribed (announcements are missed), it
        reads device lists from Redis and keeps none.
        """
        yield self.connectB("u1", "c1")
        self.assertEqual((yield self.cachedOnA("u1")), ["c1"])
        subscriber, self.nodeA.bus._subscriber = self.nodeA.bus._subscriber, None
        self.addCleanup(subscriber.stop)
        self.assertFalse(self.nodeA.bus.subscribed)
        yield self.connectB("u1", "c2")
        devices = yield self.nodeA.directory.devicesOf("u1")
        self.assertEqual([p.cid for p in devices], ["c1", "c2"])
        self.assertEqual(self.nodeA.directory._devices, {})


class OverlapTests(TwoNodes):
    """
    A lookup is kept only if nothing invalidated its user (or everything)
    while it read Redis; another user's change does not spoil it.
    """

    @inlineCallbacks
    def _lookupDuring(self, change):
        yield self.connectB("u1", "c1")
        # Once B's announcement of u1 has reached A (it spoils a lookup
        # too), read u1 afresh.
        yield self.cachedOnA("u1")
        directory = self.nodeA.directory
        del directory._devices["u1"]
        d = directory.devicesOf("u1")
        self.assertFalse(d.called)  # it is reading Redis
        change(directory)
        devices = yield d
        self.assertEqual([p.cid for p in devices], ["c1"])
        self.assertEqual(directory._inflight, {})
        return "u1" in directory._devices

    @inlineCallbacks
    def test_ownChangeSpoils(self):
        """
        C{forget(uid)} during the lookup of C{uid}: not cached.
        """
        self.assertFalse((yield self._lookupDuring(lambda directory: directory.forget("u1"))))

    @inlineCallbacks
    def test_everythingSpoils(self):
        """
        C{forgetAll()} during the lookup: not cached.
        """
        self.assertFalse((yield self._lookupDuring(lambda directory: directory.forgetAll())))

    @inlineCallbacks
    def test_otherUserKeeps(self):
        """
        C{forget} of another user during the lookup: cached.
        """
        self.assertTrue((yield self._lookupDuring(lambda directory: directory.forget("u2"))))


class _CountingRedis:
    """
    A Redis connection's stand-in that counts C{HGETALL}s (the device-list
    reads) and can hold their answers back.

    @ivar held: when a list, every C{HGETALL} answers through a
        L{Deferred} appended to it instead of Redis.
    """

    def __init__(self, redis):
        self._redis = redis
        self.reads = 0
        self.held = None

    def hgetall(self, key):
        self.reads += 1
        if self.held is not None:
            d = Deferred()
            self.held.append(d)
            return d
        return self._redis.hgetall(key)

    def __getattr__(self, name):
        return getattr(self._redis, name)


class SharedLookupTests(TwoNodes):
    """
    Lookups of one user while a read of its list is in flight wait for
    that read instead of reading Redis again, unless the user's presence
    (or everything) changed since the read began.
    """

    @inlineCallbacks
    def setUp(self):
        yield TwoNodes.setUp(self)
        yield self.connectB("u1", "c1")
        yield self.cachedOnA("u1")
        self.directory = self.nodeA.directory
        self.counting = _CountingRedis(self.directory._redis)
        self.patch(self.directory, "_redis", self.counting)
        del self.directory._devices["u1"]

    @inlineCallbacks
    def test_oneRead(self):
        """
        Fifty lookups in a row while the first reads Redis: one read, the
        same answer for all, each its own list.
        """
        ds = [self.directory.devicesOf("u1") for _ in range(50)]
        self.assertFalse(ds[0].called)
        answers = yield gatherResults(ds)
        self.assertEqual(self.counting.reads, 1)
        self.assertEqual({tuple(p.cid for p in a) for a in answers}, {("c1",)})
        self.assertEqual(len({id(a) for a in answers}), 50)
        self.assertEqual(self.directory._sharing, {})
        self.assertIn("u1", self.directory._devices)

    @inlineCallbacks
    def test_changeStartsANewRead(self):
        """
        After C{forget(uid)} (its presence changed) or C{forgetAll()}, a
        lookup reads Redis itself: the read in flight may predate the
        change.  Another user's change does not matter.
        """
        first = self.directory.devicesOf("u1")
        self.directory.forget("u2")
        self.directory.devicesOf("u1")
        self.assertEqual(self.counting.reads, 1)
        self.directory.forget("u1")
        second = self.directory.devicesOf("u1")
        self.assertEqual(self.counting.reads, 2)
        self.directory.forgetAll()
        third = self.directory.devicesOf("u1")
        self.assertEqual(self.counting.reads, 3)
        answers = yield gatherResults([first, second, third])
        self.assertEqual([[p.cid for p in a] for a in answers], [["c1"]] * 3)
        self.assertEqual(self.directory._sharing, {})

    @inlineCallbacks
    def test_failureReachesEveryone(self):
        """
        A read that fails fails every lookup that waited for it; the next
        lookup reads again.
        """
        self.counting.held = []
        ds = [self.directory.devicesOf("u1") for _ in range(3)]
        self.assertEqual(self.counting.reads, 1)
        self.counting.held[0].errback(RuntimeError("redis went away"))
        for d in ds:
            yield self.assertFailure(d, RuntimeError)
        self.assertEqual(self.directory._sharing, {})
        self.counting.held = None
        devices = yield self.directory.devicesOf("u1")
        self.assertEqual([p.cid for p in devices], ["c1"])
        self.assertEqual(self.counting.reads, 2)

    def test_uncachedNotShared(self):
        """
        Without a device cache (C{deviceCache} 0: announcements may not
        reach every node), every lookup reads Redis.
        """
        self.directory.deviceCacheSeconds = 0
        self.counting.held = []
        self.directory.devicesOf("u1")
        self.directory.devicesOf("u1")
        self.assertEqual(self.counting.reads, 2)
        for d in self.counting.held:
            d.callback({})
