"""
Tests for the C{fxim-chat} command-line client (L{fxim.client.cli}): its
state file and argument handling, and whole runs as subprocesses against a
real C{twistd fxim} node.
"""

import json
import os
import stat
import sys
import tempfile
from typing import Any, Callable, List

from twisted.internet import protocol, reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fxim.test import ROOT
from fxim.client import cli
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, sleep

_ROOT = ROOT


class StateTests(SynchronousTestCase):
    """
    L{cli.State} and argument parsing.
    """

    def test_savedPrivately(self):
        """
        The state file is created with mode 0600 (its folder 0700) and
        read back.
        """
        base = tempfile.mkdtemp()
        path = os.path.join(base, "sub", "state.json")
        state = cli.State(path)
        state.data.update({"token": "secret", "lastSeq": 3})
        state.save()
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), 0o700)
        self.assertEqual(cli.State(path).get("lastSeq"), 3)
        self.assertEqual(os.listdir(os.path.dirname(path)), ["state.json"])

    def test_badState(self):
        """
        A corrupt state file is a L{cli.CommandError}, not a traceback.
        """
        path = os.path.join(tempfile.mkdtemp(), "state.json")
        with open(path, "w") as f:
            f.write("{nope")
        self.assertRaises(cli.CommandError, cli.State, path)

    def test_endpoints(self):
        """
        --tcp and --ws are parsed and remembered; the last one given wins.
        """
        path = os.path.join(tempfile.mkdtemp(), "s.json")
        args = cli.parser().parse_args(["--state", path, "--ws", "ws://h:1234/x", "whoami"])
        c = cli.Cli(None, args)
        self.assertEqual(c.endpoint(), ("ws", "h", 1234, "/x"))
        args = cli.parser().parse_args(["--state", path, "--tcp", "h2:99", "whoami"])
        c = cli.Cli(None, args)
        self.assertEqual(c.endpoint(), ("tcp", "h2", 99, ""))
        args = cli.parser().parse_args(["--state", path, "whoami"])
        self.assertEqual(cli.Cli(None, args).endpoint(), ("tcp", "127.0.0.1", 6789, ""))


class _Process(protocol.ProcessProtocol):
    #: Set by the test that spawned it.
    pid: int
    signal: Callable[[str], None]

    def __init__(self, stdin: bytes = b"") -> None:
        self.stdin = stdin
        self.out = b""
        self.err = b""
        self.ended: Deferred = Deferred()
        self.code = None
        self.watchers: List[Any] = []

    def connectionMade(self) -> None:
        assert self.transport is not None
        if self.stdin:
            self.transport.write(self.stdin)
        self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason) -> None:
        self.code = reason.value.exitCode
        self.ended.callback(self.code)

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", "replace")


