"""
End-to-end tests of the cluster-wide limits against real C{twistd fxim}
nodes: on PostgreSQL + Redis two nodes share the counters (requests split
between them are counted together); on the embedded default one node
holds them in memory.  Per-IP and per-account limits of C{/send_code} and
C{/login}, the client IP from a trusted C{X-Forwarded-For}, and the
per-user send limit over two devices.
"""

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fxim.client import RequestFailed
from fxim.client.http import postJson
from fxim.errors import ErrorCode
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, ProductionBackend, withTimeout
from fxim.test.e2e.test_push import text

#: Windows long enough that a test never straddles two of them.
ARGS = ["--limit-window", "86400", "--user-send-window", "86400",
        "--send-code-ip-limit", "3", "--login-account-limit", "4", "--login-ip-limit", "1000",
        "--user-send-limit", "5", "--trusted-proxies", "127.0.0.1/32"]


class LimitsContract:

    async def nodes(self):
        raise NotImplementedError()

    async def _http(self):
        one, two = await self.nodes()

        async def sendCode(node, mobile, forwarded=None):
            headers = {"X-Forwarded-For": forwarded} if forwarded else None
            return (await postJson(reactor, node.httpBase + "/send_code", {"mobile": mobile},
                                   headers))["code"]

        # Per IP (the one behind the trusted proxy 127.0.0.1), across nodes.
        self.assertEqual([await sendCode(n, f"1390000000{i}", "203.0.113.7")
                          for i, n in enumerate((one, two, one))], [0, 0, 0])
        answer = await postJson(reactor, two.httpBase + "/send_code", {"mobile": "13900000009"},
                                {"X-Forwarded-For": "203.0.113.7"})
        self.assertEqual(answer, {"code": 3, "message": "too many requests from this address"})
        # Another client behind the proxy is counted apart; a forged hop to
        # the left of an untrusted one does not help.
        self.assertEqual(await sendCode(one, "13900000010", "203.0.113.8"), 0)
        self.assertEqual(await sendCode(one, "13900000011", "203.0.113.8, 198.51.100.1"), 0)
        self.assertEqual(await sendCode(two, "13900000012", "203.0.113.7, 198.51.100.1"), 0)
        self.assertEqual(await sendCode(two, "13900000013", "198.51.100.1, 203.0.113.7"), 3)

        # Per account: the fifth login of one mobile within the window.
        codes = []
        for i in range(5):
            node = (one, two)[i % 2]
            codes.append((await postJson(reactor, node.httpBase + "/login", {
                "mobile": "13800000001", "code": LOGIN_CODE, "clientId": f"dev{i}"}))["code"])
        self.assertEqual(codes, [0, 0, 0, 0, 3])
        other = await postJson(reactor, one.httpBase + "/login", {
            "mobile": "13800000002", "code": LOGIN_CODE, "clientId": "d"})
        self.assertEqual(other["code"], 0)

    def test_http(self):
        """
        C{/send_code} per client IP and C{/login} per mobile are limited,
        counted across nodes; the IP comes from X-Forwarded-For only
        through the trusted proxy.
        """
        return withTimeout(self._http(), 90)

    async def _send(self):
        one, two = await self.nodes()
        bob = await self.loginAndConnect(one, "13800000002", "tcp")
        phone = await self.loginAndConnect(one, "13800000001", "tcp", clientId="phone")
        laptop = await self.loginAndConnect(two, "13800000001", "ws", clientId="laptop")
        target = bob.credentials.userId
        for conn in (phone, laptop, phone, laptop, phone):
            await conn.request(text(target, "hi"))
        for conn in (laptop, phone):
            with self.assertRaises(RequestFailed) as caught:
                await conn.request(text(target, "one too many"))
            # WebSocket replies carry no code: the client reports INVALID_DATA.
            self.assertIn(caught.exception.code, (ErrorCode.OVER_FREQUENCY, ErrorCode.INVALID_DATA))
            if conn is phone:
                self.assertEqual(caught.exception.code, ErrorCode.OVER_FREQUENCY)
        # Bob is not limited by Alice's count.
        await bob.request(text(phone.credentials.userId, "hello"))

    def test_userSendLimit(self):
        """
        A user's sends are counted over all its devices (on both nodes):
        beyond the limit MS is refused with C{OVER_FREQUENCY}.
        """
        return withTimeout(self._send(), 90)


class EmbeddedLimitsTests(NodeTestMixin, LimitsContract, TestCase):
    """
    One embedded node (counters in memory).
    """

    async def nodes(self):
        node = await self.startNode(ARGS)
        return node, node


class ClusterLimitsTests(ProductionBackend, LimitsContract, TestCase):
    """
    Two nodes sharing PostgreSQL and Redis.
    """

    async def nodes(self):
        one = await self.startNode(ARGS + ["--node-id", "1"])
        two = await self.startNode(ARGS + ["--node-id", "2"])
        return one, two
