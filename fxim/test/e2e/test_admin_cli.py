"""
Tests for C{fxim-admin} (L{fxim.admin.cli}) and C{fxim-chat import-token},
run as subprocesses against a real C{twistd fxim} node.
"""

import json
import os
import sys
import tempfile

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fxim.client import Inbox
from fxim.test.e2e import NodeTestMixin, withTimeout
from fxim.test.e2e.test_client_cli import _ROOT, _Process

SECRET = "cli-admin-secret-0123456789"


class AdminCliTests(NodeTestMixin, TestCase):

    async def run(self, module, *args, stdin=b"", expect=0, env=None):
        process = _Process(stdin)
        environment = dict(os.environ, PYTHONPATH=_ROOT, PYTHONUNBUFFERED="1",
                           FXIM_ADMIN_SECRET=SECRET, **(env or {}))
        argv = [sys.executable, "-m", module] + list(args)
        transport = reactor.spawnProcess(process, sys.executable, argv, env=environment,
                                         path=_ROOT)
        timer = reactor.callLater(60, transport.signalProcess, "KILL")
        code = await process.ended
        if timer.active():
            timer.cancel()
        self.assertEqual(code, expect, f"{args}: {process.text} {process.err!r}")
        return process

    async def admin(self, *args, **kwargs):
        return await self.run("fxim.admin", "--server", self.node.httpBase, *args, **kwargs)

    async def test_operatorSession(self):
        """
        Create a user, list, block/unblock, broadcast; mint a token and
        hand it to fxim-chat, which then sends as that user; refusals are
        one stderr line and exit status 1.
        """
        path = os.path.join(tempfile.mkdtemp(), "admin.secret")
        with open(path, "w") as f:
            f.write(SECRET)
        self.node = await self.startNode(["--admin-secret-file", path])
        created = json.loads((await self.admin("create-user", "--mobile", "bot@example.com",
                                               "--name", "Bot", "--uid", "bot")).text)
        self.assertEqual((created["uid"], created["loginEmail"]), ("bot", "bot@example.com"))
        listed = json.loads((await self.admin("users", "--query", "Bot")).text)
        self.assertEqual([u["uid"] for u in listed["items"]], ["bot"])
        blocked = json.loads((await self.admin("block", "bot")).text)
        self.assertEqual(blocked["status"], 2)
        await self.admin("unblock", "bot")
        failed = await self.admin("user", "nobody", expect=1)
        self.assertIn(b"HTTP 404", failed.err)
        self.assertNotIn(b"Traceback", failed.err)
        denied = await self.run("fxim.admin", "--server", self.node.httpBase, "users",
                                expect=1, env={"FXIM_ADMIN_SECRET": "wrong"})
        self.assertIn(b"HTTP 401", denied.err)
        human = await self.loginAndConnect(self.node, "13800000900", "tcp")
        inbox = Inbox(human)
        minted = await self.admin("mint-token", "bot", "bot-device")
        state = os.path.join(tempfile.mkdtemp(), "bot.json")
        out = await self.run("fxim.client", "--server", self.node.httpBase, "--tcp",
                             f"127.0.0.1:{self.node.tcpPort}", "--state", state, "import-token",
                             stdin=minted.out)
        self.assertIn("bot", out.text)
        await self.run("fxim.client", "--state", state, "send", human.userId, "hello from a bot")
        await self.admin("send", "--everyone", "system says hi")
        got = await withTimeout(inbox.waitFor(2))
        self.assertEqual(sorted((m.fromUser, m.content.searchableContent) for m in got),
                         [("SystemNotification", "system says hi"), ("bot", "hello from a bot")])
        audit = json.loads((await self.admin("audit", "--limit", "3")).text)
        self.assertEqual([e["action"] for e in audit["items"]],
                         ["messages.send", "tokens.mint", "users.unblock"])
        bad = await self.run("fxim.client", "--state", state, "import-token", stdin=b"{}",
                             expect=1)
        self.assertIn(b"cannot read a minted token", bad.err)
