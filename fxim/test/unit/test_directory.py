# -*- test-case-name: fxim.test.unit.test_directory -*-
"""
Tests for L{fxim.directory}: one contract for every L{IDirectory}, run
against L{MemoryDirectory} and (with C{FXIM_TEST_REDIS_URL} set)
L{RedisDirectory}, plus the Redis-only liveness behaviour.
"""

import os
import uuid

from twisted.internet.defer import inlineCallbacks, succeed
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from fxim.directory import Presence
from fxim.directory.memory import MemoryDirectory
from fxim.directory.redis import RedisDirectory
from fxim.interfaces import IDirectory
from fxim.redisconn import connectRedis, parseRedisURL, RedisAddress
from fxim.test.redisnode import startRedisNode

#: Short enough for tests to wait for expiry in real time.
TEST_TTL = 0.5
TEST_INTERVAL = 0.1


def redisURL():
    """
    @return: the Redis URL tests may use, or L{None}.
    """
    return os.environ.get("FXIM_TEST_REDIS_URL") or None


SKIP_REDIS = (None if redisURL() else
              "FXIM_TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/0)")


def realReactor():
    """
    The global reactor, imported only when a test needs real sockets.
    """
    from twisted.internet import reactor
    return reactor


def sleep(seconds):
    """
    @return: L{Deferred} firing after C{seconds} of real time.
    """
    return deferLater(realReactor(), seconds, lambda: None)


class RedisFixtureMixin:
    """
    A Redis connection and a key prefix of this test's own, removed after
    it.
    """

    @inlineCallbacks
    def connectRedis(self):
        """
        Set C{self.redis}, C{self.url} and C{self.prefix}.
        """
        self.url = redisURL()
        self.prefix = "fxim:test:%s:" % (uuid.uuid4().hex,)
        self.redis = yield connectRedis(realReactor(), self.url)
        self.addCleanup(self.redis.disconnect)
        self.addCleanup(self.deleteTestKeys)

    @inlineCallbacks
    def deleteTestKeys(self):
        keys = yield self.redis.keys(self.prefix + "*")
        if keys:
            yield self.redis.delete(keys)

    @inlineCallbacks
    def startDirectory(self, nodeId, **kwargs):
        """
        @return: L{Deferred} firing with a started L{RedisDirectory}, stopped
            after the test.
        """
        kwargs.setdefault("ttl", TEST_TTL)
        kwargs.setdefault("heartbeatInterval", TEST_INTERVAL)
        directory = RedisDirectory(realReactor(), self.redis, nodeId,
                                   prefix=self.prefix, **kwargs)
        yield directory.start()
        self.addCleanup(directory.stop)
        return directory

    @inlineCallbacks
    def startBusNode(self, nodeId, local, pushes):
        """
        @return: L{Deferred} firing with a started
            L{fxim.test.redisnode.RedisNode} on this test's prefix, with
            the test TTLs, stopped after the test.
        """
        node = yield startRedisNode(
            realReactor(), self.url, nodeId, local, pushes,
            prefix=self.prefix, ttl=TEST_TTL,
            heartbeatInterval=TEST_INTERVAL)
        self.addCleanup(node.stop)
        return node


