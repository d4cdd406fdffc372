# -*- test-case-name: fxim.test.unit.test_tcp -*-
"""
Tests for L{fxim.transport.tcp}: L{FrameFactory}/L{FrameProtocol} over a
L{StringTransport} and a L{task.Clock}, with a real L{Dispatcher}, the
built-in handler plugins and a node from L{fxim.testing.memoryNode} (a
L{MemoryStore}, L{MemoryDirectory}, L{LocalBus} and the real services).
"""

import json
import struct

from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from fxim import crypto
from fxim.config import Config
from fxim.dispatch import Dispatcher
from fxim.interfaces import IConnection
from fxim.testing import autobahnOnClock, memoryNode
from fxim.transport.tcp import DEFAULT_TCP_IDLE, FrameFactory
from fxim.protocol.client import CLIENT as clientcodecs
from fxim.wire.frame import Frame, FrameDecoder, encodeFrame
from fxim.wire.requests import ConnectRequest, MessageNotify, PullMessages
from fxim.wire.signals import Signal, SubSignal

START = 1700000000.0
CODE = "556677"


class RecordingTransport(StringTransport):
    """
    A L{StringTransport} telling C{abortConnection} from C{loseConnection}.
    """

    aborted = False

    def abortConnection(self):
        self.aborted = True
        StringTransport.abortConnection(self)


class GatedAuth:
    """
    Wraps an L{AuthService}; C{verifyConnect} waits until L{open} is called.
    """

    def __init__(self, auth):
        self.auth = auth
        self.gate = Deferred()

    def verifyConnect(self, *args):
        async def verify():
            await self.gate
            return await self.auth.verifyConnect(*args)
        return Deferred.fromCoroutine(verify())

    def open(self):
        self.gate.callback(None)

    def __getattr__(self, name):
        return getattr(self.auth, name)


class NodeMixin:
    """
    A node's objects, in memory, with a L{task.Clock}.
    """

    def buildNode(self, **configValues):
        self.clock = task.Clock()
        self.clock.advance(START)
        # Before the node's cleanup, so that it runs after the connections
        # closed (their closing timeouts land on the clock too).
        autobahnOnClock(self, self.clock)
        node = memoryNode(Config(loginCode=CODE, **configValues), self.clock)
        self.addCleanup(lambda: self.successResultOf(ensureDeferred(node.close())))
        self.config, self.node = node.config, node.server
        self.connections, self.bus, self.auth = node.server.connections, node.server.bus, \
            node.server.auth
        self.registry = node.registry
        # The rate limit is tested in test_dispatch.
        self.dispatcher = Dispatcher(self.registry, self.node, self.clock)
        self.lost = []

    def login(self, mobile="13800000001", cid="phone"):
        """
        @return: C{(uid, password, cid)} for a CONNECT.
        """
        result = self.successResultOf(self.auth.login(mobile, CODE, cid))
        return result.userId, crypto.makePassword(result.token, int(self.clock.seconds() * 1000)), cid


class TcpMixin(NodeMixin):

    def setUp(self):
        self.buildNode()
        # The CONNECT deadline is tested in test_preauth.
        self.factory = FrameFactory(self.dispatcher, self.clock, 1000, DEFAULT_TCP_IDLE,
                                    onLost=self.onLost, connectTimeout=0)

    def onLost(self, connection):
        self.lost.append(connection)
        self.node.sessions.connectionLost(connection)

    def connect(self, factory=None):
        """
        @return: a connected C{(protocol, transport)}.
        """
        factory = factory or self.factory
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = RecordingTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        protocol.makeConnection(transport)
        return protocol, transport

    def replies(self, transport):
        """
        @return: the frames written so far (and clear the transport).
        """
        frames = FrameDecoder(1 << 30).feed(transport.value())
        transport.clear()
        return frames

    def connectFrame(self, userId, password, cid):
        return encodeFrame(Frame(Signal.CONNECT, 0, 0, clientcodecs.encodeRequestTcp(
            ConnectRequest(userId, password, cid))))

    def pullFrame(self, messageId=5):
        return encodeFrame(Frame(Signal.PUBLISH, SubSignal.MP, messageId,
                                 clientcodecs.encodeRequestTcp(PullMessages(0, 0))))

    def pingFrame(self, interval=None, messageId=1, body=None):
        if body is None:
            body = json.dumps({} if interval is None else {"interval": interval}).encode()
        return encodeFrame(Frame(Signal.PING, 0, messageId, body))

    def authenticated(self):
        protocol, transport = self.connect()
        protocol.dataReceived(self.connectFrame(*self.login()))
        self.clock.advance(0)
        [ack] = self.replies(transport)
        self.assertEqual((ack.signal, ack.subsignal), (Signal.CONNECT_ACK, SubSignal.CONNECTION_ACCEPTED))
        return protocol, transport


