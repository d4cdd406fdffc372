# -*- test-case-name: fxim.test.test_dispatch -*-
"""
The handler registry, plugin discovery and the one dispatcher both
transports hand decoded signals to.

Handlers are found with C{getPlugins(IHandlerPlugin)} in C{twisted/plugins/}
drop-ins.  A handler takes C{(context, request)} -- a L{RequestContext} and a
typed request from L{fxim.wire.requests} -- and returns a typed response (or
a L{Deferred} or coroutine of one).  It raises L{SignalError} for failures
the client may see; anything else is logged and answered with
C{SERVER_ERROR}.  Only this module turns failures into wire replies.
"""

import inspect
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import attr
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.plugin import IPlugin, getPlugins
from twisted.python.failure import Failure
from zope.interface import implementer

from fxim import metrics
from fxim.errors import ErrorCode, SignalError, WireError
from fxim.interfaces import IHandlerPlugin
from fxim.wire import codecs
from fxim.wire.requests import ConnectAck
from fxim.wire.sanitize import TooManyItems, checkValue, tooManyItems
from fxim.wire.signals import (
    PLUGIN_SUBSIGNALS, SERVER_ONLY_SUBSIGNALS, Signal, SubSignal,
)

_log = Logger()

#: Signals the old push system defined; a client sending one is ignored.
LEGACY_SIGNALS = frozenset({Signal.SUB, Signal.AUTH, Signal.PUSH, Signal.CONTACT})

Key = Tuple[int, int]


@attr.s(auto_attribs=True)
class Handler:
    """
    One handler registration.

    @ivar signal: the L{Signal} it answers.
    @ivar subsignal: the SubSignal ordinal it answers.
    @ivar function: C{function(context, request)}.
    @ivar anonymous: whether it may run before CONNECT is accepted.
    @ivar codec: the L{codecs.Codec} for a plugin subsignal (built-in
        subsignals use the built-in codec).
    @ivar overrides: whether it deliberately replaces another plugin's
        handler for the same key.
    @ivar plugin: the name of the plugin that registered it.
    """

    signal: int
    subsignal: int
    function: Callable[..., Any]
    anonymous: bool = False
    codec: Optional[Any] = None
    overrides: bool = False
    plugin: str = ""
    # i13: receipts
    #: Whether a request over the rate limit is still handled (answered
    #: 250 all the same): for reports, which a client sends in bursts and
    #: which must not be lost.
    keepOverLimit: bool = False

    @property
    def key(self) -> Key:
        return (int(self.signal), int(self.subsignal))


@implementer(IPlugin, IHandlerPlugin)
class HandlerSet:
    """
    A handler plugin built with the L{HandlerSet.handler} decorator::

        acme = HandlerSet("acme.echo")

        @acme.handler(Signal.PUBLISH, 64, name="ECHO")
        async def echo(context, request):
            return request.value

    A subsignal in 64-127 with a C{name} gets a JSON codec on both
    transports (see L{fxim.wire.codecs.jsonCodec}).
    """

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self._handlers: List[Handler] = []

    def handler(self, signal: int, subsignal: int = SubSignal.NONE, *,
                anonymous: bool = False, name: Optional[str] = None,
                codec: Any = None, overrides: bool = False,
                keepOverLimit: bool = False) -> Callable:
        """
        Decorator registering C{function} for (signal, subsignal).

        @param name: the WebSocket name of a plugin subsignal (64-127).
        @param codec: a custom L{codecs.Codec} instead of the JSON one.
        @param overrides: replace a handler another plugin registered for
            the same key (logged at startup).
        @param keepOverLimit: handle a request over the rate limit anyway
            (its answer is still 250).
        """
        if codec is None and subsignal in PLUGIN_SUBSIGNALS:
            if name is None:
                raise ValueError("a plugin subsignal needs a name")
            codec = codecs.jsonCodec(subsignal, name)

        def decorate(function: Callable) -> Callable:
            self._handlers.append(Handler(
                signal, subsignal, function, anonymous, codec, overrides, self.name,
                keepOverLimit))
            return function
        return decorate

    def handlers(self) -> Iterable[Handler]:
        return list(self._handlers)


class DuplicateHandler(Exception):
    """
    Two plugins claim one (signal, subsignal) without an override.
    """


