# -*- test-case-name: fxim.test.unit.test_tap -*-
"""
Tests for L{fxim.tap}: the C{twistd fxim} options (the command-line
contract of docs/operating.md, the stable option names), L{fxim.config.Config.fromOptions} and
L{fxim.tap.makeService}.
"""

import io
import os
import sys

from twisted.internet import reactor
from twisted.internet.testing import MemoryReactor
from twisted.python import usage
from fxim.protocol.registry import BUILTIN as BUILTIN_COMMANDS
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fxim.config import _LIMIT_SPECS, Config
from fxim.dispatch import DuplicateHandler, HandlerSet
from fxim.tap import FximService, Options, makeService
from fxim.wire.signals import Signal, SubSignal

#: The option names tools outside the project rely on (docs/operating.md, the stable option names).
CONTRACT = ["tcp", "ws", "http", "data-dir", "database", "redis", "node-id", "login-code",
            "admin-secret-file", "disable-plugin", "public-url"]

BUILTIN_PLUGINS = ["fxim.connect", "fxim.friends", "fxim.groups", "fxim.media",
                   "fxim.messages", "fxim.moderation", "fxim.push", "fxim.receipts",
                   "fxim.settings", "fxim.users"]


def parse(*args) -> Options:
    options = Options()
    options.parseOptions(list(args))
    return options


class OptionsTests(SynchronousTestCase):
    """
    L{Options}.
    """

    def test_helpNamesTheContract(self):
        """
        C{--help} names every option of the command-line contract and
        every limit, each with a description.
        """
        text = str(Options())
        for name in CONTRACT + [spec[0] for spec in _LIMIT_SPECS]:
            self.assertIn(f"--{name}", text, name)
        self.assertIn("--redis-prefix", text)
        self.assertIn("--hmac-key-file", text)

    def test_helpExits(self):
        """
        C{--help} prints the usage and exits, as twistd expects.
        """
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        with self.assertRaises(SystemExit):
            parse("--help")
        for name in CONTRACT:
            self.assertIn(f"--{name}", out.getvalue())

    def test_defaults(self):
        """
        With no option: the upstream ports, SQLite under ./fxim-data,
        in-process presence, node 0, no fixed code, no admin API.
        """
        config = Config.fromOptions(parse())
        self.assertEqual((config.tcp, config.ws, config.http),
                         ("tcp:6789", "tcp:9326", "tcp:8081"))
        self.assertEqual(config.dataDir, "fxim-data")
        self.assertIsNone(config.database)
        self.assertIsNone(config.redis)
        self.assertEqual(config.nodeId, 0)
        self.assertIsNone(config.loginCode)
        self.assertIsNone(config.adminSecretFile)
        self.assertIsNone(config.publicUrl)
        self.assertEqual(config.disabledPlugins, ())
        self.assertEqual(config, Config())

    def test_values(self):
        """
        Every contract option reaches the L{Config}; C{--disable-plugin}
        repeats.
        """
        config = Config.fromOptions(parse(
            "--tcp", "tcp:1:interface=127.0.0.1", "--ws", "ssl:2:privateKey=k.pem",
            "--http", "tcp:3", "--data-dir", "/tmp/x", "--database", "postgresql://u@h/db",
            "--redis", "redis://h:1/0", "--redis-prefix", "c1:", "--node-id", "63",
            "--login-code", "12345678", "--admin-secret-file", "/a", "--hmac-key-file", "/h",
            "--disable-plugin", "fxim.media", "--disable-plugin", "acme.echo",
            "--public-url", "https://im.example.com"))
        self.assertEqual(
            (config.tcp, config.ws, config.http, config.dataDir, config.database, config.redis,
             config.redisPrefix, config.nodeId, config.loginCode, config.adminSecretFile,
             config.hmacKeyFile, config.disabledPlugins, config.publicUrl),
            ("tcp:1:interface=127.0.0.1", "ssl:2:privateKey=k.pem", "tcp:3", "/tmp/x",
             "postgresql://u@h/db", "redis://h:1/0", "c1:", 63, "12345678", "/a", "/h",
             ("fxim.media", "acme.echo"), "https://im.example.com"))
        self.assertEqual(Config.fromOptions(parse("--database", "sqlite:/tmp/f.db")).database,
                         "sqlite:/tmp/f.db")

    def test_limits(self):
        """
        Every limit option sets its L{Config} field with its type; its
        default is the L{Config} default.
        """
        defaults = Config()
        args = []
        expected = {}
        special = {"code-length": 5, "history-max-count": 50, "ping-min": 2000, "ping-max": 3000}
        for i, (name, field, convert, _) in enumerate(_LIMIT_SPECS):
            value = convert(special.get(name, 100000 + i))
            args += [f"--{name}", str(value)]
            expected[field] = value
            self.assertEqual(getattr(Config.fromOptions(parse()), field), getattr(defaults, field))
        config = Config.fromOptions(parse(*args))
        for field, value in expected.items():
            self.assertEqual(getattr(config, field), value, field)
            self.assertIsInstance(getattr(config, field), type(value))
        self.assertEqual(Config.fromOptions(parse("--tcp-idle", "2.5")).tcpIdle, 2.5)

    def test_limitRanges(self):
        """
        A limit out of its range, an inverted PING range, an unknown
        endpoint type or a non-HTTP public URL is a L{usage.UsageError}.
        """
        for args in (["--max-frame-size", "-1"], ["--code-length", "9"], ["--code-length", "3"],
                     ["--ping-min", "50000", "--ping-max", "10000"], ["--tcp-idle", "-5"],
                     ["--request-burst", "0"], ["--max-devices", "0"], ["--token-ttl", "0"],
                     ["--login-max-attempts", "0"], ["--history-max-count", "-1"],
                     ["--tcp", "bogus:1"], ["--public-url", "ftp://x"]):
            self.assertRaises(usage.UsageError, parse, *args)

    def test_badValues(self):
        """
        Bad values are a L{usage.UsageError}: node id out of 0-63 or not a
        number, a database or Redis URL of another scheme, a login code
        that is not 4-8 digits, a limit that is not a number, an unknown
        option.
        """
        for args in (["--node-id", "64"], ["--node-id", "-1"], ["--node-id", "x"],
                     ["--database", "mysql://u@h/db"], ["--database", "/tmp/f.db"],
                     ["--redis", "http://h"], ["--redis", "h:6379"],
                     ["--login-code", "123"], ["--login-code", "123456789"],
                     ["--login-code", "12a4"], ["--max-frame-size", "big"],
                     ["--tcp-idle", "soon"], ["--request-rate", "1/s"], ["--no-such-option"],
                     ["--tcp"], ["extra-argument"]):
            with self.assertRaises(usage.UsageError, msg=args):
                parse(*args)


