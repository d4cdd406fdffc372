"""
Tests for L{fxim.transport.admission}: connection caps shared by every
listener and the file limit.
"""

from twisted.internet.address import IPv4Address, UNIXAddress
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from fxim.transport.admission import (
    FD_RESERVE, CappedFactory, ConnectionCaps, effectiveTotalCap, raiseFileLimit,
)


def _addr(host: str) -> IPv4Address:
    return IPv4Address("TCP", host, 40000)


class _Echo(Protocol):
    made = False

    def connectionMade(self):
        self.made = True


class ConnectionCapsTests(SynchronousTestCase):
    """
    L{ConnectionCaps} counts connections by peer.
    """

    def test_perIp(self):
        """
        Over the per-IP cap a host is refused; other hosts are not, and a
        release makes room again.
        """
        caps = ConnectionCaps(Clock(), maxTotal=0, maxPerIp=2)
        self.assertTrue(caps.admit("1.1.1.1"))
        self.assertTrue(caps.admit("1.1.1.1"))
        self.assertFalse(caps.admit("1.1.1.1"))
        self.assertTrue(caps.admit("2.2.2.2"))
        caps.release("1.1.1.1")
        self.assertTrue(caps.admit("1.1.1.1"))
        self.assertEqual((caps.total, caps.openFrom("1.1.1.1")), (3, 2))

    def test_total(self):
        """
        Over the total cap every host is refused; UNIX peers count too.
        """
        caps = ConnectionCaps(Clock(), maxTotal=2, maxPerIp=0)
        self.assertTrue(caps.admit(None))
        self.assertTrue(caps.admit("1.1.1.1"))
        self.assertFalse(caps.admit("2.2.2.2"))
        caps.release(None)
        self.assertTrue(caps.admit("2.2.2.2"))

    def test_refusalsSummarised(self):
        """
        Refusals are logged at most once per interval, with a count.
        """
        clock = Clock()
        caps = ConnectionCaps(clock, maxTotal=1)
        caps.admit("h")
        events = []
        from twisted.logger import globalLogPublisher
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        for _ in range(5):
            caps.admit("h")
        clock.advance(caps.logInterval)
        caps.admit("h")
        lines = [e for e in events if "cap" in e.get("log_format", "")]
        self.assertEqual([e["refused"] for e in lines], [1, 5])


class CappedFactoryTests(SynchronousTestCase):
    """
    L{CappedFactory} admits through the caps and releases on close.
    """

    def _connect(self, factory, host="1.1.1.1"):
        protocol = factory.buildProtocol(_addr(host))
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def test_refusedConnectionAborted(self):
        """
        A connection over a cap is aborted at once, never reaching the
        wrapped factory's protocol.
        """
        inner = Factory.forProtocol(_Echo)
        factory = CappedFactory(inner, ConnectionCaps(Clock(), maxPerIp=1))
        first, _ = self._connect(factory)
        self.assertTrue(first.wrappedProtocol.made)
        second, transport = self._connect(factory)
        self.assertFalse(hasattr(second, "wrappedProtocol"))
        self.assertTrue(transport.disconnecting)

    def test_releaseOnClose(self):
        """
        A closed connection makes room for the next one.
        """
        caps = ConnectionCaps(Clock(), maxPerIp=1)
        factory = CappedFactory(Factory.forProtocol(_Echo), caps)
        first, _ = self._connect(factory)
        first.connectionLost(None)
        self.assertEqual(caps.total, 0)
        second, _ = self._connect(factory)
        self.assertTrue(second.wrappedProtocol.made)

    def test_unixPeer(self):
        """
        A peer without a host counts only against the total cap.
        """
        caps = ConnectionCaps(Clock(), maxPerIp=1)
        factory = CappedFactory(Factory.forProtocol(_Echo), caps)
        for _ in range(3):
            p = factory.buildProtocol(UNIXAddress(None))
            p.makeConnection(StringTransport())
        self.assertEqual(caps.total, 3)


class _FakeResource:
    RLIMIT_NOFILE = 7
    RLIM_INFINITY = -1

    def __init__(self, soft, hard, fail=False):
        self.limits = (soft, hard)
        self.fail = fail

    def getrlimit(self, which):
        return self.limits

    def setrlimit(self, which, limits):
        if self.fail:
            raise ValueError("not allowed")
        self.limits = limits


class FileLimitTests(SynchronousTestCase):
    """
    L{raiseFileLimit} and L{effectiveTotalCap}.
    """

    def test_raisedToHard(self):
        """
        The soft limit goes up to the hard one.
        """
        fake = _FakeResource(1024, 65536)
        self.assertEqual(raiseFileLimit(fake), 65536)
        self.assertEqual(fake.limits, (65536, 65536))

    def test_notAllowed(self):
        """
        Where raising is refused the soft limit stays and is reported.
        """
        self.assertEqual(raiseFileLimit(_FakeResource(1024, 65536, fail=True)), 1024)

    def test_capBelowFileLimit(self):
        """
        The total cap leaves room for the node's own descriptors.
        """
        self.assertEqual(effectiveTotalCap(20000, 4096), 4096 - FD_RESERVE)
        self.assertEqual(effectiveTotalCap(100, 4096), 100)
        self.assertEqual(effectiveTotalCap(0, 4096), 4096 - FD_RESERVE)
        self.assertEqual(effectiveTotalCap(100, None), 100)
