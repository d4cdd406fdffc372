"""
End-to-end tests of groups against real C{twistd fxim} processes, on the
embedded default and on PostgreSQL + Redis: a group created over
WebSocket, its notifications (104-110) pulled by members on both
transports, group messages, kick, quit, rename, dismiss, and who may do
what.

Error codes are checked on TCP: WebSocket answers every failure with
C{content ""} (the SDK reports it as C{INVALID_DATA}).
"""

import json

from autobahn.exception import Disconnected
from twisted.trial.unittest import TestCase

from fxim.client import Inbox, RequestFailed
from fxim.errors import ErrorCode
from fxim.model import (
    ContentType, Conversation, ConversationType, GroupInfo, GroupMember, MemberType, Message,
    MessageContent,
)
from fxim.test.e2e import NodeTestMixin, ProductionBackend, sleep, withTimeout
from fxim.wire.requests import (
    AddGroupMembers, CreateGroup, DismissGroup, KickGroupMembers, LoadHistory, ModifyGroupInfo,
    PullGroupInfo, PullGroupMembers, PullMessages, QuitGroup, SendMessage,
)



def groupText(groupId: str, body: str) -> SendMessage:
    return SendMessage(Message(Conversation(ConversationType.GROUP, groupId, 0), "",
                               MessageContent(type=1, searchableContent=body)))


def notification(message) -> dict:
    return json.loads(message.content.data.decode("utf-8"))


def kinds(messages):
    """
    @return: each message's content type, or its text for a text message.
    """
    return [m.content.searchableContent if m.content.type == ContentType.TEXT
            else m.content.type for m in messages]


