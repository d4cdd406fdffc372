"""
Starting, stopping and health against real processes: failed starts exit
non-zero with one line; C{/ready} follows a real PostgreSQL and a real
Redis outage (the test's own servers, stopped and started again); an
outage is logged once per interval, not per request; SIGTERM in Redis
mode stops cleanly; the version is shown.
"""

import json
import os
import signal
import socket
import subprocess
import sys

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fxim.test import ROOT, TEST_DIR
from fxim.client import ChatClient
from fxim.health import OutageLog, outageKind, redactUrl
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, sleep, withTimeout
from fxim.test.ownservices import SKIP_PG, SKIP_REDIS, OwnPostgres, OwnRedis
from fxim.testing import ServerProcess, freePort
from fxim import __version__


def _get(url: str):
    import urllib.request
    import urllib.error
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


class _Clock:
    def __init__(self):
        self.now = 0.0

    def seconds(self):
        return self.now


class _Log:
    def __init__(self):
        self.lines = []

    def error(self, fmt, **kw):
        self.lines.append(("error", fmt.format(**kw)))

    def info(self, fmt, **kw):
        self.lines.append(("info", fmt.format(**kw)))


class OutageLogTests(SynchronousTestCase):
    """
    L{OutageLog}: one line when an outage starts, one per interval, one at
    the end.
    """

    def test_oncePerInterval(self):
        clock, log = _Clock(), _Log()
        outages = OutageLog(clock, interval=10, log=log)
        for i in range(1000):
            clock.now = i * 0.025  # 25 s of failures, 40 per second
            outages.failed("database", OSError("connection refused"))
        self.assertEqual(len(log.lines), 3)
        self.assertIn("database unavailable", log.lines[0][1])
        self.assertIn("still unavailable", log.lines[1][1])
        outages.recovered("database")
        self.assertIn("available again", log.lines[-1][1])
        self.assertEqual(outages.counts["database"], 1000)

    def test_kinds(self):
        import sqlite3
        import psycopg2
        self.assertEqual(outageKind(psycopg2.OperationalError("x")), "database")
        self.assertEqual(outageKind(sqlite3.OperationalError("database or disk is full")),
                         "disk")
        self.assertIsNone(outageKind(ValueError("bug")))
        from fxim.storage.pgasync import Interrupted
        self.assertEqual(outageKind(Interrupted("server closed the connection")), "database")

    def test_redact(self):
        self.assertEqual(redactUrl("postgresql://fxim:pw@h:5/db"), "postgresql://fxim:***@h:5/db")
        self.assertEqual(redactUrl("redis://h:6379/0"), "redis://h:6379/0")


class FailedStartTests(NodeTestMixin, TestCase):
    """
    A start that cannot succeed exits with status 1 and one line.
    """

    async def _failedStart(self, args, **kwargs):
        node = ServerProcess(reactor, args, **kwargs)
        self.addCleanup(node.cleanup)
        with self.assertRaises(RuntimeError):
            # No retry on new ports: the failure is the point.
            await node.start(retries=0)
        code = await withTimeout(node.exitCode(), 30)
        log = node.log()
        self.assertEqual(code, 1, log)
        self.assertNotIn("Traceback", log)
        lines = [line for line in log.splitlines() if "fxim failed to start" in line]
        self.assertEqual(len(lines), 1, log)
        return lines[0], log

    async def test_portInUse(self):
        """
        A port in use: the line names the option and the endpoint.
        """
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        self.addCleanup(busy.close)
        port = busy.getsockname()[1]
        line, _ = await self._failedStart([], httpEndpoint=f"tcp:{port}:interface=127.0.0.1")
        self.assertIn(f"cannot listen for --http on tcp:{port}", line)
        self.assertIn("Address already in use", line)

    async def test_redisDown(self):
        """
        Nothing listens on the Redis port.
        """
        url = f"redis://127.0.0.1:{freePort()}/0"
        line, _ = await self._failedStart(["--redis", url])
        self.assertIn(f"cannot connect to Redis at {url}", line)

    async def test_wrongPostgresPassword(self):
        """
        A wrong password: the line says so and never shows the password.
        """
        if SKIP_PG:
            raise self.skipTest(SKIP_PG)
        pg = await deferToThread(OwnPostgres)
        self.addCleanup(deferToThread, pg.destroy)
        line, log = await self._failedStart(["--database", pg.dsn("wrong-pw")])
        self.assertIn("cannot connect to PostgreSQL at postgresql://fxim:***@", line)
        self.assertIn("password authentication failed", line)
        self.assertNotIn("wrong-pw", log)

    async def test_badCertificate(self):
        """
        An unreadable key file of an C{ssl:} endpoint.
        """
        line, _ = await self._failedStart(
            [], wsEndpoint="ssl:{port}:interface=127.0.0.1:privateKey=/nonexistent.pem")
        self.assertIn("/nonexistent.pem", line)


