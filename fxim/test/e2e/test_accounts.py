"""
End-to-end tests of login, tokens and CONNECT against real C{twistd fxim}
processes, on the embedded default and on PostgreSQL + Redis.
"""

import re

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fxim.client import LoginError, RequestFailed, login, sendCode
from fxim.test.e2e import NodeTestMixin, ProductionBackend, sleep
from fxim.wire.requests import PullMessages
from fxim.wire.signals import SubSignal


class AccountsMixin:
    """
    Login and CONNECT flows; mixed into one class per backend.
    """

    async def test_smsLoginThenConnectBothTransports(self):
        """
        send_code writes the code to the server log (development sender);
        logging in with it yields a token that CONNECTs on TCP and WS, and
        a used code does not work twice.
        """
        node = await self.startNode(loginCode=None)
        await sendCode(reactor, node.httpBase, "13912345678")
        await sleep(0.2)
        code = re.search(r"SMS login code for 13912345678: (\d+)", node.log()).group(1)
        with self.assertRaises(LoginError) as caught:
            await login(reactor, node.httpBase, "13912345678", "000000" if code != "000000" else "111111", "d1")
        self.assertEqual(caught.exception.code, 6)
        creds = await login(reactor, node.httpBase, "13912345678", code, "tcp-device")
        self.assertTrue(creds.register)
        tcp = await self.openClient(node, "tcp")
        ack = await tcp.connect(creds.userId, creds.token, "tcp-device")
        self.assertEqual(ack.code, SubSignal.CONNECTION_ACCEPTED)
        self.assertEqual((await tcp.request(PullMessages(0, 0))).head, 0)
        # A code is used up by a successful login.
        with self.assertRaises(LoginError):
            await login(reactor, node.httpBase, "13912345678", code, "ws-device")

    async def test_twoDevicesOnline(self):
        """
        Two devices (cids) of one user are online together, one on each
        transport, and both are served.
        """
        node = await self.startNode()
        tcp = await self.loginAndConnect(node, "13800000004", "tcp")
        ws = await self.loginAndConnect(node, "13800000004", "ws")
        self.assertEqual(tcp.userId, ws.userId)
        await sleep(0.2)
        self.assertFalse(tcp.closed.called)
        self.assertFalse(ws.closed.called)
        self.assertEqual((await tcp.request(PullMessages(0, 0))).head, 0)
        self.assertEqual((await ws.request(PullMessages(0, 0))).head, 0)

    async def test_wrongPasswordRefusedAndClosed(self):
        """
        A password made from another session's secret gets 5 and the
        connection is closed; an unknown cid gets 8.
        """
        node = await self.startNode()
        creds = await login(reactor, node.httpBase, "13800000000", "556677", "good-device")
        other = await login(reactor, node.httpBase, "13800000001", "556677", "good-device")
        for transport in ("tcp", "ws"):
            conn = await self.openClient(node, transport)
            with self.assertRaises(RequestFailed) as caught:
                # user 0's name with user 1's token: wrong secret
                await conn.connect(creds.userId, other.token, "good-device")
            self.assertIn(caught.exception.code, (SubSignal.CONNECTION_REFUSED_BAD_USER_NAME_OR_PASSWORD,))
            await conn.closed
            conn = await self.openClient(node, transport)
            with self.assertRaises(RequestFailed) as caught:
                await conn.connect(creds.userId, creds.token, "never-logged-in")
            self.assertEqual(caught.exception.code, SubSignal.CONNECTION_REFUSED_SESSION_NOT_EXIST)
            await conn.closed

    async def test_logoutRevokesToken(self):
        """
        After DISCONNECT with clearSession 1 the token stops working (8).
        """
        node = await self.startNode()
        creds = await login(reactor, node.httpBase, "13800000002", "556677", "dev-x")
        conn = await self.openClient(node, "ws")
        await conn.connect(creds.userId, creds.token, "dev-x")
        conn.disconnect(clearSession=True)
        await conn.closed
        await sleep(0.3)
        again = await self.openClient(node, "tcp")
        with self.assertRaises(RequestFailed) as caught:
            await again.connect(creds.userId, creds.token, "dev-x")
        self.assertEqual(caught.exception.code, SubSignal.CONNECTION_REFUSED_SESSION_NOT_EXIST)

    async def test_sameDeviceTwiceReplacesFirst(self):
        """
        A second connection with the same cid (on another transport)
        closes the first.
        """
        node = await self.startNode()
        first = await self.loginAndConnect(node, "13800000003", "tcp", clientId="same-cid")
        creds = first.credentials
        second = await self.openClient(node, "ws")
        await second.connect(creds.userId, creds.token, "same-cid")
        await first.closed
        self.assertFalse(second.closed.called)
        self.assertEqual((await second.request(PullMessages(0, 0))).messages, ())


    async def adminNode(self):
        import os
        import tempfile
        path = os.path.join(tempfile.mkdtemp(), "admin.secret")
        with open(path, "w") as f:
            f.write("s3cret-admin-token-for-tests\n")
        node = await self.startNode(["--admin-secret-file", path])
        return node, {"Authorization": "Bearer s3cret-admin-token-for-tests"}

    async def test_adminBlockAndRevokeCloseConnections(self):
        """
        Blocking a user through the admin API closes its live connections
        and its next CONNECT gets 3; revoking a device's session closes it
        and its token then gets 8.  Without the secret the API refuses.
        """
        from fxim.client.http import postJson
        node, auth = await self.adminNode()
        denied = await postJson(reactor, node.httpBase + "/admin/tokens", {"uid": "x", "clientId": "y"})
        self.assertNotEqual(denied.get("code"), 0)
        victim = await self.loginAndConnect(node, "13800000007", "ws", clientId="v1")
        await postJson(reactor, f"{node.httpBase}/admin/users/{victim.userId}/block", {}, auth)
        await victim.closed
        again = await self.openClient(node, "tcp")
        with self.assertRaises(RequestFailed) as caught:
            await again.connect(victim.userId, victim.credentials.token, "v1")
        self.assertEqual(caught.exception.code, SubSignal.CONNECTION_REFUSED_IDENTIFIER_REJECTED)
        await postJson(reactor, f"{node.httpBase}/admin/users/{victim.userId}/unblock", {}, auth)
        conn = await self.loginAndConnect(node, "13800000007", "tcp", clientId="v2")
        from twisted.web.client import Agent
        from twisted.web.http_headers import Headers
        response = await Agent(reactor).request(
            b"DELETE", f"{node.httpBase}/admin/users/{conn.userId}/sessions/v2".encode(),
            Headers({b"Authorization": [auth["Authorization"].encode()]}))
        self.assertEqual(response.code, 200)
        await conn.closed
        third = await self.openClient(node, "ws")
        with self.assertRaises(RequestFailed) as caught:
            await third.connect(conn.userId, conn.credentials.token, "v2")
        self.assertEqual(caught.exception.code, SubSignal.CONNECTION_REFUSED_SESSION_NOT_EXIST)


class EmbeddedAccountsTests(AccountsMixin, NodeTestMixin, TestCase):
    """
    Accounts on the embedded default (SQLite, in-process presence).
    """


class ProductionAccountsTests(AccountsMixin, ProductionBackend, TestCase):
    """
    Accounts on PostgreSQL + Redis.
    """
