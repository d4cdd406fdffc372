"""
C{--config} (TOML), C{FXIM_*} environment overrides, C{--generate-config},
their precedence, C{--log-format}/C{--log-level}, and that no password
reaches the process list or the log.
"""

import json
import os
import re

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fxim import configfile
from fxim.tap import Options
from fxim.test.e2e import NodeTestMixin
from fxim.test.ownservices import SKIP_PG, OwnPostgres
from fxim.testing import ServerProcess


def parse(args=(), file=None, env=None, optionsClass=Options):
    options = optionsClass()
    options.environ = env or {}
    argv = list(args)
    if file is not None:
        argv = ["--config", file] + argv
    options.parseOptions(argv)
    return options


class PrecedenceTests(SynchronousTestCase):
    """
    Flags > environment > file > defaults.
    """

    def write(self, text: str) -> str:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_order(self):
        path = self.write('tcp = "tcp:1"\nws = "tcp:2"\nhttp = "tcp:3"\nmax-devices = 7\n'
                          'node-id = 4\n')
        env = {"FXIM_WS": "tcp:20", "FXIM_HTTP": "tcp:30", "FXIM_NODE_ID": "5"}
        options = parse(["--http", "tcp:300"], path, env)
        self.assertEqual((options["tcp"], options["ws"], options["http"]),
                         ("tcp:1", "tcp:20", "tcp:300"))
        self.assertEqual(options["max-devices"], 7)  # from the file, coerced to int
        self.assertEqual(options["node-id"], 5)  # env beats file
        self.assertEqual(parse()["max-devices"], 10)  # default

    def test_repeatableAndFlags(self):
        path = self.write('disable-plugin = ["fxim.media"]\n')
        options = parse(["--disable-plugin", "fxim.groups"], path,
                        {"FXIM_DISABLE_PLUGIN": "fxim.friends"})
        self.assertEqual(sorted(options["disable-plugin"]),
                         ["fxim.friends", "fxim.groups", "fxim.media"])

    def test_unknownKey(self):
        path = self.write('max-devicez = 3\n')
        e = self.assertRaises(usage.UsageError, parse, [], path)
        self.assertIn("max-devicez", str(e))

    def test_badValue(self):
        path = self.write('max-devices = "many"\n')
        self.assertRaises(usage.UsageError, parse, [], path)

    def test_badToml(self):
        path = self.write('tcp = \n')
        e = self.assertRaises(usage.UsageError, parse, [], path)
        self.assertIn("not valid TOML", str(e))

    def test_missingFile(self):
        e = self.assertRaises(usage.UsageError, parse, [], "/nonexistent/fxim.toml")
        self.assertIn("/nonexistent/fxim.toml", str(e))

    def test_validationStillApplies(self):
        path = self.write('node-id = 99\n')
        self.assertRaises(usage.UsageError, parse, [], path)

    def test_generatedRoundTrip(self):
        """
        The generated file lists every option; uncommented it parses to the
        defaults.
        """
        text = configfile.generate(Options())
        for row in Options.optParameters:
            if row[0] != "config":
                self.assertIn(f"# {row[0]} = ", text)
        self.assertIn("# disable-plugin = []", text)
        uncommented = "\n".join(re.sub(r"^# ([a-z-]+ = )", r"\1", line)
                                for line in text.splitlines()
                                if not line.endswith('= ""'))
        defaults, fromFile = parse(), parse([], self.write(uncommented))
        for row in Options.optParameters:
            if row[0] != "config":
                self.assertEqual(fromFile[row[0]], defaults[row[0]], row[0])

    def test_generic(self):
        """
        An option added later (by a subclass, another module) gets a file
        key and an environment variable without any change here.
        """
        class Later(Options):
            optParameters = Options.optParameters + [
                ["retention-days", None, 0, "Days to keep messages.", int]]
            agents: list = []

            def opt_agent(self, value):
                """Register an agent UID=URL (repeatable)."""
                self.agents.append(value)

        path = self.write('retention-days = 30\nagent = ["a=http://x"]\n')
        options = parse([], path, {"FXIM_AGENT": "b=http://y"}, optionsClass=Later)
        self.assertEqual(options["retention-days"], 30)
        self.assertEqual(options.agents, ["a=http://x", "b=http://y"])
        self.assertEqual(parse([], None, {"FXIM_RETENTION_DAYS": "9"},
                               optionsClass=Later)["retention-days"], 9)
        self.assertIn("# retention-days = 0", configfile.generate(Later()))


class NodeConfigTests(NodeTestMixin, TestCase):
    """
    Real nodes configured by file and environment.
    """

    async def test_passwordNotInPs(self):
        """
        A PostgreSQL password given as C{FXIM_DATABASE} (and the rest in a
        config file) is in neither the command line nor the log, and the
        node works.
        """
        if SKIP_PG:
            raise self.skipTest(SKIP_PG)
        pg = await deferToThread(OwnPostgres, "pw-Never-In-Ps-42")
        self.addCleanup(deferToThread, pg.destroy)
        conf = os.path.abspath(self.mktemp())
        with open(conf, "w") as f:
            f.write('max-devices = 3\nlog-level = "info"\n')
        node = await self.startNode(["--config", conf], env={"FXIM_DATABASE": pg.dsn()})
        with open(f"/proc/{node.pid}/cmdline", "rb") as f:
            cmdline = f.read().decode()
        self.assertNotIn("pw-Never-In-Ps-42", cmdline)
        self.assertIn("storage: postgresql", node.log())
        from fxim.test.e2e.test_health import _get
        status, body = await deferToThread(_get, node.httpBase + "/ready")
        self.assertEqual(status, 200, body)
        self.assertNotIn("pw-Never-In-Ps-42", node.log())

    async def test_jsonLogs(self):
        """
        C{--log-format json}: every line is a JSON object with a level.
        """
        node = await self.startNode(["--log-format", "json"])
        lines = [line for line in node.log().splitlines() if line.strip()]
        events = [json.loads(line) for line in lines]
        self.assertTrue(any("ready" in e.get("log_format", "") for e in events))
        self.assertTrue(all("log_level" in e for e in events))

    async def test_logLevel(self):
        """
        C{--log-level warn} drops info lines, keeps warnings.
        """
        node = _PortsOnlyNode(reactor, ["--log-level", "warn"])
        self.addCleanup(node.cleanup)
        await node.start()
        log = node.log()
        self.assertIn("fixed login code", log)
        self.assertIn("#warn]", log)
        self.assertNotIn("#info]", log)


class _PortsOnlyNode(ServerProcess):
    """
    Ready when the ports listen (the C{ready} line is info, filtered out).
    """

    def _listening(self) -> bool:
        return self._portsListen()


class DataFilesTests(NodeTestMixin, TestCase):
    """
    The embedded database is private to the node's user.
    """

    async def test_sqliteModes(self):
        import stat
        dataDir = os.path.join(os.path.abspath(self.mktemp()), "data")
        node = await self.startNode(["--data-dir", dataDir])
        self.assertEqual(stat.S_IMODE(os.stat(dataDir).st_mode), 0o700)
        for name in os.listdir(dataDir):
            if name.startswith("fxim.sqlite3"):
                mode = stat.S_IMODE(os.stat(os.path.join(dataDir, name)).st_mode)
                self.assertEqual(mode & 0o077, 0, (name, oct(mode)))
        self.assertTrue(node.log())