class VersionTests(NodeTestMixin, TestCase):
    """
    C{twistd fxim --version} and the start-up log show fxim's version.
    """

    async def test_version(self):
        root = ROOT
        out = await deferToThread(subprocess.run, [
            sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "fxim",
            "--version"], capture_output=True, text=True, timeout=60,
            env=dict(os.environ, PYTHONPATH=root))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(f"fxim {__version__} (Twisted ", out.stdout)
        node = await self.startNode()
        self.assertIn(f"fxim {__version__} (Twisted", node.log())


class OutageTests(NodeTestMixin, TestCase):
    """
    A node on the test's own PostgreSQL and Redis, which the test stops.
    """

    skip = SKIP_PG or SKIP_REDIS
    timeout = 300

    async def setUp(self):
        self.pg = await deferToThread(OwnPostgres)
        self.addCleanup(deferToThread, self.pg.destroy)
        self.redis = await deferToThread(OwnRedis)
        self.addCleanup(deferToThread, self.redis.destroy)
        self.node = await self.startNode(["--database", self.pg.dsn(), "--redis", self.redis.url])

    async def _ready(self):
        return await deferToThread(_get, self.node.httpBase + "/ready")

    async def _client(self, mobile):
        client = ChatClient(reactor, "tcp", "127.0.0.1", self.node.tcpPort,
                            httpBase=self.node.httpBase, requestTimeout=5)
        await withTimeout(client.login(mobile, LOGIN_CODE))
        self.addCleanup(client.stop)
        await withTimeout(client.start())
        return client

    async def _waitReady(self, expected, timeout=60):
        for _ in range(timeout * 2):
            status, body = await self._ready()
            if status == expected:
                return body
            await sleep(0.5)
        self.fail(f"/ready never answered {expected}: {status} {body}")

    async def test_databaseOutage(self):
        """
        PostgreSQL stopped: C{/ready} answers 503 naming the database
        while C{/health} stays 200; sends fail with code 4 and the log has
        one outage line, no traceback; restarted: 200 again and sends work.
        """
        status, body = await self._ready()
        self.assertEqual((status, body["checks"]), (200, {"database": "ok", "redis": "ok"}))
        alice = await self._client("13900000001")
        bob = await self._client("13900000002")
        await withTimeout(alice.sendText(bob.userId, "before"))
        await deferToThread(self.pg.stop)
        body = await self._waitReady(503)
        self.assertTrue(body["checks"]["database"].startswith("error"), body)
        self.assertEqual(body["checks"]["redis"], "ok")
        self.assertEqual((await deferToThread(_get, self.node.httpBase + "/health"))[0], 200)
        failures = 0
        for i in range(20):
            try:
                await withTimeout(alice.sendText(bob.userId, f"during {i}"), 15)
            except Exception:
                failures += 1
        self.assertGreater(failures, 0)
        log = self.node.log()
        self.assertNotIn("Traceback", log)
        self.assertEqual(log.count("database unavailable"), 1, log[-3000:])
        await deferToThread(self.pg.start)
        await self._waitReady(200)
        await withTimeout(alice.sendText(bob.userId, "after"), 30)
        self.assertNotIn("Traceback", self.node.log())
        self.assertIn("database available again", self.node.log())
        # The SDK logs the pulls that failed during the outage.
        from fxim.client import RequestFailed
        self.flushLoggedErrors(RequestFailed)

    async def test_redisOutage(self):
        """
        Redis stopped: C{/ready} answers 503 naming Redis; restarted: 200.
        """
        await self._waitReady(200)
        await deferToThread(self.redis.stop)
        body = await self._waitReady(503)
        self.assertTrue(body["checks"]["redis"].startswith("error"), body)
        self.assertEqual(body["checks"]["database"], "ok")
        await deferToThread(self.redis.start)
        await self._waitReady(200)
        self.assertEqual(self.node.log().count("redis unavailable"), 1)

    async def test_sigterm(self):
        """
        SIGTERM with connected devices in Redis mode: exit status 0 within
        the bound, no C{unregister failed}, no traceback, C{fxim stopped}.
        """
        clients = [await self._client(f"1390000001{i}") for i in range(3)]
        await withTimeout(clients[0].sendText(clients[1].userId, "hi"))
        # More devices, on both transports, whose connections close while
        # Redis is being closed.
        for i in range(20):
            await self.loginAndConnect(self.node, f"139000002{i:02d}", ("tcp", "ws")[i % 2])
        start = reactor.seconds()
        self.node._process.signalProcess("TERM")
        code = await withTimeout(self.node.exitCode(), 30)
        self.assertLess(reactor.seconds() - start, 25)
        log = self.node.log()
        # twistd ends a SIGTERM shutdown by re-raising SIGTERM on itself, so
        # the parent (systemd) sees "killed by SIGTERM", its clean stop.
        status = self.node._output.status
        self.assertTrue(code == 0 or getattr(status, "signal", None) == signal.SIGTERM,
                        (status, log[-3000:]))
        self.assertNotIn("unregister failed", log)
        self.assertNotIn("Traceback", log)
        self.assertIn("fxim stopped", log)


