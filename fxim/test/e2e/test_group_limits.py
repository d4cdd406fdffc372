"""
End-to-end tests of group member checks and the per-user group cap,
against real C{twistd fxim} nodes on the embedded default and on
PostgreSQL + Redis (error codes are read on TCP).
"""

from twisted.trial.unittest import TestCase

from fxim.client import RequestFailed
from fxim.errors import ErrorCode
from fxim.model import GroupInfo, GroupMember
from fxim.test.e2e import NodeTestMixin, ProductionBackend
from fxim.wire.requests import (
    AddGroupMembers, CreateGroup, DismissGroup, PullGroupInfo, PullGroupMembers, QuitGroup,
)


class GroupLimitsMixin:
    """
    Phantom members and the group cap; mixed into one class per backend.
    """

    async def assertCode(self, d, code):
        with self.assertRaises(RequestFailed) as caught:
            await d
        self.assertEqual(caught.exception.code, code)

    async def test_phantomMembersRefused(self):
        """
        GC and GAM naming an id that is no user answer C{NOT_EXIST} and change
        nothing; so a quitting owner can only hand the group to a real
        member.
        """
        node = await self.startNode()
        owner = await self.loginAndConnect(node, "13800000710", "tcp")
        bob = await self.loginAndConnect(node, "13800000711", "tcp")
        await self.assertCode(owner.request(CreateGroup(
            GroupInfo("phantom-g", "p"), (GroupMember("999999999"), GroupMember(bob.userId)))),
            ErrorCode.NOT_EXIST)
        self.assertEqual((await owner.request(PullGroupInfo(("phantom-g",)))).groups, ())
        gid = (await owner.request(CreateGroup(GroupInfo("real-g", "r"), ()))).groupId
        await self.assertCode(owner.request(AddGroupMembers(
            gid, (GroupMember("no-such-user"), GroupMember(bob.userId)))), ErrorCode.NOT_EXIST)
        members = await owner.request(PullGroupMembers(gid, 0))
        self.assertEqual([m.memberId for m in members.members], [owner.userId])
        await owner.request(AddGroupMembers(gid, (GroupMember(bob.userId),)))
        await owner.request(QuitGroup(gid))
        info = await bob.request(PullGroupInfo((gid,)))
        self.assertEqual(info.groups[0].owner, bob.userId)

    async def test_maxGroupsPerUser(self):
        """
        With C{--max-groups-per-user 2} a user's third GC answers C{CLIENT_COUNT_OUT_OF_LIMIT};
        another user is unaffected; dismissing a group frees a place.
        """
        node = await self.startNode(["--max-groups-per-user", "2"])
        alice = await self.loginAndConnect(node, "13800000712", "tcp")
        bob = await self.loginAndConnect(node, "13800000713", "tcp")
        first = (await alice.request(CreateGroup(GroupInfo("", "one"), ()))).groupId
        await alice.request(CreateGroup(GroupInfo("", "two"), ()))
        await self.assertCode(alice.request(CreateGroup(GroupInfo("", "three"), ())),
                              ErrorCode.CLIENT_COUNT_OUT_OF_LIMIT)
        await bob.request(CreateGroup(GroupInfo("", "bob's"), ()))
        await alice.request(DismissGroup(first))
        await alice.request(CreateGroup(GroupInfo("", "three"), ()))


class EmbeddedGroupLimitsTests(GroupLimitsMixin, NodeTestMixin, TestCase):
    """
    On the embedded default.
    """


class ProductionGroupLimitsTests(GroupLimitsMixin, ProductionBackend, TestCase):
    """
    On PostgreSQL + Redis.
    """
