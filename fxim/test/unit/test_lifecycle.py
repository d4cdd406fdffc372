# -*- test-case-name: fxim.test.unit.test_lifecycle -*-
"""
Tests for L{fxim.lifecycle}: children started one after the other, each
once the previous one has started, and stopped in reverse.
"""

from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from fxim.health import StartFailure
from fxim.lifecycle import ListenerService, OrderedService, Running


class Recorder:
    """
    Records starts and stops; each start waits for the test to fire it.
    """

    def __init__(self) -> None:
        self.events: list = []
        self.pending: dict = {}

    def service(self, name: str) -> Running:
        def start() -> Deferred:
            self.events.append(("start", name))
            d: Deferred = Deferred()
            self.pending[name] = d
            return d

        def stop() -> None:
            self.events.append(("stop", name))
        return Running(name, start, stop)


class OrderedServiceTests(SynchronousTestCase):
    """
    L{OrderedService}.
    """

    def setUp(self) -> None:
        self.recorder = Recorder()
        self.parent = OrderedService()
        for name in ("a", "b", "c"):
            self.recorder.service(name).setServiceParent(self.parent)

    def test_startsInOrder(self) -> None:
        """
        A child starts only once the previous one has started;
        L{OrderedService.whenStarted} fires once the last one has.
        """
        self.parent.startService()
        ready = self.parent.whenStarted()
        self.assertEqual(self.recorder.events, [("start", "a")])
        self.recorder.pending["a"].callback(None)
        self.assertEqual(self.recorder.events, [("start", "a"), ("start", "b")])
        self.recorder.pending["b"].callback(None)
        self.assertNoResult(ready)
        self.recorder.pending["c"].callback(None)
        self.successResultOf(ready)

    def test_failureStopsTheStart(self) -> None:
        """
        A child failing to start fails L{OrderedService.whenStarted}; the
        ones after it do not start, and a stop stops the started ones in
        reverse order.
        """
        self.parent.startService()
        ready = self.parent.whenStarted()
        self.recorder.pending["a"].callback(None)
        self.recorder.pending["b"].errback(StartFailure("no"))
        self.failureResultOf(ready, StartFailure)
        self.successResultOf(self.parent.stopService())
        self.assertEqual(self.recorder.events, [
            ("start", "a"), ("start", "b"), ("stop", "b"), ("stop", "a")])

    def test_stopWhileStarting(self) -> None:
        """
        Stopped while a child is still starting: the children after it
        never start.
        """
        self.parent.startService()
        self.recorder.pending["a"].callback(None)
        self.successResultOf(self.parent.stopService())
        self.recorder.pending["b"].callback(None)
        self.assertEqual(self.recorder.events, [
            ("start", "a"), ("start", "b"), ("stop", "b"), ("stop", "a")])

    def test_stopsInReverse(self) -> None:
        """
        A stop runs the children's stops last to first, each after the
        next one's has finished.
        """
        stopping: list = []

        def stopSlowly() -> Deferred:
            stopping.append(Deferred())
            return stopping[-1]
        Running("d", None, stopSlowly).setServiceParent(self.parent)
        self.parent.startService()
        for name in ("a", "b", "c"):
            self.recorder.pending[name].callback(None)
        self.successResultOf(self.parent.whenStarted())
        stopped = self.parent.stopService()
        self.assertEqual(len(stopping), 1)
        self.assertNotIn(("stop", "c"), self.recorder.events)
        stopping[0].callback(None)
        self.successResultOf(stopped)
        self.assertEqual(self.recorder.events[-3:], [("stop", "c"), ("stop", "b"), ("stop", "a")])


class ListenerServiceTests(SynchronousTestCase):
    """
    L{ListenerService}.
    """

    def test_listensOnStartOnly(self) -> None:
        """
        Nothing listens in C{privilegedStartService}; on start, the
        prepared endpoint listens with the prepared factory.
        """
        from twisted.internet.endpoints import TCP4ServerEndpoint
        from twisted.internet.protocol import Factory
        reactor = MemoryReactor()
        factory = Factory()
        prepared: list = []

        def prepare():
            prepared.append(True)
            return TCP4ServerEndpoint(reactor, 0), factory
        listener = ListenerService("tcp", "tcp:0", prepare)
        listener.privilegedStartService()
        self.assertEqual((prepared, reactor.tcpServers), ([], []))
        listener.startService()
        port = self.successResultOf(listener.whenStarted())
        self.assertIs(listener.port, port)
        self.assertIs(reactor.tcpServers[0][1], factory)
        self.successResultOf(listener.stopService())
        self.assertIsNone(listener.port)

    def test_cannotListen(self) -> None:
        """
        A port that cannot listen is a L{StartFailure} naming the option.
        """
        class Refusing:
            def listen(self, factory):
                from twisted.internet.defer import fail
                return fail(CannotListenError("127.0.0.1", 1, OSError(98, "Address in use")))
        listener = ListenerService("ws", "tcp:1", lambda: (Refusing(), None))
        listener.startService()
        failure = self.failureResultOf(listener.whenStarted(), StartFailure)
        self.assertIn("--ws", str(failure.value))
        self.assertIn("Address in use", str(failure.value))
        self.successResultOf(listener.stopService())

    def test_prepareFails(self) -> None:
        """
        An endpoint that cannot be made (a bad certificate) fails the start.
        """
        def prepare():
            raise ValueError("bad certificate")
        listener = ListenerService("http", "ssl:1", prepare)
        listener.startService()
        self.failureResultOf(listener.whenStarted(), ValueError)
        self.successResultOf(listener.stopService())
