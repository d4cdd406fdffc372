"""
A bounded fuzz run against a live node: hypothesis-generated TCP frames
and WebSocket envelopes, sent before and after an accepted CONNECT, for a
fixed time (C{FXIM_FUZZ_SECONDS}, default 12 s per transport and backend).

It asserts what docs/security.md promises for hostile input: no reply is
a SERVER_ERROR (PUB_ACK code 4, CONNECT_ACK 4), the node keeps answering,
and its log holds no traceback.
"""

import base64
import json
import os
import socket
import struct
import time
import typing
import urllib.request
import uuid

import attr
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from fxim import crypto
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, ProductionBackend
from fxim.test.mixin import TestCaseMixin
from fxim.wire import requests as rq
from fxim.protocol.client import CLIENT
from fxim.wire.frame import HEADER, Frame, FrameDecoder, encodeFrame
from fxim.wire.signals import Signal, SubSignal

SECONDS = float(os.environ.get("FXIM_FUZZ_SECONDS", "12"))

_ROUND = settings(max_examples=25, derandomize=False, database=None, deadline=None,
                  phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))

# -- strategies ---------------------------------------------------------------

_strings = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "a\x00b", "\ud7ff", "💥" * 5, "9" * 30, "-1", "null"]),
)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2 ** 70), 2 ** 70),
                     st.floats(allow_nan=False), _strings)
_json = st.recursive(_scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=5), st.dictionaries(_strings, kids, max_size=5)), max_leaves=30)


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


_contents = st.one_of(
    _json,
    st.integers(0, 3000).map(_deep),
    st.builds(json.dumps, _json),
    st.dictionaries(st.sampled_from([
        "userName", "password", "clientIdentifier", "target", "conversationType", "content",
        "messageId", "type", "pullType", "version", "keyword", "groupId", "memberIds", "uid",
        "mobile", "tos", "to", "searchableContent", "data", "line", "status"]), _json, max_size=8),
)
def _forType(hint):
    """
    A strategy for a field type of the typed requests and the model,
    with hostile strings (NULs, long digits) for every C{str}.
    """
    origin = typing.get_origin(hint)
    if hint is str:
        return _strings
    if hint is int:
        return st.one_of(st.integers(0, 5), st.integers(-(2 ** 31), 2 ** 31 - 1),
                         st.integers(0, 2 ** 53))
    if hint is bytes:
        return st.binary(max_size=40)
    if origin is typing.Union:
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return st.one_of(st.none(), *[_forType(a) for a in inner])
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(_forType(args[0]), max_size=4).map(tuple)
        return st.tuples(*[_forType(a) for a in args])
    if attr.has(hint):
        return _forAttrs(hint)
    return st.nothing()


def _forAttrs(cls):
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: _forType(hints[f.name]) for f in attr.fields(cls)})


_REQUEST_TYPES = [
    rq.SendMessage, rq.PullMessages, rq.RecallMessage, rq.LoadHistory, rq.SearchUsers,
    rq.PullUsers, rq.ModifyMyInfo, rq.AddFriend, rq.SetFriendAlias, rq.HandleFriendRequest,
    rq.PullFriendRequests, rq.PullFriends, rq.CreateGroup, rq.PullGroupInfo,
    rq.PullGroupMembers, rq.AddGroupMembers, rq.KickGroupMembers, rq.QuitGroup,
    rq.ModifyGroupInfo, rq.GetUploadToken, rq.GetUploadUrl,
]
_typed = st.one_of(*[_forAttrs(cls) for cls in _REQUEST_TYPES])


def _encodedOrNone(encode, request, messageId):
    try:
        return encode(request, messageId)
    except Exception:
        return None  # the client codec refuses it (e.g. an int out of range)


#: Well-formed requests with hostile values, as TCP frames and WS texts.
_typedFrames = st.builds(_encodedOrNone, st.just(CLIENT.encodeRequestFrame), _typed,
                         st.integers(1, 0xFFFF)).filter(bool)
_typedEnvelopes = st.builds(_encodedOrNone, st.just(CLIENT.encodeRequestEnvelope), _typed,
                            st.integers(1, 0xFFFF)).filter(bool)