class GroupsMixin:
    """
    Group flows; mixed into one class per backend.
    """

    async def users(self, node):
        """
        Owner on WebSocket, members on TCP and WebSocket, an outsider on
        TCP, each with an L{Inbox}.
        """
        # An MN arriving while the connections close makes the SDK's Inbox
        # log a failed pull (ConnectionLost, or autobahn's Disconnected):
        # not a server error.
        self.addCleanup(self.flushLoggedErrors, Disconnected, RequestFailed)
        owner = await self.loginAndConnect(node, "13800000060", "ws")
        m1 = await self.loginAndConnect(node, "13800000061", "tcp")
        m2 = await self.loginAndConnect(node, "13800000062", "tcp")
        m3 = await self.loginAndConnect(node, "13800000063", "ws")
        outsider = await self.loginAndConnect(node, "13800000064", "tcp")
        for conn in (owner, m1, m2, m3, outsider):
            conn.inbox = Inbox(conn)
        return owner, m1, m2, m3, outsider

    async def create(self, owner, members, name="team"):
        """
        Create a group over WebSocket; @return: its id, learnt from the
        104 notification (the WS GC ack carries no id).
        """
        before = len(owner.inbox.messages)
        await owner.request(CreateGroup(GroupInfo("", name),
                                        tuple(GroupMember(m.userId) for m in members)))
        messages = await withTimeout(owner.inbox.waitFor(before + 1))
        created = messages[before]
        self.assertEqual(created.content.type, ContentType.CREATE_GROUP)
        return created.conversation.target

    async def test_lifecycle(self):
        """
        Create over WS: every member pulls a 104; a group text reaches all;
        kick: the kicked member got 106 and nothing after it; quit: 107;
        rename: 110 and GPGI shows the name; dismiss: 108, then GPGI knows
        the group no more.
        """
        node = await self.startNode()
        owner, m1, m2, m3, outsider = await self.users(node)
        groupId = await self.create(owner, (m1, m2, m3))
        self.assertEqual(len(groupId), 12)
        for conn in (owner, m1, m2, m3):
            [created] = await withTimeout(conn.inbox.waitFor(1))
            self.assertEqual(created.content.type, ContentType.CREATE_GROUP)
            self.assertEqual(created.conversation, Conversation(1, groupId, 0))
            self.assertEqual(created.fromUser, owner.userId)
            self.assertEqual(notification(created),
                             {"g": groupId, "o": owner.userId, "n": "team", "m": ""})
        [info] = (await m1.request(PullGroupInfo((groupId,)))).groups
        self.assertEqual((info.targetId, info.name, info.owner, info.memberCount),
                         (groupId, "team", owner.userId, 4))
        members = (await m1.request(PullGroupMembers(groupId, 0))).members
        self.assertEqual({(m.memberId, m.type) for m in members},
                         {(owner.userId, MemberType.OWNER), (m1.userId, MemberType.NORMAL),
                          (m2.userId, MemberType.NORMAL), (m3.userId, MemberType.NORMAL)})

        # A text from a TCP member reaches everybody else.
        await m1.request(groupText(groupId, "hello group"))
        for conn in (owner, m2, m3):
            await withTimeout(conn.inbox.waitFor(2))

        # Kick m2 (TCP): he gets the 106, then nothing.
        await owner.request(KickGroupMembers(groupId, (m2.userId,)))
        for conn in (owner, m1, m2, m3):
            messages = await withTimeout(conn.inbox.waitFor(3))
            self.assertEqual(messages[2].content.type, ContentType.KICKOFF_GROUP_MEMBER)
            self.assertEqual(notification(messages[2]),
                             {"g": groupId, "o": owner.userId, "ms": [m2.userId]})
        await owner.request(groupText(groupId, "after the kick"))
        for conn in (m1, m3):
            await withTimeout(conn.inbox.waitFor(4))
        with self.assertRaises(RequestFailed) as caught:
            await m2.request(groupText(groupId, "let me back"))
        self.assertEqual(caught.exception.code, ErrorCode.NOT_IN_GROUP)
        with self.assertRaises(RequestFailed) as caught:
            await m2.request(PullGroupMembers(groupId, 0))
        self.assertEqual(caught.exception.code, ErrorCode.NOT_IN_GROUP)

        # m3 (WS) quits: 107 to all remaining members and to m3.
        await m3.request(QuitGroup(groupId))
        for conn in (owner, m1, m3):
            messages = await withTimeout(conn.inbox.waitFor(5 if conn is not owner else 4))
            last = messages[-1]
            self.assertEqual(last.content.type, ContentType.QUIT_GROUP)
            self.assertEqual(notification(last), {"g": groupId, "o": m3.userId, "m": ""})

        # m1 (TCP, a normal member of a normal group) renames it.
        counts = {conn: len(conn.inbox.messages) for conn in (owner, m1)}
        await m1.request(ModifyGroupInfo(groupId, 0, "新名字"))
        for conn in (owner, m1):
            messages = await withTimeout(conn.inbox.waitFor(counts[conn] + 1))
            self.assertEqual(messages[-1].content.type, ContentType.CHANGE_GROUP_NAME)
            self.assertEqual(notification(messages[-1]),
                             {"g": groupId, "o": m1.userId, "n": "新名字", "m": ""})
        for conn in (m1, owner, outsider):
            [info] = (await conn.request(PullGroupInfo((groupId,)))).groups
            self.assertEqual((info.name, info.memberCount), ("新名字", 2))
        members = (await m1.request(PullGroupMembers(groupId, 0))).members
        self.assertEqual({m.memberId for m in members}, {owner.userId, m1.userId})

        # Dismiss: 108 to both remaining members; the group is gone.
        counts = {conn: len(conn.inbox.messages) for conn in (owner, m1)}
        await owner.request(DismissGroup(groupId))
        for conn in (owner, m1):
            messages = await withTimeout(conn.inbox.waitFor(counts[conn] + 1))
            self.assertEqual(messages[-1].content.type, ContentType.DISMISS_GROUP)
            self.assertEqual(notification(messages[-1]), {"g": groupId, "o": owner.userId, "m": ""})
        self.assertEqual((await m1.request(PullGroupInfo((groupId,)))).groups, ())
        with self.assertRaises(RequestFailed):
            await m1.request(groupText(groupId, "anyone?"))

        # The kicked and the quitter saw nothing after leaving.
        await sleep(0.3)
        await withTimeout(m2.inbox.sync())
        await withTimeout(m3.inbox.sync())
        self.assertEqual(kinds(m2.inbox.messages),
                         [ContentType.CREATE_GROUP, "hello group", ContentType.KICKOFF_GROUP_MEMBER])
        self.assertEqual(kinds(m3.inbox.messages),
                         [ContentType.CREATE_GROUP, "hello group", ContentType.KICKOFF_GROUP_MEMBER,
                          "after the kick", ContentType.QUIT_GROUP])
        self.assertEqual(outsider.inbox.messages, [])
        self.assertEqual((await outsider.request(PullMessages(0, 0))).messages, ())

    async def test_memberHead(self):
        """
        GPGM with the group's current C{memberUpdateDt} as head is empty;
        after an add it returns the members again, the new one included,
        who got the 105.
        """
        node = await self.startNode()
        owner, m1, m2, m3, outsider = await self.users(node)
        groupId = await self.create(owner, (m1,))
        [info] = (await m1.request(PullGroupInfo((groupId,)))).groups
        self.assertGreater(info.memberUpdateDt, 0)
        self.assertEqual(len((await m1.request(PullGroupMembers(groupId, 0))).members), 2)
        self.assertEqual((await m1.request(PullGroupMembers(groupId, info.memberUpdateDt))).members, ())
        await sleep(0.01)
        await m1.request(AddGroupMembers(groupId, (GroupMember(m2.userId),)))
        [added] = await withTimeout(m2.inbox.waitFor(1))
        self.assertEqual(added.content.type, ContentType.ADD_GROUP_MEMBER)
        self.assertEqual(notification(added), {"g": groupId, "o": m1.userId, "ms": [m2.userId]})
        members = (await m1.request(PullGroupMembers(groupId, info.memberUpdateDt))).members
        self.assertEqual({m.memberId for m in members}, {owner.userId, m1.userId, m2.userId})
        [newInfo] = (await m2.request(PullGroupInfo((groupId,)))).groups
        self.assertGreater(newInfo.memberUpdateDt, info.memberUpdateDt)
        self.assertEqual((await m2.request(PullGroupMembers(groupId, newInfo.memberUpdateDt))).members,
                         ())
        for conn in (owner, m1):
            await withTimeout(conn.inbox.waitFor(2))

    async def test_authorization(self):
        """
        A normal member cannot kick (248) or dismiss (248); an outsider
        cannot pull the members (9), modify (9), kick or dismiss (248),
        add members (9), send (9) or read the history; nothing changed.
        """
        node = await self.startNode()
        owner, m1, m2, m3, outsider = await self.users(node)
        groupId = await self.create(owner, (m1, m2, m3))
        with self.assertRaises(RequestFailed) as caught:
            await m1.request(KickGroupMembers(groupId, (m2.userId,)))
        self.assertEqual(caught.exception.code, ErrorCode.NOT_RIGHT)
        with self.assertRaises(RequestFailed) as caught:
            await m1.request(KickGroupMembers(groupId, (owner.userId,)))
        self.assertEqual(caught.exception.code, ErrorCode.NOT_RIGHT)
        with self.assertRaises(RequestFailed) as caught:
            await m1.request(DismissGroup(groupId))
        self.assertEqual(caught.exception.code, ErrorCode.NOT_RIGHT)
        # The WS member is refused too (WS failures carry no code).
        with self.assertRaises(RequestFailed):
            await m3.request(KickGroupMembers(groupId, (m1.userId,)))
        with self.assertRaises(RequestFailed):
            await m3.request(DismissGroup(groupId))

        for request, code in (
                (PullGroupMembers(groupId, 0), ErrorCode.NOT_IN_GROUP),
                (ModifyGroupInfo(groupId, 0, "pwned"), ErrorCode.NOT_IN_GROUP),
                (ModifyGroupInfo(groupId, 2, "pwned"), ErrorCode.NOT_IN_GROUP),
                (KickGroupMembers(groupId, (m1.userId,)), ErrorCode.NOT_RIGHT),
                (DismissGroup(groupId), ErrorCode.NOT_RIGHT),
                (AddGroupMembers(groupId, (GroupMember(outsider.userId),)), ErrorCode.NOT_IN_GROUP),
                (QuitGroup(groupId), ErrorCode.NOT_IN_GROUP),
                (groupText(groupId, "spam"), ErrorCode.NOT_IN_GROUP)):
            with self.assertRaises(RequestFailed) as caught:
                await outsider.request(request)
            self.assertEqual(caught.exception.code, code, request)
        with self.assertRaises(RequestFailed):
            await outsider.request(LoadHistory(Conversation(1, groupId, 0), 0, 20))

        [info] = (await owner.request(PullGroupInfo((groupId,)))).groups
        self.assertEqual((info.name, info.memberCount, info.extra), ("team", 4, ""))
        members = (await owner.request(PullGroupMembers(groupId, 0))).members
        self.assertEqual(len(members), 4)
        await sleep(0.3)
        for conn in (owner, m1, m2, m3):
            await withTimeout(conn.inbox.sync())
            self.assertEqual(kinds(conn.inbox.messages), [ContentType.CREATE_GROUP])

    async def test_ownerQuitHandsOver(self):
        """
        An owner who quits hands the group to the earliest member, who may
        then kick; the last member quitting deletes the group.
        """
        node = await self.startNode()
        owner, m1, m2, m3, outsider = await self.users(node)
        groupId = await self.create(owner, (m1, m2))
        await owner.request(QuitGroup(groupId))
        [info] = (await m1.request(PullGroupInfo((groupId,)))).groups
        self.assertEqual((info.owner, info.memberCount), (m1.userId, 2))
        await m1.request(KickGroupMembers(groupId, (m2.userId,)))
        await m1.request(QuitGroup(groupId))
        self.assertEqual((await m1.request(PullGroupInfo((groupId,)))).groups, ())
        messages = await withTimeout(m1.inbox.waitFor(4))
        self.assertEqual(kinds(messages), [ContentType.CREATE_GROUP, ContentType.QUIT_GROUP,
                                           ContentType.KICKOFF_GROUP_MEMBER, ContentType.QUIT_GROUP])


class EmbeddedGroupsTests(GroupsMixin, NodeTestMixin, TestCase):
    """
    Groups on the embedded default.
    """


class ProductionGroupsTests(GroupsMixin, ProductionBackend, TestCase):
    """
    Groups on PostgreSQL + Redis.
    """