class CliProcessTests(NodeTestMixin, TestCase):
    """
    C{python -m fxim.client} against a real node.
    """

    def spawn(self, *args: str, stdin: bytes = b"") -> _Process:
        process = _Process(stdin)
        env = dict(os.environ, PYTHONPATH=_ROOT, PYTHONUNBUFFERED="1")
        argv = [sys.executable, "-m", "fxim.client"] + list(args)
        transport = reactor.spawnProcess(process, sys.executable, argv, env=env, path=_ROOT)

        def kill():
            if not process.ended.called:
                transport.signalProcess("KILL")
                return process.ended
        self.addCleanup(kill)
        process.pid = transport.pid
        process.signal = transport.signalProcess
        return process

    async def runCli(self, *args: str, stdin: bytes = b"", expect: int = 0) -> str:
        process = self.spawn(*args, stdin=stdin)
        timer = reactor.callLater(60, process.signal, "KILL")
        code = await process.ended
        if timer.active():
            timer.cancel()
        self.assertEqual(code, expect, f"{args}: {process.text} {process.err!r}")
        return process.text

    async def waitOutput(self, process: _Process, text: str, seconds: float = 30.0) -> None:
        deadline = reactor.seconds() + seconds
        while text not in process.text:
            if reactor.seconds() > deadline or process.ended.called:
                self.fail(f"{text!r} not in output: {process.text!r} {process.err!r}")
            await sleep(0.05)

    async def twoUsers(self, transportArgs):
        node = await self.startNode()
        base = tempfile.mkdtemp()
        a, b = os.path.join(base, "a.json"), os.path.join(base, "b.json")
        server = ["--server", node.httpBase] + transportArgs(node)
        out = await self.runCli(*server, "--state", a, "login", "13800000201", "--code", LOGIN_CODE)
        self.assertIn("Logged in as", out)
        # Without --code the CLI asks for the code and reads it from stdin.
        out = await self.runCli(*server, "--state", b, "login", "13800000202",
                             stdin=LOGIN_CODE.encode() + b"\n")
        self.assertIn("A code was sent", out)
        self.assertEqual(stat.S_IMODE(os.stat(a).st_mode), 0o600)
        with open(a) as f:
            stateA = json.load(f)
        with open(b) as f:
            stateB = json.load(f)
        self.assertTrue(stateA["token"] and stateA["deviceId"])
        return node, a, b, stateA["uid"], stateB["uid"]

    async def chat(self, transportArgs):
        node, a, b, uidA, uidB = await self.twoUsers(transportArgs)
        follow = self.spawn("--state", a, "follow")
        await self.waitOutput(follow, "following")
        out = await self.runCli("--state", b, "send", uidA, "hello from the cli")
        self.assertIn("message uid", out)
        await self.waitOutput(follow, "hello from the cli")
        line = [t for t in follow.text.splitlines() if "hello from the cli" in t][0]
        self.assertIn(uidB, line)
        self.assertRegex(line, r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
        # By mobile, too.
        await self.runCli("--state", b, "send", "13800000201", "second")
        await self.waitOutput(follow, "second")
        follow.signal("INT")
        await follow.ended
        with open(a) as f:
            self.assertEqual(json.load(f)["lastSeq"], 2)
        # A new follow continues after what was shown.
        await self.runCli("--state", b, "send", uidA, "third")
        follow2 = self.spawn("--state", a, "follow")
        await self.waitOutput(follow2, "third")
        await sleep(0.3)
        self.assertNotIn("second", follow2.text)
        follow2.signal("INT")
        await follow2.ended
        return node, a, b, uidA, uidB

    async def test_chatTcp(self):
        """
        login, follow in one process, send from another: the follower
        prints the message with time and sender; a later follow continues
        from the saved seq.
        """
        await self.chat(lambda node: ["--tcp", f"127.0.0.1:{node.tcpPort}"])

    async def test_chatWsAndOtherCommands(self):
        """
        The same over WebSocket; then friends, groups, history, search and
        logout.
        """
        node, a, b, uidA, uidB = await self.chat(
            lambda node: ["--ws", f"ws://127.0.0.1:{node.wsPort}/ws"])
        self.assertIn(uidA, await self.runCli("--state", b, "search", "13800000201"))
        await self.runCli("--state", b, "add-friend", uidA, "let's be friends")
        self.assertIn(uidB, await self.runCli("--state", a, "requests"))
        await self.runCli("--state", a, "accept", uidB)
        self.assertIn(uidB, await self.runCli("--state", a, "friends"))
        out = await self.runCli("--state", b, "create-group", "cli team", uidA)
        gid = out.split()[2]
        await self.runCli("--state", a, "send", "--group", gid, "hi team")
        out = await self.runCli("--state", a, "groups")
        self.assertIn(gid, out)
        self.assertIn("cli team", out)
        out = await self.runCli("--state", b, "history", "--group", gid)
        self.assertIn("hi team", out)
        self.assertIn("hello from the cli", await self.runCli("--state", b, "history", uidA))
        self.assertIn("Logged out", await self.runCli("--state", a, "logout"))
        out = await self.runCli("--state", a, "friends", expect=1)
        self.assertEqual(out, "")

    async def test_errors(self):
        """
        Not logged in, and a server that is not there: one line on stderr,
        exit status 1.
        """
        path = os.path.join(tempfile.mkdtemp(), "s.json")
        process = self.spawn("--state", path, "friends")
        self.assertEqual(await process.ended, 1)
        self.assertIn(b"not logged in", process.err)
        process = self.spawn("--state", path, "--server", "http://127.0.0.1:1", "login",
                             "13800000209", "--code", "1")
        self.assertEqual(await process.ended, 1)
        self.assertNotIn(b"Traceback", process.err)
