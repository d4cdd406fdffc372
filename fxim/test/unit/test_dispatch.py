# -*- test-case-name: fxim.test.unit.test_dispatch -*-
"""
Tests for L{fxim.dispatch}: the handler registry (duplicates, overrides,
disabled plugins) and the L{Dispatcher} (error codes, unknown and
server-only subsignals, malformed bodies, legacy signals, requests before
and during CONNECT, the request rate).
"""

import json

from twisted.internet import task
from twisted.internet.defer import Deferred, succeed
from twisted.logger import capturedLogs
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase

from fxim.dispatch import (
    LEGACY_SIGNALS, Dispatcher, DuplicateHandler, Handler, HandlerRegistry, HandlerSet, Outcome,
    RequestContext,
)
from fxim.errors import ErrorCode, SignalError
from fxim.interfaces import IHandlerPlugin
from fxim.protocol.wire import TcpWire, WsWire
from fxim.wire.envelope import Envelope
from fxim.wire.frame import Frame
from fxim.wire.requests import JsonRequest, PullMessages
from fxim.wire.signals import SERVER_ONLY_SUBSIGNALS, Signal, SubSignal

#: Plugin subsignals used only by these tests.
SUB_A, SUB_B = 110, 111


class FakeConnection:
    """
    An L{fxim.interfaces.IConnection} stand-in.
    """

    def __init__(self, transportName="tcp", userId="alice", cid="phone"):
        self.transportName = transportName
        self.userId = userId
        self.cid = cid
        self.peer = f"{transportName}:test"


def echoSet(name="test.a", subsignal=SUB_A, wsName="TESTDISPATCHA", **kwargs):
    """
    A L{HandlerSet} whose one handler answers C{{"from": name, "got": value}}.
    """
    handlers = HandlerSet(name)

    @handlers.handler(Signal.PUBLISH, subsignal, name=wsName, **kwargs)
    def handle(context, request):
        return {"from": name, "got": request.value}
    return handlers


def dispatchRaw(dispatcher, connection, signal, subsignal, messageId, payload):
    """
    C{dispatcher.dispatch} of a request as the wire object of
    C{connection}'s transport (with the dispatcher's commands) receives it.
    """
    if connection.transportName == "tcp":
        incoming = TcpWire(dispatcher.commands).incoming(
            Frame(signal, subsignal, messageId, payload))
    else:
        incoming = WsWire(dispatcher.commands).incoming(
            Envelope(signal, subsignal, messageId, payload))
    return dispatcher.dispatch(connection, incoming)


def outcomeOf(testCase, d) -> Outcome:
    return testCase.successResultOf(d)


