"""
The web chat as the node serves it: the page and C{/config.json} on the
HTTP port, C{--web-root} and C{--no-web}, the WebSocket protocol on C{/ws}
of the HTTP port, the WebSocket port's versionless 426, and the committed
bundle being the build of its sources.
"""

import json
import os
import shutil
import subprocess

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread
from twisted.trial import unittest
from twisted.web.client import Agent, readBody
from twisted.web.http_headers import Headers

from fxim.test import ROOT
from fxim.client import ChatClient
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, sleep, withTimeout
from fxim.tap import Options
from fxim.web import STATIC, wsUrlFor

WEB_SOURCES = os.path.join(ROOT, "clients", "web")


async def fetch(url: str, method: bytes = b"GET"):
    """
    @return: C{(status, headers, body bytes)}.
    """
    response = await Agent(reactor).request(method, url.encode("ascii"),
                                            Headers({b"User-Agent": [b"fxim-test"]}))
    body = await readBody(response)
    return response.code, response.headers, body


class WebOptionsTests(unittest.TestCase):
    """
    C{--web-root} and C{--no-web}.
    """

    def test_defaults(self):
        options = Options()
        options.parseOptions([])
        self.assertIsNone(options["web-root"])
        self.assertFalse(options["no-web"])

    def test_webRootMustExist(self):
        from twisted.python.usage import UsageError
        options = Options()
        self.assertRaises(UsageError, options.parseOptions,
                          ["--web-root", os.path.join(self.mktemp(), "missing")])

    def test_wsUrlFor(self):
        self.assertIsNone(wsUrlFor(None))
        self.assertEqual(wsUrlFor("https://im.example.com/chat/"), "wss://im.example.com/chat/ws")
        self.assertEqual(wsUrlFor("http://127.0.0.1:8081"), "ws://127.0.0.1:8081/ws")


class WebServedTests(NodeTestMixin, unittest.TestCase):
    """
    A real node serving the page.
    """

    async def test_pageAtRoot(self):
        node = await self.startNode()
        status, headers, body = await fetch(node.httpBase + "/")
        self.assertEqual(status, 200)
        self.assertIn(b'<script type="module" src="app.js">', body)
        self.assertEqual(headers.getRawHeaders(b"content-type")[0].split(b";")[0], b"text/html")
        csp = headers.getRawHeaders(b"content-security-policy")[0]
        self.assertIn(b"script-src 'self'", csp)
        self.assertEqual(headers.getRawHeaders(b"x-content-type-options"), [b"nosniff"])
        with open(os.path.join(STATIC, "app.js"), "rb") as f:
            bundle = f.read()
        status, headers, body = await fetch(node.httpBase + "/app.js")
        self.assertEqual((status, body), (200, bundle))
        self.assertIn(b"javascript", headers.getRawHeaders(b"content-type")[0])
        status, _, body = await fetch(node.httpBase + "/config.json")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"httpUrl": None, "wsUrl": None, "wsPath": "/ws"})
        # The API is still there; unknown paths and dotfiles are a JSON 404.
        status, _, body = await fetch(node.httpBase + "/health")
        self.assertEqual(json.loads(body), {"ok": True})
        for path in ("/nothing.js", "/.hidden", "/sub/x"):
            status, _, body = await fetch(node.httpBase + path)
            self.assertEqual(status, 404, path)
            self.assertEqual(json.loads(body)["code"], 404, path)

    async def test_publicUrl(self):
        node = await self.startNode(["--public-url", "https://im.example.com/fx/"])
        _, _, body = await fetch(node.httpBase + "/config.json")
        self.assertEqual(json.loads(body), {"httpUrl": "https://im.example.com/fx",
                                            "wsUrl": "wss://im.example.com/fx/ws",
                                            "wsPath": "/ws"})

    async def test_noWeb(self):
        node = await self.startNode(["--no-web"])
        for path in ("/", "/app.js", "/config.json"):
            status, _, body = await fetch(node.httpBase + path)
            self.assertEqual(status, 404, path)
            self.assertEqual(json.loads(body)["code"], 404)
        status, _, _ = await fetch(node.httpBase + "/health")
        self.assertEqual(status, 200)

    async def test_webRoot(self):
        folder = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(folder, "sub"))
        with open(os.path.join(folder, "index.html"), "w") as f:
            f.write("<!doctype html><title>mine</title>")
        with open(os.path.join(folder, "sub", "x.txt"), "w") as f:
            f.write("x")
        node = await self.startNode(["--web-root", folder])
        status, _, body = await fetch(node.httpBase + "/")
        self.assertEqual((status, body), (200, b"<!doctype html><title>mine</title>"))
        status, _, body = await fetch(node.httpBase + "/sub/x.txt")
        self.assertEqual((status, body), (200, b"x"))
        # No directory listings.
        status, _, _ = await fetch(node.httpBase + "/sub/")
        self.assertEqual(status, 404)
        status, _, _ = await fetch(node.httpBase + "/app.js")
        self.assertEqual(status, 404)

    async def test_wsPortPlainRequest(self):
        """
        A plain HTTP request to the WebSocket port gets a short 426 naming
        no software or version, and no redirect is followed.
        """
        node = await self.startNode()
        for path in ("/", "/?redirect=http%3A%2F%2Fevil.example%2F", "/ws"):
            status, headers, body = await fetch(f"http://127.0.0.1:{node.wsPort}{path}")
            self.assertEqual(status, 426, path)
            self.assertIsNone(headers.getRawHeaders(b"server"))
            self.assertIsNone(headers.getRawHeaders(b"location"))
            self.assertNotIn(b"utobahn", body)
            self.assertIn(b"WebSocket", body)

    async def test_wsOnHttpPort(self):
        """
        The WebSocket protocol also works on C{/ws} of the HTTP port, and
        its handshake names no server version.
        """
        # Short HTTP read deadlines must not cut a WebSocket on the HTTP port.
        node = await self.startNode(["--http-header-timeout", "1", "--http-body-timeout", "1"])
        alice = ChatClient(reactor, "ws", "127.0.0.1", node.httpPort, httpBase=node.httpBase,
                           wsPath="/ws")
        bob = ChatClient(reactor, "ws", "127.0.0.1", node.wsPort, httpBase=node.httpBase)
        await alice.login("13800000101", LOGIN_CODE)
        await bob.login("13800000102", LOGIN_CODE)
        await withTimeout(alice.start())
        await withTimeout(bob.start())
        self.addCleanup(alice.stop)
        self.addCleanup(bob.stop)
        got = []
        bob.onMessage(got.append)
        sent = await withTimeout(alice.sendText(bob.userId, "over the HTTP port"))
        for _ in range(100):
            if got:
                break
            await withTimeout(bob.sync())
        self.assertEqual([(m.messageUid, m.content.searchableContent) for m in got],
                         [(sent.messageUid, "over the HTTP port")])
        connection = alice.connection
        await sleep(3)
        self.assertIs(alice.connection, connection)
        self.assertEqual(alice.attempt, 0)
        await withTimeout(alice.sendText(bob.userId, "still there"))
        self.assertNotIn("Traceback", node.log())


