"""
The send-check cache (L{fxim.services.sendchecks}) across two C{twistd
fxim} nodes sharing PostgreSQL and Redis: a blacklist or a kick made on one
node refuses the next message of a sender on the other node (once Redis
has passed the announcement on), whose checks were cached there (the cached answers are kept far longer than the
test runs, so only the invalidation announcement can explain a refusal).
"""

from twisted.trial.unittest import TestCase

from fxim.client import Inbox, RequestFailed
from fxim.errors import ErrorCode
from fxim.model import ContentType, GroupInfo, GroupMember
from fxim.test.e2e import ProductionBackend, sleep, withTimeout
from fxim.test.e2e.test_groups import groupText
from fxim.test.e2e.test_social import BLACKLIST, blacklistPluginPath, text
from fxim.wire.requests import AddFriend, CreateGroup, HandleFriendRequest, JsonRequest, KickGroupMembers

#: Cached answers outlive the test: only invalidation refreshes them.
_LONG_TTL = ["--send-check-ttl", "3600"]

#: What the cache promises: the writer's answer comes once Redis took the
#: announcement, and the other node drops its entry when Redis passes it
#: on -- a moment later.  A request racing that moment may still find the
#: old answer (seen once in CI, under load: the sender's MS was read in the
#: same reactor turn as the announcement, and before it), so the next
#: message is sent after that moment.  The cached answers live an hour:
#: only the announcement can explain a refusal.
_PASSED_ON = 0.2


class ClusterSendCheckTests(ProductionBackend, TestCase):
    """
    Node 1 makes the change; the sender is on node 2.
    """

    async def nodes(self):
        from fxim.client import registerPluginSubsignal
        registerPluginSubsignal("FXIMTESTBLACKLIST", BLACKLIST)
        plugin = blacklistPluginPath()
        nodeA = await self.startNode(["--node-id", "1"] + _LONG_TTL, pythonPath=[plugin])
        nodeB = await self.startNode(["--node-id", "2"] + _LONG_TTL, pythonPath=[plugin])
        return nodeA, nodeB

    async def test_blacklistHonouredOnOtherNode(self):
        """
        B (node 2) messages A (node 1) twice; A blacklists B: B's next
        message is refused with 246; A lifts it: B's next one goes.
        """
        nodeA, nodeB = await self.nodes()
        a = await self.loginAndConnect(nodeA, "13800000060", "ws")
        b = await self.loginAndConnect(nodeB, "13800000061", "tcp")
        await b.request(AddFriend(a.userId, "hi"))
        await a.request(HandleFriendRequest(b.userId, 1))
        await b.request(text(a.userId, "one"))
        await b.request(text(a.userId, "two"))
        await a.request(JsonRequest({"target": b.userId, "blacklisted": True}), subsignal=BLACKLIST)
        await sleep(_PASSED_ON)
        with self.assertRaises(RequestFailed) as caught:
            await b.request(text(a.userId, "blocked"))
        self.assertEqual(caught.exception.code, ErrorCode.IN_BLACK_LIST)
        await a.request(JsonRequest({"target": b.userId, "blacklisted": False}), subsignal=BLACKLIST)
        await sleep(_PASSED_ON)
        await b.request(text(a.userId, "after"))

    async def test_kickHonouredOnOtherNode(self):
        """
        A member on node 2 writes to a group twice; its owner on node 1
        kicks him: his next group message is refused with 9.
        """
        nodeA, nodeB = await self.nodes()
        owner = await self.loginAndConnect(nodeA, "13800000062", "tcp")
        member = await self.loginAndConnect(nodeB, "13800000063", "tcp")
        inbox = Inbox(owner)
        await owner.request(CreateGroup(GroupInfo("", "cluster"),
                                        (GroupMember(owner.userId), GroupMember(member.userId))))
        [created] = await withTimeout(inbox.waitFor(1))
        self.assertEqual(created.content.type, ContentType.CREATE_GROUP)
        groupId = created.conversation.target
        await member.request(groupText(groupId, "one"))
        await member.request(groupText(groupId, "two"))
        await owner.request(KickGroupMembers(groupId, (member.userId,)))
        await sleep(_PASSED_ON)
        with self.assertRaises(RequestFailed) as caught:
            await member.request(groupText(groupId, "let me back"))
        self.assertEqual(caught.exception.code, ErrorCode.NOT_IN_GROUP)