_signalNames = st.sampled_from([s.name for s in Signal] + ["BOGUS", ""])
_subNames = st.sampled_from([s.name for s in SubSignal] + ["ECHO", "BOGUS"])
_envelopes = st.one_of(
    _typedEnvelopes, _typedEnvelopes,
    st.fixed_dictionaries({"signal": _signalNames, "subSignal": _subNames,
                           "messageId": st.one_of(st.integers(-5, 2 ** 40), _strings),
                           "content": _contents}).map(json.dumps),
    st.text(max_size=200),
    st.integers(0, 5000).map(_deep),
)
_bodies = st.one_of(st.binary(max_size=300), _json.map(lambda v: json.dumps(v).encode()),
                    st.integers(0, 3000).map(lambda n: _deep(n).encode()))
_frames = st.lists(st.one_of(
    _typedFrames, _typedFrames,
    st.builds(lambda sig, sub, mid, body: encodeFrame(Frame(sig, sub, mid, body)),
              st.integers(1, len(Signal) - 1), st.integers(0, 127), st.integers(0, 0xFFFF),
              _bodies),
    st.binary(max_size=64),
    st.builds(lambda sig, sub, n: HEADER.pack(0xF8, 2, sig, n, sub, 1),
              st.integers(0, 127), st.integers(0, 127), st.integers(-10, 2 ** 31 - 1)),
), min_size=1, max_size=4)


# -- blocking clients -----------------------------------------------------------


def _readFor(sock: socket.socket, seconds: float) -> bytes:
    sock.settimeout(0.05)
    end = time.monotonic() + seconds
    chunks = []
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


