"""
Support for end-to-end tests: real C{twistd fxim} processes, real sockets,
the fxim client SDK.

L{NodeTestMixin} starts nodes on the embedded default; subclasses of
L{ProductionBackend} run the same tests on PostgreSQL + Redis (a fresh
database and Redis key prefix per test) when C{FXIM_TEST_POSTGRES_DSN} and
C{FXIM_TEST_REDIS_URL} are set.
"""

import os
import uuid
from typing import Any, List, Optional, Sequence
from urllib.parse import urlsplit, urlunsplit

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import deferLater

from fxim.client import login, openConnection
from fxim.client.http import postJson
from fxim.test.mixin import TestCaseMixin
from fxim.testing import ServerProcess

POSTGRES = os.environ.get("FXIM_TEST_POSTGRES_DSN")
REDIS = os.environ.get("FXIM_TEST_REDIS_URL")
PRODUCTION_SKIP = (None if POSTGRES and REDIS else
                   "FXIM_TEST_POSTGRES_DSN and FXIM_TEST_REDIS_URL not set (run-tests.sh sets them)")

LOGIN_CODE = "556677"


def sleep(seconds: float):
    return deferLater(reactor, seconds, lambda: None)


def withTimeout(d, seconds: float = 30.0):
    """
    @param d: a L{Deferred} or coroutine.
    @return: a L{Deferred} that fails with L{defer.TimeoutError} if C{d}
        has not fired after C{seconds}.
    """
    return ensureDeferred(d).addTimeout(seconds, reactor)


def createDatabase() -> str:
    """
    Create a fresh PostgreSQL database next to the test one.

    @return: its DSN.
    """
    import psycopg2
    name = "fxim_" + uuid.uuid4().hex[:12]
    conn = psycopg2.connect(POSTGRES)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    assert POSTGRES is not None  # else the test is skipped
    parts = urlsplit(POSTGRES)
    return urlunsplit(parts._replace(path="/" + name))


def dropDatabase(dsn: str) -> None:
    import psycopg2
    name = urlsplit(dsn).path.lstrip("/")
    conn = psycopg2.connect(POSTGRES)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    conn.close()


class NodeTestMixin(TestCaseMixin):
    """
    Starts fxim nodes for a test and stops them afterwards.
    """

    backend = "embedded"
    timeout = 120

    def backendArgs(self) -> List[str]:
        return []

    async def startNode(self, args: Sequence[str] = (), **kwargs: Any) -> ServerProcess:
        """
        Start a node sharing this test's backend; stopped in cleanup.
        """
        node = ServerProcess(reactor, list(self.backendArgs()) + list(args), **kwargs)
        # Stops the node and removes the fxim-node-* folder it made.
        self.addCleanup(node.cleanup)
        await node.start()
        return node

    async def loginAndConnect(self, node: ServerProcess, mobile: str, transport: str = "tcp",
                              clientId: Optional[str] = None):
        """
        Log in over HTTP and CONNECT over C{transport}.

        @return: the connected L{fxim.client.ClientConnection}.
        """
        clientId = clientId or f"dev-{uuid.uuid4().hex[:8]}"
        creds = await login(reactor, node.httpBase, mobile, LOGIN_CODE, clientId)
        conn = await self.openClient(node, transport)
        await conn.connect(creds.userId, creds.token, clientId)
        conn.credentials = creds
        return conn

    async def senderAndPhone(self, node: ServerProcess):
        """
        Alice (C{13800000001}) connected over TCP, and Bob's phone
        (C{13800000002}, C{bob-phone}) logged in and registered for push
        with the token C{tok-phone}, but not connected.

        @return: C{(alice's connection, the phone's credentials)}.
        """
        alice = await self.loginAndConnect(node, "13800000001", "tcp")
        phone = await login(reactor, node.httpBase, "13800000002", LOGIN_CODE, "bob-phone")
        ok = await postJson(reactor, node.httpBase + "/push/register",
                            {"token": phone.token, "pushToken": "tok-phone"})
        self.assertEqual(ok["code"], 0, ok)
        return alice, phone

    async def openClient(self, node: ServerProcess, transport: str = "tcp"):
        port = node.tcpPort if transport == "tcp" else node.wsPort
        conn = await openConnection(reactor, transport, "127.0.0.1", port)
        self.addCleanup(_close, conn)
        return conn


def settle():
    """
    Wait out autobahn's batched close timers (1 s buckets): they must fire
    before trial checks the reactor.
    """
    return sleep(1.1)


class SettleMixin:
    """
    For tests with WebSocket clients: every node they start is, after the
    test's connections are closed, followed by L{settle}.
    """

    async def startNode(self, *args, **kwargs):
        node = await super().startNode(*args, **kwargs)
        # Runs after the connections are closed: autobahn's batched close
        # timers (1 s buckets) must fire before the reactor is checked.
        self.addCleanup(settle)
        return node


async def _close(conn) -> None:
    if not conn.closed.called:
        conn.close()
        await conn.closed


class ProductionBackend(NodeTestMixin):
    """
    Run a test class's nodes on PostgreSQL + Redis.
    """

    backend = "postgresql+redis"
    skip = PRODUCTION_SKIP

    def backendArgs(self) -> List[str]:
        if not hasattr(self, "_dsn"):
            self._dsn = createDatabase()
            self._prefix = f"fximtest:{uuid.uuid4().hex[:8]}:"
            self.addCleanup(dropDatabase, self._dsn)
        assert REDIS is not None  # else skipped
        return ["--database", self._dsn, "--redis", REDIS, "--redis-prefix", self._prefix]
