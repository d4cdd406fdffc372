"""
Friend and group pushes across two nodes sharing PostgreSQL and Redis: FRN,
FN and group notifications reach devices connected to the other node.
"""

from twisted.trial.unittest import TestCase

from fxim.client import Inbox
from fxim.model import GroupInfo, GroupMember
from fxim.test.e2e import ProductionBackend, withTimeout
from fxim.test.e2e.test_social import Pushes, until
from fxim.wire.requests import (
    AddFriend, CreateGroup, FriendNotify, FriendRequestNotify, HandleFriendRequest, PullFriends,
)


class ClusterSocialTests(ProductionBackend, TestCase):
    """
    Two nodes, one user on each.
    """

    async def test_friendAndGroupPushesCrossNodes(self):
        """
        A (node 1, TCP) requests B (node 2, WS): B gets FRN; B accepts: A
        gets FN and the greetings via MN/MP; a group A creates with B
        reaches B's device on node 2 as a 104 notification.
        """
        nodeA = await self.startNode(["--node-id", "1"])
        nodeB = await self.startNode(["--node-id", "2"])
        a = await self.loginAndConnect(nodeA, "13800000050", "tcp")
        b = await self.loginAndConnect(nodeB, "13800000051", "ws")
        pushesA, pushesB = Pushes(a), Pushes(b)
        inboxA, inboxB = Inbox(a), Inbox(b)
        await a.request(AddFriend(b.userId, "hello from node 1"))
        await until(lambda: pushesB.of(FriendRequestNotify))
        await b.request(HandleFriendRequest(a.userId, 1))
        await until(lambda: pushesA.of(FriendNotify) and pushesB.of(FriendNotify))
        greetings = await withTimeout(inboxA.waitFor(3))
        self.assertEqual([m.content.searchableContent or m.content.content for m in greetings][0],
                         "hello from node 1")
        friends = await a.request(PullFriends(0))
        self.assertEqual([f.userId for f in friends.friends], [b.userId])
        await a.request(CreateGroup(GroupInfo("", "cluster group"),
                                    (GroupMember(a.userId), GroupMember(b.userId))))
        await until(lambda: any(m.content.type == 104 for m in inboxB.messages))
