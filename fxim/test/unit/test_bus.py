# -*- test-case-name: fxim.test.unit.test_bus -*-
"""
Tests for L{fxim.bus}: L{LocalConnections} and L{LocalBus} with fake
connections, and (with C{FXIM_TEST_REDIS_URL} set) two L{RedisBus} nodes
sharing one Redis in this process.
"""

import time

import attr

from twisted.internet.defer import TimeoutError, fail, gatherResults, inlineCallbacks
from twisted.logger import Logger
from twisted.trial.unittest import TestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from fxim.bus.local import LocalBus, LocalConnections
from fxim.directory import Presence
from fxim.interfaces import IConnection, IDeliveryBus
from fxim.protocol.neutral import NeutralPushes
from fxim.protocol.registry import BUILTIN
from fxim.test.unit.test_directory import (
    RedisFixtureMixin, SKIP_REDIS, TEST_INTERVAL, TEST_TTL, realReactor, sleep,
)


@attr.s(frozen=True, auto_attribs=True)
class Relayed:
    """
    A push that crossed the Redis bus (see L{MarkedPushes}).
    """

    push: object


class MarkedPushes:
    """
    The neutral form of test pushes: strings as themselves, typed pushes as
    L{NeutralPushes} does; decoded as L{Relayed}, so that a connection can
    tell a relayed push from a local one.

    @ivar encoded: every push encoded.
    """

    def __init__(self):
        self.encoded = []
        self._real = NeutralPushes(BUILTIN)

    def encode(self, push):
        self.encoded.append(push)
        return push if isinstance(push, str) else self._real.encode(push)

    def decode(self, data):
        return Relayed(data if isinstance(data, str) else self._real.decode(data))


@implementer(IConnection)
class FakeConnection:
    """
    Records what is sent to it.
    """

    def __init__(self, userId, cid, transportName="tcp"):
        self.userId = userId
        self.cid = cid
        self.transportName = transportName
        self.peer = "fake"
        self.pushes = []
        self.raw = []
        self.disconnected = False
        self.idleTimeout = None

    def sendPush(self, push):
        if isinstance(push, Relayed):
            self.raw.append(push.push)
        else:
            self.pushes.append(push)

    def disconnect(self):
        self.disconnected = True

    def setIdleTimeout(self, seconds):
        self.idleTimeout = seconds


class BrokenConnection(FakeConnection):
    """
    Fails to send anything.
    """

    def sendPush(self, push):
        raise RuntimeError("broken")


class FakeConnectionTests(TestCase):
    """
    The fake is a faithful L{IConnection}.
    """

    def test_verifyObject(self):
        """
        L{FakeConnection} provides L{IConnection}.
        """
        self.assertTrue(verifyObject(IConnection, FakeConnection("u", "c")))


