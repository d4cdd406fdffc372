"""
Replay the real clients' captured frames (C{fixtures/}) against a real
C{twistd fxim}: every request of the web client (WebSocket JSON) and of the
Java TCP SDK gets the reply shape that client parses.

Only the credentials are replaced: the captured CONNECT carries a password
for the capture's stand-in server, so the test creates the capture's users
(C{u13800000000}...) through the admin API, mints a token for the captured
device id, and derives the password as that client does -- for the web
client with its bogus "future hour" prefix.
"""

import json
import os
import re
import socket
import struct
import tempfile

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from fxim.test import TEST_DIR
from fxim import crypto
from fxim.client.http import postJson
from fxim.test.e2e import NodeTestMixin, sleep
from fxim.wire.frame import FrameDecoder

FIXTURES = os.path.join(TEST_DIR, "fixtures")
WEB_HOUR = 16356457  # what the web client's aes.js always embeds (69 94 f9 00)
SECRET = "capture-replay-admin-secret"


def webFrames():
    with open(os.path.join(FIXTURES, "web-client-frames.jsonl"), encoding="utf-8") as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return [line["text"] for line in lines if line["dir"] == ">>"]


def tcpFrames():
    frames = []
    with open(os.path.join(FIXTURES, "tcp-client-frames.log"), encoding="utf-8") as f:
        for line in f:
            m = re.match(r">> (\S+)/(\S+) id=\d+ header=([0-9a-f]+) body\(\d+\)=(.*)$", line.rstrip("\n"))
            if m:
                signal, _, header, body = m.groups()
                header = bytes.fromhex(header)
                raw = body.encode("utf-8") if signal in ("CONNECT", "PING") else bytes.fromhex(body)
                frames.append((header, raw))
    return frames


class _Collector(WebSocketClientProtocol):
    def onOpen(self):
        self.factory.received = []
        self.factory.opened.callback(self)

    def onMessage(self, payload, isBinary):
        self.factory.received.append(json.loads(payload.decode("utf-8")))

    def onClose(self, wasClean, code, reason):
        if not self.factory.closed.called:
            self.factory.closed.callback(None)