class HandlerRegistry:
    """
    Maps (signal, subsignal) to exactly one L{Handler}.
    """

    def __init__(self) -> None:
        self._handlers: Dict[Key, Handler] = {}
        self.plugins: List[str] = []

    def register(self, handler: Handler) -> None:
        """
        @raise DuplicateHandler: if the key is taken and neither handler
            declares C{overrides}.
        """
        existing = self._handlers.get(handler.key)
        if existing is not None:
            if handler.overrides and not existing.overrides:
                _log.info("{plugin} overrides {key} of {other}", plugin=handler.plugin,
                          key=_keyName(handler.key), other=existing.plugin)
            elif existing.overrides and not handler.overrides:
                _log.info("{plugin} overrides {key} of {other}", plugin=existing.plugin,
                          key=_keyName(handler.key), other=handler.plugin)
                return
            else:
                raise DuplicateHandler(
                    f"{_keyName(handler.key)} is claimed by both {existing.plugin!r} and "
                    f"{handler.plugin!r}; use --disable-plugin or declare overrides=True")
        if handler.codec is not None:
            codecs.registerCodec(handler.codec)
        self._handlers[handler.key] = handler

    def lookup(self, signal: int, subsignal: int) -> Optional[Handler]:
        return self._handlers.get((signal, subsignal))

    def keys(self) -> List[Key]:
        return sorted(self._handlers)

    @classmethod
    def fromPlugins(cls, plugins: Optional[Iterable[Any]] = None,
                    disabled: Iterable[str] = ()) -> "HandlerRegistry":
        """
        Build a registry from handler plugins (by default every
        L{IHandlerPlugin} drop-in), skipping those named in C{disabled}.
        Logs every plugin and handler loaded.

        @raise DuplicateHandler: on a conflict.
        @raise ValueError: if a name in C{disabled} matches no plugin.
        """
        if plugins is None:
            plugins = getPlugins(IHandlerPlugin)
        plugins = sorted(plugins, key=lambda p: p.name)
        disabled = set(disabled)
        unknown = disabled - {p.name for p in plugins}
        if unknown:
            raise ValueError(f"--disable-plugin names unknown plugin(s): {sorted(unknown)}")
        registry = cls()
        for plugin in plugins:
            if plugin.name in disabled:
                _log.info("plugin {name} disabled", name=plugin.name)
                continue
            loaded = []
            for handler in plugin.handlers():
                handler.plugin = plugin.name
                registry.register(handler)
                loaded.append(_keyName(handler.key))
            registry.plugins.append(plugin.name)
            _log.info("plugin {name} loaded: {handlers}", name=plugin.name,
                      handlers=", ".join(loaded))
        return registry


def _keyName(key: Key) -> str:
    signal, subsignal = key
    try:
        sname = Signal(signal).name
    except ValueError:
        sname = str(signal)
    from fxim.wire.envelope import subSignalName
    name = subSignalName(subsignal)
    return f"{sname}/{name if name != 'NONE' or subsignal == 0 else subsignal}"


@attr.s(auto_attribs=True)
class RequestContext:
    """
    What a handler sees besides its request.

    @ivar connection: the L{fxim.interfaces.IConnection} it came on.
    @ivar server: the L{fxim.server.Server} facade (stores, services, bus).
    @ivar signal: the request's signal.
    @ivar subsignal: the request's subsignal.
    @ivar messageId: the request's correlation id.
    """

    connection: Any
    server: Any
    signal: int
    subsignal: int
    messageId: int

    @property
    def uid(self) -> str:
        return self.connection.uid

    @property
    def cid(self) -> str:
        return self.connection.cid


@attr.s(frozen=True, auto_attribs=True)
class Outcome:
    """
    What the transport must do after a request.

    @ivar reply: the reply (a Frame or Envelope) to send, or None.
    @ivar close: whether to close the connection after sending it.
    """

    reply: Any = None
    close: bool = False


_NOTHING = Outcome()