class MakeServiceTests(SynchronousTestCase):
    """
    L{makeService} with a L{MemoryReactor}: nothing listens.
    """

    def test_builds(self):
        """
        It returns an unstarted L{FximService} with the config and a
        registry of the six built-in plugins.
        """
        service = makeService(parse("--node-id", "5", "--data-dir", self.mktemp()),
                              reactor=MemoryReactor())
        self.assertIsInstance(service, FximService)
        self.assertFalse(service.running)
        self.assertEqual(service.config.nodeId, 5)
        self.assertEqual(sorted(service.registry.plugins), BUILTIN_PLUGINS)
        self.assertIsNotNone(service.registry.lookup(Signal.PUBLISH, SubSignal.MS))
        self.assertIsNotNone(service.registry.lookup(Signal.CONNECT, 0))

    def test_serviceTree(self):
        """
        The node is a tree of services, built without starting anything:
        the store first, the listeners last (Redis ones with C{--redis}).
        """
        service = makeService(parse("--data-dir", self.mktemp()), reactor=MemoryReactor())
        self.assertEqual([child.name for child in service],
                         ["store", "presence", "node", "tcp", "ws", "http"])
        self.assertIsNone(service.node)
        self.assertEqual(service.ports, [])
        clustered = makeService(parse("--redis", "redis://127.0.0.1:1/0"),
                                reactor=MemoryReactor())
        self.assertEqual([child.name for child in clustered],
                         ["store", "redis", "limits-redis", "presence", "node", "tcp", "ws",
                          "http"])
        self.assertFalse([child for child in clustered if child.running])

    def test_busCarriesPluginPushes(self):
        """
        The Redis bus is given the node's commands, the plugins' included
        (the push plugin's subsignals), not only the built-in ones: a
        plugin's push crosses nodes.
        """
        service = makeService(parse("--redis", "redis://127.0.0.1:1/0"),
                              reactor=MemoryReactor())
        presence = [child for child in service if child.name == "presence"][0]
        self.assertIs(presence.commands, service.registry.commands)
        self.assertGreater(len(list(presence.commands.commands())),
                           len(list(BUILTIN_COMMANDS.commands())))

    def test_disablePlugin(self):
        """
        C{--disable-plugin fxim.media} drops GQNUT and GMURL only.
        """
        service = makeService(parse("--disable-plugin", "fxim.media"), reactor=MemoryReactor())
        self.assertNotIn("fxim.media", service.registry.plugins)
        self.assertIsNone(service.registry.lookup(Signal.PUBLISH, SubSignal.GQNUT))
        self.assertIsNone(service.registry.lookup(Signal.PUBLISH, SubSignal.GMURL))
        self.assertIsNotNone(service.registry.lookup(Signal.PUBLISH, SubSignal.GC))

    def test_disableUnknownPlugin(self):
        """
        C{--disable-plugin} of a name no plugin has stops startup.
        """
        with self.assertRaises(ValueError) as caught:
            makeService(parse("--disable-plugin", "fxim.nope"), reactor=MemoryReactor())
        self.assertIn("fxim.nope", str(caught.exception))

    def test_conflictStopsStartup(self):
        """
        A drop-in claiming a built-in subsignal without C{overrides} makes
        L{makeService} fail (before anything listens).
        """
        import fxim.dispatch as dispatch
        rogue = HandlerSet("test.rogue")
        rogue.handler(Signal.PUBLISH, SubSignal.MS)(lambda context, request: None)
        original = dispatch.getPlugins
        self.patch(dispatch, "getPlugins", lambda interface: list(original(interface)) + [rogue])
        with self.assertRaises(DuplicateHandler):
            makeService(parse(), reactor=MemoryReactor())

    def test_loginCodeWarns(self):
        """
        A fixed login code is logged as a warning.
        """
        from twisted.logger import LogLevel, capturedLogs
        with capturedLogs() as events:
            makeService(parse("--login-code", "5566"), reactor=MemoryReactor())
        self.assertTrue([e for e in events if e["log_level"] == LogLevel.warn
                         and "login-code" in e.get("log_format", "")])


