"""
End-to-end test against real C{twistd fxim} nodes, on the embedded default
and on PostgreSQL + Redis, with a real local HTTP server standing in for a
Matrix push gateway: server-generated stored messages push like a
client's.  An offline registered device gets exactly one push for an admin
broadcast to it, and none for a typing message or the notifications of a
group it is added to.
"""

import os
import tempfile

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fxim.admin.client import AdminClient
from fxim.model import Conversation, GroupInfo, GroupMember, Message, MessageContent
from fxim.push.handlers import PUSHREG
from fxim.test.e2e import NodeTestMixin, ProductionBackend, sleep, withTimeout
from fxim.test.e2e.test_push import FAST, PushContract, closeAndWait, notification
from fxim.wire.requests import CreateGroup, JsonRequest, SendMessage

SECRET = "admin-secret-for-push-reach-0123"


class PushReachContract:
    """
    Pushes for server-published messages, on either backend.
    """

    gateway = PushContract.gateway

    async def _broadcast(self):
        gateway = self.gateway()
        secretPath = os.path.join(tempfile.mkdtemp(), "admin.secret")
        with open(secretPath, "w") as f:
            f.write(SECRET + "\n")
        node = await self.startNode(["--push-gateway", gateway.url,
                                     "--admin-secret-file", secretPath] + FAST)
        admin = AdminClient(reactor, node.httpBase, SECRET)
        alice = await self.loginAndConnect(node, "13800000001", "tcp")
        bobTcp = await self.loginAndConnect(node, "13800000002", "tcp", clientId="bob-tcp")
        await bobTcp.request(JsonRequest({"platform": "android", "pushToken": "tok-bob",
                                          "appId": "im.fxim.android"}), subsignal=PUSHREG)
        bob = bobTcp.credentials
        await closeAndWait(bobTcp)

        # An admin system message to bob: exactly one push.
        result = await admin.call("POST", "/messages", {"users": [bob.userId], "content": {
            "type": 1, "searchableContent": "maintenance at 22:00"}})
        await gateway.waitFor(1)
        await sleep(1.5)
        self.assertEqual(len(gateway.requests), 1)
        n = notification(gateway.requests[0])
        self.assertEqual(n["devices"][0]["pushkey"], "tok-bob")
        self.assertEqual(n["event_id"], str(result["messageUids"][0]))
        self.assertEqual(n["sender"], "SystemNotification")
        self.assertEqual(n["content"]["body"], "maintenance at 22:00")

        # A typing message and the notifications of a new group: none.
        await alice.request(SendMessage(Message(Conversation(0, bob.userId, 0), "",
                                                MessageContent(type=91))))
        await alice.request(CreateGroup(GroupInfo("", "ops"), (
            GroupMember(alice.credentials.userId), GroupMember(bob.userId))))
        await sleep(2.0)
        self.assertEqual(len(gateway.requests), 1)

    def test_adminBroadcastPushesOnce(self):
        """
        An offline registered device gets exactly one push for an admin
        broadcast to it; none for a typing message or group notifications.
        """
        return withTimeout(self._broadcast(), 90)


class EmbeddedPushReachTests(NodeTestMixin, PushReachContract, TestCase):
    """
    On the embedded default (SQLite, in-process presence).
    """


class ProductionPushReachTests(ProductionBackend, PushReachContract, TestCase):
    """
    On PostgreSQL + Redis.
    """