class RegistryTests(SynchronousTestCase):
    """
    L{HandlerRegistry} and L{HandlerSet}.
    """

    def test_duplicateRefused(self):
        """
        Two plugins claiming one key without an override stop startup with
        L{DuplicateHandler} naming both.
        """
        with self.assertRaises(DuplicateHandler) as caught:
            HandlerRegistry.fromPlugins([echoSet("test.a"), echoSet("test.b")])
        self.assertIn("test.a", str(caught.exception))
        self.assertIn("test.b", str(caught.exception))

    def test_duplicateRefusedWhenBothOverride(self):
        """
        Two overrides of one key are still a conflict.
        """
        with self.assertRaises(DuplicateHandler):
            HandlerRegistry.fromPlugins([echoSet("test.a", overrides=True),
                                         echoSet("test.b", overrides=True)])

    def test_duplicateAgainstBuiltin(self):
        """
        A plugin that claims a built-in key (MP) without C{overrides} is
        refused.
        """
        rogue = HandlerSet("test.rogue")
        rogue.handler(Signal.PUBLISH, SubSignal.MP)(lambda context, request: None)
        with self.assertRaises(DuplicateHandler):
            HandlerRegistry.fromPlugins(list(getPlugins(IHandlerPlugin)) + [rogue])

    def test_overrideReplacesAndIsLogged(self):
        """
        A handler declaring C{overrides=True} replaces the other plugin's
        handler for its key, whatever the load order, and startup logs it.
        """
        for names in (("test.a", "test.z"), ("test.z", "test.a")):
            overriding = echoSet(names[0], overrides=True)
            plain = echoSet(names[1])
            with capturedLogs() as events:
                registry = HandlerRegistry.fromPlugins([plain, overriding])
            handler = registry.lookup(Signal.PUBLISH, SUB_A)
            self.assertEqual(handler.plugin, names[0])
            self.assertEqual(handler.function(None, JsonRequest(1))["from"], names[0])
            texts = [e.get("log_format", "").format(**e) for e in events]
            self.assertTrue([t for t in texts if "overrides" in t and names[0] in t
                             and names[1] in t], texts)

    def test_overrideBuiltin(self):
        """
        A plugin may replace a built-in handler (MP) by declaring it.
        """
        mine = HandlerSet("test.pull")

        @mine.handler(Signal.PUBLISH, SubSignal.MP, overrides=True)
        def pull(context, request):
            return None
        registry = HandlerRegistry.fromPlugins(list(getPlugins(IHandlerPlugin)) + [mine])
        self.assertIs(registry.lookup(Signal.PUBLISH, SubSignal.MP).function, pull)
        self.assertEqual(registry.lookup(Signal.PUBLISH, SubSignal.MP).plugin, "test.pull")

    def test_disableUnknownRefused(self):
        """
        Disabling a plugin name nobody provides is a ValueError naming it.
        """
        with self.assertRaises(ValueError) as caught:
            HandlerRegistry.fromPlugins([echoSet("test.a")], disabled=["test.nope"])
        self.assertIn("test.nope", str(caught.exception))
        with self.assertRaises(ValueError):
            HandlerRegistry.fromPlugins(disabled=["fxim.nope"])

    def test_disableDropsFamily(self):
        """
        A disabled plugin's handlers are not registered, which also
        resolves a conflict.
        """
        registry = HandlerRegistry.fromPlugins([echoSet("test.a"), echoSet("test.b")],
                                               disabled=["test.a"])
        self.assertEqual(registry.lookup(Signal.PUBLISH, SUB_A).plugin, "test.b")
        self.assertEqual(registry.plugins, ["test.b"])
        builtins = HandlerRegistry.fromPlugins(disabled=["fxim.groups"])
        self.assertIsNone(builtins.lookup(Signal.PUBLISH, SubSignal.GC))
        self.assertIsNotNone(builtins.lookup(Signal.PUBLISH, SubSignal.MS))
        self.assertNotIn("fxim.groups", builtins.plugins)

    def test_builtinKeys(self):
        """
        The built-in plugins register every client subsignal of the six
        families, and no server-only one.
        """
        registry = HandlerRegistry.fromPlugins(list(getPlugins(IHandlerPlugin)))
        keys = set(registry.keys())
        for sub in (SubSignal.US, SubSignal.FAR, SubSignal.UPUI, SubSignal.FRUS, SubSignal.FRP,
                    SubSignal.FHR, SubSignal.FP, SubSignal.MS, SubSignal.MP, SubSignal.GC,
                    SubSignal.GPGI, SubSignal.GPGM, SubSignal.GAM, SubSignal.GKM, SubSignal.GQ,
                    SubSignal.GMI, SubSignal.MMI, SubSignal.GQNUT, SubSignal.MR, SubSignal.LRM,
                    SubSignal.GD, SubSignal.GMURL, SubSignal.FALS):
            self.assertIn((Signal.PUBLISH, sub), keys, sub.name)
        for signal in (Signal.CONNECT, Signal.PING, Signal.DISCONNECT):
            self.assertIn((signal, 0), keys)
        for sub in SERVER_ONLY_SUBSIGNALS:
            self.assertNotIn((Signal.PUBLISH, sub), keys)

    def test_pluginSubsignalNeedsName(self):
        """
        A plugin subsignal (64-127) without a WebSocket name, or with a
        name that is not upper-case ASCII, is refused at declaration.
        """
        handlers = HandlerSet("test.noname")
        self.assertRaises(ValueError, handlers.handler, Signal.PUBLISH, SUB_B)
        self.assertRaises(ValueError, handlers.handler, Signal.PUBLISH, SUB_B, name="lower")

    def test_handlerKey(self):
        """
        L{Handler.key} is the (signal, subsignal) pair as ints.
        """
        self.assertEqual(Handler(Signal.PUBLISH, SubSignal.MS, lambda c, r: None).key, (9, 18))