class LocalConnectionsTests(TestCase):
    """
    Tests for L{LocalConnections}.
    """

    def setUp(self):
        self.local = LocalConnections()

    def test_addGet(self):
        """
        An added connection is found by (uid, cid), by user and in the
        iteration.
        """
        conn = FakeConnection("u1", "c1")
        self.local.add(conn)
        self.assertIs(self.local.get("u1", "c1"), conn)
        self.assertEqual(self.local.byUser("u1"), [conn])
        self.assertEqual(list(self.local), [conn])
        self.assertEqual(len(self.local), 1)
        self.assertEqual(self.local.devices(), [("u1", "c1")])

    def test_missing(self):
        """
        Unknown users and devices have no connections.
        """
        self.assertIsNone(self.local.get("u1", "c1"))
        self.assertEqual(self.local.getAll("u1", "c1"), [])
        self.assertEqual(self.local.byUser("u1"), [])

    def test_sameDeviceTwice(self):
        """
        Two connections of one device are both kept, C{get} returning the
        newest; adding the same one twice keeps one.
        """
        old, new = FakeConnection("u1", "c1"), FakeConnection("u1", "c1")
        self.local.add(old)
        self.local.add(new)
        self.local.add(new)
        self.assertIs(self.local.get("u1", "c1"), new)
        self.assertEqual(self.local.getAll("u1", "c1"), [old, new])

    def test_byUserOrdered(self):
        """
        C{byUser} lists the user's connections ordered by cid.
        """
        b, a = FakeConnection("u1", "b"), FakeConnection("u1", "a")
        self.local.add(b)
        self.local.add(a)
        self.local.add(FakeConnection("u2", "a"))
        self.assertEqual(self.local.byUser("u1"), [a, b])

    def test_receiving(self):
        """
        C{receiving} lists the user's connections but those of the excluded
        device, ordered by cid, with one device or several.
        """
        self.assertEqual(self.local.receiving("u1", "a"), [])
        only = FakeConnection("u1", "a")
        self.local.add(only)
        self.assertEqual(self.local.receiving("u1", "a"), [])
        self.assertEqual(self.local.receiving("u1", "b"), [only])
        self.assertEqual(self.local.receiving("u1"), [only])
        c, b, b2 = FakeConnection("u1", "c"), FakeConnection("u1", "b"), FakeConnection("u1", "b")
        for conn in (c, b, b2):
            self.local.add(conn)
        self.assertEqual(self.local.receiving("u1", "a"), [b, b2, c])
        self.assertEqual(self.local.receiving("u1", "b"), [only, c])
        self.assertEqual(self.local.receiving("u1"), self.local.byUser("u1"))

    def test_remove(self):
        """
        C{remove} removes that connection only, and says if it was there.
        """
        old, new = FakeConnection("u1", "c1"), FakeConnection("u1", "c1")
        self.local.add(old)
        self.local.add(new)
        self.assertTrue(self.local.remove(old))
        self.assertFalse(self.local.remove(old))
        self.assertEqual(self.local.getAll("u1", "c1"), [new])
        self.assertTrue(self.local.remove(new))
        self.assertEqual(len(self.local), 0)
        self.assertEqual(self.local.devices(), [])


