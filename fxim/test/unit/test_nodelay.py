# -*- test-case-name: fxim.test.unit.test_nodelay -*-
"""
Tests for C{TCP_NODELAY} on every TCP connection fxim accepts or opens:
the binary TCP and WebSocket listeners, the outgoing Redis connections
(commands and subscriber) and the SDK's TCP client.  Each test uses a real
loopback socket and reads the option back with C{getsockopt}.
"""

import socket

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fxim import redisconn
from fxim.client.connection import connectTcp, connectWs
from fxim.transport.nodelay import setNoDelay
from fxim.transport.tcp import DEFAULT_TCP_IDLE, FrameFactory
from fxim.transport.websocket import EnvelopeFactory


def noDelay(transport):
    """
    @return: whether C{TCP_NODELAY} is set on C{transport}'s socket.
    """
    return bool(transport.getHandle().getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


class SetNoDelayTests(SynchronousTestCase):
    """
    L{setNoDelay} on transports that are not (plain) TCP.
    """

    def test_noSetter(self):
        """
        A transport without C{setTcpNoDelay} (UNIX socket, test twin) is
        left alone.
        """
        self.assertFalse(setNoDelay(StringTransport()))
        self.assertFalse(setNoDelay(None))

    def test_refused(self):
        """
        A socket refusing the option (C{AF_UNIX} raises C{OSError}) does not
        fail the connection.
        """
        class Refusing:
            def setTcpNoDelay(self, enabled):
                raise OSError(95, "Operation not supported")
        self.assertFalse(setNoDelay(Refusing()))

    def test_set(self):
        """
        A TCP transport gets C{setTcpNoDelay(True)}.
        """
        calls = []

        class Tcp:
            def setTcpNoDelay(self, enabled):
                calls.append(enabled)
        self.assertTrue(setNoDelay(Tcp()))
        self.assertEqual(calls, [True])


class _Accepting(Protocol):
    """
    Records each accepted server-side connection.
    """

    def connectionMade(self):
        self.factory.accepted.append(self)
        waiting, self.factory.waiting = self.factory.waiting, []
        for d in waiting:
            d.callback(self)


class _Listener(Factory):
    protocol = _Accepting

    def __init__(self):
        self.accepted = []
        self.waiting = []

    def next(self):
        d = Deferred()
        self.waiting.append(d)
        return d


class LoopbackTests(TestCase):
    """
    Real loopback connections.
    """

    timeout = 30

    def listen(self, factory):
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port.getHost().port

    def serverSide(self, factory):
        """
        Wrap C{factory.buildProtocol} to hand out each server protocol.

        @return: a list filled with the server protocols as they connect.
        """
        built = []
        original = factory.buildProtocol

        def buildProtocol(addr):
            p = original(addr)
            built.append(p)
            return p
        factory.buildProtocol = buildProtocol
        return built

    @inlineCallbacks
    def test_tcpListener(self):
        """
        Connections accepted by L{FrameFactory} have C{TCP_NODELAY} on.
        """
        factory = FrameFactory(None, reactor, 1000, DEFAULT_TCP_IDLE)
        built = self.serverSide(factory)
        port = self.listen(factory)
        client = yield connectTcp(reactor, "127.0.0.1", port)
        self.addCleanup(client.close)
        self.assertEqual(len(built), 1)
        server = built[0]
        self.addCleanup(server.transport.loseConnection)
        self.assertTrue(noDelay(server.transport))
        # and the SDK's own side
        self.assertTrue(noDelay(client.transport))

    @inlineCallbacks
    def test_wsListener(self):
        """
        Connections accepted by L{EnvelopeFactory} have C{TCP_NODELAY} on,
        and so has the SDK's WebSocket client.
        """
        factory = EnvelopeFactory(None, reactor)
        built = self.serverSide(factory)
        port = self.listen(factory)
        client = yield connectWs(reactor, "127.0.0.1", port)
        self.addCleanup(client.close)
        self.assertEqual(len(built), 1)
        self.assertTrue(noDelay(built[0].transport))
        self.assertTrue(noDelay(client.transport))

    @inlineCallbacks
    def test_redisCommands(self):
        """
        Every connection of L{redisconn.connectRedis}'s pool has
        C{TCP_NODELAY} on.
        """
        far = _Listener()
        port = self.listen(far)
        handler = yield redisconn.connectRedis(reactor, f"redis://127.0.0.1:{port}", poolSize=2)
        self.addCleanup(handler.disconnect)
        pool = handler._factory.pool
        self.assertEqual(len(pool), 2)
        for conn in pool:
            self.assertTrue(noDelay(conn.transport))

    @inlineCallbacks
    def test_redisSubscriber(self):
        """
        L{redisconn.RedisSubscriber}'s connection has C{TCP_NODELAY} on.
        """
        far = _Listener()
        port = self.listen(far)
        subscriber = redisconn.RedisSubscriber(reactor, f"redis://127.0.0.1:{port}", ["c"],
                                               lambda channel, message: None)
        accepted = far.next()
        subscriber.start().addErrback(lambda f: None)
        self.addCleanup(subscriber.stop)
        yield accepted
        # The factory's pool holds the connection once connectionMade ran.
        while not subscriber._factory.pool:
            d = Deferred()
            reactor.callLater(0.01, d.callback, None)
            yield d
        self.assertTrue(noDelay(subscriber._factory.pool[0].transport))