class FramingTests(TcpMixin, SynchronousTestCase):
    """
    Framing: any split, many frames per read, bad headers.
    """

    def test_interface(self):
        """
        L{FrameProtocol} provides L{IConnection}.
        """
        protocol, _ = self.connect()
        self.assertTrue(verifyObject(IConnection, protocol))
        self.assertEqual(protocol.transportName, "tcp")
        self.assertEqual(protocol.peer, "tcp:127.0.0.1:40000")

    def test_splitAtEveryByte(self):
        """
        CONNECT, a PULL and a PING delivered one byte at a time are all
        answered; the PULL after the CONNECT_ACK.
        """
        protocol, transport = self.connect()
        data = self.connectFrame(*self.login()) + self.pullFrame(5) + self.pingFrame(60000, 6)
        for i in range(len(data)):
            protocol.dataReceived(data[i:i + 1])
            self.clock.advance(0)
        frames = self.replies(transport)
        kinds = [(f.signal, f.subsignal, f.messageId) for f in frames]
        self.assertEqual(sorted(kinds), sorted([
            (Signal.CONNECT_ACK, SubSignal.CONNECTION_ACCEPTED, 0),
            (Signal.PUB_ACK, SubSignal.MP, 5), (Signal.PING, 0, 6)]))
        self.assertLess(kinds.index((Signal.CONNECT_ACK, SubSignal.CONNECTION_ACCEPTED, 0)),
                        kinds.index((Signal.PUB_ACK, SubSignal.MP, 5)))
        pull = [f for f in frames if f.signal == Signal.PUB_ACK][0]
        code, result = clientcodecs.decodeReplyTcp(pull.subsignal, pull.body)
        self.assertEqual((code, result.messages, result.head), (0, (), 0))
        self.assertFalse(transport.disconnecting)

    def test_splitAtEveryPosition(self):
        """
        Two frames split into two reads at every possible position give
        the same two replies.
        """
        data = self.pingFrame(60000, 1) + self.pingFrame(70000, 2)
        for cut in range(len(data) + 1):
            protocol, transport = self.connect()
            protocol.dataReceived(data[:cut])
            protocol.dataReceived(data[cut:])
            self.assertEqual([(f.messageId, f.body) for f in self.replies(transport)],
                             [(1, b"ping back next interval 60000"),
                              (2, b"ping back next interval 70000")], cut)

    def test_manyFramesInOneRead(self):
        """
        200 frames in one read are all answered, in order.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(b"".join(self.pingFrame(60000, i) for i in range(1, 201)))
        frames = self.replies(transport)
        self.assertEqual([f.messageId for f in frames], list(range(1, 201)))
        self.assertEqual({f.signal for f in frames}, {Signal.PING})

    def assertAbortedSilently(self, data, authenticate=False):
        if authenticate:
            protocol, transport = self.authenticated()
        else:
            protocol, transport = self.connect()
        protocol.dataReceived(data)
        self.clock.advance(0)
        self.assertTrue(transport.aborted, data[:12])
        self.assertEqual(transport.value(), b"", data[:12])
        protocol.connectionLost(None)
        self.assertEqual(self.lost, [protocol])
        del self.lost[:]
        return protocol

    def test_badMagic(self):
        """
        A wrong magic byte aborts the connection and writes nothing.
        """
        self.assertAbortedSilently(b"\x00" + self.pingFrame(60000)[1:])
        self.assertAbortedSilently(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    def test_hugeLength(self):
        """
        A length over the factory's limit (1000 here), or 2**31-1, aborts
        before the body arrives.
        """
        self.assertAbortedSilently(struct.pack(">BBBiBH", 0xF8, 2, Signal.PING, 1001, 0, 1))
        self.assertAbortedSilently(struct.pack(">BBBiBH", 0xF8, 2, Signal.PUBLISH, 2 ** 31 - 1,
                                               SubSignal.MS, 1), authenticate=True)

    def test_negativeLength(self):
        """
        A negative length aborts.
        """
        self.assertAbortedSilently(struct.pack(">BBBiBH", 0xF8, 2, Signal.PING, -1, 0, 1))
        self.assertAbortedSilently(struct.pack(">BBBiBH", 0xF8, 2, Signal.PUBLISH, -(2 ** 31),
                                               SubSignal.MP, 1), authenticate=True)

    def test_invalidSignal(self):
        """
        Signal NONE (0) or an ordinal past PUB_ACK aborts.
        """
        self.assertAbortedSilently(struct.pack(">BBBiBH", 0xF8, 2, 0, 0, 0, 1))
        self.assertAbortedSilently(struct.pack(">BBBiBH", 0xF8, 2, 11, 0, 0, 1))

    def test_badFrameAfterGoodOnes(self):
        """
        Garbage after valid frames in a later read aborts; what was
        answered before stays answered and nothing is written after.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(self.pingFrame(60000, 1))
        self.assertEqual(len(self.replies(transport)), 1)
        protocol.dataReceived(b"\xf7" * 10 + self.pingFrame(60000, 2))
        self.assertTrue(transport.aborted)
        self.assertEqual(transport.value(), b"")
        protocol.dataReceived(self.pingFrame(60000, 3))
        self.assertEqual(transport.value(), b"")

    def test_otherConnectionUnaffected(self):
        """
        A bad frame on one connection does not disturb another.
        """
        good, goodTransport = self.connect()
        bad, badTransport = self.connect()
        bad.dataReceived(b"\x00" * 10)
        good.dataReceived(self.pingFrame(60000, 4))
        self.assertTrue(badTransport.aborted)
        self.assertFalse(goodTransport.disconnecting)
        self.assertEqual(len(self.replies(goodTransport)), 1)


