# -*- test-case-name: fxim.test.unit.test_websocket -*-
"""
Tests for L{fxim.transport.websocket}: the Autobahn L{EnvelopeFactory} in
memory (L{twisted.test.iosim}) with a real Autobahn client protocol (the
SDK's), a L{task.Clock}, a real L{Dispatcher} over the built-in plugins
and an in-memory L{Server}.
"""

import json

from autobahn.twisted.websocket import WebSocketClientFactory
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from fxim.client.connection import RequestFailed, _WsProtocol
from fxim.interfaces import IConnection
from fxim.test.unit.test_tcp import CODE, NodeMixin
from fxim.transport.websocket import DEFAULT_WS_IDLE, EnvelopeFactory
from fxim.wire.envelope import HEARTBEAT
from fxim.wire.requests import MessageNotify, PullMessages
from fxim.wire.signals import SubSignal

SERVER_ADDRESS = IPv4Address("TCP", "127.0.0.1", 9326)
CLIENT_ADDRESS = IPv4Address("TCP", "127.0.0.1", 31337)


class RecordingClient(_WsProtocol):
    """
    The SDK's WebSocket client protocol, recording every text it receives.
    """

    def onMessage(self, payload, isBinary):
        self.factory.received.append(payload.decode("utf-8"))
        _WsProtocol.onMessage(self, payload, isBinary)