class LocalBusTests(TestCase):
    """
    Tests for L{LocalBus}.
    """

    def setUp(self):
        self.local = LocalConnections()
        self.bus = LocalBus(self.local)

    def test_verifyObject(self):
        """
        L{LocalBus} provides L{IDeliveryBus}.
        """
        self.assertTrue(verifyObject(IDeliveryBus, self.bus))

    def test_deliver(self):
        """
        C{deliver} pushes to every connection of the user and counts them.
        """
        phone, web = FakeConnection("u1", "phone"), FakeConnection("u1", "web")
        other = FakeConnection("u2", "phone")
        for conn in (phone, web, other):
            self.local.add(conn)
        count = self.successResultOf(self.bus.deliver("u1", "p"))
        self.assertEqual(count, 2)
        self.assertEqual((phone.pushes, web.pushes, other.pushes),
                         (["p"], ["p"], []))

    def test_deliverExclude(self):
        """
        The device named by C{excludeCid} is skipped.
        """
        phone, web = FakeConnection("u1", "phone"), FakeConnection("u1", "web")
        self.local.add(phone)
        self.local.add(web)
        count = self.successResultOf(
            self.bus.deliver("u1", "p", excludeCid="phone"))
        self.assertEqual(count, 1)
        self.assertEqual((phone.pushes, web.pushes), ([], ["p"]))

    def test_deliverNobody(self):
        """
        Delivering to a user without connections fires with 0.
        """
        self.assertEqual(self.successResultOf(self.bus.deliver("u1", "p")), 0)

    def test_deliverBrokenConnection(self):
        """
        A connection failing to send is logged and not counted; the others
        still get the push.
        """
        self.local.add(BrokenConnection("u1", "a"))
        good = FakeConnection("u1", "b")
        self.local.add(good)
        self.assertEqual(self.successResultOf(self.bus.deliver("u1", "p")), 1)
        self.assertEqual(good.pushes, ["p"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_kick(self):
        """
        C{kick} disconnects the device's connections but C{keep}, and no
        other device's.
        """
        old, new = FakeConnection("u1", "c1"), FakeConnection("u1", "c1")
        other = FakeConnection("u1", "c2")
        for conn in (old, new, other):
            self.local.add(conn)
        self.successResultOf(self.bus.kick("u1", "c1", keep=new))
        self.assertEqual((old.disconnected, new.disconnected,
                          other.disconnected), (True, False, False))
        self.assertEqual(self.local.getAll("u1", "c1"), [new])

    def test_kickAll(self):
        """
        Without C{keep}, every connection of the device is closed.
        """
        conn = FakeConnection("u1", "c1")
        self.local.add(conn)
        self.successResultOf(self.bus.kick("u1", "c1"))
        self.assertTrue(conn.disconnected)
        self.assertEqual(len(self.local), 0)


@inlineCallbacks
def waitFor(predicate, timeout=3.0):
    """
    Wait (in real time) until C{predicate()} is true.

    @raise AssertionError: if it is still false after C{timeout} seconds.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %r" % (predicate,))
        yield sleep(0.01)


class RedisBusTests(RedisFixtureMixin, TestCase):
    """
    Two nodes, A and B, each with its own L{RedisBus} and L{RedisDirectory},
    sharing one Redis.
    """

    skip = SKIP_REDIS

    @inlineCallbacks
    def setUp(self):
        yield self.connectRedis()
        self.marked = MarkedPushes()
        self.encoded = self.marked.encoded
        self.localA, self.localB = LocalConnections(), LocalConnections()
        self.nodeA = yield self.startNode("A", self.localA)
        self.nodeB = yield self.startNode("B", self.localB)

    def startNode(self, nodeId, local):
        return self.startBusNode(nodeId, local, self.marked)

    @inlineCallbacks
    def connect(self, node, local, userId, cid, transportName="tcp"):
        """
        What the session layer does on CONNECT: add and register.
        """
        conn = FakeConnection(userId, cid, transportName)
        local.add(conn)
        yield node.directory.register(userId, cid, node.bus.nodeId,
                                      transportName)
        return conn

    def test_verifyObject(self):
        """
        L{RedisBus} provides L{IDeliveryBus}.
        """
        self.assertTrue(verifyObject(IDeliveryBus, self.nodeA.bus))

    @inlineCallbacks
    def test_lookupFailuresOneLine(self):
        """
        Deliveries whose device lookup fails (Redis timing out) are noted
        in the node's outage log: one line for a hundred of them, and each
        delivery still reaches the local devices.
        """
        from fxim.health import OutageLog
        lines = []
        outages = OutageLog(realReactor(), log=Logger(observer=lines.append))
        self.nodeA.bus.outages = outages
        self.patch(self.nodeA.directory, "devicesOf",
                   lambda userId: fail(TimeoutError(10.0, "Deferred")))
        conn = FakeConnection("u1", "c1")
        self.localA.add(conn)
        counts = yield gatherResults([self.nodeA.bus.deliver("u1", "p%d" % i)
                                      for i in range(100)])
        self.assertEqual(counts, [1] * 100)
        self.assertEqual(len(conn.pushes), 100)
        self.assertEqual(outages.counts, {"redis": 100})
        self.assertEqual(len(lines), 1)
        self.assertIn("looking up devices of u1", lines[0]["what"])

    @inlineCallbacks
    def test_deliverToOtherNode(self):
        """
        A push for a device on node B, delivered from node A, reaches B's
        connection through C{sendPush}, relayed in its neutral form.
        """
        conn = yield self.connect(self.nodeB, self.localB, "u1", "c1")
        count = yield self.nodeA.bus.deliver("u1", "hi")
        self.assertEqual(count, 1)
        yield waitFor(lambda: conn.raw)
        self.assertEqual(conn.raw, ["hi"])
        self.assertEqual(conn.pushes, [])

    @inlineCallbacks
    def test_deliverMixed(self):
        """
        Local devices get C{sendPush}; remote ones, whatever their
        transport, the relayed push; the push is encoded once.
        """
        here = yield self.connect(self.nodeA, self.localA, "u1", "a")
        tcp = yield self.connect(self.nodeB, self.localB, "u1", "b")
        ws = yield self.connect(self.nodeB, self.localB, "u1", "c", "ws")
        count = yield self.nodeA.bus.deliver("u1", "hi")
        self.assertEqual(count, 3)
        yield waitFor(lambda: tcp.raw and ws.raw)
        self.assertEqual(here.pushes, ["hi"])
        self.assertEqual(tcp.raw[0], "hi")
        self.assertEqual(ws.raw[0], "hi")
        self.assertEqual(self.encoded, ["hi"])

    @inlineCallbacks
    def test_deliverExcludeRemote(self):
        """
        C{excludeCid} also skips a remote device, and then nothing needs
        encoding.
        """
        conn = yield self.connect(self.nodeB, self.localB, "u1", "c1")
        count = yield self.nodeA.bus.deliver("u1", "hi", excludeCid="c1")
        self.assertEqual(count, 0)
        yield sleep(0.1)
        self.assertEqual((conn.raw, self.encoded), ([], []))

    @inlineCallbacks
    def test_deliverLocalOnly(self):
        """
        Devices on the delivering node are not published at all.
        """
        conn = yield self.connect(self.nodeA, self.localA, "u1", "c1")
        count = yield self.nodeA.bus.deliver("u1", "hi")
        self.assertEqual((count, conn.pushes, self.encoded), (1, ["hi"], []))

    @inlineCallbacks
    def test_kickAcrossNodes(self):
        """
        A device reconnecting to node A kicks its old connection on node B,
        whether or not A registered the new connection first.
        """
        old = yield self.connect(self.nodeB, self.localB, "u1", "c1")
        new = yield self.connect(self.nodeA, self.localA, "u1", "c1")
        other = yield self.connect(self.nodeB, self.localB, "u1", "c2")
        yield self.nodeA.bus.kick("u1", "c1", keep=new)
        yield waitFor(lambda: old.disconnected)
        self.assertEqual(self.localB.getAll("u1", "c1"), [])
        yield sleep(0.05)
        self.assertFalse(new.disconnected)
        self.assertFalse(other.disconnected)

    @inlineCallbacks
    def test_crashedNodeDropsOut(self):
        """
        Once node B stopped heart-beating for longer than the TTL (without
        unregistering), its devices leave C{devicesOf} and node A delivers
        to nobody.
        """
        yield self.connect(self.nodeB, self.localB, "u1", "c1")
        yield self.nodeB.bus.stop()
        yield self.nodeB.directory.stop()
        yield sleep(TEST_TTL + 0.3)
        self.assertEqual((yield self.nodeA.directory.devicesOf("u1")), [])
        self.assertEqual((yield self.nodeA.bus.deliver("u1", "hi")), 0)
        self.assertEqual(self.encoded, [])

    @inlineCallbacks
    def test_unsubscribedNodeNotCounted(self):
        """
        A device whose node has no subscriber is not counted as sent to.
        """
        yield self.connect(self.nodeB, self.localB, "u1", "c1")
        yield self.nodeB.bus.stop()
        self.assertEqual((yield self.nodeA.bus.deliver("u1", "hi")), 0)

    @inlineCallbacks
    def test_registerAgainAfterExpiry(self):
        """
        When a node finds its liveness key expired (its entries possibly
        cleaned up by others), it registers its local connections again.
        """
        yield self.connect(self.nodeB, self.localB, "u1", "c1", "ws")
        yield self.redis.delete([self.prefix + "alive:B",
                                 self.prefix + "dev:u1"])
        self.assertEqual((yield self.nodeA.directory.devicesOf("u1")), [])
        yield sleep(TEST_INTERVAL * 4)
        self.assertEqual((yield self.nodeA.directory.devicesOf("u1")),
                         [Presence("u1", "c1", "B", "ws")])

    @inlineCallbacks
    def test_subscriberReconnects(self):
        """
        When its subscriber connection is lost, a node reconnects and
        subscribes again.
        """
        conn = yield self.connect(self.nodeB, self.localB, "u1", "c1")
        factory = self.nodeB.bus._subscriber._factory
        factory.initialDelay = 0.05
        [protocol] = factory.pool
        address = protocol.transport.getHost()
        yield self.redis.execute_command(
            "CLIENT", "KILL", "ADDR", "%s:%d" % (address.host, address.port))
        yield waitFor(lambda: not self.nodeB.bus._subscriber.subscribed)
        yield waitFor(lambda: self.nodeB.bus._subscriber.subscribed)
        self.assertIsNot(factory.pool[0], protocol)
        self.assertEqual((yield self.nodeA.bus.deliver("u1", "again")), 1)
        yield waitFor(lambda: conn.raw)


class DeviceCacheTests(RedisBusTests):
    """
    The same two nodes with device lists cached per node
    (C{deviceCache}), as C{twistd fxim --redis} runs them: announcing a
    CONNECT with L{RedisBus.presenceChanged} keeps every cache correct.
    """

    @inlineCallbacks
    def startNode(self, nodeId, local):
        node = yield RedisBusTests.startNode(self, nodeId, local)
        node.directory.deviceCacheSeconds = 30.0
        return node

    @inlineCallbacks
    def connect(self, node, local, userId, cid, transportName="tcp"):
        conn = yield RedisBusTests.connect(self, node, local, userId, cid, transportName)
        yield node.bus.presenceChanged(userId)
        return conn

    @inlineCallbacks
    def test_cachedListRefreshedByAnnouncement(self):
        """
        Node A caches that u1 has one device; a second device connecting on
        node B is announced, so A's next delivery reaches it too, and a
        repeated lookup is then served from the cache.
        """
        first = yield self.connect(self.nodeA, self.localA, "u1", "c1")
        devices = yield self.nodeA.directory.devicesOf("u1")
        self.assertEqual([p.cid for p in devices], ["c1"])
        second = yield self.connect(self.nodeB, self.localB, "u1", "c2")
        yield waitFor(lambda: "u1" not in self.nodeA.directory._devices)
        count = yield self.nodeA.bus.deliver("u1", "hi")
        self.assertEqual(count, 2)
        yield waitFor(lambda: second.raw)
        self.assertEqual(first.pushes, ["hi"])
        # Once the announcements have settled, a lookup is cached.
        yield waitFor(lambda: self.nodeA.directory.devicesOf("u1") and
                      "u1" in self.nodeA.directory._devices)
        devices = yield self.nodeA.directory.devicesOf("u1")
        self.assertEqual([p.cid for p in devices], ["c1", "c2"])

    @inlineCallbacks
    def test_deliverNow(self):
        """
        C{deliverNow} reads the device list first when it is not cached (no
        count), delivering as C{deliver} does; once cached, local devices
        get the push before it returns and remote ones through Redis,
        without a read.
        """
        here = yield self.connect(self.nodeA, self.localA, "u1", "a")
        there = yield self.connect(self.nodeB, self.localB, "u1", "b")
        self.assertIsNone(self.nodeA.directory.devicesNow("u1"))
        self.assertIsNone(self.nodeA.bus.deliverNow("u1", "first"))
        self.assertEqual(here.pushes, ["first"])
        yield waitFor(lambda: there.raw)
        self.assertEqual(there.raw, ["first"])
        # Once the announcements have settled, a lookup is cached.
        yield waitFor(lambda: self.nodeA.directory.devicesOf("u1") and
                      self.nodeA.directory.devicesNow("u1") is not None)
        self.assertEqual(self.nodeA.bus.deliverNow("u1", "second"), 1)
        self.assertEqual(here.pushes, ["first", "second"])
        yield waitFor(lambda: len(there.raw) == 2)
        self.assertEqual(there.raw, ["first", "second"])
        self.assertEqual(self.nodeA.bus.deliverNow("u1", "third", excludeCid="b"), 1)
        yield sleep(0.1)
        self.assertEqual(len(there.raw), 2)