class PingAndIdleTests(TcpMixin, SynchronousTestCase):
    """
    PING replies and the idle timeout.
    """

    def assertIdle(self, transport, seconds):
        """
        The connection is closed after exactly C{seconds} of silence.
        """
        self.clock.advance(seconds - 0.01)
        self.assertFalse(transport.disconnecting, seconds)
        self.clock.advance(0.02)
        self.assertTrue(transport.disconnecting, seconds)

    def test_defaultIdle(self):
        """
        Without a PING a silent connection is closed after 120 s.
        """
        self.assertEqual(DEFAULT_TCP_IDLE, 120.0)
        _, transport = self.connect()
        self.assertIdle(transport, 120)

    def test_dataResetsIdle(self):
        """
        Any bytes received restart the idle timer, even a partial frame.
        """
        protocol, transport = self.connect()
        self.clock.advance(100)
        protocol.dataReceived(b"\xf8")
        self.clock.advance(100)
        self.assertFalse(transport.disconnecting)
        self.assertIdle(transport, 20)

    def test_pingReplyAndIdle(self):
        """
        PING C{{"interval":180000}} is answered C{ping back next interval
        180000} with its messageId, and the idle timeout becomes 180 + 60 s.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(self.pingFrame(180000, 77))
        [reply] = self.replies(transport)
        self.assertEqual(reply, Frame(Signal.PING, 0, 77, b"ping back next interval 180000"))
        self.assertIdle(transport, 240)

    def test_pingClampedLow(self):
        """
        An interval below C{pingMin} (10 s) is clamped: reply 10000, idle
        70 s.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(self.pingFrame(1, 2))
        [reply] = self.replies(transport)
        self.assertEqual(reply.body, b"ping back next interval 10000")
        self.assertIdle(transport, 70)

    def test_pingClampedHigh(self):
        """
        An absurd interval is clamped to C{pingMax} (30 min): idle
        reaping cannot be turned off.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(self.pingFrame(10 ** 12, 2))
        [reply] = self.replies(transport)
        self.assertEqual(reply.body, b"ping back next interval 1800000")
        self.assertIdle(transport, 1800 + 60)

    def test_pingConfiguredClamp(self):
        """
        The clamp comes from C{Config.pingMin}/C{pingMax}.
        """
        self.buildNode(pingMin=5000, pingMax=20000)
        factory = FrameFactory(self.dispatcher, self.clock, 1000, DEFAULT_TCP_IDLE,
                               connectTimeout=0)
        protocol, transport = self.connect(factory)
        protocol.dataReceived(self.pingFrame(1000, 1) + self.pingFrame(999999, 2))
        self.assertEqual([f.body for f in self.replies(transport)],
                         [b"ping back next interval 5000", b"ping back next interval 20000"])
        self.assertIdle(transport, 80)

    def test_pingWithoutInterval(self):
        """
        A PING with no usable interval keeps the default idle of 120 s.
        """
        for body in (b"", b"{}", b"not json", b'{"interval":"abc"}'):
            protocol, transport = self.connect()
            self.clock.advance(50)
            protocol.dataReceived(self.pingFrame(body=body, messageId=3))
            [reply] = self.replies(transport)
            self.assertEqual(reply, Frame(Signal.PING, 0, 3, b"ping back next interval 60000"), body)
            self.assertIdle(transport, 120)

    def test_idleAfterConnect(self):
        """
        An authenticated connection is idle-closed too, and forgotten.
        """
        protocol, transport = self.authenticated()
        self.assertEqual(len(list(self.connections)), 1)
        self.assertIdle(transport, 120)
        protocol.connectionLost(None)
        self.assertEqual(list(self.connections), [])


class ConnectOrderTests(TcpMixin, SynchronousTestCase):
    """
    Requests before and during CONNECT.
    """

    def test_requestBeforeConnectCloses(self):
        """
        A PUBLISH before any CONNECT closes the connection unanswered.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(self.pullFrame())
        self.clock.advance(0)
        self.assertEqual(transport.value(), b"")
        self.assertTrue(transport.disconnecting)

    def test_disconnectBeforeConnectCloses(self):
        """
        A DISCONNECT before CONNECT closes the connection too.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(encodeFrame(Frame(Signal.DISCONNECT, 0, 0, b"\x01")))
        self.assertEqual(transport.value(), b"")
        self.assertTrue(transport.disconnecting)

    def test_publishWaitsForConnect(self):
        """
        A PUBLISH arriving while CONNECT is being verified waits for it,
        then is answered after the CONNECT_ACK.
        """
        gated = GatedAuth(self.auth)
        self.node.auth = gated
        protocol, transport = self.connect()
        protocol.dataReceived(self.connectFrame(*self.login()) + self.pullFrame(9))
        self.clock.advance(1)
        self.assertEqual(transport.value(), b"")
        self.assertFalse(transport.disconnecting)
        gated.open()
        self.clock.advance(0)
        frames = self.replies(transport)
        self.assertEqual([(f.signal, f.subsignal, f.messageId) for f in frames],
                         [(Signal.CONNECT_ACK, SubSignal.CONNECTION_ACCEPTED, 0),
                          (Signal.PUB_ACK, SubSignal.MP, 9)])
        self.assertEqual(frames[1].body[:1], b"\x00")
        self.assertFalse(transport.disconnecting)

    def test_publishDuringRefusedConnect(self):
        """
        If that CONNECT is refused, the waiting PUBLISH is not answered:
        the CONNECT_ACK goes out and the connection closes.
        """
        gated = GatedAuth(self.auth)
        self.node.auth = gated
        protocol, transport = self.connect()
        userId, password, cid = self.login()
        protocol.dataReceived(self.connectFrame(userId, password, "other-device") + self.pullFrame(9))
        gated.open()
        self.clock.advance(0)
        frames = self.replies(transport)
        self.assertEqual([(f.signal, f.subsignal) for f in frames],
                         [(Signal.CONNECT_ACK, SubSignal.CONNECTION_REFUSED_SESSION_NOT_EXIST)])
        self.assertTrue(transport.disconnecting)

    def test_wrongPasswordRefused(self):
        """
        A bad password is answered CONNECT_ACK 5 and the connection closes.
        """
        protocol, transport = self.connect()
        userId, password, cid = self.login()
        protocol.dataReceived(self.connectFrame(userId, "x" + password, cid))
        self.clock.advance(0)
        [ack] = self.replies(transport)
        self.assertEqual((ack.signal, ack.subsignal),
                         (Signal.CONNECT_ACK, SubSignal.CONNECTION_REFUSED_BAD_USER_NAME_OR_PASSWORD))
        self.assertTrue(transport.disconnecting)

    def test_pushAfterConnect(self):
        """
        The bus reaches an authenticated connection: a push is written as
        a frame; after the connection is lost nothing more is written.
        """
        protocol, transport = self.authenticated()
        self.successResultOf(ensureDeferred(self.bus.deliver(protocol.userId, MessageNotify(0, 3))))
        [push] = self.replies(transport)
        self.assertEqual((push.signal, push.subsignal), (Signal.PUBLISH, SubSignal.MN))
        protocol.connectionLost(None)
        protocol.sendPush(MessageNotify(0, 4))
        self.assertEqual(transport.value(), b"")