class Dispatcher:
    """
    Routes decoded signals from either transport to their handler and
    renders the outcome with that transport's codec.

    @ivar registry: the L{HandlerRegistry}.
    @ivar server: the facade handed to handlers as C{context.server}.
    """

    def __init__(self, registry: HandlerRegistry, server: Any = None, clock: Any = None,
                 rate: float = 0.0, burst: int = 0) -> None:
        """
        @param clock: an C{IReactorTime} for the rate limit.
        @param rate: PUBLISH requests per second allowed per connection
            (sustained; 0 = unlimited); over it the answer is
            C{OVER_FREQUENCY} (250).
        @param burst: how many may come at once.
        """
        self.registry = registry
        self.server = server
        self.clock = clock
        self.rate = rate
        self.burst = max(burst, 1)

    def dispatch(self, connection: Any, signal: int, subsignal: int,
                 messageId: int, payload: Any) -> "Deferred[Outcome]":
        """
        Handle one request.

        @param connection: the L{IConnection} (its C{transportName} picks
            the codec direction).
        @param payload: the TCP body (C{bytes}) or the WS content.
        @return: a L{Deferred} firing with an L{Outcome}; it never fails.
        """
        tcp = connection.transportName == "tcp"
        if signal in LEGACY_SIGNALS or signal in (Signal.CONNECT_ACK, Signal.PUB_ACK):
            _log.info("{peer}: ignoring {signal} from a client", peer=connection.peer,
                      signal=Signal(signal).name)
            return succeed(_NOTHING)
        handler = self.registry.lookup(signal, subsignal)
        if handler is None:
            return succeed(self._unhandled(connection, signal, subsignal, messageId, tcp))
        if connection.uid is None and not handler.anonymous:
            pending = getattr(connection, "pendingConnect", None)
            if pending is not None:
                # A CONNECT is being verified: wait for it, then decide.
                waiter: Deferred = Deferred()
                pending.addBoth(lambda r: (waiter.callback(None), r)[1])
                return waiter.addCallback(
                    lambda _: self.dispatch(connection, signal, subsignal, messageId, payload))
            _log.info("{peer}: {key} before CONNECT; closing", peer=connection.peer,
                      key=_keyName((signal, subsignal)))
            return succeed(Outcome(None, True))
        codec = handler.codec or codecs.codecFor(signal, subsignal)
        if codec is None:
            return succeed(self._unhandled(connection, signal, subsignal, messageId, tcp))
        if signal == Signal.PUBLISH and self.rate and not self._allow(connection):
            _log.info("{peer}: over the request rate", peer=connection.peer)
            if handler.keepOverLimit:
                self._handleAnyway(handler, codec, tcp, connection, signal, subsignal,
                                   messageId, payload)
            metrics.RATE_LIMITED.inc()
            return succeed(self._reply(codec, tcp, messageId, ErrorCode.OVER_FREQUENCY, None,
                                       key=(signal, subsignal)))
        # i10a: long id lists are refused before they are converted.
        maxItems = getattr(getattr(self.server, "config", None), "maxRequestIds", None)
        if not tcp and tooManyItems(checkValue(payload, nul=False, maxItems=maxItems)):
            _log.info("{peer}: refusing {key}: too many items", peer=connection.peer,
                      key=_keyName((signal, subsignal)))
            return succeed(self._reply(codec, tcp, messageId, ErrorCode.INVALID_PARAMETER, None))
        try:
            request = codec.decodeTcp(payload) if tcp else codec.decodeWs(payload)
        except WireError as e:
            _log.info("{peer}: malformed {key} body: {error}", peer=connection.peer,
                      key=_keyName((signal, subsignal)), error=str(e))
            code = (ErrorCode.INVALID_PARAMETER if isinstance(e, TooManyItems)
                    else ErrorCode.INVALID_DATA)
            return succeed(self._reply(codec, tcp, messageId, code, None))
        # i10a: no NUL in any string, no deep nesting, on every backend alike.
        refused = checkValue(request, maxItems=maxItems)
        if refused is not None:
            _log.info("{peer}: refusing {key}: {why}", peer=connection.peer,
                      key=_keyName((signal, subsignal)), why=refused)
            if tooManyItems(refused):
                return succeed(self._reply(codec, tcp, messageId, ErrorCode.INVALID_PARAMETER,
                                           None))
            if codec.signal == Signal.CONNECT:
                return succeed(self._reply(codec, tcp, messageId, ErrorCode.SUCCESS, ConnectAck(
                    SubSignal.CONNECTION_REFUSED_IDENTIFIER_REJECTED)))
            return succeed(self._reply(codec, tcp, messageId, ErrorCode.INVALID_DATA, None))
        context = RequestContext(connection, self.server, signal, subsignal, messageId)
        d = maybeDeferred(handler.function, context, request)
        d.addCallback(_awaitCoroutine)
        self.inflight += 1
        d.addBoth(self._done)
        started = time.monotonic()
        d.addCallbacks(
            lambda response: self._reply(codec, tcp, messageId, ErrorCode.SUCCESS, response,
                                         key=(signal, subsignal), started=started),
            lambda f: self._failed(f, codec, tcp, messageId, connection, signal, subsignal,
                                   started))
        return d

    def _handleAnyway(self, handler: Handler, codec: Any, tcp: bool, connection: Any,
                      signal: int, subsignal: int, messageId: int, payload: Any) -> None:
        """
        Run a C{keepOverLimit} handler whose reply was already decided.
        """
        try:
            request = codec.decodeTcp(payload) if tcp else codec.decodeWs(payload)
        except WireError as e:
            _log.info("{peer}: malformed {key} body: {error}", peer=connection.peer,
                      key=_keyName((signal, subsignal)), error=str(e))
            return
        context = RequestContext(connection, self.server, signal, subsignal, messageId)
        d = maybeDeferred(handler.function, context, request)
        d.addCallback(_awaitCoroutine)
        d.addErrback(lambda f: self._failed(f, codec, tcp, messageId, connection, signal,
                                            subsignal))

    #: Requests whose handler has not finished (for a clean shutdown).
    inflight = 0

    def _done(self, result: Any) -> Any:
        self.inflight -= 1
        if not self.inflight:
            waiters, self._idleWaiters = getattr(self, "_idleWaiters", []), []
            for waiter in waiters:
                waiter.callback(None)
        return result

    def whenIdle(self) -> Deferred:
        """
        @return: a L{Deferred} firing once no handler is running.
        """
        if not self.inflight:
            return succeed(None)
        d: Deferred = Deferred()
        self.__dict__.setdefault("_idleWaiters", []).append(d)
        return d

    def _allow(self, connection: Any) -> bool:
        """
        Token bucket per connection: C{burst} tokens, refilled at C{rate}
        per second.
        """
        now = self.clock.seconds()
        tokens, last = getattr(connection, "_fximBucket", (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        connection._fximBucket = (tokens - 1.0 if allowed else tokens, now)
        return allowed

    def _reply(self, codec: Any, tcp: bool, messageId: int, code: int,
               response: Any, key: Optional[Key] = None,
               started: Optional[float] = None) -> Outcome:
        reply = (codec.replyTcp if tcp else codec.replyWs)(messageId, code, response)
        close = codec.signal == Signal.CONNECT and (
            response is None or response.code != SubSignal.CONNECTION_ACCEPTED)
        if key is not None:
            name = _keyName(key)
            # CONNECT's result is the CONNECT_ACK code, not the error code.
            result = getattr(response, "code", code) if codec.signal == Signal.CONNECT else code
            metrics.REQUESTS.labels(name, str(int(result))).inc()
            if started is not None:
                metrics.REQUEST_SECONDS.labels(name).observe(time.monotonic() - started)
        return Outcome(reply, close)

    def _failed(self, failure: Failure, codec: Any, tcp: bool, messageId: int,
                connection: Any, signal: int, subsignal: int,
                started: Optional[float] = None) -> Outcome:
        from fxim.health import outageKind
        outages = getattr(self.server, "outages", None)
        kind = outageKind(failure.value)
        if failure.check(SignalError):
            code = failure.value.code
        elif kind is not None and outages is not None:
            # An unreachable database/Redis or a full disk: one line per
            # outage interval, not a traceback per request.
            outages.failed(kind, failure.value, _keyName((signal, subsignal)))
            code = ErrorCode.SERVER_ERROR
        else:
            _log.failure("{peer}: {key} handler failed", failure, peer=connection.peer,
                         key=_keyName((signal, subsignal)))
            code = ErrorCode.SERVER_ERROR
        return self._reply(codec, tcp, messageId, code, None, key=(signal, subsignal),
                           started=started)

    def _unhandled(self, connection: Any, signal: int, subsignal: int,
                   messageId: int, tcp: bool) -> Outcome:
        if signal == Signal.PUBLISH:
            if connection.uid is None:
                return Outcome(None, True)
            why = "server-only" if subsignal in SERVER_ONLY_SUBSIGNALS else "unknown"
            _log.info("{peer}: {why} subsignal {sub}: NOT_IMPLEMENT", peer=connection.peer,
                      why=why, sub=subsignal)
            return Outcome(codecs.notImplementedReply(
                connection.transportName, messageId, subsignal))
        _log.info("{peer}: no handler for {key}", peer=connection.peer,
                  key=_keyName((signal, subsignal)))
        return _NOTHING


def _awaitCoroutine(result: Any) -> Any:
    if inspect.isawaitable(result) and not isinstance(result, Deferred):
        return Deferred.fromCoroutine(result)
    return result