class DirectoryContractMixin:
    """
    What every L{IDirectory} does.  Subclasses set C{self.directory}, for
    node C{"n1"}, and C{self.directoryB}, a view of the same presence data
    for node C{"n2"} (possibly the same object).
    """

    def test_verifyObject(self):
        """
        The directory provides L{IDirectory}.
        """
        self.assertTrue(verifyObject(IDirectory, self.directory))

    @inlineCallbacks
    def test_registerLookup(self):
        """
        A registered device is found by C{lookup} and C{devicesOf}.
        """
        yield self.directory.register("u1", "c1", "n1", "tcp")
        presence = yield self.directory.lookup("u1", "c1")
        self.assertEqual(presence, Presence("u1", "c1", "n1", "tcp"))
        devices = yield self.directory.devicesOf("u1")
        self.assertEqual(devices, [presence])

    @inlineCallbacks
    def test_unknown(self):
        """
        Unknown users and devices are not found.
        """
        self.assertEqual((yield self.directory.devicesOf("nobody")), [])
        self.assertIsNone((yield self.directory.lookup("nobody", "c1")))
        yield self.directory.register("u1", "c1", "n1", "tcp")
        self.assertIsNone((yield self.directory.lookup("u1", "c2")))

    @inlineCallbacks
    def test_devicesOfSeveral(self):
        """
        C{devicesOf} lists every device of the user, on any node, ordered by
        cid, and only that user's.
        """
        yield self.directory.register("u1", "phone", "n1", "tcp")
        yield self.directoryB.register("u1", "browser", "n2", "ws")
        yield self.directory.register("u2", "phone", "n1", "tcp")
        devices = yield self.directory.devicesOf("u1")
        self.assertEqual(devices, [
            Presence("u1", "browser", "n2", "ws"),
            Presence("u1", "phone", "n1", "tcp"),
        ])

    @inlineCallbacks
    def test_unregister(self):
        """
        C{unregister} by the owning node removes the entry and fires with
        C{True}.
        """
        yield self.directory.register("u1", "c1", "n1", "tcp")
        removed = yield self.directory.unregister("u1", "c1", "n1")
        self.assertTrue(removed)
        self.assertIsNone((yield self.directory.lookup("u1", "c1")))
        self.assertEqual((yield self.directory.devicesOf("u1")), [])

    @inlineCallbacks
    def test_unregisterMissing(self):
        """
        Unregistering an unknown device fires with C{False}.
        """
        removed = yield self.directory.unregister("u1", "c1", "n1")
        self.assertFalse(removed)

    @inlineCallbacks
    def test_unregisterOtherNode(self):
        """
        C{unregister} for another node than the entry's leaves it alone.
        """
        yield self.directory.register("u1", "c1", "n1", "tcp")
        removed = yield self.directoryB.unregister("u1", "c1", "n2")
        self.assertFalse(removed)
        presence = yield self.directory.lookup("u1", "c1")
        self.assertEqual(presence, Presence("u1", "c1", "n1", "tcp"))

    @inlineCallbacks
    def test_moveToOtherNode(self):
        """
        When a device reconnects to another node, the new entry replaces
        the old one and the old node's late C{unregister} keeps it.
        """
        yield self.directory.register("u1", "c1", "n1", "tcp")
        yield self.directoryB.register("u1", "c1", "n2", "ws")
        removed = yield self.directory.unregister("u1", "c1", "n1")
        self.assertFalse(removed)
        expected = Presence("u1", "c1", "n2", "ws")
        self.assertEqual((yield self.directory.lookup("u1", "c1")), expected)
        self.assertEqual((yield self.directory.devicesOf("u1")), [expected])

    @inlineCallbacks
    def test_registerAgain(self):
        """
        Registering the same device again on the same node updates it.
        """
        yield self.directory.register("u1", "c1", "n1", "tcp")
        yield self.directory.register("u1", "c1", "n1", "ws")
        self.assertEqual((yield self.directory.devicesOf("u1")),
                         [Presence("u1", "c1", "n1", "ws")])


    @inlineCallbacks
    def test_registerIfRoom(self):
        """
        C{registerIfRoom} registers while fewer than C{maxDevices} other
        devices are online, then refuses and writes nothing; the device
        itself (same cid, any node) does not count against the cap.
        """
        self.assertTrue((yield self.directory.registerIfRoom("u1", "a", "n1", "tcp", 2)))
        self.assertTrue((yield self.directoryB.registerIfRoom("u1", "b", "n2", "ws", 2)))
        self.assertFalse((yield self.directory.registerIfRoom("u1", "c", "n1", "tcp", 2)))
        self.assertIsNone((yield self.directory.lookup("u1", "c")))
        # Re-registering a device already online is always allowed.
        self.assertTrue((yield self.directory.registerIfRoom("u1", "b", "n1", "tcp", 2)))
        self.assertEqual((yield self.directory.lookup("u1", "b")),
                         Presence("u1", "b", "n1", "tcp"))
        yield self.directory.unregister("u1", "a", "n1")
        self.assertTrue((yield self.directoryB.registerIfRoom("u1", "c", "n2", "ws", 2)))
        self.assertEqual([p.cid for p in (yield self.directory.devicesOf("u1"))], ["b", "c"])

    @inlineCallbacks
    def test_registerIfRoomConcurrent(self):
        """
        Many concurrent C{registerIfRoom} calls from two nodes never admit
        more devices than the cap.
        """
        from twisted.internet.defer import gatherResults
        results = yield gatherResults([
            (self.directory if i % 2 else self.directoryB).registerIfRoom(
                "u1", "c%d" % i, "n1" if i % 2 else "n2", "tcp", 3)
            for i in range(20)])
        self.assertEqual(results.count(True), 3)
        self.assertEqual(len((yield self.directory.devicesOf("u1"))), 3)


class MemoryDirectoryTests(DirectoryContractMixin, TestCase):
    """
    L{MemoryDirectory} satisfies the directory contract.
    """

    def setUp(self):
        self.directory = self.directoryB = MemoryDirectory()


