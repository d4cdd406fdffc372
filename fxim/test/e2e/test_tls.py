"""
TLS that real clients accept: Python's C{ssl} offering ALPN, headless
Chromium, and fxim's own SDK and CLI, against a real node whose three
ports all listen with C{ssl:}; certificate reload on SIGHUP.
"""

import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile

from OpenSSL import SSL
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from fxim.test import ROOT
from fxim.client import ChatClient, login, openConnection
from fxim.client.tls import ClientTLS
from fxim.test.certificates import makePKI, reissue, sslEndpoint
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, sleep, withTimeout
from fxim.transport.tls import TLSConfigError, selectProtocol, splitDescription, tlsServerEndpoint
from fxim.wire.frame import Frame, encodeFrame
from fxim.wire.signals import Signal

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ALPN = ["h2", "http/1.1"]


def _context(caFile: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=caFile)
    context.set_alpn_protocols(ALPN)
    return context


def _handshake(port: int, caFile: str, send: bytes = b"", until: bytes = b"",
               reading: int = 0) -> dict:
    """
    A verified TLS handshake offering ALPN h2 and http/1.1, then C{send};
    read until C{until} is seen or C{reading} bytes came.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with _context(caFile).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            cert = s.getpeercert()
            assert cert is not None
            alpn, serial, data = s.selected_alpn_protocol(), int(str(cert["serialNumber"]), 16), b""
            if send:
                s.sendall(send)
                while (until and until not in data) or len(data) < reading:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            return dict(alpn=alpn, serial=serial, data=data)


def _tcpPing(port: int, caFile: str) -> dict:
    result = _handshake(port, caFile, encodeFrame(Frame(Signal.PING, 0, 7, b'{"interval":60000}')),
                        reading=10 + len(b"ping back next interval 60000"))
    return result


def _wsUpgrade(port: int, caFile: str) -> dict:
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n").encode()
    return _handshake(port, caFile, request, until=b"\r\n\r\n")


def _httpsGet(port: int, caFile: str, path: str = "/health") -> dict:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    return _handshake(port, caFile, request, until=b"}")


class DescriptionTests(SynchronousTestCase):
    """
    Parsing C{ssl:} descriptions and the ALPN choice.
    """

    def test_split(self):
        """
        Fields split on C{:}, C{key=value} are keywords, C{\\} escapes.
        """
        self.assertEqual(
            splitDescription(r"ssl:443:privateKey=/k\:x.pem:interface=127.0.0.1"),
            (["ssl", "443"], {"privateKey": "/k:x.pem", "interface": "127.0.0.1"}))

    def test_alpnOverlap(self):
        """
        The first acceptable protocol the client offered wins.
        """
        self.assertEqual(selectProtocol([b"h2", b"http/1.1"], (b"http/1.1",)), b"http/1.1")

    def test_alpnNoOverlap(self):
        """
        Without overlap the handshake goes on without ALPN (Twisted 26.10
        answered an empty name, an C{internal error} alert).
        """
        self.assertIs(selectProtocol([b"h2", b"http/1.1"], ()), SSL.NO_OVERLAPPING_PROTOCOLS)

    def test_missingFiles(self):
        """
        A missing key file is a L{TLSConfigError} naming it.
        """
        e = self.assertRaises(TLSConfigError, tlsServerEndpoint, reactor,
                              "ssl:0:privateKey=/nonexistent/key.pem")
        self.assertIn("/nonexistent/key.pem", str(e))

    def test_unknownArgument(self):
        """
        A misspelt argument is refused rather than ignored.
        """
        pki = makePKI(self.mktemp())
        e = self.assertRaises(TLSConfigError, tlsServerEndpoint, reactor,
                              sslEndpoint("0", pki) + ":privatekey=x")
        self.assertIn("privatekey", str(e))


class TlsNodeMixin(NodeTestMixin):
    """
    A node with C{ssl:} on TCP, WebSocket and HTTP, certified by a test CA.
    """

    async def startTlsNode(self, args=()):
        self.pki = makePKI(os.path.abspath(self.mktemp()))
        endpoint = sslEndpoint("{port}", self.pki)
        return await self.startNode(list(args), tcpEndpoint=endpoint, wsEndpoint=endpoint,
                                    httpEndpoint=endpoint)


class AlpnTests(TlsNodeMixin, TestCase):
    """
    Python's C{ssl} offering ALPC C{h2, http/1.1} (as browsers do) gets a
    verified handshake on each port.
    """

    async def test_tcp(self):
        """
        The binary protocol over TLS answers a PING; no ALPN is chosen.
        """
        node = await self.startTlsNode()
        result = await deferToThread(_tcpPing, node.tcpPort, self.pki.caFile)
        self.assertIsNone(result["alpn"])
        self.assertEqual(result["data"][2], Signal.PING)
        self.assertEqual(result["data"][10:], b"ping back next interval 60000")
        self.assertNotIn("SSL error", node.log())

    async def test_wss(self):
        """
        The WebSocket port picks http/1.1 and upgrades.
        """
        node = await self.startTlsNode()
        result = await deferToThread(_wsUpgrade, node.wsPort, self.pki.caFile)
        self.assertEqual(result["alpn"], "http/1.1")
        self.assertTrue(result["data"].startswith(b"HTTP/1.1 101"), result["data"])

    async def test_https(self):
        """
        The HTTP port answers C{/health}.
        """
        node = await self.startTlsNode()
        result = await deferToThread(_httpsGet, node.httpPort, self.pki.caFile)
        self.assertEqual(result["alpn"], "http/1.1")
        self.assertIn(b"200", result["data"].split(b"\r\n")[0])
        self.assertIn(b'"ok"', result["data"])

    async def test_reloadOnSighup(self):
        """
        SIGHUP re-reads the certificate: new connections get the new one,
        and a broken file keeps the old one with one clear log line.
        """
        node = await self.startTlsNode()
        before = await deferToThread(_tcpPing, node.tcpPort, self.pki.caFile)
        self.assertEqual(before["serial"], 1000)
        reissue(self.pki, 2000)
        os.kill(node.pid, signal.SIGHUP)
        await self._waitLog(node, "certificate reloaded")
        for port in (node.tcpPort, node.wsPort, node.httpPort):
            after = await deferToThread(_handshake, port, self.pki.caFile)
            self.assertEqual(after["serial"], 2000)
        with open(self.pki.keyFile, "w") as f:
            f.write("not a key")
        os.kill(node.pid, signal.SIGHUP)
        await self._waitLog(node, "certificate reload failed")
        still = await deferToThread(_tcpPing, node.tcpPort, self.pki.caFile)
        self.assertEqual(still["serial"], 2000)
        self.assertNotIn("Traceback", node.log())

    async def _waitLog(self, node, text: str, timeout: float = 20.0) -> None:
        for _ in range(int(timeout * 10)):
            if text in node.log():
                return
            await sleep(0.1)
        self.fail(f"{text!r} not logged:\n{node.log()[-2000:]}")


class SdkTlsTests(TlsNodeMixin, TestCase):
    """
    The SDK logs in over C{https://} and connects with C{wss://} and TLS
    TCP, trusting a CA file; the CLI does the same with C{--ca-file}.
    """

    async def test_sdk(self):
        """
        Two users on C{ChatClient(tls=ClientTLS(caFile))}, one per
        transport, exchange a message.
        """
        node = await self.startTlsNode()
        tls = ClientTLS(self.pki.caFile)
        alice = ChatClient(reactor, "tcp", "127.0.0.1", node.tcpPort, httpBase=node.httpBase,
                           tls=tls)
        bob = ChatClient(reactor, "ws", "127.0.0.1", node.wsPort, httpBase=node.httpBase, tls=tls)
        await withTimeout(alice.login("13800000001", LOGIN_CODE))
        await withTimeout(bob.login("13800000002", LOGIN_CODE))
        received: list = []
        bob.onMessage(received.append)
        for client in (alice, bob):
            self.addCleanup(client.stop)
            await withTimeout(client.start())
        await withTimeout(alice.sendText(bob.userId, "over TLS"))
        for _ in range(200):
            if received:
                break
            await sleep(0.1)
        self.assertEqual([m.content.searchableContent for m in received], ["over TLS"])

    async def test_untrusted(self):
        """
        Without the CA the platform trust refuses the test certificate.
        """
        node = await self.startTlsNode()
        from twisted.internet.error import ConnectionClosed
        from OpenSSL.SSL import Error
        creds = await withTimeout(login(reactor, node.httpBase, "13800000003", LOGIN_CODE, "d1",
                                        tls=ClientTLS(self.pki.caFile)))
        self.assertTrue(creds.token)
        with self.assertRaises((Error, ConnectionClosed, Exception)):
            conn = await withTimeout(openConnection(reactor, "tcp", "127.0.0.1", node.tcpPort,
                                                    tls=ClientTLS()))
            await withTimeout(conn.connect(creds.userId, creds.token, "d1"))

    async def test_cli(self):
        """
        C{fxim-chat --ca-file CA --server https://… --ws wss://…} and
        C{--tcp tls:HOST:PORT} log in and send.
        """
        node = await self.startTlsNode()
        state = os.path.join(os.path.abspath(self.mktemp()) + "-state", "s.json")
        env = dict(os.environ, PYTHONPATH=ROOT)

        def chat(*args, stateFile=state):
            return subprocess.run(
                ["python3", "-m", "fxim.client", "--state", stateFile, "--timeout", "30"]
                + list(args), env=env, capture_output=True, text=True, timeout=90)

        other = state + ".bob"
        r = await deferToThread(
            chat, "--ca-file", self.pki.caFile, "--server", node.httpBase,
            "--tcp", f"tls:127.0.0.1:{node.tcpPort}", "login", "13800000005", "--code",
            LOGIN_CODE, stateFile=other)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        r = await deferToThread(
            chat, "--ca-file", self.pki.caFile, "--server", node.httpBase,
            "--ws", f"wss://127.0.0.1:{node.wsPort}/ws", "login", "13800000004",
            "--code", LOGIN_CODE)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        r = await deferToThread(chat, "send", "13800000005", "hi over wss")
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        r = await deferToThread(chat, "history", "13800000004", stateFile=other)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertIn("hi over wss", r.stdout)


class _Report(Resource):
    """
    Serves the test page at C{/page} and takes its reports at C{/r?r=…};
    the page comes from a loopback HTTP origin because Chromium blocks a
    C{data:} page's requests to loopback (Private Network Access).
    """

    isLeaf = True

    def __init__(self, page: str) -> None:
        Resource.__init__(self)
        self.page = page
        self.seen: list = []
        self.reports: Deferred = Deferred()

    def render_GET(self, request):
        if request.path == b"/page":
            request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
            return self.page.encode("utf-8")
        if request.path == b"/password":
            # The CONNECT password is an AES construction of the token the
            # web client computes; Python does it here for the page.
            import time
            from fxim import crypto
            token = request.args[b"token"][0].decode()
            return crypto.makePassword(token, int(time.time() * 1000)).encode()
        if request.path != b"/r":
            return b""
        text = request.args.get(b"r", [b""])[0].decode()
        self.seen.append(text)
        if not text.startswith("open") and not self.reports.called:
            self.reports.callback(text)
        return b"ok"


class ChromiumTests(TlsNodeMixin, TestCase):
    """
    Headless Chromium trusting the test certificate by its pinned public
    key (C{--ignore-certificate-errors-spki-list}, not a blanket ignore)
    opens C{wss://} and C{https://}.
    """

    skip = None if os.path.exists(CHROMIUM) else "chromium not installed"

    def _chromium(self, url: str, dumpDom: bool = False) -> subprocess.Popen:
        profile = tempfile.mkdtemp(prefix="fxim-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                f"--ignore-certificate-errors-spki-list={self.pki.spki}"]
        if dumpDom:
            args.append("--dump-dom")
        self.chromiumLog = os.path.join(profile, "..", os.path.basename(profile) + ".log")
        with open(self.chromiumLog, "wb") as log:
            process = subprocess.Popen(args + ["--enable-logging=stderr", url],
                                       stdout=subprocess.PIPE, stderr=log)

        def end():
            if process.poll() is None:
                process.kill()
            process.wait()
            process.stdout.close()
        self.addCleanup(end)
        return process

    async def test_wss(self):
        """
        A page logs in with C{fetch("https://…/login")}, opens
        C{wss://…/ws}, sends CONNECT with the token and reports the
        CONNECT_ACK to a local HTTP server.
        """
        node = await self.startTlsNode()
        report = _Report("")
        port = reactor.listenTCP(0, Site(report), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        base = f"http://127.0.0.1:{port.getHost().port}"
        script = f"""
        function tell(t) {{ new Image().src = "/r?r=" + encodeURIComponent(t); }}
        fetch("{node.httpBase}/login", {{method: "POST",
            headers: {{"Content-Type": "application/json"}},
            body: JSON.stringify({{mobile: "13800000009", code: "{LOGIN_CODE}",
                                   clientId: "browser-1"}})}})
          .then(function (r) {{ return r.json(); }})
          .then(function (login) {{
            tell("open-login:" + login.code);
            return fetch("/password?token=" + encodeURIComponent(login.result.token))
              .then(function (r) {{ return r.text(); }})
              .then(function (password) {{ return [login, password]; }});
          }})
          .then(function (both) {{
            var login = both[0], password = both[1];
            var w = new WebSocket("wss://127.0.0.1:{node.wsPort}/ws");
            w.onopen = function () {{
              w.send(JSON.stringify({{signal: "CONNECT", messageId: 1, content: {{
                userName: login.result.userId, password: password,
                clientIdentifier: "browser-1"}}}}));
            }};
            w.onmessage = function (e) {{ tell("message:" + e.data); }};
            w.onerror = function () {{ tell("error"); }};
            w.onclose = function (e) {{ tell("close:" + e.code); }};
          }})
          .catch(function (e) {{ tell("fetch:" + e); }});
        """
        report.page = f"<!doctype html><title>wss</title><script>{script}</script>"
        self._chromium(base + "/page")
        try:
            answer = await withTimeout(report.reports, 60)
        except Exception:
            with open(self.chromiumLog, errors="replace") as f:
                self.fail(f"no report from chromium (saw {report.seen}); its log:\n"
                          f"{f.read()[-3000:]}\nnode log:\n{node.log()[-3000:]}")
        self.assertIn("open-login:0", report.seen)
        self.assertTrue(answer.startswith("message:"), (answer, report.seen))
        ack = json.loads(answer[len("message:"):])
        self.assertEqual((ack["signal"], ack["subSignal"]), ("CONNECT_ACK", "CONNECTION_ACCEPTED"))

    async def test_https(self):
        """
        Chromium fetches C{https://…/health}.
        """
        node = await self.startTlsNode()
        process = self._chromium(f"{node.httpBase}/health", dumpDom=True)
        out, _ = await deferToThread(process.communicate, None, 90)
        self.assertIn(b'"ok"', out)

