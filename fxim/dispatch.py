# -*- test-case-name: fxim.test.unit.test_dispatch -*-
"""
The handler registry, plugin discovery and the one dispatcher both
transports hand decoded signals to.

Handlers are found with C{getPlugins(IHandlerPlugin)} in C{twisted/plugins/}
drop-ins.  A handler takes C{(context, request)} -- a L{RequestContext} and a
typed request from L{fxim.wire.requests} -- and returns a typed response (or
a L{Deferred} or coroutine of one).  Each handler answers one
L{fxim.protocol.command.Command}; the commands of the built-in subsignals
and of every loaded plugin form the L{HandlerRegistry}'s C{commands}
(a L{CommandRegistry}), which the transports' wire objects decode and
encode with.  It raises L{SignalError} for failures
the client may see; anything else is logged and answered with
C{SERVER_ERROR}.  Only this module turns failures into wire replies.
"""

import time
from inspect import iscoroutine
import weakref
from typing import (
    TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Type, Union,
)

import attr
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.plugin import IPlugin, getPlugins
from twisted.python.failure import Failure
from zope.interface import implementer

from fxim import metrics
from fxim.errors import ErrorCode, SignalError, WireError
from fxim.interfaces import IHandlerPlugin
from fxim.protocol.command import Command, jsonCommand
from fxim.protocol.registry import BUILTIN, CommandRegistry
from fxim.protocol.wire import Incoming
from fxim.session import ConnectionState
from fxim.wire.envelope import subSignalName
from fxim.wire.sanitize import TooManyItems, checkValue, tooManyItems
from fxim.wire.signals import (
    PLUGIN_SUBSIGNALS, SERVER_ONLY_SUBSIGNALS, Signal, SubSignal,
)