class EmbeddedReadyTests(NodeTestMixin, TestCase):
    """
    C{/ready} on the embedded default (SQLite, no Redis).
    """

    async def test_ready(self):
        node = await self.startNode()
        status, body = await deferToThread(_get, node.httpBase + "/ready")
        self.assertEqual((status, body), (200, {"ok": True, "checks": {"database": "ok"}}))


SLOW_PLUGIN = os.path.join(TEST_DIR, "fixtures", "slowplugin")


class StopInFlightTests(NodeTestMixin, TestCase):
    """
    SIGTERM while a request is being handled: its reply is sent before
    the connection closes.
    """

    async def test_replyBeforeClose(self):
        from fxim.client import registerPluginSubsignal
        from fxim.wire.requests import JsonRequest
        registerPluginSubsignal("SLOW", 65)
        node = await self.startNode(pythonPath=[SLOW_PLUGIN])
        conn = await self.loginAndConnect(node, "13900000031", "tcp")
        reply = conn.request(JsonRequest({"n": 1}), subsignal=65, timeout=20)
        await sleep(0.5)
        node._process.signalProcess("TERM")
        self.assertEqual(await withTimeout(reply, 20), {"slept": True, "echo": {"n": 1}})
        await withTimeout(conn.closed, 20)
        await withTimeout(node.exitCode(), 30)
        log = node.log()
        self.assertIn("waiting for 1 requests in flight", log)
        self.assertIn("fxim stopped", log)
        self.assertNotIn("Traceback", log)


def _mountTmpfs(path: str, size: str) -> bool:
    os.makedirs(path, exist_ok=True)
    if os.getuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                          capture_output=True).returncode == 0


def _fill(path: str) -> None:
    with open(os.path.join(path, "filler"), "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


class FullDiskTests(NodeTestMixin, TestCase):
    """
    The embedded database on a real (tmpfs) file system that fills up:
    one log line for the outage, no traceback per send, and sends work
    again once space is freed.
    """

    timeout = 300

    async def test_fullDisk(self):
        mnt = os.path.abspath(self.mktemp())
        if not _mountTmpfs(mnt, "8m"):
            raise self.skipTest("cannot mount a tmpfs here (needs root)")
        self.addCleanup(subprocess.run, ["umount", "-l", mnt], capture_output=True)
        data = os.path.join(mnt, "data")
        node = await self.startNode(["--data-dir", data])
        alice = await self.loginAndConnect(node, "13900000041", "tcp")
        bob = await self.loginAndConnect(node, "13900000042", "tcp")
        from fxim.client import RequestFailed
        from fxim.model import Conversation, ConversationType, MessageContent, Message
        from fxim.wire import requests as rq

        def send(i):
            message = Message(Conversation(ConversationType.PRIVATE, bob.credentials.userId, 0),
                              alice.credentials.userId, MessageContent(type=1,
                              searchableContent=f"m{i}" + "x" * 2000), localId=i + 1)
            return withTimeout(alice.request(rq.SendMessage(message)), 30)
        await send(0)
        await deferToThread(_fill, mnt)
        failures = 0
        for i in range(1, 40):
            try:
                await send(i)
            except RequestFailed:
                failures += 1
        self.assertGreater(failures, 0)
        log = node.log()
        self.assertFalse("Traceback" in log, log[-3000:])
        self.assertEqual(log.count("disk unavailable") + log.count("database unavailable"), 1,
                         log[-3000:])
        os.remove(os.path.join(mnt, "filler"))
        await send(100)
        self.assertFalse("Traceback" in node.log(), node.log()[-3000:])
