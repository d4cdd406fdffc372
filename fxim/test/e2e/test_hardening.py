"""
End-to-end tests of the denial-of-service and input hardening against
real C{twistd fxim} processes (docs/security.md): pre-authentication
limits and the CONNECT deadline, HTTP read deadlines and body limits,
connection caps, the file limit, deep JSON, NUL characters, list caps and
pull replies that fit their transport -- on the embedded default and,
where storage is involved, on PostgreSQL + Redis.
"""

import json
import os
import resource
import socket
import struct
import time

from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from fxim.client import RequestFailed
from fxim.errors import ErrorCode
from fxim.model import Conversation, Message, MessageContent
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, ProductionBackend, sleep, withTimeout
from fxim.test.e2e.test_spine import rawExchange
from fxim.wire.requests import PullGroupInfo, PullMessages, PullUsers, SendMessage
from fxim.wire.signals import Signal, SubSignal


def _closedWithin(port: int, data: bytes, seconds: float, trickle: bytes = b"",
                  every: float = 0.5) -> float:
    """
    Send C{data}, then C{trickle} every C{every} seconds, until the server
    closes the connection.

    @return: seconds until it closed, or C{-1} if it stayed open for
        C{seconds}.
    """
    start = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except (ConnectionResetError, ConnectionRefusedError):
        return time.monotonic() - start  # closed during the connect
    with s:
        try:
            s.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
        s.settimeout(every)
        while time.monotonic() - start < seconds:
            try:
                chunk = s.recv(65536)
                if not chunk:
                    return time.monotonic() - start
            except socket.timeout:
                pass
            except (ConnectionResetError, BrokenPipeError):
                return time.monotonic() - start
            if trickle:
                try:
                    s.sendall(trickle)
                except (ConnectionResetError, BrokenPipeError):
                    return time.monotonic() - start
    return -1.0


