# -*- test-case-name: fxim.test.unit.test_lifecycle,fxim.test.unit.test_tap -*-
"""
Services whose start takes time, and the parent that starts them one
after the other: a node's listeners must not accept before its store is
open, and a clean stop undoes the start in reverse, one step at a time.
"""

from typing import Any, Callable, Generic, List, Optional, TypeVar

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.error import CannotListenError
from twisted.logger import Logger
from twisted.python.failure import Failure

_log = Logger()

T = TypeVar("T")


class Outcome(Generic[T]):
    """
    The result of something that happens once (a start), for any number
    of observers, each getting its own L{Deferred}.
    """

    def __init__(self) -> None:
        self._result: Any = None
        self._done = False
        self._waiters: "List[Deferred[T]]" = []

    def fire(self, result: "T | Failure") -> None:
        self._result, self._done = result, True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            self._relay(waiter)

    def observe(self) -> "Deferred[T]":
        d: "Deferred[T]" = Deferred()
        if self._done:
            self._relay(d)
        else:
            self._waiters.append(d)
        return d

    def _relay(self, d: "Deferred[T]") -> None:
        if isinstance(self._result, Failure):
            d.errback(self._result)
        else:
            d.callback(self._result)


def whenStarted(service: IService) -> "Deferred[Any]":
    """
    @return: a L{Deferred} firing once C{service} has started: at once for
        a plain service, when its start is complete for one with a
        C{whenStarted} method.
    """
    method = getattr(service, "whenStarted", None)
    return succeed(None) if method is None else method()


class OrderedService(MultiService):
    """
    A L{MultiService} starting its children in the order they were added,
    each once the previous one has started (see L{whenStarted}), and
    stopping the started ones in reverse order, each once the next one
    has stopped.  A child that fails to start fails L{whenStarted}; the
    children after it are not started (nor are they after a stop).
    """

    def __init__(self) -> None:
        MultiService.__init__(self)
        self._outcome: Outcome[None] = Outcome()
        self._started: List[IService] = []

    def startService(self) -> None:
        Service.startService(self)
        self._outcome = Outcome()
        d = Deferred.fromCoroutine(self._startChildren())
        d.addBoth(self._outcome.fire)

    async def _startChildren(self) -> None:
        for child in list(self):
            if not self.running:
                # Stopped while starting (SIGTERM during startup): what
                # has not started yet stays so.
                return
            self._started.append(child)
            child.startService()
            await whenStarted(child)

    def whenStarted(self) -> "Deferred[None]":
        """
        @return: a L{Deferred} firing once every child has started (or
            failing with the first child's failure to start).
        """
        return self._outcome.observe()

    def stopService(self) -> "Deferred[None]":
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stopChildren())

    async def _stopChildren(self) -> None:
        started, self._started = self._started, []
        for child in reversed(started):
            try:
                await maybeDeferred(child.stopService)
            except Exception:
                _log.failure("error while stopping {name}", name=child.name)


class Running(Service):
    """
    Something started and stopped by callables, as a service (a worker, a
    periodic purge, an HTTP client pool that must be closed).

    @param start: called by L{startService} (may return a L{Deferred}),
        or None.
    @param stop: called by L{stopService} (may return a L{Deferred}), or
        None.
    """

    def __init__(self, name: str, start: Optional[Callable[[], Any]] = None,
                 stop: Optional[Callable[[], Any]] = None) -> None:
        self.setName(name)
        self._start, self._stop = start, stop
        self._outcome: Outcome[Any] = Outcome()

    def startService(self) -> None:
        Service.startService(self)
        self._outcome = Outcome()
        if self._start is None:
            self._outcome.fire(None)
        else:
            maybeDeferred(self._start).addBoth(self._outcome.fire)

    def whenStarted(self) -> "Deferred[Any]":
        return self._outcome.observe()

    def stopService(self) -> "Deferred[Any]":
        Service.stopService(self)
        return maybeDeferred(self._stop) if self._stop is not None else succeed(None)


class ListenerService(StreamServerEndpointService):
    """
    One listening port.  Its endpoint and factory are made when it starts
    (after the services it serves, in an L{OrderedService}), so that a
    bad certificate or a port in use is a failure to start like any
    other; nothing listens before then (not even in
    L{privilegedStartService}).

    @ivar port: the L{twisted.internet.interfaces.IListeningPort} once
        listening, else None.
    """

    def __init__(self, name: str, description: str,
                 prepare: Callable[[], "tuple[Any, Any]"]) -> None:
        """
        @param name: the option naming the port (C{tcp}, C{ws}, C{http}).
        @param description: its endpoint description (for messages).
        @param prepare: returns C{(endpoint, factory)}.
        """
        StreamServerEndpointService.__init__(self, None, None)  # type: ignore[arg-type]
        self.setName(name)
        self.portName = name
        self.description = description
        self._prepare = prepare
        self.port: Any = None
        self._outcome: Outcome[Any] = Outcome()

    def privilegedStartService(self) -> None:
        pass

    def startService(self) -> None:
        Service.startService(self)
        self._outcome = Outcome()
        try:
            self.endpoint, self.factory = self._prepare()
        except Exception:
            self._waitingForPort = succeed(None)
            self._outcome.fire(Failure())
            return
        self._waitingForPort = self.endpoint.listen(self.factory)
        self._waitingForPort.addCallbacks(self._listening, self._failed)

    def _listening(self, port: Any) -> Any:
        from fxim.transport.turnwrite import writeAtTurnEnd
        self.port = writeAtTurnEnd(port)
        _log.info("fxim {name} listening on {address}", name=self.portName,
                  address=port.getHost())
        self._outcome.fire(port)
        return port

    def _failed(self, failure: Failure) -> None:
        if failure.check(CannotListenError):
            from fxim.health import listenFailure
            failure = Failure(listenFailure(self.portName, self.description, failure.value))
        self._outcome.fire(failure)
        return None

    def whenStarted(self) -> "Deferred[Any]":
        return self._outcome.observe()

    def stopService(self) -> "Deferred[None]":
        self.port = None
        return StreamServerEndpointService.stopService(self)
