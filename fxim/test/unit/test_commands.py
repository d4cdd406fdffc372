# -*- test-case-name: fxim.test.unit.test_commands -*-
"""
Tests for what L{fxim.protocol} adds around the commands: registry
instances, the declared close rule, the wire objects' push encoding, the
neutral form of pushes between nodes and plugin commands in handler sets.
"""

import json

from hypothesis import given
from twisted.trial.unittest import SynchronousTestCase

from fxim.dispatch import HandlerRegistry, HandlerSet
from fxim.protocol.client import ClientWire
from fxim.protocol.command import JsonCommand, jsonCommand
from fxim.protocol.neutral import NeutralPushes
from fxim.protocol.registry import BUILTIN, CommandRegistry
from fxim.protocol.session import Connect
from fxim.protocol.wire import TcpWire, WsWire
from fxim.test.unit.test_codecs import pushes
from fxim.wire.requests import ConnectAck, ConnectRequest, FriendNotify, JsonRequest, PluginPush
from fxim.wire.signals import Signal, SubSignal


class Ping64(JsonCommand):
    """
    A plugin command for these tests.
    """

    subsignal = 64
    name = "PINGSIXTYFOUR"


class RegistryTests(SynchronousTestCase):
    """
    L{CommandRegistry} instances.
    """

    def test_instancesAreIndependent(self):
        """
        Two registries may give one plugin ordinal different names; the
        built-in one is not changed by either.
        """
        a = BUILTIN.extended([jsonCommand(64, "ALPHA")])
        b = BUILTIN.extended([jsonCommand(64, "BETA")])
        self.assertEqual((a.subSignalName(64), b.subSignalName(64)), ("ALPHA", "BETA"))
        self.assertEqual(BUILTIN.subSignalName(64), "NONE")
        self.assertIsNone(BUILTIN.lookup(Signal.PUBLISH, 64))

    def test_nameClash(self):
        """
        Within one registry a name or ordinal is given once.
        """
        registry = BUILTIN.extended([jsonCommand(64, "ALPHA")])
        self.assertRaises(ValueError, registry.extended, [jsonCommand(65, "ALPHA")])
        self.assertRaises(ValueError, registry.extended, [jsonCommand(64, "GAMMA")])

    def test_forRequest(self):
        """
        A typed request maps to its command; anything else is a
        L{TypeError}.
        """
        self.assertIs(BUILTIN.forRequest(ConnectRequest("u", "p", "c")), Connect)
        self.assertRaises(TypeError, BUILTIN.forRequest, ConnectAck(1))
        self.assertRaises(TypeError, CommandRegistry().forRequest, object())
        self.assertIs(BUILTIN.forRequest(JsonRequest(1)), JsonCommand)


class CloseRuleTests(SynchronousTestCase):
    """
    CONNECT's declared close rule.
    """

    def test_closeUnlessAccepted(self):
        """
        CONNECT closes unless its response is an accepted CONNECT_ACK;
        other commands never close.
        """
        self.assertTrue(Connect.closeUnlessAccepted)
        self.assertFalse(Connect.closesAfter(ConnectAck(SubSignal.CONNECTION_ACCEPTED)))
        self.assertTrue(Connect.closesAfter(ConnectAck(5)))
        self.assertTrue(Connect.closesAfter(None))
        ms = BUILTIN.lookup(Signal.PUBLISH, SubSignal.MS)
        self.assertFalse(ms.closesAfter(None))


class WirePushTests(SynchronousTestCase):
    """
    The wire objects encode pushes with the registry's notifications.
    """

    def test_encodedOncePerPush(self):
        """
        One push sent to many connections is encoded once per wire.
        """
        calls = []
        base = BUILTIN.notificationFor(FriendNotify(0))

        class Counting(base):  # type: ignore[valid-type, misc]
            @classmethod
            def frame(cls, push):
                calls.append(push)
                return base.frame(push)

            @classmethod
            def envelope(cls, push):
                calls.append(push)
                return base.envelope(push)

        registry = BUILTIN.extended(notifications=[Counting])
        tcp, ws = TcpWire(registry), WsWire(registry)
        push = FriendNotify(7)
        self.assertEqual({tcp.encodePush(push) for _ in range(3)}, {tcp.encodePush(push)})
        ws.encodePush(push)
        ws.encodePush(push)
        self.assertEqual(calls, [push, push])
        tcp.encodePush(FriendNotify(7))
        self.assertEqual(len(calls), 3)

    def test_pluginPushName(self):
        """
        A plugin push carries its name from the wire's registry.
        """
        ws = WsWire(BUILTIN.extended([Ping64]))
        envelope = json.loads(ws.encodePush(PluginPush(64, {"a": 1})))
        self.assertEqual((envelope["subSignal"], envelope["content"]), ("PINGSIXTYFOUR", '{"a":1}'))


class NeutralPushTests(SynchronousTestCase):
    """
    L{NeutralPushes}: the form pushes cross nodes in.
    """

    @given(pushes)
    def test_roundTrip(self, push):
        """
        Every push comes back equal through its JSON neutral form.
        """
        neutral = NeutralPushes(BUILTIN)
        self.assertEqual(neutral.decode(json.loads(json.dumps(neutral.encode(push)))), push)

    def test_unknown(self):
        """
        An unknown push type or name is refused.
        """
        neutral = NeutralPushes(BUILTIN)
        self.assertRaises(TypeError, neutral.encode, object())
        self.assertRaises(ValueError, neutral.decode, {"push": "Nope", "value": {}})


class HandlerSetCommandTests(SynchronousTestCase):
    """
    A plugin declares a subsignal with one command and one handler.
    """

    def test_command(self):
        """
        C{handler(Command)} registers the command's key and puts the command
        in the handler registry's commands.
        """
        plugin = HandlerSet("test.commands")
        plugin.handler(Ping64)(lambda context, request: request.value)
        registry = HandlerRegistry.fromPlugins([plugin])
        self.assertIsNotNone(registry.lookup(Signal.PUBLISH, 64))
        self.assertIs(registry.commands.lookup(Signal.PUBLISH, 64), Ping64)
        self.assertEqual(registry.commands.subSignalName(64), "PINGSIXTYFOUR")
        self.assertIsNone(BUILTIN.lookup(Signal.PUBLISH, 64))

    def test_nameShortcut(self):
        """
        C{handler(signal, ordinal, name=...)} generates an equivalent JSON
        command.
        """
        plugin = HandlerSet("test.commands")
        plugin.handler(Signal.PUBLISH, 64, name="PINGSIXTYFOUR")(lambda context, request: None)
        registry = HandlerRegistry.fromPlugins([plugin])
        command = registry.commands.lookup(Signal.PUBLISH, 64)
        self.assertTrue(issubclass(command, JsonCommand))
        self.assertEqual(command.replyTcp(3, 0, [1]), Ping64.replyTcp(3, 0, [1]))
        self.assertEqual(command.replyWs(3, 0, [1]), Ping64.replyWs(3, 0, [1]))

    def test_clientKnowsPluginName(self):
        """
        A client wire with the plugin's command names it on WebSocket.
        """
        client = ClientWire(BUILTIN.extended([Ping64]))
        text = client.encodeRequestEnvelope(JsonRequest({"x": 1}), 5, 64)
        self.assertEqual(json.loads(text)["subSignal"], "PINGSIXTYFOUR")