def _httpHead(port: int, head: bytes, wait: float = 5.0) -> bytes:
    """
    Send only a request's headers and return what the server answers
    before C{wait} seconds (the body is never sent).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(head)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (socket.timeout, ConnectionResetError):
            pass
        return b"".join(chunks)


def _httpPost(port: int, path: str, body: bytes, headers: str = "") -> tuple:
    """
    POST C{body}; return C{(status, body)}.
    """
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{headers}\r\n")
    raw = rawExchange(port, head.encode() + body, timeout=15)
    status = int(raw.split(b" ", 2)[1]) if raw else 0
    return status, raw.partition(b"\r\n\r\n")[2]


def _noTraceback(test, node) -> None:
    log = node.log()
    test.assertNotIn("Traceback", log)
    test.assertNotIn("RecursionError", log)


def text(target: str, body: str, **content) -> SendMessage:
    return SendMessage(Message(Conversation(0, target, 0), "",
                               MessageContent(type=1, searchableContent=body, **content)))


class PreAuthTests(NodeTestMixin, TestCase):
    """
    Before CONNECT is accepted a connection may buffer only small frames
    and has a deadline that no traffic extends.
    """

    async def test_tcpBigFrameHeaderClosesAtOnce(self):
        """
        A TCP frame header announcing 4 MiB before CONNECT closes the
        connection at once: its body is never buffered.
        """
        node = await self.startNode()
        header = struct.pack(">BBBiBH", 0xF8, 2, Signal.CONNECT, 4 * 1024 * 1024 - 1, 0, 1)
        took = await deferToThread(_closedWithin, node.tcpPort, header + b"x" * 65536, 8.0)
        self.assertTrue(0 <= took < 4, took)
        self.assertIn("over limit", node.log())

    async def test_wsBigMessageBeforeConnectCloses(self):
        """
        A 200 KiB WebSocket message before CONNECT closes the connection;
        after CONNECT the same size is accepted (the full limit applies).
        """
        node = await self.startNode()
        conn = await self.openClient(node, "ws")
        conn.sendText("x" * (200 * 1024))
        await withTimeout(conn.closed, 10)
        a = await self.loginAndConnect(node, "13800000101", "ws")
        b = await self.loginAndConnect(node, "13800000102", "tcp")
        ack = await a.request(text(b.userId, "y" * (200 * 1024)))
        self.assertGreater(ack.messageUid, 0)

    async def test_tcpTrickleDoesNotExtendDeadline(self):
        """
        A TCP client trickling bytes without CONNECT is closed at the
        CONNECT deadline, though each byte resets the idle timer.
        """
        node = await self.startNode(["--connect-timeout", "2"])
        header = struct.pack(">BBBiBH", 0xF8, 2, Signal.PING, 1000, 0, 1)
        took = await deferToThread(_closedWithin, node.tcpPort, header, 12.0, b"x", 0.3)
        self.assertTrue(1.5 <= took < 8, took)
        self.assertIn("no CONNECT within", node.log())

    async def test_wsHeartbeatsOnlyAreClosed(self):
        """
        A WebSocket client sending only heartbeats, never CONNECT, is closed
        at the deadline; a client that CONNECTs stays.
        """
        node = await self.startNode(["--connect-timeout", "2"])
        idle = await self.openClient(node, "ws")
        authed = await self.loginAndConnect(node, "13800000103", "ws")
        for _ in range(12):
            if idle.closed.called:
                break
            idle.heartbeat()
            authed.heartbeat()
            await sleep(0.5)
        self.assertTrue(idle.closed.called)
        self.assertFalse(authed.closed.called)


class HttpDeadlineTests(NodeTestMixin, TestCase):
    """
    HTTP headers and bodies must arrive within their deadlines.
    """

    async def test_partialHeadersClosed(self):
        """
        A client trickling header bytes is closed at the header deadline.
        """
        node = await self.startNode(["--http-header-timeout", "2"])
        took = await deferToThread(_closedWithin, node.httpPort,
                                   b"POST /login HTTP/1.1\r\nHost: x\r\n", 12.0, b"X", 0.3)
        self.assertTrue(1.5 <= took < 8, took)

    async def test_slowBodyClosed(self):
        """
        A body trickled far below the minimum rate is closed at the body
        deadline.
        """
        node = await self.startNode(["--http-body-timeout", "2", "--http-body-min-rate", "100000"])
        head = (b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n")
        took = await deferToThread(_closedWithin, node.httpPort, head, 12.0, b" ", 0.3)
        self.assertTrue(1.5 <= took < 8, took)


class ConnectionCapTests(NodeTestMixin, TestCase):
    """
    Connection caps apply to every listener together.
    """

    async def test_perIpCap(self):
        """
        Over the per-IP cap a new connection (TCP, WS or HTTP) is closed at
        once; below it again, one is accepted.
        """
        node = await self.startNode(["--max-connections-per-ip", "3"])
        await sleep(1)  # the readiness probes' connections must be gone
        held = [socket.create_connection(("127.0.0.1", port))
                for port in (node.tcpPort, node.wsPort, node.httpPort)]
        try:
            await sleep(0.5)
            for port in (node.tcpPort, node.wsPort, node.httpPort):
                took = await deferToThread(_closedWithin, port, b"", 5.0)
                self.assertTrue(0 <= took < 2, (port, took))
            held.pop().close()
            await sleep(0.5)
            conn = await self.openClient(node, "tcp")
            self.assertEqual(await conn.ping(60000), "ping back next interval 60000")
        finally:
            for s in held:
                s.close()
        self.assertIn("over the per-IP cap", node.log())

    async def test_totalCap(self):
        """
        Over the total cap a new connection is closed at once.
        """
        node = await self.startNode(["--max-connections", "2", "--max-connections-per-ip", "0"])
        await sleep(1)  # the readiness probes' connections must be gone
        held = [socket.create_connection(("127.0.0.1", node.tcpPort)) for _ in range(2)]
        try:
            await sleep(0.5)
            took = await deferToThread(_closedWithin, node.wsPort, b"", 5.0)
            self.assertTrue(0 <= took < 2, took)
        finally:
            for s in held:
                s.close()
        self.assertIn("over the total cap", node.log())

    async def test_fileLimitRaised(self):
        """
        A node started with a low soft file limit raises it to the hard
        limit.
        """
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard <= 512:
            raise self.skipTest("hard file limit too low to test")
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))
        try:
            node = await self.startNode()
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        with open(f"/proc/{node.pid}/limits") as f:
            line = next(line for line in f if line.startswith("Max open files"))
        self.assertGreater(int(line.split()[3]), 512, line)


class HttpBodyLimitTests(NodeTestMixin, TestCase):
    """
    Bodies over a route's limit are refused before they are read.
    """

    async def test_loginRefusedByContentLength(self):
        """
        C{/login} announcing a 1 GiB body gets 413 at once, before any body
        byte is sent.
        """
        node = await self.startNode()
        answer = await deferToThread(_httpHead, node.httpPort, (
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\n\r\n"))
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer[:80])
        self.assertIn(b"too large", answer)

    async def test_mediaPutWithoutGrantRefusedBeforeBody(self):
        """
        A 1 GiB PUT to C{/media} without a grant gets 403 at once.
        """
        node = await self.startNode()
        answer = await deferToThread(_httpHead, node.httpPort, (
            b"PUT /media/image/somekey.jpg HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 1073741824\r\n\r\n"))
        self.assertTrue(answer.startswith(b"HTTP/1.1 403 "), answer[:80])

    async def test_chunkedBodyRefusedWhileReading(self):
        """
        A chunked body to C{/send_code} is refused (413) once it passes the
        route's limit.
        """
        node = await self.startNode()

        def send():
            with socket.create_connection(("127.0.0.1", node.httpPort), timeout=10) as s:
                s.sendall(b"POST /send_code HTTP/1.1\r\nHost: x\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n")
                chunk = b"%x\r\n%s\r\n" % (32768, b" " * 32768)
                try:
                    for _ in range(8):
                        s.sendall(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                try:
                    return s.recv(65536)
                except (socket.timeout, ConnectionResetError):
                    return b""
        answer = await deferToThread(send)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer[:80])


class DeepJsonTests(NodeTestMixin, TestCase):
    """
    Deeply nested JSON is a clear error, never a RecursionError.
    """

    async def test_loginSendCodeAdmin(self):
        """
        C{[} x 60,000 to C{/login} and C{/send_code} is RestCode 1; to the
        admin API HTTP 400; nothing in the log is a traceback.
        """
        secret = os.path.abspath(self.mktemp())
        with open(secret, "w") as f:
            f.write("s3cret-admin-token")
        node = await self.startNode(["--admin-secret-file", secret])
        deep = b"[" * 60000
        for path in ("/login", "/send_code"):
            status, body = await deferToThread(_httpPost, node.httpPort, path, deep)
            self.assertEqual((status, json.loads(body)["code"]), (200, 1), body)
        status, body = await deferToThread(
            _httpPost, node.httpPort, "/admin/users", deep,
            "Authorization: Bearer s3cret-admin-token\r\n")
        self.assertEqual(status, 400, body)
        _noTraceback(self, node)

    async def test_wsEnvelope(self):
        """
        Deep nesting in a WebSocket envelope or in its content is dropped
        or refused; the connection keeps working.
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000104", "ws")
        a.sendText("[" * 60000)
        a.sendText(json.dumps({"signal": "PUBLISH", "subSignal": "MS", "messageId": 7,
                               "content": "[" * 900 + "]" * 900}))
        deep = {"x": 1}
        for _ in range(500):
            deep = {"x": deep}
        a.sendText(json.dumps({"signal": "PUBLISH", "subSignal": "MS", "messageId": 8,
                               "content": deep}))
        self.assertEqual((await a.request(PullMessages(0, 0))).messages, ())
        _noTraceback(self, node)


class NulMixin:
    """
    A NUL in any client string is refused the same way on every backend.
    """

    async def test_connectUserName(self):
        """
        CONNECT with a NUL in C{userName} or C{clientIdentifier} is refused
        with CONNECT_ACK 3 (identifier rejected), not 4 (server error).
        """
        node = await self.startNode()
        for transport in ("tcp", "ws"):
            conn = await self.openClient(node, transport)
            failure = await self.assertFailure(
                ensureDeferred(conn.connectWithPassword("u\x00ser", "cGFzcw==", "dev\x00ice")),
                RequestFailed)
            self.assertEqual(failure.code, SubSignal.CONNECTION_REFUSED_IDENTIFIER_REJECTED)
        _noTraceback(self, node)

    async def test_loginClientId(self):
        """
        C{/login} with a NUL in C{clientId} or C{mobile} is RestCode 1.
        """
        node = await self.startNode()
        for body in ({"mobile": "13800000105", "code": LOGIN_CODE, "clientId": "a\x00b"},
                     {"mobile": "1380000\x000105", "code": LOGIN_CODE, "clientId": "ab"}):
            status, answer = await deferToThread(_httpPost, node.httpPort, "/login",
                                                 json.dumps(body).encode())
            self.assertEqual((status, json.loads(answer)["code"]), (200, 1), answer)
        _noTraceback(self, node)

    async def test_requests(self):
        """
        An MS, UPUI or GPGI with a NUL in a string gets INVALID_DATA (2) on
        both transports, and the connection keeps working.
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000106", "tcp")
        b = await self.loginAndConnect(node, "13800000107", "ws")
        for conn, other in ((a, b), (b, a)):
            for request in (text(other.userId, "nul\x00here"), text("x\x00y", "target"),
                            PullUsers((("u\x00", 0),)), PullGroupInfo(("g\x00",))):
                failure = await self.assertFailure(conn.request(request), RequestFailed)
                self.assertEqual(failure.code, ErrorCode.INVALID_DATA, request)
            self.assertGreater((await conn.request(text(other.userId, "clean"))).messageUid, 0)
        _noTraceback(self, node)


class NulEmbeddedTests(NulMixin, NodeTestMixin, TestCase):
    pass


class NulProductionTests(NulMixin, ProductionBackend, TestCase):
    pass


class ListCapMixin:
    """
    Requests naming too many ids get INVALID_PARAMETER.
    """

    async def test_upuiAndGpgi(self):
        """
        UPUI and GPGI with more ids than C{--max-request-ids} (default
        2000) get 251 on both transports; at the cap they are answered.
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000108", "tcp")
        b = await self.loginAndConnect(node, "13800000109", "ws")
        for conn in (a, b):
            for request in (PullUsers(tuple((str(i), 0) for i in range(2001))),
                            PullGroupInfo(tuple(str(i) for i in range(2001)))):
                failure = await self.assertFailure(conn.request(request), RequestFailed)
                # WebSocket data replies carry no code: "" is a failure.
                if conn is a:
                    self.assertEqual(failure.code, ErrorCode.INVALID_PARAMETER)
            await conn.request(PullUsers(tuple((str(i), 0) for i in range(2000))))
        _noTraceback(self, node)


class ListCapEmbeddedTests(ListCapMixin, NodeTestMixin, TestCase):
    pass


class ListCapProductionTests(ListCapMixin, ProductionBackend, TestCase):
    pass


class PullFitsMixin:
    """
    A pull reply fits the transport that carries it, and nothing is lost.
    """

    async def test_manySmallMessagesOverWs(self):
        """
        With a 64 KiB WebSocket limit, 600 short messages (well under the
        stored-bytes cap, far over the limit as JSON) are pulled in capped
        replies, each followed by an MN, until every one arrived.
        """
        node = await self.startNode(["--max-ws-payload", "65536", "--request-rate", "0"])
        a = await self.loginAndConnect(node, "13800000110", "tcp")
        b = await self.loginAndConnect(node, "13800000111", "ws")
        mns = []
        b.onPush(mns.append)
        for i in range(600):
            await a.request(text(b.userId, f"m{i:04d}"))
        got, after, replies = [], 0, 0
        while True:
            result = await b.request(PullMessages(after, 0))
            replies += 1
            got.extend(m.content.searchableContent for m in result.messages)
            if result.current >= result.head:
                break
            self.assertTrue(result.messages)
            after = result.current
        self.assertEqual(got, [f"m{i:04d}" for i in range(600)])
        self.assertGreater(replies, 2)
        await sleep(0.5)
        self.assertTrue(any(getattr(p, "head", None) for p in mns))
        self.assertNotIn("PayloadExceededError", node.log())

    async def test_hugeMessageStillArrives(self):
        """
        One stored message bigger than the WebSocket limit on its own is
        still pulled (alone), and a transparent push that big is delivered.
        """
        node = await self.startNode(["--max-ws-payload", "65536", "--request-rate", "0"])
        a = await self.loginAndConnect(node, "13800000112", "tcp")
        b = await self.loginAndConnect(node, "13800000113", "ws")
        pushes = []
        b.onPush(pushes.append)
        await a.request(text(b.userId, "big", data=b"\x01" * 100000))
        await a.request(text(b.userId, "after"))
        first = await b.request(PullMessages(0, 0))
        self.assertEqual([m.content.searchableContent for m in first.messages], ["big"])
        self.assertEqual(len(first.messages[0].content.data), 100000)
        second = await b.request(PullMessages(first.current, 0))
        self.assertEqual([m.content.searchableContent for m in second.messages], ["after"])
        await a.request(SendMessage(Message(Conversation(0, b.userId, 0), "", MessageContent(
            type=403, content="call", data=b"\x02" * 100000))))
        for _ in range(40):
            if any(getattr(p, "message", None) is not None for p in pushes):
                break
            await sleep(0.25)
        [push] = [p for p in pushes if getattr(p, "message", None) is not None]
        self.assertEqual(len(push.message.content.data), 100000)
        self.assertNotIn("PayloadExceededError", node.log())

    async def test_tcpPullCountsEncodedBytes(self):
        """
        On TCP the cap counts the encoded reply: 600 messages with a 16 KiB
        C{--pull-max-bytes} come in several replies, none over the cap.
        """
        node = await self.startNode(["--pull-max-bytes", "16384", "--request-rate", "0"])
        a = await self.loginAndConnect(node, "13800000114", "ws")
        b = await self.loginAndConnect(node, "13800000115", "tcp")
        for i in range(600):
            await a.request(text(b.userId, f"t{i:04d}"))
        got, after = [], 0
        from fxim.wire.codecs_convert import pullResultPb
        while True:
            result = await b.request(PullMessages(after, 0))
            self.assertLessEqual(len(pullResultPb(result.messages, result.current,
                                                  result.head)) + 11, 16384)
            got.extend(m.content.searchableContent for m in result.messages)
            if result.current >= result.head:
                break
            after = result.current
        self.assertEqual(len(got), 600)


class PullFitsEmbeddedTests(PullFitsMixin, NodeTestMixin, TestCase):
    pass


class PullFitsProductionTests(PullFitsMixin, ProductionBackend, TestCase):
    pass
