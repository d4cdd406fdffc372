"""
C{GET /metrics} of a real node under real traffic, parsed with
prometheus_client's own text parser; its protection.
"""

import os
import urllib.error
import urllib.request
from typing import Optional

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fxim.client import ChatClient, LoginError, login
from fxim.metrics import parseAllowList
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, ProductionBackend, sleep, withTimeout


def _fetch(url: str, token: Optional[str] = None):
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _samples(text: str) -> dict:
    """
    C{{(sample name, frozenset(labels)): value}}.
    """
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def _value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class AllowListTests(SynchronousTestCase):
    def test_parse(self):
        nets = parseAllowList("127.0.0.1, 10.0.0.0/8,::1")
        self.assertEqual([str(n) for n in nets], ["127.0.0.1/32", "10.0.0.0/8", "::1/128"])
        self.assertEqual(parseAllowList(""), [])
        self.assertRaises(ValueError, parseAllowList, "nonsense")


class MetricsTests(NodeTestMixin, TestCase):
    """
    Figures move with traffic.
    """

    async def scrape(self, node, token=None):
        status, text = await deferToThread(_fetch, node.httpBase + "/metrics", token)
        self.assertEqual(status, 200, text)
        return _samples(text)

    async def _client(self, node, mobile, transport="tcp"):
        port = node.tcpPort if transport == "tcp" else node.wsPort
        client = ChatClient(reactor, transport, "127.0.0.1", port, httpBase=node.httpBase)
        await withTimeout(client.login(mobile, LOGIN_CODE))
        self.addCleanup(client.stop)
        await withTimeout(client.start())
        return client

    async def test_traffic(self):
        """
        Logins, connections by transport, requests by subsignal and code,
        latency, commits and batch sizes, stored messages, pushes, pulls
        and refused logins all show up.
        """
        node = await self.startNode()
        before = await self.scrape(node)
        alice = await self._client(node, "13700000001", "tcp")
        bob = await self._client(node, "13700000002", "ws")
        received = []
        bob.onMessage(received.append)
        for i in range(5):
            await withTimeout(alice.sendText(bob.userId, f"m{i}"))
        for _ in range(100):
            if len(received) >= 5:
                break
            await sleep(0.1)
        with self.assertRaises(LoginError):
            await withTimeout(login(reactor, node.httpBase, "13700000003", "000000", "d"))
        after = await self.scrape(node)
        self.assertEqual(_value(after, "fxim_connections", transport="tcp"), 1)
        self.assertEqual(_value(after, "fxim_connections", transport="ws"), 1)
        self.assertEqual(_value(after, "fxim_logins_total", result="ok")
                         - _value(before, "fxim_logins_total", result="ok"), 2)
        refused = sum(v for (n, labels), v in after.items()
                      if n == "fxim_logins_total" and ("result", "ok") not in labels)
        self.assertGreaterEqual(refused, 1)
        self.assertGreaterEqual(_value(after, "fxim_requests_total", request="PUBLISH/MS",
                                       code="0"), 5)
        self.assertGreaterEqual(_value(after, "fxim_requests_total", request="CONNECT/NONE",
                                       code="1"), 2)
        self.assertGreaterEqual(_value(after, "fxim_request_seconds_count",
                                       request="PUBLISH/MS"), 5)
        self.assertGreaterEqual(_value(after, "fxim_messages_stored_total"), 5)
        self.assertGreaterEqual(_value(after, "fxim_store_batch_size_count"), 1)
        self.assertGreaterEqual(_value(after, "fxim_store_commit_seconds_count"), 1)
        self.assertGreater(_value(after, "fxim_store_commit_seconds_sum"), 0)
        pushes = sum(v for (n, _), v in after.items() if n == "fxim_pushes_delivered_total")
        self.assertGreaterEqual(pushes, 5)
        self.assertGreaterEqual(_value(after, "fxim_pull_messages_count"), 1)
        self.assertGreaterEqual(_value(after, "fxim_pull_messages_sum"), 5)

    async def test_rateLimited(self):
        """
        Requests over C{--request-rate} are counted.
        """
        from fxim.client import RequestFailed
        from fxim.wire import requests as rq
        node = await self.startNode(["--request-rate", "0.01", "--request-burst", "1"])
        conn = await self.loginAndConnect(node, "13700000011")
        refused = 0
        for _ in range(4):
            try:
                await withTimeout(conn.request(rq.PullMessages(0, 0)), 10)
            except RequestFailed:
                refused += 1
        self.assertGreaterEqual(refused, 1)
        after = await self.scrape(node)
        self.assertGreaterEqual(_value(after, "fxim_rate_limited_total"), refused)
        self.assertGreaterEqual(_value(after, "fxim_requests_total", request="PUBLISH/MP",
                                       code="250"), refused)

    async def test_protected(self):
        """
        Outside C{--metrics-allow}: 403, unless the admin secret is given
        as a bearer token.
        """
        secret = os.path.abspath(self.mktemp())
        with open(secret, "w") as f:
            f.write("metrics-admin-secret-123456")
        node = await self.startNode(["--metrics-allow", "", "--admin-secret-file", secret])
        status, text = await deferToThread(_fetch, node.httpBase + "/metrics")
        self.assertEqual(status, 403)
        self.assertNotIn("fxim_requests", text)
        status, _ = await deferToThread(_fetch, node.httpBase + "/metrics", "wrong")
        self.assertEqual(status, 403)
        samples = await self.scrape(node, "metrics-admin-secret-123456")
        self.assertIn(("fxim_connections", frozenset({("transport", "tcp")})), samples)
        # Neither the secret nor a wrong guess of it reaches the log.
        self.assertNotIn("metrics-admin-secret-123456", node.log())
        self.assertNotIn("Bearer", node.log())


class MetricsProductionTests(ProductionBackend, MetricsTests):
    """
    The same on PostgreSQL + Redis.
    """