class RedisDirectoryTests(RedisFixtureMixin, DirectoryContractMixin,
                          TestCase):
    """
    L{RedisDirectory} satisfies the directory contract, and entries of a
    node that stops heart-beating expire.
    """

    skip = SKIP_REDIS

    @inlineCallbacks
    def setUp(self):
        yield self.connectRedis()
        self.directory = yield self.startDirectory("n1")
        self.directoryB = yield self.startDirectory("n2")

    @inlineCallbacks
    def test_heartbeatKeepsEntries(self):
        """
        Entries of heart-beating nodes outlive the TTL.
        """
        yield self.directoryB.register("u1", "c1", "n2", "tcp")
        yield sleep(TEST_TTL * 2)
        self.assertEqual((yield self.directory.devicesOf("u1")),
                         [Presence("u1", "c1", "n2", "tcp")])

    @inlineCallbacks
    def test_crashedNodeDropsOut(self):
        """
        Once a node stopped heart-beating (without unregistering anything)
        for longer than the TTL, its entries are no longer returned and are
        deleted from Redis; other nodes' entries stay.
        """
        yield self.directory.register("u1", "c1", "n1", "tcp")
        yield self.directoryB.register("u1", "c2", "n2", "ws")
        yield self.directoryB.stop()
        self.assertEqual(len((yield self.directory.devicesOf("u1"))), 2)
        yield sleep(TEST_TTL + 0.3)
        self.assertEqual((yield self.directory.devicesOf("u1")),
                         [Presence("u1", "c1", "n1", "tcp")])
        self.assertIsNone((yield self.directory.lookup("u1", "c2")))
        stored = yield self.redis.hgetall(self.prefix + "dev:u1")
        self.assertEqual(list(stored), ["c1"])

    @inlineCallbacks
    def test_stopForget(self):
        """
        C{stop(forget=True)} makes the node's entries disappear at once.
        """
        yield self.directoryB.register("u1", "c1", "n2", "tcp")
        yield self.directoryB.stop(forget=True)
        self.assertEqual((yield self.directory.devicesOf("u1")), [])

    @inlineCallbacks
    def test_restartedNodeForgetsOldEntries(self):
        """
        Entries written by a previous run of a node are dead as soon as the
        node starts again with the same id.
        """
        yield self.directoryB.register("u1", "c1", "n2", "tcp")
        yield self.directoryB.stop()
        yield self.startDirectory("n2")
        self.assertEqual((yield self.directory.devicesOf("u1")), [])

    @inlineCallbacks
    def test_registerIfRoomIgnoresDeadNodes(self):
        """
        Entries of a dead node, or of a previous run of a node, do not
        count against the cap.
        """
        yield self.directory.register("u1", "ghost-dev", "ghost", "tcp")
        yield self.directoryB.register("u1", "old-run", "n2", "tcp")
        yield self.directoryB.stop()
        nodeB = yield self.startDirectory("n2")
        self.assertTrue((yield nodeB.registerIfRoom("u1", "new", "n2", "ws", 1)))
        self.assertFalse((yield self.directory.registerIfRoom("u1", "other", "n1", "ws", 1)))

    @inlineCallbacks
    def test_registerForUnknownNode(self):
        """
        An entry for a node that is not alive is not returned.
        """
        yield self.directory.register("u1", "c1", "ghost", "tcp")
        self.assertEqual((yield self.directory.devicesOf("u1")), [])

    @inlineCallbacks
    def test_reviveObserver(self):
        """
        A heartbeat that finds the liveness key gone calls the revive
        observers and makes the node alive again.
        """
        revived = []
        self.directoryB.addReviveObserver(lambda: revived.append(True))
        yield self.redis.delete(self.prefix + "alive:n2")
        yield sleep(TEST_INTERVAL * 3)
        self.assertTrue(revived)
        alive = yield self.redis.get(self.prefix + "alive:n2")
        self.assertEqual(alive, self.directoryB.incarnation)


class FakeRedis:
    """
    Records commands; answers every one with L{None}.
    """

    def __init__(self):
        self.commands = []

    def execute_command(self, *args):
        self.commands.append(args)
        return succeed(None)


class RedisDirectoryHeartbeatTests(TestCase):
    """
    The heartbeat of L{RedisDirectory} runs on the injected reactor.
    """

    @inlineCallbacks
    def test_heartbeat(self):
        """
        C{start} writes the liveness key with its TTL, then every interval;
        C{stop} leaves nothing scheduled.
        """
        clock, redis = Clock(), FakeRedis()
        directory = RedisDirectory(clock, redis, "n1", prefix="p:", ttl=15,
                                   heartbeatInterval=5)
        yield directory.start()
        beat = ("SET", "p:alive:n1", directory.incarnation, "PX", 15000, "GET")
        self.assertEqual(redis.commands, [beat])
        clock.advance(5)
        clock.advance(5)
        self.assertEqual(redis.commands, [beat] * 3)
        yield directory.stop()
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(10)
        self.assertEqual(len(redis.commands), 3)


class ParseRedisURLTests(TestCase):
    """
    Tests for L{parseRedisURL}.
    """

    def test_full(self):
        """
        Host, port, database and credentials are parsed.
        """
        self.assertEqual(parseRedisURL("redis://me:s%40cret@example.com:7/3"),
                         RedisAddress("example.com", 7, 3, "s@cret", "me"))

    def test_defaults(self):
        """
        Port and database are optional.
        """
        self.assertEqual(parseRedisURL("redis://127.0.0.1"),
                         RedisAddress("127.0.0.1", 6379, None, None, None))

    def test_badScheme(self):
        """
        Only C{redis://} URLs are accepted.
        """
        self.assertRaises(ValueError, parseRedisURL, "http://example.com/")