class _Account:
    """
    The fuzzing device's login; renewed when a fuzzed DISCONNECT with
    clearSession (or a revocation) ended its session.
    """

    def __init__(self, httpBase: str) -> None:
        self.httpBase = httpBase
        self.renew()

    def renew(self) -> None:
        self.clientId = f"fuzz-{uuid.uuid4().hex[:8]}"
        request = urllib.request.Request(
            self.httpBase + "/login", data=json.dumps({
                "mobile": "13800000900", "code": LOGIN_CODE, "clientId": self.clientId,
            }).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            result = json.loads(answer.read())["result"]
        self.userId, self.token = result["userId"], result["token"]

    def connectBody(self) -> dict:
        return {"userName": self.userId, "clientIdentifier": self.clientId,
                "password": crypto.makePassword(self.token, int(time.time() * 1000))}


def _tcpConnect(port: int, creds: _Account, retry: bool = True) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    body = json.dumps(creds.connectBody()).encode()
    sock.sendall(encodeFrame(Frame(Signal.CONNECT, 0, 0, body)))
    decoder = FrameDecoder()
    sock.settimeout(5)
    while True:
        chunk = sock.recv(65536)
        assert chunk, "closed before CONNECT_ACK"
        frames = decoder.feed(chunk)
        if frames:
            assert frames[0].signal == Signal.CONNECT_ACK, frames
            if frames[0].subsignal == 1:
                return sock
            assert frames[0].subsignal != 4, frames
            assert retry, frames
            sock.close()
            creds.renew()
            return _tcpConnect(port, creds, False)


def _checkTcpReplies(data: bytes) -> None:
    decoder = FrameDecoder(2 ** 31 - 1)
    for frame in decoder.feed(data):
        if frame.signal == Signal.PUB_ACK:
            assert not frame.body or frame.body[0] != 4, f"SERVER_ERROR reply {frame!r}"
        if frame.signal == Signal.CONNECT_ACK:
            assert frame.subsignal != 4, f"CONNECT_ACK 4 {frame!r}"


class _WsClient:
    """
    The smallest blocking WebSocket client: handshake, masked text frames
    out, and the text of unmasked frames in.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16))
        self.sock.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                          b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                          b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(4096)
            assert chunk, "handshake refused"
            data += chunk
        assert data.startswith(b"HTTP/1.1 101"), data[:80]
        self.buffer = data.partition(b"\r\n\r\n")[2]

    def send(self, text: str) -> None:
        payload = text.encode("utf-8", "surrogatepass")
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack(">BB", 0x81, 0x80 | n)
        elif n < 65536:
            head = struct.pack(">BBH", 0x81, 0x80 | 126, n)
        else:
            head = struct.pack(">BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        try:
            self.sock.sendall(head + mask + masked)
        except OSError:
            pass

    def texts(self, seconds: float) -> list:
        self.buffer += _readFor(self.sock, seconds)
        out, buf = [], self.buffer
        while len(buf) >= 2:
            opcode, n = buf[0] & 0x0F, buf[1] & 0x7F
            offset = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, offset = struct.unpack(">H", buf[2:4])[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, offset = struct.unpack(">Q", buf[2:10])[0], 10
            if len(buf) < offset + n:
                break
            if opcode == 1:
                out.append(buf[offset:offset + n].decode("utf-8"))
            buf = buf[offset + n:]
        self.buffer = buf
        return out

    def close(self) -> None:
        self.sock.close()


def _wsConnect(port: int, creds: _Account, retry: bool = True) -> _WsClient:
    client = _WsClient(port)
    client.send(json.dumps({"signal": "CONNECT", "messageId": 1,
                            "content": creds.connectBody()}))
    end = time.monotonic() + 5
    while time.monotonic() < end:
        for text in client.texts(0.1):
            if json.loads(text).get("signal") == "CONNECT_ACK":
                sub = json.loads(text)["subSignal"]
                if sub == "CONNECTION_ACCEPTED":
                    return client
                assert sub != "CONNECTION_REFUSED_SERVER_UNAVAILABLE" and retry, text
                client.close()
                creds.renew()
                return _wsConnect(port, creds, False)
    raise AssertionError("no CONNECT_ACK")


def _checkWsReplies(texts: list) -> None:
    for text in texts:
        envelope = json.loads(text)
        if envelope.get("signal") == "CONNECT_ACK":
            assert envelope.get("subSignal") != "CONNECTION_REFUSED_SERVER_UNAVAILABLE", text


# -- the runs -----------------------------------------------------------------


def _fuzzTcp(port: int, creds, seconds: float) -> int:
    end = time.monotonic() + seconds
    sent = [0]

    @_ROUND
    @given(frames=_frames, authenticate=st.booleans())
    def one(frames, authenticate):
        sock = _tcpConnect(port, creds) if authenticate else socket.create_connection(
            ("127.0.0.1", port), timeout=5)
        with sock:
            for data in frames:
                try:
                    sock.sendall(data)
                except OSError:
                    break
            sent[0] += len(frames)
            _checkTcpReplies(_readFor(sock, 0.15))

    n = 0
    while time.monotonic() < end:
        seed(n)(one)()
        n += 1
    return sent[0]


def _fuzzWs(port: int, creds, seconds: float) -> int:
    end = time.monotonic() + seconds
    sent = [0]

    @_ROUND
    @given(envelopes=st.lists(_envelopes, min_size=1, max_size=4), authenticate=st.booleans())
    def one(envelopes, authenticate):
        client = _wsConnect(port, creds) if authenticate else _WsClient(port)
        try:
            for text in envelopes:
                client.send(text)
            sent[0] += len(envelopes)
            _checkWsReplies(client.texts(0.15))
        finally:
            client.close()

    n = 0
    while time.monotonic() < end:
        seed(n)(one)()
        n += 1
    return sent[0]


class FuzzMixin(TestCaseMixin):
    """
    Hostile input against a live node, per backend.
    """

    async def _node(self):
        node = await self.startNode(["--request-rate", "0", "--max-connections-per-ip", "0"])
        creds = await deferToThread(_Account, node.httpBase)
        return node, creds

    def _assertCleanLog(self, node) -> None:
        log = node.log()
        self.assertNotIn("Traceback", log)
        self.assertNotIn("handler failed", log)
        self.assertNotIn("Unhandled", log)

    async def test_tcpFrames(self):
        """
        Generated TCP frames, with and without a CONNECT first: no code 4,
        no traceback.
        """
        node, creds = await self._node()
        sent = await deferToThread(_fuzzTcp, node.tcpPort, creds, SECONDS)
        self.assertGreater(sent, 0)
        self._assertCleanLog(node)

    async def test_wsEnvelopes(self):
        """
        Generated WebSocket envelopes, with and without a CONNECT first: no
        refusal as server error, no traceback.
        """
        node, creds = await self._node()
        sent = await deferToThread(_fuzzWs, node.wsPort, creds, SECONDS)
        self.assertGreater(sent, 0)
        self._assertCleanLog(node)


class FuzzEmbeddedTests(FuzzMixin, NodeTestMixin, TestCase):
    pass


class FuzzProductionTests(FuzzMixin, ProductionBackend, TestCase):
    pass