def _run(argv, cwd, env=None):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


class BundleTests(unittest.TestCase):
    """
    The committed bundle is what the pinned esbuild makes of the sources.
    """

    def test_bundleMatchesSources(self):
        node = shutil.which("node")
        if node is None:
            self.fail("node is not installed (source .ci/tools.sh)")
        if not os.path.isdir(os.path.join(WEB_SOURCES, "node_modules", "esbuild")):
            self.fail("esbuild is not installed: run `npm install` in clients/web "
                      "(.ci/tools.sh does it)")

        def check():
            return _run([node, "build.mjs", "--check"], WEB_SOURCES)
        result = ensureDeferred(_thread(check))

        def verify(done):
            self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
            self.assertIn("matches its sources", done.stdout)
        return result.addCallback(verify)

    def test_checkNoticesADifference(self):
        """
        The check fails when a built file differs from its source (so the
        test above can fail).
        """
        node = shutil.which("node")
        if node is None or not os.path.isdir(os.path.join(WEB_SOURCES, "node_modules", "esbuild")):
            self.fail("node and clients/web/node_modules are needed (source .ci/tools.sh)")
        copy = self.mktemp()
        shutil.copytree(WEB_SOURCES, os.path.join(copy, "clients", "web"), symlinks=True)
        shutil.copytree(os.path.join(ROOT, "clients", "js"), os.path.join(copy, "clients", "js"),
                        ignore=shutil.ignore_patterns("node_modules"))
        shutil.copytree(STATIC, os.path.join(copy, "fxim", "web", "static"))
        with open(os.path.join(copy, "clients", "web", "public", "app.css"), "a") as f:
            f.write("\n/* changed */\n")
        result = _run([node, "build.mjs", "--check"], os.path.join(copy, "clients", "web"))
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("app.css", result.stderr)


async def _thread(f):
    return await deferToThread(f)