class CaptureReplayTests(NodeTestMixin, TestCase):
    """
    The captured client frames against a real node.
    """

    async def nodeWithCaptureUsers(self):
        path = os.path.join(tempfile.mkdtemp(), "admin.secret")
        with open(path, "w") as f:
            f.write(SECRET)
        node = await self.startNode(["--admin-secret-file", path])
        auth = {"Authorization": "Bearer " + SECRET}
        for i in range(3):
            answer = await postJson(reactor, node.httpBase + "/admin/users",
                                    {"uid": f"u1380000000{i}", "mobile": f"1380000000{i}"}, auth)
            self.assertIn("uid", json.dumps(answer))
        return node, auth

    async def mint(self, node, auth, userId, clientId):
        answer = await postJson(reactor, node.httpBase + "/admin/tokens",
                                {"uid": userId, "clientId": clientId}, auth)
        return answer["result"]["token"]

    async def test_webClientFrames(self):
        """
        Every captured web-client request gets a PUB_ACK with its messageId
        and subSignal and a JSON-string content the web client can parse;
        the MS ack carries the uid as a string.
        """
        node, auth = await self.nodeWithCaptureUsers()
        frames = webFrames()
        connect = json.loads(frames[0])
        cid = connect["content"]["clientIdentifier"]
        token = await self.mint(node, auth, "u13800000000", cid)
        connect["content"]["password"] = crypto.makePassword(token, 0, hour=WEB_HOUR)
        frames[0] = json.dumps(connect)
        factory = WebSocketClientFactory(f"ws://127.0.0.1:{node.wsPort}/ws", reactor=reactor)
        factory.protocol = _Collector
        factory.opened, factory.closed = Deferred(), Deferred()
        await TCP4ClientEndpoint(reactor, "127.0.0.1", node.wsPort).connect(factory)
        proto = await factory.opened

        async def close():
            proto.sendClose()
            await factory.closed
            await sleep(1.0)  # let autobahn's batched timers run out
        self.addCleanup(close)
        proto.sendMessage(frames[0].encode("utf-8"))
        await sleep(0.5)
        for text in frames[1:]:
            proto.sendMessage(text.encode("utf-8"))
        await sleep(1.5)
        received = factory.received
        self.assertEqual(received[0]["signal"], "CONNECT_ACK")
        self.assertEqual(received[0]["subSignal"], "CONNECTION_ACCEPTED")
        ack = json.loads(received[0]["content"])
        self.assertIsInstance(ack["messageHead"], str)
        acks = {(r["subSignal"], r["messageId"]): r for r in received if r["signal"] == "PUB_ACK"}
        for text in frames[1:]:
            request = json.loads(text)
            reply = acks.get((request["subSignal"], request["messageId"]))
            self.assertIsNotNone(reply, f"no reply to {request['subSignal']} {request['messageId']}")
            self.assertIsInstance(reply["content"], str)
            if request["subSignal"] in ("FP", "FRP", "MP", "UPUI", "US", "MS"):
                self.assertNotEqual(reply["content"], "", request)
                json.loads(reply["content"])
            if request["subSignal"] in ("FAR", "GC"):
                self.assertEqual(json.loads(reply["content"])["code"], 200, request)
        ms = json.loads(acks[("MS", 6)]["content"])
        self.assertIsInstance(ms["messageId"], str)
        first = json.loads(acks[("MP", 3)]["content"])
        self.assertIsInstance(first["head"], str)
        # The capture's MP 7 continues from the stand-in server's seq 1001:
        # here nothing lies beyond it, which is an empty, well-formed answer.
        later = json.loads(acks[("MP", 7)]["content"])
        self.assertEqual(later["messageResponseList"], [])
        search = json.loads(acks[("US", 9)]["content"])
        self.assertEqual([u["uid"] for u in search], ["u13800000002"])

    async def test_tcpClientFrames(self):
        """
        The Java TCP SDK's captured frames (CONNECT, PING, FP, MP, MS),
        byte for byte but for the password, get CONNECT_ACK accepted, the
        PING text, and PUB_ACKs with code 0 (a 17-byte MS ack).
        """
        node, auth = await self.nodeWithCaptureUsers()
        frames = tcpFrames()
        header, body = frames[0]
        connect = json.loads(body)
        token = await self.mint(node, auth, connect["userName"], connect["clientIdentifier"])
        connect["password"] = crypto.makePassword(token, int(reactor.seconds() * 1000))
        body = json.dumps(connect, separators=(",", ":"), sort_keys=True).encode()
        frames[0] = (header[:3] + struct.pack(">i", len(body)) + header[7:], body)
        data = b"".join(h + b for h, b in frames)
        replies = await deferToThread(_exchange, node.tcpPort, data, len(frames))
        kinds = [(f.signal, f.subsignal, f.messageId) for f in replies]
        self.assertIn((7, 1, 0), kinds)  # CONNECT_ACK accepted (PING may come first)
        self.assertLess(kinds.index((7, 1, 0)), kinds.index((10, 18, 4)))
        byId = {(f.signal, f.messageId): f for f in replies}
        self.assertEqual(byId[(3, 1)].body, b"ping back next interval 180000")
        self.assertEqual(byId[(10, 2)].body[:1], b"\x00")  # FP
        self.assertEqual(byId[(10, 3)].body[:1], b"\x00")  # MP
        ms = byId[(10, 4)].body
        self.assertEqual((len(ms), ms[:1]), (17, b"\x00"))
        userId, timestamp = struct.unpack(">qq", ms[1:])
        self.assertTrue(0 < userId < 2 ** 53)


def _exchange(port, data, count, timeout=5.0):
    decoder = FrameDecoder()
    frames = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        while len(frames) < count:
            chunk = s.recv(65536)
            if not chunk:
                break
            frames.extend(decoder.feed(chunk))
    return frames
