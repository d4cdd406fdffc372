# -*- test-case-name: fxim.test.unit.test_plugins -*-
"""
Tests for the Twisted plugin drop-ins in C{twisted/plugins/}: the six
built-in handler families, the C{twistd fxim} service maker, and the
L{IConnection} provided by both transports.
"""

from twisted.application.service import IServiceMaker
from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.plugin import IPlugin, getPlugins
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from fxim.dispatch import HandlerRegistry, HandlerSet
from fxim.interfaces import IConnection, IHandlerPlugin
from fxim.transport.tcp import FrameFactory, FrameProtocol
from fxim.transport.websocket import EnvelopeFactory, EnvelopeProtocol
from fxim.wire.signals import PLUGIN_SUBSIGNALS, Signal, SubSignal

#: Each built-in family and the keys it must provide.
FAMILIES = {
    "fxim.connect": {(Signal.CONNECT, 0), (Signal.PING, 0), (Signal.DISCONNECT, 0)},
    "fxim.messages": {(Signal.PUBLISH, s) for s in (SubSignal.MS, SubSignal.MP, SubSignal.MR,
                                                    SubSignal.LRM)},
    "fxim.users": {(Signal.PUBLISH, s) for s in (SubSignal.US, SubSignal.UPUI, SubSignal.MMI)},
    "fxim.friends": {(Signal.PUBLISH, s) for s in (SubSignal.FAR, SubSignal.FHR, SubSignal.FRP,
                                                   SubSignal.FRUS, SubSignal.FP, SubSignal.FALS)},
    "fxim.groups": {(Signal.PUBLISH, s) for s in (SubSignal.GC, SubSignal.GPGI, SubSignal.GPGM,
                                                  SubSignal.GAM, SubSignal.GKM, SubSignal.GQ,
                                                  SubSignal.GD, SubSignal.GMI)},
    "fxim.media": {(Signal.PUBLISH, s) for s in (SubSignal.GQNUT, SubSignal.GMURL)},
    # i13: newer clients
    "fxim.receipts": {(Signal.PUBLISH, s) for s in (SubSignal.MDR, SubSignal.MRR,
                                                    SubSignal.MRP)},
    "fxim.settings": {(Signal.PUBLISH, s) for s in (SubSignal.UG, SubSignal.UP)},
    # i14: fxim's own extension subsignals (push registration, reports).
    "fxim.push": {(Signal.PUBLISH, s) for s in (70, 71, 72)},
    "fxim.moderation": {(Signal.PUBLISH, 73)},
}

#: Built-in families whose subsignals are fxim extensions in the plugin range.
EXTENSION_FAMILIES = {"fxim.push", "fxim.moderation"}


def builtins():
    return {p.name: p for p in getPlugins(IHandlerPlugin) if p.name.startswith("fxim.")}


class HandlerPluginTests(SynchronousTestCase):
    """
    C{getPlugins(IHandlerPlugin)}.
    """

    def test_sixFamilies(self):
        """
        The six built-in families are found, each providing
        L{IHandlerPlugin} and L{IPlugin}.
        """
        found = builtins()
        self.assertEqual(sorted(found), sorted(FAMILIES))
        for plugin in found.values():
            self.assertTrue(verifyObject(IHandlerPlugin, plugin), plugin.name)
            self.assertTrue(IPlugin.providedBy(plugin), plugin.name)
            self.assertIsInstance(plugin, HandlerSet)
            self.assertTrue(plugin.description, plugin.name)

    def test_familyKeys(self):
        """
        Each family registers exactly its own keys, and no two families
        share one.
        """
        seen = {}
        for name, plugin in builtins().items():
            keys = {(int(h.signal), int(h.subsignal)) for h in plugin.handlers()}
            self.assertEqual(keys, {(int(a), int(b)) for a, b in FAMILIES[name]}, name)
            for key in keys:
                self.assertNotIn(key, seen, (name, seen.get(key)))
                seen[key] = name

    def test_onlyConnectAndPingAnonymous(self):
        """
        Only CONNECT and PING may run before CONNECT is accepted; no
        built-in handler overrides another or uses a plugin ordinal.
        """
        for plugin in builtins().values():
            for handler in plugin.handlers():
                self.assertEqual(handler.anonymous, handler.signal in (Signal.CONNECT, Signal.PING),
                                 handler)
                self.assertFalse(handler.overrides, handler)
                if plugin.name in EXTENSION_FAMILIES:
                    self.assertIn(handler.subsignal, PLUGIN_SUBSIGNALS)
                else:
                    self.assertNotIn(handler.subsignal, PLUGIN_SUBSIGNALS)

    def test_registryFromDropins(self):
        """
        L{HandlerRegistry.fromPlugins} with no argument loads the drop-ins
        without a conflict.
        """
        registry = HandlerRegistry.fromPlugins()
        for name in FAMILIES:
            self.assertIn(name, registry.plugins)


class ServiceMakerTests(SynchronousTestCase):
    """
    C{getPlugins(IServiceMaker)}.
    """

    def test_fxim(self):
        """
        C{twistd fxim} is found, with L{fxim.tap}'s options and
        C{makeService}.
        """
        [maker] = [m for m in getPlugins(IServiceMaker) if m.tapname == "fxim"]
        self.assertTrue(verifyObject(IServiceMaker, maker))
        from fxim import tap
        self.assertIs(maker.options, tap.Options)
        self.assertEqual(maker.makeService, tap.makeService)
        self.assertTrue(maker.description)


class ConnectionInterfaceTests(SynchronousTestCase):
    """
    Both transports' protocols provide L{IConnection}.
    """

    def test_tcp(self):
        """
        L{FrameProtocol}, connected.
        """
        self.assertTrue(IConnection.implementedBy(FrameProtocol))
        factory = FrameFactory(None, task.Clock())
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        protocol.makeConnection(StringTransport())
        self.assertTrue(verifyObject(IConnection, protocol))
        self.assertEqual(protocol.transportName, "tcp")
        protocol.connectionLost(None)

    def test_websocket(self):
        """
        L{EnvelopeProtocol}, built by its factory.
        """
        self.assertTrue(IConnection.implementedBy(EnvelopeProtocol))
        factory = EnvelopeFactory(None, task.Clock())
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        self.assertTrue(verifyObject(IConnection, protocol))
        self.assertEqual(protocol.transportName, "ws")