if TYPE_CHECKING:
    from fxim.api import FximAPI

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
    @ivar command: the L{Command} of a plugin subsignal (built-in
        subsignals use the built-in command).
    @ivar overrides: whether it deliberately replaces another plugin's
        handler for the same key.
    @ivar plugin: the name of the plugin that registered it.
    """

    signal: int
    subsignal: int
    function: Callable[..., Any]
    anonymous: bool = False
    command: Optional[Type[Command]] = None
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
    A handler plugin built with the L{HandlerSet.handler} decorator,
    given the L{Command} a handler answers::

        class Echo(JsonCommand):
            subsignal = 64
            name = "ECHO"

        acme = HandlerSet("acme.echo")

        @acme.handler(Echo)
        async def echo(context, request):
            return request.value

    A built-in subsignal needs no command (C{handler(Signal.PUBLISH,
    SubSignal.MS)}); a plugin subsignal in 64-127 given as C{(signal,
    subsignal, name=...)} gets a generated JSON command (see
    L{fxim.protocol.command.jsonCommand}).
    """

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self._handlers: List[Handler] = []

    def handler(self, signal: Union[int, Type[Command]], subsignal: int = SubSignal.NONE, *,
                anonymous: bool = False, name: Optional[str] = None,
                command: Optional[Type[Command]] = None, overrides: bool = False,
                keepOverLimit: bool = False) -> Callable:
        """
        Decorator registering C{function} for a command, or for (signal,
        subsignal).

        @param signal: the L{Command} class, or a L{Signal} ordinal.
        @param name: the WebSocket name of a plugin subsignal (64-127) given
            by ordinal: it gets a generated JSON command.
        @param command: the L{Command} (same as passing it as C{signal}).
        @param overrides: replace a handler another plugin registered for
            the same key (logged at startup).
        @param keepOverLimit: handle a request over the rate limit anyway
            (its answer is still 250).
        """
        if isinstance(signal, type):
            command = signal
        if command is not None:
            key = (int(command.signal), int(command.subsignal))
        else:
            assert isinstance(signal, int)
            key = (int(signal), int(subsignal))
            if subsignal in PLUGIN_SUBSIGNALS:
                if name is None:
                    raise ValueError("a plugin subsignal needs a name")
                command = jsonCommand(subsignal, name, key[0])

        def decorate(function: Callable) -> Callable:
            self._handlers.append(Handler(
                key[0], key[1], function, anonymous, command, overrides, self.name,
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

    def __init__(self, commands: CommandRegistry = BUILTIN) -> None:
        """
        @param commands: the commands before any plugin's.
        """
        self._handlers: Dict[Key, Handler] = {}
        self.plugins: List[str] = []
        #: The L{CommandRegistry}: the built-in commands plus those the
        #: registered handlers declare.
        self.commands = commands

    def register(self, handler: Handler) -> None:
        """
        @raise DuplicateHandler: if the key is taken and neither handler
            declares C{overrides}.
        """
        existing = self._handlers.get(handler.key)
        if existing is not None:
            if handler.overrides and not existing.overrides:
                _log.info("{plugin} overrides {key} of {other}", plugin=handler.plugin,
                          key=_keyName(handler.key, self.commands), other=existing.plugin)
            elif existing.overrides and not handler.overrides:
                _log.info("{plugin} overrides {key} of {other}", plugin=existing.plugin,
                          key=_keyName(handler.key, self.commands), other=handler.plugin)
                return
            else:
                raise DuplicateHandler(
                    f"{_keyName(handler.key, self.commands)} is claimed by both {existing.plugin!r} and "
                    f"{handler.plugin!r}; use --disable-plugin or declare overrides=True")
        if handler.command is not None:
            self.commands = self.commands.extended([handler.command])
        self._handlers[handler.key] = handler

    def lookup(self, signal: int, subsignal: int) -> Optional[Handler]:
        return self._handlers.get((signal, subsignal))

    @property
    def byKey(self) -> Mapping[Key, Handler]:
        """
        (signal, subsignal) -> handler, read-only (what L{lookup} answers,
        for the dispatcher's per-request read).
        """
        return self._handlers

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
                loaded.append(_keyName(handler.key, registry.commands))
            registry.plugins.append(plugin.name)
            _log.info("plugin {name} loaded: {handlers}", name=plugin.name,
                      handlers=", ".join(loaded))
        return registry


def _keyName(key: Key, commands: CommandRegistry = BUILTIN) -> str:
    signal, subsignal = key
    try:
        sname = Signal(signal).name
    except ValueError:
        sname = str(signal)
    name = subSignalName(subsignal, commands.pluginNames)
    return f"{sname}/{name if name != 'NONE' or subsignal == 0 else subsignal}"


@attr.s(auto_attribs=True)
class RequestContext:
    """
    What a handler sees besides its request.

    @ivar connection: the L{fxim.interfaces.IConnection} it came on.
    @ivar node: the L{fxim.node.Node} (stores, services, bus).
    @ivar signal: the request's signal.
    @ivar subsignal: the request's subsignal.
    @ivar messageId: the request's correlation id.
    @ivar state: the dispatcher's L{ConnectionState} of C{connection}.
    """

    connection: Any
    node: Any
    signal: int
    subsignal: int
    messageId: int
    state: ConnectionState = attr.Factory(ConnectionState)

    @property
    def server(self) -> Any:
        """
        The node under its former name (handler bodies still use it).
        """
        return self.node

    @property
    def api(self) -> "FximAPI":
        """
        The node's curated plugin API (L{fxim.api.FximAPI}): the stable
        surface plugins use instead of C{node}'s internals.
        """
        from fxim.api import apiFor
        return apiFor(self.node)

    @property
    def userId(self) -> str:
        return self.connection.userId

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
    Routes requests from either transport's wire object to their handler
    and renders the outcome through the same wire object.

    @ivar registry: the L{HandlerRegistry}.
    @ivar server: the L{fxim.node.Node} handed to handlers as C{context.node}.
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
        self._states: "weakref.WeakKeyDictionary[Any, ConnectionState]" = (
            weakref.WeakKeyDictionary())
        #: The names of the keys requested (every reply's metrics label),
        #: and the L{CommandRegistry} that named them.
        self._names: Dict[Key, str] = {}
        self._namedBy: Optional[CommandRegistry] = None
        #: C{--max-request-ids}, checked in every request's lists.
        self._maxItems: Optional[int] = getattr(getattr(server, "config", None),
                                                "maxRequestIds", None)

    def stateOf(self, connection: Any) -> ConnectionState:
        """
        @return: the L{ConnectionState} of C{connection} (created on first
            use, forgotten with the connection).
        """
        state = self._states.get(connection)
        if state is None:
            state = self._states[connection] = ConnectionState()
        return state

    @property
    def commands(self) -> CommandRegistry:
        """
        The L{CommandRegistry} the transports' wire objects use.
        """
        return self.registry.commands

    def _name(self, incoming: Incoming) -> str:
        commands = self.registry.commands
        if commands is not self._namedBy:
            self._names, self._namedBy = {}, commands
        key = (incoming.signal, incoming.subsignal)
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = _keyName(key, commands)
        return name

    def dispatch(self, connection: Any, incoming: Incoming) -> "Deferred[Outcome]":
        """
        Handle one request.

        @param connection: the L{IConnection} it came on.
        @param incoming: the request, from the connection's wire object.
        @return: a L{Deferred} firing with an L{Outcome}; it never fails.
        """
        signal, subsignal = incoming.signal, incoming.subsignal
        if signal in LEGACY_SIGNALS or signal in (Signal.CONNECT_ACK, Signal.PUB_ACK):
            _log.info("{peer}: ignoring {signal} from a client", peer=connection.peer,
                      signal=Signal(signal).name)
            return succeed(_NOTHING)
        handler = self.registry.byKey.get((signal, subsignal))
        if handler is None:
            return succeed(self._unhandled(connection, incoming))
        state = self._states.get(connection) or self.stateOf(connection)
        if connection.userId is None and not handler.anonymous:
            pending = state.pendingConnect
            if pending is not None:
                # A CONNECT is being verified: wait for it, then decide.
                waiter: "Deferred[None]" = Deferred()

                def release(result: None) -> None:
                    waiter.callback(None)
                    return result
                pending.addBoth(release)
                return waiter.addCallback(
                    lambda _: self.dispatch(connection, incoming))
            _log.info("{peer}: {key} before CONNECT; closing", peer=connection.peer,
                      key=self._name(incoming))
            return succeed(Outcome(None, True))
        command = handler.command or incoming.command
        if command is None:
            return succeed(self._unhandled(connection, incoming))
        if signal == Signal.PUBLISH and self.rate and not self._allow(state):
            _log.info("{peer}: over the request rate", peer=connection.peer)
            if handler.keepOverLimit:
                self._handleAnyway(handler, command, connection, incoming)
            metrics.RATE_LIMITED.inc()
            return succeed(self._reply(None, command, incoming, ErrorCode.OVER_FREQUENCY,
                                       counted=True))
        maxItems = self._maxItems
        try:
            request = incoming.wire.decodeRequest(command, incoming.payload, maxItems,
                                                  incoming.items)
        except WireError as e:
            _log.info("{peer}: malformed {key} body: {error}", peer=connection.peer,
                      key=self._name(incoming), error=str(e))
            code = (ErrorCode.INVALID_PARAMETER if isinstance(e, TooManyItems)
                    else ErrorCode.INVALID_DATA)
            return succeed(self._reply(None, command, incoming, code))
        # i10a: no NUL in any string, no deep nesting, on every backend alike.
        check = command.checkRequest
        refused = (checkValue(request, maxItems=maxItems) if check is None
                   else check(request, maxItems))
        if refused is not None:
            _log.info("{peer}: refusing {key}: {why}", peer=connection.peer,
                      key=self._name(incoming), why=refused)
            if tooManyItems(refused):
                return succeed(self._reply(None, command, incoming,
                                           ErrorCode.INVALID_PARAMETER))
            refusalCode, refusalResponse = command.refusal
            return succeed(self._reply(refusalResponse, command, incoming, refusalCode))
        context = RequestContext(connection, self.server, signal, subsignal,
                                 incoming.messageId, state)
        # maybeDeferred runs a coroutine (an async def handler) too.
        self.inflight += 1
        started = time.monotonic()
        try:
            result = handler.function(context, request)
        except BaseException:
            result = Failure()
        if isinstance(result, Deferred):
            d = result
        elif isinstance(result, Failure):
            d = fail(result)
        elif iscoroutine(result):  # an async def handler
            d = Deferred.fromCoroutine(result)
        else:
            # A plain answer (an inline pull): no Deferred but the reply's.
            try:
                return succeed(self._handled(result, command, incoming, started))
            except BaseException:
                return fail()
        # One callback pair both ends the request and answers it.
        d.addCallbacks(self._handled, self._handlerFailed,
                       callbackArgs=(command, incoming, started),
                       errbackArgs=(command, connection, incoming, started))
        return d

    def _handled(self, response: Any, command: Type[Command], incoming: Incoming,
                 started: float) -> Outcome:
        self._done(None)
        return self._reply(response, command, incoming, ErrorCode.SUCCESS, True, started)

    def _handlerFailed(self, failure: Failure, command: Type[Command], connection: Any,
                       incoming: Incoming, started: float) -> Outcome:
        self._done(None)
        return self._failed(failure, command, connection, incoming, started)

    def _handleAnyway(self, handler: Handler, command: Type[Command], connection: Any,
                      incoming: Incoming) -> None:
        """
        Run a C{keepOverLimit} handler whose reply was already decided.
        """
        try:
            request = incoming.wire.decodeRequest(command, incoming.payload)
        except WireError as e:
            _log.info("{peer}: malformed {key} body: {error}", peer=connection.peer,
                      key=self._name(incoming), error=str(e))
            return
        context = RequestContext(connection, self.server, incoming.signal, incoming.subsignal,
                                 incoming.messageId, self.stateOf(connection))
        d = maybeDeferred(handler.function, context, request)
        d.addErrback(lambda f: self._failed(f, command, connection, incoming))

    #: Requests whose handler has not finished (for a clean shutdown).
    inflight = 0

    def _done(self, result: Any) -> Any:
        self.inflight -= 1
        if not self.inflight:
            waiters: List[Deferred] = getattr(self, "_idleWaiters", [])
            self._idleWaiters: List[Deferred] = []
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
        waiters: List[Deferred] = self.__dict__.setdefault("_idleWaiters", [])
        waiters.append(d)
        return d

    def _allow(self, state: ConnectionState) -> bool:
        """
        Token bucket per connection (in its C{state}): C{burst} tokens,
        refilled at C{rate} per second.
        """
        now = self.clock.seconds()
        tokens, last = state.bucket or (float(self.burst), now)
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        state.bucket = (tokens - 1.0 if allowed else tokens, now)
        return allowed

    def _reply(self, response: Any, command: Type[Command], incoming: Incoming, code: int,
               counted: bool = False, started: Optional[float] = None) -> Outcome:
        """
        The L{Outcome} answering C{incoming} with C{code} and C{response}
        (first, so that a handler's result is passed straight to it).
        """
        reply = incoming.wire.reply(command, incoming.messageId, code, response)
        # Only CONNECT declares a close rule (and its own metrics result).
        ruled = command.closeUnlessAccepted
        close = ruled and command.closesAfter(response)
        if counted:
            name = self._name(incoming)
            result = command.resultCode(code, response) if ruled else int(code)
            metrics.REQUESTS.labels(name, str(result)).inc()
            if started is not None:
                metrics.REQUEST_SECONDS.labels(name).observe(time.monotonic() - started)
        return Outcome(reply, close)

    def _failed(self, failure: Failure, command: Type[Command], connection: Any,
                incoming: Incoming, started: Optional[float] = None) -> Outcome:
        from fxim.health import outageKind
        outages = getattr(self.server, "outages", None)
        kind = outageKind(failure.value)
        code: int
        if failure.check(SignalError):
            code = failure.value.code
        elif kind is not None and outages is not None:
            # An unreachable database/Redis or a full disk: one line per
            # outage interval, not a traceback per request.
            outages.failed(kind, failure.value, self._name(incoming))
            code = ErrorCode.SERVER_ERROR
        else:
            _log.failure("{peer}: {key} handler failed", failure, peer=connection.peer,
                         key=self._name(incoming))
            code = ErrorCode.SERVER_ERROR
        return self._reply(None, command, incoming, code, counted=True, started=started)

    def _unhandled(self, connection: Any, incoming: Incoming) -> Outcome:
        if incoming.signal == Signal.PUBLISH:
            if connection.userId is None:
                return Outcome(None, True)
            why = "server-only" if incoming.subsignal in SERVER_ONLY_SUBSIGNALS else "unknown"
            _log.info("{peer}: {why} subsignal {sub}: NOT_IMPLEMENT", peer=connection.peer,
                      why=why, sub=incoming.subsignal)
            return Outcome(incoming.wire.notImplemented(incoming.messageId, incoming.subsignal))
        _log.info("{peer}: no handler for {key}", peer=connection.peer, key=self._name(incoming))
        return _NOTHING

