# -*- test-case-name: fxim.test.unit.test_turnwrite -*-
"""
Tests for L{fxim.transport.turnwrite}: output sent at the end of the
reactor turn, on real loopback TCP connections.
"""

from twisted.internet import defer, protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from fxim.transport.turnwrite import TurnWrittenServer, writeAtTurnEnd


class _Collect(protocol.Protocol):
    """
    A client that keeps what it receives and fires C{lost} at the end.
    """

    def __init__(self):
        self.received = bytearray()
        self.lost = defer.Deferred()

    def dataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.lost.callback(bytes(self.received))


class _Server(protocol.Protocol):
    def connectionMade(self):
        self.factory.connected.callback(self)


class TurnWriteTests(TestCase):

    @defer.inlineCallbacks
    def setUp(self):
        factory = protocol.Factory.forProtocol(_Server)
        factory.connected = defer.Deferred()
        self.port = writeAtTurnEnd((yield TCP4ServerEndpoint(
            reactor, 0, interface="127.0.0.1").listen(factory)))
        self.addCleanup(self.port.stopListening)
        self.client = _Collect()
        clientTransport = yield TCP4ClientEndpoint(
            reactor, "127.0.0.1", self.port.getHost().port).connect(
            protocol.Factory.forProtocol(lambda: self.client))
        self.addCleanup(clientTransport.transport.abortConnection)
        self.server = (yield factory.connected).transport

    def test_transport(self):
        """
        The port's connections are L{TurnWrittenServer}s.
        """
        self.assertIsInstance(self.server, TurnWrittenServer)

    @defer.inlineCallbacks
    def test_burstWithoutThePoller(self):
        """
        Writes of one turn are sent at its end without registering the
        connection with the poller, in order.
        """
        self.server.write(b"one ")
        self.server.writeSequence([b"two ", b"three"])
        self.assertNotIn(self.server, reactor.getWriters())
        self.assertEqual(self.client.received, b"")  # not before the turn ends
        yield deferLater(reactor, 0.05, lambda: None)
        self.assertNotIn(self.server, reactor.getWriters())
        self.server.loseConnection()
        self.assertEqual((yield self.client.lost), b"one two three")

    @defer.inlineCallbacks
    def test_moreThanTheSocketTakes(self):
        """
        What the socket does not take at once waits for the poller, and all
        of it arrives.
        """
        big = bytes(range(256)) * (64 * 1024)  # 16 MiB
        self.server.write(big)
        yield deferLater(reactor, 0, lambda: None)
        self.server.loseConnection()
        received = yield self.client.lost
        self.assertEqual(len(received), len(big))
        self.assertEqual(received, big)

    @defer.inlineCallbacks
    def test_closeAfterWrite(self):
        """
        C{loseConnection} right after a write still sends it first.
        """
        self.server.write(b"bye")
        self.server.loseConnection()
        self.assertEqual((yield self.client.lost), b"bye")

    @defer.inlineCallbacks
    def test_peerGone(self):
        """
        Writing to a connection whose peer has gone ends in
        C{connectionLost}, not an error.
        """
        lost = defer.Deferred()
        self.server.protocol.connectionLost = lambda reason: lost.callback(None)
        self.client.transport.abortConnection()
        yield self.client.lost
        for _ in range(50):
            if lost.called:
                break
            self.server.write(b"x" * 65536)
            yield deferLater(reactor, 0.01, lambda: None)
        yield lost

    def test_otherPortsLeftAlone(self):
        """
        A port that is not a plain Twisted TCP port is returned unchanged.
        """
        other = object()
        self.assertIs(writeAtTurnEnd(other), other)
