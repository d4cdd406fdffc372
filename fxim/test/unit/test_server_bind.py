"""
Tests for L{fxim.session.SessionService.bind}: a connection lost or replaced while
its registration is in flight never stays registered.
"""

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.trial.unittest import SynchronousTestCase

from fxim.bus.local import LocalBus, LocalConnections
from fxim.directory import Presence
from fxim.directory.memory import MemoryDirectory
from fxim.session import ConnectionGone, SessionService, TooManyDevices
from fxim.test.unit.test_bus import FakeConnection


class SlowDirectory(MemoryDirectory):
    """
    A memory directory whose writes land when the test says so.
    """

    def __init__(self):
        MemoryDirectory.__init__(self)
        self.pending = []

    def register(self, *args):
        d = Deferred()
        self.pending.append((d, lambda: MemoryDirectory.register(self, *args)))
        return d

    def registerIfRoom(self, *args):
        d = Deferred()
        self.pending.append((d, lambda: MemoryDirectory.registerIfRoom(self, *args)))
        return d

    def land(self, index=0):
        """
        Apply a pending write (the oldest by default) and fire its Deferred.
        """
        d, write = self.pending.pop(index)
        write().addCallback(d.callback)


class BindTests(SynchronousTestCase):
    """
    L{SessionService.bind} with writes that land late.
    """

    def setUp(self):
        self.directory = SlowDirectory()
        self.local = LocalConnections()
        self.sessions = SessionService("1", None, self.directory, self.local,
                                     LocalBus(self.local))

    def bind(self, conn, **kw):
        return ensureDeferred(self.sessions.bind(conn, "u1", conn.cid, **kw))

    def lookup(self, cid):
        return self.successResultOf(self.directory.lookup("u1", cid))

    def test_bound(self):
        """
        The usual case: registered once the write lands.
        """
        conn = FakeConnection(None, "c1")
        d = self.bind(conn)
        self.directory.land()
        self.successResultOf(d)
        self.assertEqual(self.lookup("c1"), Presence("u1", "c1", "1", "tcp"))
        self.assertIs(self.local.get("u1", "c1"), conn)

    def test_lostWhileRegistering(self):
        """
        A connection whose connectionLost ran while its write was in flight
        is unregistered after the write lands.
        """
        conn = FakeConnection(None, "c1")
        d = self.bind(conn)
        self.sessions.connectionLost(conn)
        self.directory.land()
        self.failureResultOf(d, ConnectionGone)
        self.assertIsNone(self.lookup("c1"))
        self.assertIsNone(self.local.get("u1", "c1"))

    def test_lostBeforeBinding(self):
        """
        A connection already lost is not registered at all.
        """
        conn = FakeConnection(None, "c1")
        self.sessions.connectionLost(conn)
        self.failureResultOf(self.bind(conn), ConnectionGone)
        self.assertEqual(self.directory.pending, [])

    def test_replacedWhileRegistering(self):
        """
        A connection replaced by a newer one of the same device while its
        write was in flight: the directory ends up naming the newer one
        (its transport), whichever write landed last.
        """
        old = FakeConnection(None, "c1", "tcp")
        new = FakeConnection(None, "c1", "ws")
        first = self.bind(old)
        second = self.bind(new)
        self.assertTrue(old.disconnected)
        self.directory.land(1)  # new's write lands first
        self.successResultOf(second)
        self.directory.land()  # then old's
        self.directory.land()  # then the repair
        self.failureResultOf(first, ConnectionGone)
        self.assertEqual(self.lookup("c1"), Presence("u1", "c1", "1", "ws"))
        self.assertIs(self.local.get("u1", "c1"), new)

    def test_tooManyDevices(self):
        """
        A refused registration leaves nothing behind.
        """
        self.successResultOf(MemoryDirectory.register(self.directory, "u1", "other", "1", "tcp"))
        conn = FakeConnection(None, "c1")
        d = self.bind(conn, maxDevices=1)
        self.directory.land()
        self.failureResultOf(d, TooManyDevices)
        self.assertIsNone(self.lookup("c1"))
        self.assertIsNone(self.local.get("u1", "c1"))