class DispatcherTests(SynchronousTestCase):
    """
    L{Dispatcher.dispatch} with small test handler sets.
    """

    def setUp(self):
        self.seen = []
        self.clock = task.Clock()
        handlers = HandlerSet("test.dispatch")

        @handlers.handler(Signal.PUBLISH, SUB_A, name="TESTDISPATCHA")
        def echo(context, request):
            self.seen.append(context)
            value = request.value
            if value == "signal-error":
                raise SignalError(ErrorCode.NOT_RIGHT, "no")
            if value == "crash":
                _ = 1 / 0  # the handler crashes
            if value == "deferred":
                return succeed({"deferred": True})
            if value == "async":
                return self.asyncAnswer()
            return {"echo": value}

        @handlers.handler(Signal.PUBLISH, SUB_B, name="TESTDISPATCHB", anonymous=True)
        def anonymous(context, request):
            return "anonymous ok"

        @handlers.handler(Signal.PUBLISH, SubSignal.MP, overrides=True)
        async def pull(context, request):
            return None

        self.registry = HandlerRegistry.fromPlugins([handlers])
        self.server = object()
        self.dispatcher = Dispatcher(self.registry, self.server, self.clock)

    async def asyncAnswer(self):
        return {"async": True}

    def dispatch(self, connection, subsignal, payload, signal=Signal.PUBLISH, messageId=7):
        return outcomeOf(self, dispatchRaw(
            self.dispatcher, connection, signal, subsignal, messageId, payload))

    def tcp(self, value, subsignal=SUB_A, **kwargs):
        return self.dispatch(FakeConnection("tcp", **kwargs), subsignal,
                             json.dumps(value).encode("utf-8"))

    def ws(self, value, subsignal=SUB_A, **kwargs):
        return self.dispatch(FakeConnection("ws", **kwargs), subsignal, value)

    def test_success(self):
        """
        A handler's response is rendered with the transport's codec: TCP
        C{[0] + JSON}, WS the JSON text; the context carries connection,
        server and ids.
        """
        outcome = self.tcp([1, "二"])
        self.assertFalse(outcome.close)
        self.assertEqual(outcome.reply.body[:1], b"\x00")
        self.assertEqual(json.loads(outcome.reply.body[1:]), {"echo": [1, "二"]})
        self.assertEqual((outcome.reply.signal, outcome.reply.subsignal, outcome.reply.messageId),
                         (Signal.PUB_ACK, SUB_A, 7))
        [context] = self.seen
        self.assertIsInstance(context, RequestContext)
        self.assertEqual((context.userId, context.cid, context.signal, context.subsignal,
                          context.messageId), ("alice", "phone", Signal.PUBLISH, SUB_A, 7))
        self.assertIs(context.server, self.server)
        outcome = self.ws({"k": 1})
        self.assertEqual((outcome.reply.signal, outcome.reply.subsignal, outcome.reply.messageId),
                         (Signal.PUB_ACK, SUB_A, 7))
        self.assertEqual(json.loads(outcome.reply.content), {"echo": {"k": 1}})
        self.assertFalse(outcome.close)

    def test_plainAnswerAtOnce(self):
        """
        A handler's plain answer is replied to before C{dispatch} returns,
        and the request is no longer counted in flight; so is a handler's
        synchronous exception.
        """
        for value, code in (("now", 0), ("crash", 4)):
            d = dispatchRaw(self.dispatcher, FakeConnection("tcp"), Signal.PUBLISH, SUB_A, 7,
                            json.dumps(value).encode("utf-8"))
            outcome = self.successResultOf(d)
            self.assertEqual(outcome.reply.body[:1], bytes([code]))
            self.assertEqual(self.dispatcher.inflight, 0)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_deferredAndCoroutine(self):
        """
        Handlers may return a Deferred or a coroutine.
        """
        self.assertEqual(json.loads(self.tcp("deferred").reply.body[1:]), {"deferred": True})
        self.assertEqual(json.loads(self.ws("async").reply.content), {"async": True})

    def test_signalErrorCode(self):
        """
        A L{SignalError} becomes its code (TCP) or C{""} (WS); nothing is
        logged as an error and the connection stays.
        """
        outcome = self.tcp("signal-error")
        self.assertEqual(outcome, Outcome(Frame(Signal.PUB_ACK, SUB_A, 7, bytes([248])), False))
        outcome = self.ws("signal-error")
        self.assertEqual(outcome, Outcome(Envelope(Signal.PUB_ACK, SUB_A, 7, ""), False))
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_otherExceptionIsServerError(self):
        """
        Any other exception is logged and answered C{SERVER_ERROR} (4).
        """
        outcome = self.tcp("crash")
        self.assertEqual(outcome, Outcome(Frame(Signal.PUB_ACK, SUB_A, 7, bytes([4])), False))
        outcome = self.ws("crash")
        self.assertEqual(outcome.reply.content, "")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 2)

    def test_unknownSubsignal(self):
        """
        An unknown subsignal (and an unclaimed plugin one) from an
        authenticated client gets 254 echoing the ordinal; on WS content
        C{""}.
        """
        for subsignal in (41, 63, 99, 127):
            outcome = self.dispatch(FakeConnection("tcp"), subsignal, b"")
            self.assertEqual(outcome, Outcome(Frame(Signal.PUB_ACK, subsignal, 7, bytes([254]))))
            outcome = self.dispatch(FakeConnection("ws"), subsignal, {})
            self.assertEqual(outcome, Outcome(Envelope(Signal.PUB_ACK, subsignal, 7, "")))

    def test_serverOnlySubsignal(self):
        """
        MN, RMN, FN, FRN, MRN, SAI and NONE from a client get 254.
        """
        for subsignal in SERVER_ONLY_SUBSIGNALS:
            outcome = self.dispatch(FakeConnection("tcp"), int(subsignal), b"\x00" * 8)
            self.assertEqual(outcome.reply, Frame(Signal.PUB_ACK, int(subsignal), 7, bytes([254])),
                             subsignal)
            self.assertFalse(outcome.close)

    def test_builtinServerOnlyWithRealRegistry(self):
        """
        With the built-in plugins, an MN from a client is 254 too.
        """
        dispatcher = Dispatcher(HandlerRegistry.fromPlugins(list(getPlugins(IHandlerPlugin))))
        outcome = outcomeOf(self, dispatchRaw(dispatcher, FakeConnection("tcp"), Signal.PUBLISH,
                                                      SubSignal.MN, 3, b""))
        self.assertEqual(outcome.reply, Frame(Signal.PUB_ACK, SubSignal.MN, 3, bytes([254])))

    def test_unknownBeforeConnectCloses(self):
        """
        An unknown subsignal before CONNECT closes rather than answering.
        """
        outcome = self.dispatch(FakeConnection("tcp", userId=None, cid=None), 63, b"")
        self.assertEqual(outcome, Outcome(None, True))

    def test_malformedBody(self):
        """
        A body the codec cannot decode gets C{INVALID_DATA} (2), without
        running the handler or closing.
        """
        outcome = self.dispatch(FakeConnection("tcp"), SUB_A, b"{not json")
        self.assertEqual(outcome, Outcome(Frame(Signal.PUB_ACK, SUB_A, 7, bytes([2])), False))
        self.assertEqual(self.seen, [])
        dispatcher = Dispatcher(HandlerRegistry.fromPlugins(list(getPlugins(IHandlerPlugin))))
        for body in (b"\xff\xff\xff", b"\x08"):
            outcome = outcomeOf(self, dispatchRaw(
                dispatcher, FakeConnection("tcp"), Signal.PUBLISH, SubSignal.MS, 5, body))
            self.assertEqual(outcome.reply, Frame(Signal.PUB_ACK, SubSignal.MS, 5, bytes([2])))
        outcome = outcomeOf(self, dispatchRaw(
            dispatcher, FakeConnection("ws"), Signal.PUBLISH, SubSignal.MS, 5, "not an object"))
        self.assertEqual(outcome.reply, Envelope(Signal.PUB_ACK, SubSignal.MS, 5, ""))

    def test_legacySignalsIgnored(self):
        """
        SUB, AUTH, PUSH and CONTACT (and CONNECT_ACK/PUB_ACK) from a client
        are ignored: no reply, no close, before or after CONNECT.
        """
        self.assertEqual(LEGACY_SIGNALS, {Signal.SUB, Signal.AUTH, Signal.PUSH, Signal.CONTACT})
        for signal in (Signal.SUB, Signal.AUTH, Signal.PUSH, Signal.CONTACT,
                       Signal.CONNECT_ACK, Signal.PUB_ACK):
            for userId in ("alice", None):
                for transport in ("tcp", "ws"):
                    outcome = self.dispatch(FakeConnection(transport, userId=userId), SubSignal.MS,
                                            b"junk" if transport == "tcp" else {}, signal=signal)
                    self.assertEqual(outcome, Outcome(None, False), (signal, userId))
        self.assertEqual(self.seen, [])

    def test_requestBeforeConnectCloses(self):
        """
        A non-anonymous request before CONNECT closes the connection
        without running the handler; an anonymous one runs.
        """
        for transport, payload in (("tcp", b'"x"'), ("ws", "x")):
            outcome = self.dispatch(FakeConnection(transport, userId=None, cid=None), SUB_A, payload)
            self.assertEqual(outcome, Outcome(None, True))
        self.assertEqual(self.seen, [])
        outcome = self.dispatch(FakeConnection("ws", userId=None, cid=None), SUB_B, None)
        self.assertEqual(json.loads(outcome.reply.content), "anonymous ok")

    def test_requestDuringConnectWaits(self):
        """
        A request arriving while CONNECT is being verified waits for its
        outcome: it runs once the connection is authenticated.
        """
        connection = FakeConnection("tcp", userId=None, cid=None)
        state = self.dispatcher.stateOf(connection)
        state.pendingConnect = Deferred()
        d = dispatchRaw(self.dispatcher, connection, Signal.PUBLISH, SUB_A, 9, b'"early"')
        self.assertNoResult(d)
        self.assertEqual(self.seen, [])
        connection.userId, connection.cid = "alice", "phone"
        pending, state.pendingConnect = state.pendingConnect, None
        pending.callback(None)
        outcome = self.successResultOf(d)
        self.assertEqual(json.loads(outcome.reply.body[1:]), {"echo": "early"})
        self.assertEqual(self.seen[0].userId, "alice")

    def test_requestDuringRefusedConnectCloses(self):
        """
        If the CONNECT being verified is refused, the waiting request
        closes the connection without running.
        """
        connection = FakeConnection("ws", userId=None, cid=None)
        state = self.dispatcher.stateOf(connection)
        state.pendingConnect = Deferred()
        d = dispatchRaw(self.dispatcher, connection, Signal.PUBLISH, SUB_A, 9, "early")
        self.assertNoResult(d)
        pending, state.pendingConnect = state.pendingConnect, None
        pending.callback(None)
        self.assertEqual(self.successResultOf(d), Outcome(None, True))
        self.assertEqual(self.seen, [])

    def test_rateLimit(self):
        """
        Over C{rate}/C{burst} a PUBLISH is answered C{OVER_FREQUENCY}
        (250) without running; tokens refill with time, per connection.
        """
        dispatcher = Dispatcher(self.registry, self.server, self.clock, rate=1.0, burst=2)
        connection, other = FakeConnection("tcp"), FakeConnection("tcp")

        def send(conn):
            return self.successResultOf(dispatchRaw(
                dispatcher, conn, Signal.PUBLISH, SUB_A, 1, b"1")).reply.body[0]
        self.assertEqual([send(connection) for _ in range(3)], [0, 0, 250])
        self.assertEqual(send(other), 0)
        self.clock.advance(1.0)
        self.assertEqual([send(connection) for _ in range(2)], [0, 250])
        self.assertEqual(len(self.seen), 4)

    def test_overriddenBuiltinServesTypedRequest(self):
        """
        An overriding handler of a built-in key gets the built-in codec's
        typed request.
        """
        seen = []
        handlers = HandlerSet("test.mp")

        @handlers.handler(Signal.PUBLISH, SubSignal.MP, overrides=True)
        def pull(context, request):
            seen.append(request)
            raise SignalError(ErrorCode.NOT_EXIST)
        registry = HandlerRegistry.fromPlugins(list(getPlugins(IHandlerPlugin)) + [handlers])
        dispatcher = Dispatcher(registry)
        outcome = outcomeOf(self, dispatchRaw(
            dispatcher, FakeConnection("ws"), Signal.PUBLISH, SubSignal.MP, 2, {"messageId": 5, "type": 0}))
        self.assertEqual(outcome.reply.content, "")
        self.assertIsInstance(seen[0], PullMessages)
