"""
End-to-end tests of the spine against a real C{twistd fxim} process: PING,
WebSocket heartbeat, bad input, unknown subsignals, a third-party plugin.
"""

import json
import os
import socket
import struct

from twisted.trial.unittest import TestCase

from fxim.test import ROOT
from fxim.client import RequestFailed, registerPluginSubsignal
from fxim.errors import ErrorCode
from fxim.test.e2e import NodeTestMixin, sleep
from fxim.wire.frame import Frame, encodeFrame
from fxim.wire.signals import Signal

EXAMPLE_PLUGIN = os.path.join(ROOT, "docs", "examples", "fxim-echo")


def rawExchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """
    Send C{data} on a fresh blocking socket and read until it closes.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


class SpineTests(NodeTestMixin, TestCase):
    """
    The transports and dispatcher of a real node.
    """

    async def test_pingRoundTrip(self):
        """
        A TCP PING gets a PING with the same messageId and the text
        C{ping back next interval <ms>}, before any CONNECT.
        """
        node = await self.startNode()
        conn = await self.openClient(node, "tcp")
        self.assertEqual(await conn.ping(180000), "ping back next interval 180000")

    async def test_garbageClosesOnlyThatConnection(self):
        """
        Wrong magic, a length of 2**31-1 and random bytes each close their
        connection, while another client keeps being served.
        """
        node = await self.startNode()
        other = await self.openClient(node, "tcp")
        badMagic = b"\x00" + encodeFrame(Frame(Signal.PING, 0, 1, b"{}"))[1:]
        huge = struct.pack(">BBBiBH", 0xF8, 2, Signal.PUBLISH, 2 ** 31 - 1, 18, 1)
        for garbage in (badMagic, huge, os.urandom(64)):
            answer = await deferToThreadBlocking(rawExchange, node.tcpPort, garbage)
            self.assertEqual(answer, b"")
        self.assertEqual(await other.ping(60000), "ping back next interval 60000")
        self.assertIn("closing on bad frame", node.log())

    async def test_requestBeforeConnectCloses(self):
        """
        A PUBLISH before CONNECT closes the connection.
        """
        node = await self.startNode()
        data = encodeFrame(Frame(Signal.PUBLISH, 16, 2, b"\x08\x00"))
        self.assertEqual(await deferToThreadBlocking(rawExchange, node.tcpPort, data), b"")

    async def test_unknownSubsignal(self):
        """
        An unknown or server-only subsignal gets PUB_ACK 254 echoing the
        ordinal, on TCP and on WebSocket (content C{""}).
        """
        node = await self.startNode()
        tcp = await self.loginAndConnect(node, "13800000000", "tcp")
        for subsignal in (17, 63, 99):  # MN (server-only), unused, unclaimed plugin
            with self.assertRaises(RequestFailed) as caught:
                await tcp.request(None, subsignal=subsignal, timeout=5)
            self.assertEqual(caught.exception.code, ErrorCode.NOT_IMPLEMENT)
        # On WebSocket subsignals travel by name: a known server-only one
        # (MN) is answered with content "", an unknown name decodes as NONE.
        ws = await self.loginAndConnect(node, "13800000000", "ws")
        with self.assertRaises(RequestFailed) as caught:
            await ws.request(None, subsignal=17, timeout=5)
        self.assertEqual(caught.exception.code, ErrorCode.INVALID_DATA)
        ws.sendText(json.dumps({"signal": "PUBLISH", "subSignal": "BOGUS", "messageId": 9,
                                "content": {}}))
        from fxim.wire.requests import PullMessages
        self.assertEqual((await ws.request(PullMessages(0, 0))).messages, ())

    async def test_wsHeartbeatAndBadJsonIgnored(self):
        """
        The web heartbeat text and broken JSON are ignored: no reply, the
        connection stays up and keeps working.
        """
        node = await self.startNode()
        conn = await self.loginAndConnect(node, "13800000001", "ws")
        conn.heartbeat()
        conn.sendText("{not json")
        conn.sendText(json.dumps({"signal": "NOPE"}))
        await sleep(0.3)
        self.assertFalse(conn.closed.called)
        from fxim.wire.requests import PullMessages
        result = await conn.request(PullMessages(0, 0))
        self.assertEqual(result.messages, ())

    async def test_examplePlugin(self):
        """
        The example third-party plugin's subsignal (64, ECHO) works on TCP
        and WebSocket, and its push reaches the caller's other device.
        """
        registerPluginSubsignal("ECHO", 64)  # the client must know the WS name too
        node = await self.startNode(pythonPath=[EXAMPLE_PLUGIN])
        self.assertIn("acme.echo", node.log())
        tcp = await self.loginAndConnect(node, "13800000002", "tcp")
        ws = await self.loginAndConnect(node, "13800000002", "ws")
        pushes = []
        ws.onPush(pushes.append)
        from fxim.wire.requests import JsonRequest
        reply = await tcp.request(JsonRequest({"hello": "世界"}), subsignal=64)
        self.assertEqual(reply, {"echo": {"hello": "世界"}, "uid": tcp.userId})
        reply = await ws.request(JsonRequest([1, 2]), subsignal=64)
        self.assertEqual(reply, {"echo": [1, 2], "uid": ws.userId})
        await sleep(0.2)
        self.assertEqual(len(pushes), 1)

    async def test_disabledPlugin(self):
        """
        C{--disable-plugin acme.echo} drops the plugin's subsignal: 254.
        """
        node = await self.startNode(["--disable-plugin", "acme.echo"], pythonPath=[EXAMPLE_PLUGIN])
        tcp = await self.loginAndConnect(node, "13800000002", "tcp")
        from fxim.wire.requests import JsonRequest
        with self.assertRaises(RequestFailed) as caught:
            await tcp.request(JsonRequest({}), subsignal=64)
        self.assertEqual(caught.exception.code, ErrorCode.NOT_IMPLEMENT)


def deferToThreadBlocking(f, *args):
    from twisted.internet.threads import deferToThread
    return deferToThread(f, *args)


class LimitTests(NodeTestMixin, TestCase):
    """
    Configurable limits are enforced by a real node.
    """

    async def test_requestRate(self):
        """
        Over C{--request-rate}/C{--request-burst} a PUBLISH gets C{OVER_FREQUENCY}
        (OVER_FREQUENCY) and the connection stays usable.
        """
        from twisted.internet.defer import DeferredList
        from fxim.wire.requests import PullMessages
        # A slow refill, so the burst test holds even on a loaded machine.
        node = await self.startNode(["--request-rate", "0.5", "--request-burst", "5"])
        conn = await self.loginAndConnect(node, "13800000005", "tcp")
        results = await DeferredList([conn.request(PullMessages(0, 0)) for _ in range(12)],
                                     consumeErrors=True)
        codes = [None if ok else r.value.code for ok, r in results]
        self.assertEqual(codes.count(None), 5)
        self.assertEqual(set(codes) - {None}, {ErrorCode.OVER_FREQUENCY})
        await sleep(2.2)
        await conn.request(PullMessages(0, 0))

    async def test_maxDevices(self):
        """
        With C{--max-devices 1} a second device of the same user is refused
        (CONNECT_ACK 6), while the same device may reconnect.
        """
        from fxim.wire.signals import SubSignal
        node = await self.startNode(["--max-devices", "1"])
        first = await self.loginAndConnect(node, "13800000006", "tcp", clientId="one")
        with self.assertRaises(RequestFailed) as caught:
            await self.loginAndConnect(node, "13800000006", "ws", clientId="two")
        self.assertEqual(caught.exception.code, SubSignal.CONNECTION_REFUSED_NOT_AUTHORIZED)
        again = await self.loginAndConnect(node, "13800000006", "ws", clientId="one")
        await first.closed
        self.assertFalse(again.closed.called)

    async def test_frameSizeLimit(self):
        """
        A frame longer than C{--max-frame-size} closes the connection.
        """
        node = await self.startNode(["--max-frame-size", "1000"])
        data = encodeFrame(Frame(Signal.PING, 0, 1, b"{" + b" " * 2000 + b"}"))
        self.assertEqual(await deferToThreadBlocking(rawExchange, node.tcpPort, data), b"")
        self.assertIn("over limit 1000", node.log())


def _selfSigned(directory: str) -> str:
    """
    Write a self-signed certificate and key for 127.0.0.1 into one PEM.
    """
    from OpenSSL import crypto as ossl
    key = ossl.PKey()
    key.generate_key(ossl.TYPE_RSA, 2048)
    cert = ossl.X509()
    cert.get_subject().CN = "127.0.0.1"
    cert.set_serial_number(1)
    cert.gmtime_adj_notBefore(0)
    cert.gmtime_adj_notAfter(3600)
    cert.set_issuer(cert.get_subject())
    cert.set_pubkey(key)
    cert.sign(key, "sha256")
    path = os.path.join(directory, "server.pem")
    with open(path, "wb") as f:
        f.write(ossl.dump_privatekey(ossl.FILETYPE_PEM, key))
        f.write(ossl.dump_certificate(ossl.FILETYPE_PEM, cert))
    return path


def _tlsPing(port: int) -> bytes:
    import ssl
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw) as s:
            s.sendall(encodeFrame(Frame(Signal.PING, 0, 7, b'{"interval":60000}')))
            data = b""
            while len(data) < 10 or len(data) < 10 + struct.unpack(">i", data[3:7])[0]:
                data += s.recv(4096)
            return data


class TlsTests(NodeTestMixin, TestCase):
    """
    The binary protocol can listen with TLS (C{ssl:} endpoints).
    """

    async def test_tlsTcp(self):
        """
        A node started with C{--tcp ssl:PORT:privateKey=…:certKey=…} answers
        a PING over TLS.
        """
        import tempfile
        pem = _selfSigned(tempfile.mkdtemp())
        tls = await self.startNode(
            tcpEndpoint="ssl:{port}:interface=127.0.0.1:privateKey=" + pem + ":certKey=" + pem)
        reply = await deferToThreadBlocking(_tlsPing, tls.tcpPort)
        self.assertEqual(reply[2], Signal.PING)
        self.assertEqual(reply[10:], b"ping back next interval 60000")
        self.assertIn("ready", tls.log())