class WebSocketTests(NodeMixin, SynchronousTestCase):
    """
    L{EnvelopeFactory} and L{EnvelopeProtocol}.
    """

    def setUp(self):
        self.buildNode()
        # The CONNECT deadline is tested in test_preauth.
        self.factory = EnvelopeFactory(self.dispatcher, self.clock, 64 * 1024, DEFAULT_WS_IDLE,
                                       onLost=self.onLost, connectTimeout=0)

    def onLost(self, connection):
        self.lost.append(connection)
        self.node.sessions.connectionLost(connection)

    def open(self, path="/ws"):
        """
        Open a WebSocket in memory; @return: C{(client, server protocol)}.
        """
        server = self.factory.buildProtocol(CLIENT_ADDRESS)
        clientFactory = WebSocketClientFactory(f"ws://127.0.0.1:9326{path}", reactor=self.clock)
        clientFactory.protocol = RecordingClient
        clientFactory.clock = self.clock
        clientFactory.received = []
        client = clientFactory.buildProtocol(SERVER_ADDRESS)
        self.pump = iosim.connect(
            server, iosim.FakeTransport(server, True, SERVER_ADDRESS, CLIENT_ADDRESS),
            client, iosim.FakeTransport(client, False, CLIENT_ADDRESS, SERVER_ADDRESS),
            clock=self.clock)
        self.pump.flush()
        self.successResultOf(client.opened)
        return client, server

    def authenticated(self):
        client, server = self.open()
        result = self.successResultOf(self.auth.login("13800000009", CODE, "web"))
        d = Deferred.fromCoroutine(client.connect(result.userId, result.token, "web"))
        self.pump.flush()
        self.assertEqual(self.successResultOf(d).code, SubSignal.CONNECTION_ACCEPTED)
        self.assertEqual(server.userId, result.userId)
        del client.factory.received[:]
        return client, server

    def pull(self, client):
        d = client.request(PullMessages(0, 0))
        self.pump.flush()
        return self.successResultOf(d)

    def isOpen(self, client, server):
        return server.state == server.STATE_OPEN and not client.closed.called

    def test_interface(self):
        """
        The server protocol provides L{IConnection}.
        """
        client, server = self.open()
        self.assertTrue(verifyObject(IConnection, server))
        self.assertEqual(server.transportName, "ws")
        self.assertIsNone(server.userId)

    def test_anyPath(self):
        """
        Any URL path is accepted.
        """
        for path in ("/", "/ws", "/some/deep/path?x=1", "/%E4%B8%AD%E6%96%87"):
            client, server = self.open(path)
            self.assertTrue(self.isOpen(client, server), path)

    def test_connectAndPull(self):
        """
        CONNECT and a request round-trip over the in-memory socket.
        """
        client, server = self.authenticated()
        result = self.pull(client)
        self.assertEqual((result.messages, result.head), ((), 0))
        [text] = client.factory.received
        envelope = json.loads(text)
        self.assertEqual((envelope["signal"], envelope["subSignal"]), ("PUB_ACK", "MP"))
        self.assertIsInstance(envelope["content"], str)

    def test_heartbeatIgnored(self):
        """
        The heartbeat text gets no answer; the connection stays and keeps
        working.
        """
        client, server = self.authenticated()
        for _ in range(3):
            client.heartbeat()
        self.pump.flush()
        self.assertEqual(client.factory.received, [])
        self.assertTrue(self.isOpen(client, server))
        self.assertEqual(self.pull(client).head, 0)

    def test_heartbeatBeforeConnect(self):
        """
        A heartbeat before CONNECT does not close the connection either.
        """
        client, server = self.open()
        client.sendText(HEARTBEAT)
        self.pump.flush()
        self.assertEqual(client.factory.received, [])
        self.assertTrue(self.isOpen(client, server))

    def test_malformedDropped(self):
        """
        Broken JSON and wrong-shaped envelopes are dropped without an
        answer; the connection stays and keeps working.
        """
        client, server = self.authenticated()
        for text in ("{not json", "[]", "42", '"str"', json.dumps({"signal": "NOPE"}),
                     json.dumps({"subSignal": "MP", "messageId": 1, "content": {}}),
                     json.dumps({"signal": "NONE", "subSignal": "MP", "messageId": 1}),
                     "{" * 10000):
            client.sendText(text)
        self.pump.flush()
        self.assertEqual(client.factory.received, [])
        self.assertTrue(self.isOpen(client, server))
        self.assertEqual(self.pull(client).head, 0)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_malformedContent(self):
        """
        A well-formed envelope whose content does not fit its subsignal is
        answered with content C{""} (a failed request), connection kept.
        """
        client, server = self.authenticated()
        d = client.request(None, subsignal=SubSignal.MS)  # content {} is not a message
        self.pump.flush()
        failure = self.failureResultOf(d, RequestFailed)
        self.assertEqual(json.loads(client.factory.received[0])["content"], "")
        self.assertTrue(failure)
        self.assertTrue(self.isOpen(client, server))

    def test_binaryIgnored(self):
        """
        Binary frames are ignored, even ones holding a valid envelope.
        """
        client, server = self.authenticated()
        envelope = {"signal": "PUBLISH", "subSignal": "MP", "messageId": 3,
                    "content": {"messageId": 0, "type": 0}}
        client.sendMessage(json.dumps(envelope).encode("utf-8"), isBinary=True)
        client.sendMessage(b"\xf8\x02\x09\x00\x00\x00\x00\x13\x00\x01", isBinary=True)
        self.pump.flush()
        self.assertEqual(client.factory.received, [])
        self.assertTrue(self.isOpen(client, server))
        client.sendText(json.dumps(envelope))
        self.pump.flush()
        self.assertEqual(len(client.factory.received), 1)

    def passIdle(self, client, server, before):
        """
        After C{before} seconds, just under the idle timeout, the
        connection is still open; then let 0.2 s more pass.
        """
        self.clock.advance(before)
        self.pump.flush(advanceClock=False)
        self.assertTrue(self.isOpen(client, server))
        self.clock.advance(0.2)
        self.pump.flush()

    def test_idleTimeout(self):
        """
        After 60 s without any frame the server closes the connection.
        """
        self.assertEqual(DEFAULT_WS_IDLE, 60.0)
        client, server = self.open()
        self.passIdle(client, server, 59.9)
        self.assertTrue(client.closed.called)
        self.assertEqual(self.lost, [server])

    def test_framesResetIdle(self):
        """
        Every frame -- heartbeats, requests, even malformed and binary
        ones -- restarts the 60 s idle timer.
        """
        client, server = self.authenticated()
        for send in (client.heartbeat, lambda: client.sendText("{bad"),
                     lambda: client.sendMessage(b"\x00", isBinary=True),
                     lambda: client.request(PullMessages(0, 0))):
            self.clock.advance(50)
            send()
            self.pump.flush(advanceClock=False)
            self.assertTrue(self.isOpen(client, server))
        self.passIdle(client, server, 59.9)
        self.assertFalse(self.isOpen(client, server))
        self.assertEqual(list(self.connections), [])

    def test_configuredIdle(self):
        """
        The factory's C{idleTimeout} (C{--ws-idle}) is used.
        """
        self.factory = EnvelopeFactory(self.dispatcher, self.clock, 64 * 1024, 5.0)
        client, server = self.open()
        self.passIdle(client, server, 4.9)
        self.assertTrue(client.closed.called)

    def test_refusedConnectCloses(self):
        """
        A CONNECT with a wrong password is answered CONNECT_ACK 5 with
        content C{""}, then the server closes the WebSocket.
        """
        client, server = self.open()
        result = self.successResultOf(self.auth.login("13800000009", CODE, "web"))
        d = Deferred.fromCoroutine(client.connectWithPassword(result.userId, "bogus", "web"))
        self.pump.flush()
        self.assertEqual(self.failureResultOf(d, RequestFailed).value.code,
                         SubSignal.CONNECTION_REFUSED_BAD_USER_NAME_OR_PASSWORD)
        envelope = json.loads(client.factory.received[0])
        self.assertEqual((envelope["signal"], envelope["subSignal"], envelope["content"]),
                         ("CONNECT_ACK", "CONNECTION_REFUSED_BAD_USER_NAME_OR_PASSWORD", ""))
        self.assertTrue(client.closed.called)
        self.assertIsNone(server.userId)

    def test_requestBeforeConnectCloses(self):
        """
        A PUBLISH before CONNECT closes the WebSocket unanswered.
        """
        client, server = self.open()
        client.request(PullMessages(0, 0)).addErrback(lambda f: None)
        self.pump.flush()
        self.assertEqual(client.factory.received, [])
        self.assertTrue(client.closed.called)

    def test_pushes(self):
        """
        A push through the bus reaches the WebSocket as a PUBLISH envelope;
        nothing is sent once it is closed.
        """
        client, server = self.authenticated()
        pushes = []
        client.onPush(pushes.append)
        self.successResultOf(ensureDeferred(self.bus.deliver(server.userId, MessageNotify(0, 7))))
        self.pump.flush()
        self.assertEqual(pushes, [MessageNotify(0, 7)])
        envelope = json.loads(client.factory.received[0])
        self.assertEqual((envelope["signal"], envelope["subSignal"]), ("PUBLISH", "MN"))
        server.disconnect()
        self.pump.flush()
        self.assertTrue(client.closed.called)
        server.sendPush(MessageNotify(0, 8))
        self.pump.flush()
        self.assertEqual(len(client.factory.received), 1)

    def test_sendDataCounted(self):
        """
        An open connection's writes reach the client and are counted as
        Autobahn counts them.  (A write behind a queued one is Autobahn's:
        its queue runs on the global reactor, not the test clock.)
        """
        client, server = self.authenticated()
        pushes = []
        client.onPush(pushes.append)
        before = server.trafficStats.outgoingOctetsWireLevel
        written = []
        write = server.transport.write
        server.transport.write = lambda data: (written.append(data), write(data))
        server.sendPush(MessageNotify(0, 7))
        self.assertEqual(server.trafficStats.outgoingOctetsWireLevel, before + len(written[0]))
        self.pump.flush()
        self.assertEqual(pushes, [MessageNotify(0, 7)])

    def test_oversizedMessageCloses(self):
        """
        A message over C{maxPayload} (64 KiB here) closes the connection.
        """
        client, server = self.authenticated()
        client.sendText(json.dumps({"signal": "PUBLISH", "subSignal": "MP", "messageId": 1,
                                    "content": {"x": "y" * 70000}}))
        self.pump.flush()
        self.assertTrue(client.closed.called)
        self.assertEqual(client.factory.received, [])
