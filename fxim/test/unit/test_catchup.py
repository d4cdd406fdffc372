"""
Tests for L{fxim.bus.catchup}.
"""

from twisted.internet.defer import ensureDeferred, inlineCallbacks, succeed
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fxim.bus.catchup import CatchUp, NotifiedSeqs
from fxim.bus.local import LocalConnections
from fxim.test.unit.test_bus import FakeConnection, MarkedPushes, waitFor
from fxim.test.unit.test_directory import (
    SKIP_REDIS, RedisFixtureMixin,
)
from fxim.wire.requests import MessageNotify


class Conn:
    def __init__(self, userId, cid="c"):
        self.userId, self.cid = userId, cid
        self.pushes = []

    def sendPush(self, push):
        self.pushes.append(push)

    def heads(self):
        return [p.head for p in self.pushes]


class NotifiedSeqsTests(SynchronousTestCase):
    """
    L{NotifiedSeqs} keeps a floor and the seqs above it.
    """

    def test_floorAdvances(self):
        seqs = NotifiedSeqs(3)
        for s in (5, 6, 4, 9):
            seqs.add(s)
        self.assertEqual((seqs.floor, seqs.above), (6, {9}))
        self.assertEqual(seqs.missing(10, 100), [7, 8, 10])
        self.assertEqual(seqs.missing(10, 2), [8, 10])
        self.assertEqual(seqs.missing(6, 100), [])


class CatchUpTests(SynchronousTestCase):
    """
    L{CatchUp.run} sends the MNs a connection missed, once.
    """

    def setUp(self):
        self.heads = {"u1": 0, "u2": 0}
        self.catchUp = CatchUp(lambda userId: succeed(self.heads[userId]), maxPerConnection=5)

    def catchUpOn(self, conns):
        return self.successResultOf(ensureDeferred(self.catchUp.run(conns)))

    def test_missedOnly(self):
        """
        After CONNECT with head 2 and MNs 3 and 5, a head of 6 gives MNs 4
        and 6; a second run sends nothing.
        """
        conn = Conn("u1")
        self.catchUp.connected(conn, 2)
        self.catchUp.notified(conn, MessageNotify(0, 3))
        self.catchUp.notifiedSeq(conn, 5)
        self.heads["u1"] = 6
        self.assertEqual(self.catchUpOn([conn]), 2)
        self.assertEqual(conn.heads(), [4, 6])
        self.assertEqual(self.catchUpOn([conn]), 0)

    def test_capped(self):
        """
        At most C{maxPerConnection} MNs, the newest.
        """
        conn = Conn("u1")
        self.catchUp.connected(conn, 0)
        self.heads["u1"] = 20
        self.catchUpOn([conn])
        self.assertEqual(conn.heads(), [16, 17, 18, 19, 20])

    def test_unknownConnection(self):
        """
        A connection never seen gets one MN with its head.
        """
        conn = Conn("u2")
        self.heads["u2"] = 7
        self.catchUpOn([conn])
        self.assertEqual(conn.heads(), [7])

    def test_connectedKeepsEarlierMNs(self):
        """
        MNs recorded between bind and C{connected} are kept.
        """
        conn = Conn("u1")
        self.catchUp.notifiedSeq(conn, 9)
        self.catchUp.connected(conn, 7)
        self.heads["u1"] = 9
        self.catchUpOn([conn])
        self.assertEqual(conn.heads(), [8])


class RedisBusCatchUpTests(TestCase):
    """
    L{fxim.bus.redis.RedisBus} with catch-up, two nodes on a real Redis.
    """

    skip = SKIP_REDIS

    @inlineCallbacks
    def setUp(self):
        self.fixture = RedisFixtureMixin()
        self.fixture.addCleanup = self.addCleanup
        yield self.fixture.connectRedis()
        self.heads = {}
        self.localA, self.localB = LocalConnections(), LocalConnections()
        self.nodeA = yield self.startNode("A", self.localA)
        self.nodeB = yield self.startNode("B", self.localB)

    @inlineCallbacks
    def startNode(self, nodeId, local):
        node = yield self.fixture.startBusNode(nodeId, local, MarkedPushes())
        node.bus.catchUp = CatchUp(lambda userId: succeed(self.heads.get(userId, 0)))
        node.bus.owedRetryInterval = 0.01
        return node

    @inlineCallbacks
    def connectB(self, userId, cid, head):
        conn = FakeConnection(userId, cid)
        self.localB.add(conn)
        yield self.nodeB.directory.register(userId, cid, "B", "tcp")
        self.nodeB.bus.catchUp.connected(conn, head)
        return conn

    @inlineCallbacks
    def test_remoteMNRecordedAndAnnouncedCatchUp(self):
        """
        An MN published to node B is recorded for its connection; a
        catch-up announced by node A for the user makes B send exactly the
        MNs its connection missed.
        """
        conn = yield self.connectB("u1", "c1", 0)
        yield self.nodeA.bus.deliver("u1", MessageNotify(0, 1))
        yield waitFor(lambda: conn.raw)
        self.heads["u1"] = 3
        self.nodeA.bus._owe("u1")
        yield waitFor(lambda: len(conn.pushes) == 2)
        self.assertEqual([p.head for p in conn.pushes], [2, 3])

    @inlineCallbacks
    def test_resubscribedAfterEmptyRedis(self):
        """
        After Redis lost everything (liveness and presence), node B's
        re-subscription writes them back and sends its devices the MNs
        they missed; node A then finds B's device again.
        """
        conn = yield self.connectB("u1", "c1", 1)
        keys = yield self.fixture.redis.keys(self.fixture.prefix + "*")
        yield self.fixture.redis.delete(keys)
        self.assertEqual((yield self.nodeA.directory.devicesOf("u1")), [])
        self.heads["u1"] = 4
        yield self.nodeB.bus.resubscribed()
        self.assertEqual([p.head for p in conn.pushes], [2, 3, 4])
        devices = yield self.nodeA.directory.devicesOf("u1")
        self.assertEqual([(p.cid, p.nodeId) for p in devices], [("c1", "B")])
