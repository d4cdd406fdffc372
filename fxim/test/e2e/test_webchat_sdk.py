"""
The JavaScript SDK's own tests (C{npm test} in C{clients/js}, Node's
built-in test runner), including its run against a real node.
"""

import os
import shutil
import signal
import subprocess

from twisted.internet.threads import deferToThread
from twisted.trial import unittest

from fxim.test import ROOT
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, ProductionBackend

SDK = os.path.join(ROOT,
                   "clients", "js")


def npmTest(env, timeout=300):
    """
    Run C{npm test} in its own process group, so that a hung run is ended
    with every child (npm leaves node running when it is killed alone).
    """
    process = subprocess.Popen(["npm", "test"], cwd=SDK, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        out += f"\n[npm test killed after {timeout}s]"
    return subprocess.CompletedProcess(process.args, process.returncode, out, "")


class PasswordFixtureTests(unittest.TestCase):
    """
    The SDK's password fixture is what the server's own code computes, so
    the SDK's byte-for-byte test compares against fxim itself.
    """

    def test_fixtureIsCurrent(self):
        import json
        from fxim import crypto
        with open(os.path.join(SDK, "test", "fixtures-password.json")) as f:
            fixture = json.load(f)
        self.assertEqual(crypto.makePassword(fixture["token"], fixture["nowMs"]),
                         fixture["password"])
        usertoken, secret, dbSecret = crypto.splitToken(fixture["token"])
        self.assertEqual((crypto.b64encode(usertoken), secret, dbSecret),
                         (fixture["usertoken"], fixture["secret"], fixture["dbSecret"]))
        self.assertEqual(crypto.hourOf(fixture["nowMs"]), fixture["hour"])


class JavaScriptSdkTests(NodeTestMixin, unittest.TestCase):
    """
    C{npm test} against a real C{twistd fxim}: WebSocket on the HTTP port's
    C{/ws} and on the WebSocket port.
    """

    timeout = 400

    def setUp(self):
        if shutil.which("npm") is None or shutil.which("node") is None:
            self.fail("node and npm are not installed (source .ci/tools.sh)")
        if not os.path.isdir(os.path.join(SDK, "node_modules", "ws")):
            self.fail("run `npm install` in clients/js (.ci/tools.sh does it)")

    async def run_npm(self, wsUrl, node):
        env = dict(os.environ, FXIM_TEST_HTTP_URL=node.httpBase, FXIM_TEST_WS_URL=wsUrl,
                   FXIM_TEST_LOGIN_CODE=LOGIN_CODE)
        result = await deferToThread(npmTest, env)
        report = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, report)
        # Every test ran: the live one was not skipped.
        self.assertIn("# fail 0", report)
        self.assertIn("# skipped 0", report)
        self.assertIn("ok ", report)
        return report

    async def test_againstHttpPort(self):
        node = await self.startNode()
        report = await self.run_npm(f"ws://127.0.0.1:{node.httpPort}/ws", node)
        self.assertIn("two SDK clients against a real node", report)

    async def test_againstWsPort(self):
        node = await self.startNode()
        await self.run_npm(f"ws://127.0.0.1:{node.wsPort}/", node)


class ProductionJavaScriptSdkTests(ProductionBackend, JavaScriptSdkTests):
    """
    The same on PostgreSQL + Redis.
    """