class StartTests(TestCase):
    """
    A whole embedded node started in this process with the real reactor.
    """

    async def startNode(self):
        dataDir = self.mktemp()
        service = makeService(parse(
            "--data-dir", dataDir, "--tcp", "tcp:0:interface=127.0.0.1",
            "--ws", "tcp:0:interface=127.0.0.1", "--http", "tcp:0:interface=127.0.0.1"),
            reactor=reactor)
        service.startService()
        server = await service.whenReady()
        return service, server, dataDir

    async def test_start(self):
        """
        The embedded node opens SQLite under C{--data-dir}, listens on the
        three endpoints, and stops.
        """
        service, server, dataDir = await self.startNode()
        try:
            self.assertEqual(len(service.ports), 3)
            self.assertEqual(len({p.getHost().port for p in service.ports}), 3)
            self.assertIs(server, service.node)
            for name in ("messages", "social", "groups", "media"):
                self.assertTrue(hasattr(server, name), name)
            self.assertTrue(os.path.isdir(dataDir))
            self.assertTrue(os.listdir(dataDir))
        finally:
            await service.stopService()
        self.assertEqual(service.ports, [])
        # Whether stopping logs errors is the business of a separate test.
        self.flushLoggedErrors()


class BacklogTests(TestCase):
    """
    L{fxim.tap.withBacklog}.
    """

    def test_addsBacklog(self):
        """
        TCP and TLS endpoints without a backlog get the default one; others
        and explicit backlogs are kept.
        """
        from fxim.tap import DEFAULT_BACKLOG, withBacklog
        self.assertEqual(withBacklog("tcp:6789"), f"tcp:6789:backlog={DEFAULT_BACKLOG}")
        self.assertEqual(withBacklog("ssl:1:privateKey=k"), f"ssl:1:privateKey=k:backlog={DEFAULT_BACKLOG}")
        self.assertEqual(withBacklog("tcp:1:backlog=5"), "tcp:1:backlog=5")
        self.assertEqual(withBacklog("unix:/tmp/s"), "unix:/tmp/s")
