"""
Unit tests of the pre-authentication limits of the TCP transport: the
small frame limit and the CONNECT deadline, with a clock and in-memory
transports (the WebSocket side is covered end to end in
L{fxim.test.e2e.test_hardening}).
"""

import struct

from twisted.trial.unittest import SynchronousTestCase

from fxim.test.unit.test_tcp import TcpMixin
from fxim.transport.tcp import DEFAULT_TCP_IDLE, FrameFactory
from fxim.wire.signals import Signal


class PreAuthTcpTests(TcpMixin, SynchronousTestCase):
    """
    Before CONNECT only small frames and a bounded time.
    """

    def setUp(self):
        self.buildNode()
        self.factory = FrameFactory(self.dispatcher, self.clock, 1 << 20, DEFAULT_TCP_IDLE,
                                    onLost=self.onLost, preAuthMaxLength=1024,
                                    connectTimeout=30)

    def test_bigHeaderBeforeConnect(self):
        """
        A header announcing more than the pre-auth limit aborts the
        connection at once.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(struct.pack(">BBBiBH", 0xF8, 2, Signal.CONNECT, 1025, 0, 1))
        self.assertTrue(transport.disconnecting or getattr(transport, "aborted", False))

    def test_fullLimitAfterConnect(self):
        """
        After CONNECT a frame over the pre-auth limit is accepted.
        """
        protocol, transport = self.authenticated()
        protocol.dataReceived(struct.pack(">BBBiBH", 0xF8, 2, Signal.PING, 4096, 0, 1))
        self.assertFalse(transport.disconnecting)
        self.assertEqual(protocol._decoder.maxLength, 1 << 20)

    def test_deadlineNotExtendedByTraffic(self):
        """
        PINGs every few seconds do not keep an unauthenticated connection
        past the CONNECT deadline.
        """
        protocol, transport = self.connect()
        for _ in range(9):
            protocol.dataReceived(self.pingFrame(60000))
            self.clock.advance(3)
        self.assertFalse(transport.disconnecting or getattr(transport, "aborted", False))
        self.clock.advance(4)
        self.assertTrue(transport.disconnecting or getattr(transport, "aborted", False))

    def test_connectCancelsDeadline(self):
        """
        An accepted CONNECT cancels the deadline.
        """
        protocol, transport = self.authenticated()
        self.clock.advance(31)
        self.assertFalse(transport.disconnecting)
