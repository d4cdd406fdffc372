# -*- test-case-name: fxim.test.unit.test_groups -*-
"""
Tests for L{fxim.services.groups} and L{fxim.handlers.groups}.
"""

import json

from twisted.internet import task
from twisted.internet.defer import ensureDeferred, inlineCallbacks, succeed
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fxim.config import Config
from fxim.dispatch import RequestContext
from fxim.errors import ErrorCode, SignalError
from fxim.handlers import groups as handlers
from fxim.model import (
    ContentType, Conversation, ConversationType, GroupInfo, GroupMember, MemberType, Message,
    MessageContent,
)
from fxim.services.groups import notificationContent
from fxim.testing import FakeConnection, buildMemoryNode, memoryNode
from fxim.wire.requests import (
    CreateGroup, GroupCreated, GroupInfoList, GroupMemberList, KickGroupMembers,
    PullGroupMembers,
)
from fxim.wire.signals import SubSignal

START = 1700000000.0
OWNER, BOB, CAROL, DAVE = "owner", "bob", "carol", "dave"


class RecordingBus:
    """
    An L{fxim.interfaces.IDeliveryBus} that records every delivery.
    """

    def __init__(self):
        self.deliveries = []

    def deliver(self, userId, push, excludeCid=None):
        self.deliveries.append((userId, push))
        return succeed(1)

    def kick(self, userId, cid, keep=None):
        return succeed(None)


class GroupTestMixin:
    """
    A memory node (L{fxim.testing.memoryNode}) with a L{task.Clock} and a
    L{RecordingBus}: its L{GroupService} and L{MessagingService}.
    """

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(START)
        self.bus = RecordingBus()
        node = memoryNode(Config(maxGroupSize=5), self.clock, bus=self.bus)
        self.addCleanup(lambda: self.successResultOf(ensureDeferred(node.close())))
        self.config, self.store = node.config, node.server.store
        self.server, self.messages, self.groups = node.server, node.server.messages, \
            node.server.groups
        for i, userId in enumerate((OWNER, BOB, CAROL, DAVE)):
            self.wait(self.store.createUser("1380000000" + str(i), userId, 0, userId=userId))

    def context(self, userId):
        """
        @return: the L{RequestContext} of a request from C{uid}'s device.
        """
        return RequestContext(FakeConnection(userId, "cid"), self.server, 0, 0, 0)

    def wait(self, coroutineOrDeferred):
        return self.successResultOf(ensureDeferred(coroutineOrDeferred))

    def assertFails(self, coroutine, code):
        failure = self.failureResultOf(ensureDeferred(coroutine), SignalError)
        self.assertEqual(failure.value.code, code)

    def tick(self):
        self.clock.advance(1)

    def makeGroup(self, members=(BOB, CAROL), name="friends", type=0):
        self.tick()
        gid = self.wait(self.groups.create(
            OWNER, GroupInfo("", name, type=type), [GroupMember(m) for m in members], None))
        self.tick()
        return gid

    def inbox(self, userId):
        """
        @return: the messages stored for C{uid}, oldest first.
        """
        return list(self.wait(self.messages.pull(userId, 0)).messages)

    def notifications(self, userId):
        """
        @return: C{(type, data dict)} of every group message of C{uid}.
        """
        return [(m.content.type, json.loads(m.content.data) if m.content.data else None)
                for m in self.inbox(userId)
                if m.conversation.type == ConversationType.GROUP]

    def memberIds(self, gid):
        return sorted(m.memberId for m in self.wait(self.store.getMembers(gid)))


class CreateTests(GroupTestMixin, SynchronousTestCase):
    """
    L{GroupService.create}.
    """

    def test_everyMemberGetsCreateNotification(self):
        """
        Creating a group of three stores a 104 notification
        C{{"g","o","n","m":""}} for every member and sends each an MN.
        """
        gid = self.makeGroup()
        for userId in (OWNER, BOB, CAROL):
            [(type, data)] = self.notifications(userId)
            self.assertEqual(type, ContentType.CREATE_GROUP)
            self.assertEqual(data, {"g": gid, "o": OWNER, "n": "friends", "m": ""})
        self.assertEqual(self.notifications(DAVE), [])
        self.assertEqual(sorted(userId for userId, _ in self.bus.deliveries), [BOB, CAROL, OWNER])
        message = self.inbox(BOB)[0]
        self.assertEqual(message.conversation, Conversation(1, gid, 0))
        self.assertEqual(message.fromUser, OWNER)

    def test_creatorIsOwnerAndMembersDeduplicated(self):
        """
        The creator becomes owner; duplicates collapse; others are normal
        members whatever type the client asked for.
        """
        self.tick()
        gid = self.wait(self.groups.create(
            BOB, GroupInfo("", "g"),
            [GroupMember(OWNER, type=MemberType.OWNER), GroupMember(OWNER), GroupMember(BOB)], None))
        members = {m.memberId: m.type for m in self.wait(self.store.getMembers(gid))}
        self.assertEqual(members, {BOB: MemberType.OWNER, OWNER: MemberType.NORMAL})
        info = self.wait(self.store.getGroup(gid))
        self.assertEqual((info.owner, info.memberCount), (BOB, 2))

    def test_givenIdTaken(self):
        """
        A client-chosen id that exists fails with 11.
        """
        self.wait(self.groups.create(OWNER, GroupInfo("g1", "a"), [], None))
        self.assertFails(self.groups.create(BOB, GroupInfo("g1", "b"), [], None),
                  ErrorCode.GROUP_ALREADY_EXIST)

    def test_maxSize(self):
        """
        More than C{maxGroupSize} members (creator included) fails with 251
        and creates nothing; adding beyond it fails likewise.
        """
        self.assertFails(self.groups.create(OWNER, GroupInfo("big", "b"),
                                     [GroupMember(str(i)) for i in range(5)], None),
                  ErrorCode.INVALID_PARAMETER)
        self.assertIsNone(self.wait(self.store.getGroup("big")))
        for i in range(4):
            self.wait(self.store.createUser("", str(i), 0, userId=str(i)))
        gid = self.makeGroup(members=[str(i) for i in range(4)])
        self.assertFails(self.groups.addMembers(OWNER, gid, [GroupMember(DAVE)], None),
                  ErrorCode.INVALID_PARAMETER)

    def test_unknownMembersRefused(self):
        """
        GC naming an id that is no user fails with 253 and creates
        nothing; GAM likewise adds nobody, not even the real users named
        with it.
        """
        self.assertFails(self.groups.create(OWNER, GroupInfo("g-phantom", "p"),
                                            [GroupMember(BOB), GroupMember("phantom")], None),
                         ErrorCode.NOT_EXIST)
        self.assertIsNone(self.wait(self.store.getGroup("g-phantom")))
        gid = self.makeGroup(members=[BOB])
        self.assertFails(self.groups.addMembers(
            OWNER, gid, [GroupMember(CAROL), GroupMember("phantom")], None), ErrorCode.NOT_EXIST)
        self.assertEqual(self.memberIds(gid), sorted([OWNER, BOB]))

    def test_ownerQuitSkipsPhantoms(self):
        """
        A phantom member left by older data does not inherit the group:
        the earliest real member does.
        """
        gid = self.makeGroup(members=[BOB])
        self.store.members[gid]["ghost"] = GroupMember("ghost", "", MemberType.NORMAL, 1)
        # Make the phantom the earliest non-owner member.
        table = self.store.members[gid]
        for key in [k for k in table if k not in (OWNER, "ghost")]:
            table[key] = table.pop(key)
        self.wait(self.groups.quit(OWNER, gid, None))
        self.assertEqual(self.wait(self.store.getGroup(gid)).owner, BOB)

    def test_maxGroupsPerUser(self):
        """
        With C{maxGroupsPerUser} 2 a third GC from the same owner fails
        with 245; another user still creates groups, and dismissing one
        frees a place.
        """
        self.config = Config(maxGroupSize=5, maxGroupsPerUser=2)
        self.groups.config = self.config
        first = self.makeGroup()
        self.makeGroup()
        self.assertFails(self.groups.create(OWNER, GroupInfo("", "third"), [], None),
                         ErrorCode.CLIENT_COUNT_OUT_OF_LIMIT)
        self.wait(self.groups.create(BOB, GroupInfo("", "bob's"), [], None))
        self.wait(self.groups.dismiss(OWNER, first, None))
        self.makeGroup()

    def test_clientNotifyContent(self):
        """
        A client notify content with type > 0 is published instead of the
        server-built one.
        """
        content = MessageContent(type=ContentType.CREATE_GROUP, data=b'{"x":1}')
        self.wait(self.groups.create(OWNER, GroupInfo("", "g"), [GroupMember(BOB)], content))
        self.assertEqual(self.notifications(BOB), [(104, {"x": 1})])

    def test_notificationJson(self):
        """
        L{notificationContent} writes compact UTF-8 JSON without null keys.
        """
        content = notificationContent(110, g="g", o="o", n="名字", ms=None, m="")
        self.assertEqual(content.data, '{"g":"g","o":"o","n":"名字","m":""}'.encode("utf-8"))
        self.assertEqual((content.searchableContent, content.content), ("", ""))


class PullTests(GroupTestMixin, SynchronousTestCase):
    """
    L{GroupService.pullInfo} and L{GroupService.pullMembers}.
    """

    def test_pullInfoLeavesUnknownOut(self):
        """
        Unknown group ids are left out of GPGI results.
        """
        gid = self.makeGroup()
        infos = self.wait(self.groups.pullInfo(BOB, ["nope", gid]))
        self.assertEqual([i.targetId for i in infos], [gid])
        self.assertEqual(infos[0].memberCount, 3)

    def test_pullMembersHead(self):
        """
        GPGM returns the members when the member update time is after the
        head, and nothing for an unchanged head.
        """
        gid = self.makeGroup()
        members = self.wait(self.groups.pullMembers(BOB, gid, 0))
        self.assertEqual(sorted(m.memberId for m in members), [BOB, CAROL, OWNER])
        head = self.wait(self.store.getGroup(gid)).memberUpdateDt
        self.assertEqual(self.wait(self.groups.pullMembers(BOB, gid, head)), ())

    def test_pullMembersNonMember(self):
        """
        A non-member pulling a normal group's members gets 9.
        """
        gid = self.makeGroup()
        self.assertFails(self.groups.pullMembers(DAVE, gid, 0), ErrorCode.NOT_IN_GROUP)

    def test_pullMembersPublicGroup(self):
        """
        Anyone may pull a free (type 1) group's members.
        """
        gid = self.makeGroup(type=1)
        self.assertEqual(len(self.wait(self.groups.pullMembers(DAVE, gid, 0))), 3)

    def test_pullMembersUnknownGroup(self):
        """
        An unknown group gives an empty result.
        """
        self.assertEqual(self.wait(self.groups.pullMembers(BOB, "nope", 0)), ())


class MembershipTests(GroupTestMixin, SynchronousTestCase):
    """
    Adding, kicking, quitting and dismissing.
    """

    def test_addMembers(self):
        """
        A member may add to a normal group; 105 C{{"g","o","ms"}} reaches
        everyone, the new member included; existing members are skipped.
        """
        gid = self.makeGroup()
        self.wait(self.groups.addMembers(BOB, gid, [GroupMember(DAVE), GroupMember(CAROL)], None))
        self.assertEqual(self.memberIds(gid), [BOB, CAROL, DAVE, OWNER])
        expected = (105, {"g": gid, "o": BOB, "ms": [DAVE]})
        self.assertEqual(self.notifications(DAVE), [expected])
        self.assertEqual(self.notifications(OWNER)[-1], expected)

    def test_addMembersRestricted(self):
        """
        Only the owner and managers may add to a restricted group; a
        non-member may not add at all.
        """
        gid = self.makeGroup(type=2)
        self.assertFails(self.groups.addMembers(BOB, gid, [GroupMember(DAVE)], None), ErrorCode.NOT_RIGHT)
        self.assertFails(self.groups.addMembers(DAVE, gid, [GroupMember(DAVE)], None),
                  ErrorCode.NOT_IN_GROUP)
        self.wait(self.groups.setManager(gid, BOB, True))
        self.wait(self.groups.addMembers(BOB, gid, [GroupMember(DAVE)], None))
        self.assertIn(DAVE, self.memberIds(gid))

    def test_joinFreeGroup(self):
        """
        Anyone may add himself to a free group.
        """
        gid = self.makeGroup(type=1)
        self.wait(self.groups.addMembers(DAVE, gid, [GroupMember(DAVE)], None))
        self.assertIn(DAVE, self.memberIds(gid))

    def test_kick(self):
        """
        The kicked member gets 106 (sent before the change) and no later
        group messages; GPGM no longer lists him.
        """
        gid = self.makeGroup()
        self.wait(self.groups.kickMembers(OWNER, gid, [CAROL], None))
        expected = (106, {"g": gid, "o": OWNER, "ms": [CAROL]})
        self.assertEqual(self.notifications(CAROL)[-1], expected)
        self.assertEqual(self.notifications(BOB)[-1], expected)
        self.assertEqual(self.memberIds(gid), [BOB, OWNER])
        before = len(self.inbox(CAROL))
        self.tick()
        self.wait(self.messages.send(OWNER, "c1", Message(
            Conversation(1, gid, 0), OWNER, MessageContent(1, "hello"))))
        self.wait(self.groups.modify(OWNER, gid, 0, "renamed", None))
        self.assertEqual(len(self.inbox(CAROL)), before)
        self.assertEqual(self.inbox(BOB)[-2].content.searchableContent, "hello")
        self.assertFails(self.messages.send(CAROL, "c", Message(
            Conversation(1, gid, 0), CAROL, MessageContent(1, "hi"))), ErrorCode.NOT_IN_GROUP)
        self.assertFails(self.groups.pullMembers(CAROL, gid, 0), ErrorCode.NOT_IN_GROUP)

    def test_kickNotAllowed(self):
        """
        A normal member may not kick (248), a manager may not kick the
        owner or another manager, and an unknown group is 253.
        """
        gid = self.makeGroup(members=(BOB, CAROL, DAVE))
        self.assertFails(self.groups.kickMembers(BOB, gid, [CAROL], None), ErrorCode.NOT_RIGHT)
        self.wait(self.groups.setManager(gid, BOB, True))
        self.wait(self.groups.setManager(gid, CAROL, True))
        self.assertFails(self.groups.kickMembers(BOB, gid, [OWNER], None), ErrorCode.NOT_RIGHT)
        self.assertFails(self.groups.kickMembers(BOB, gid, [CAROL], None), ErrorCode.NOT_RIGHT)
        self.assertFails(self.groups.kickMembers(OWNER, "nope", [CAROL], None), ErrorCode.NOT_EXIST)
        self.assertEqual(self.memberIds(gid), [BOB, CAROL, DAVE, OWNER])
        self.wait(self.groups.kickMembers(BOB, gid, [DAVE], None))
        self.assertEqual(self.memberIds(gid), [BOB, CAROL, OWNER])

    def test_quit(self):
        """
        Quitting sends 107 C{{"g","o","m":""}} to every member, the quitter
        included, then removes him.
        """
        gid = self.makeGroup()
        self.wait(self.groups.quit(CAROL, gid, None))
        expected = (107, {"g": gid, "o": CAROL, "m": ""})
        self.assertEqual(self.notifications(CAROL)[-1], expected)
        self.assertEqual(self.notifications(OWNER)[-1], expected)
        self.assertEqual(self.memberIds(gid), [BOB, OWNER])
        self.assertFails(self.groups.quit(CAROL, gid, None), ErrorCode.NOT_IN_GROUP)

    def test_ownerQuitTransfersOwnership(self):
        """
        An owner who quits hands the group to the earliest manager, else to
        the earliest member; the last member quitting deletes the group.
        """
        gid = self.makeGroup(members=(BOB, CAROL, DAVE))
        self.wait(self.groups.setManager(gid, CAROL, True))
        self.wait(self.groups.quit(OWNER, gid, None))
        self.assertEqual(self.wait(self.store.getGroup(gid)).owner, CAROL)
        self.assertEqual(self.wait(self.store.getMember(gid, CAROL)).type, MemberType.OWNER)
        self.wait(self.groups.quit(CAROL, gid, None))
        self.assertEqual(self.wait(self.store.getGroup(gid)).owner, BOB)
        self.wait(self.groups.quit(BOB, gid, None))
        self.assertEqual(self.wait(self.store.getGroup(gid)).owner, DAVE)
        self.wait(self.groups.quit(DAVE, gid, None))
        self.assertIsNone(self.wait(self.store.getGroup(gid)))

    def test_dismiss(self):
        """
        Only the owner may dismiss (248); every member gets 108 first, then
        the group is gone.
        """
        gid = self.makeGroup()
        self.assertFails(self.groups.dismiss(BOB, gid, None), ErrorCode.NOT_RIGHT)
        self.wait(self.groups.dismiss(OWNER, gid, None))
        expected = (108, {"g": gid, "o": OWNER, "m": ""})
        for userId in (OWNER, BOB, CAROL):
            self.assertEqual(self.notifications(userId)[-1], expected)
        self.assertIsNone(self.wait(self.store.getGroup(gid)))
        self.assertFails(self.groups.dismiss(OWNER, gid, None), ErrorCode.NOT_EXIST)


class ModifyTests(GroupTestMixin, SynchronousTestCase):
    """
    L{GroupService.modify}, L{GroupService.mute}.
    """

    def test_rename(self):
        """
        Renaming sends 110 C{{"g","o","n","m":""}} and GPGI shows the name.
        """
        gid = self.makeGroup()
        self.wait(self.groups.modify(BOB, gid, 0, "new name", None))
        self.assertEqual(self.notifications(CAROL)[-1],
                         (110, {"g": gid, "o": BOB, "n": "new name", "m": ""}))
        [info] = self.wait(self.groups.pullInfo(CAROL, [gid]))
        self.assertEqual(info.name, "new name")

    def test_portraitAndExtra(self):
        """
        A portrait change sends 112; an extra change sends nothing; an
        unknown type is 251.
        """
        gid = self.makeGroup()
        self.wait(self.groups.modify(BOB, gid, 1, "http://p/1.png", None))
        self.assertEqual(self.notifications(CAROL)[-1], (112, {"g": gid, "o": BOB, "m": ""}))
        count = len(self.inbox(CAROL))
        self.wait(self.groups.modify(BOB, gid, 2, "{}", None))
        self.assertEqual(len(self.inbox(CAROL)), count)
        info = self.wait(self.store.getGroup(gid))
        self.assertEqual((info.portrait, info.extra), ("http://p/1.png", "{}"))
        self.assertFails(self.groups.modify(BOB, gid, 9, "", None), ErrorCode.INVALID_PARAMETER)

    def test_modifyPermissions(self):
        """
        Non-members get 9; normal members of a restricted group get 248.
        """
        gid = self.makeGroup(type=2)
        self.assertFails(self.groups.modify(DAVE, gid, 0, "x", None), ErrorCode.NOT_IN_GROUP)
        self.assertFails(self.groups.modify(BOB, gid, 0, "x", None), ErrorCode.NOT_RIGHT)
        self.wait(self.groups.modify(OWNER, gid, 0, "x", None))

    def test_mute(self):
        """
        A muted member (SILENT) cannot send (248) until unmuted.
        """
        gid = self.makeGroup()
        message = Message(Conversation(1, gid, 0), BOB, MessageContent(1, "hi"))
        self.wait(self.groups.mute(gid, BOB, True))
        self.assertEqual(self.wait(self.store.getMember(gid, BOB)).type, MemberType.SILENT)
        self.assertFails(self.messages.send(BOB, "c", message), ErrorCode.NOT_RIGHT)
        self.wait(self.groups.mute(gid, BOB, False))
        self.wait(self.messages.send(BOB, "c", message))
        self.assertFails(self.groups.mute(gid, OWNER, True), ErrorCode.NOT_RIGHT)


class HandlerTests(GroupTestMixin, SynchronousTestCase):
    """
    L{fxim.handlers.groups}.
    """

    def test_registered(self):
        """
        The plugin answers the eight group subsignals.
        """
        keys = {h.subsignal for h in handlers.plugin.handlers()}
        self.assertEqual(keys, {SubSignal.GC, SubSignal.GPGI, SubSignal.GPGM, SubSignal.GAM,
                                SubSignal.GKM, SubSignal.GQ, SubSignal.GD, SubSignal.GMI})
        self.assertEqual(handlers.plugin.name, "fxim.groups")

    def test_createAndPull(self):
        """
        GC answers L{GroupCreated}; GPGM a L{GroupMemberList}; GKM errors
        surface as L{SignalError}.
        """
        created = self.wait(handlers.create(self.context(OWNER), CreateGroup(
            GroupInfo("", "g"), (GroupMember(BOB),))))
        self.assertIsInstance(created, GroupCreated)
        result = self.wait(handlers.pullMembers(
            self.context(BOB), PullGroupMembers(created.groupId, 0)))
        self.assertIsInstance(result, GroupMemberList)
        self.assertEqual(len(result.members), 2)
        self.assertFails(handlers.kickMembers(self.context(BOB),
                                       KickGroupMembers(created.groupId, (OWNER,))),
                  ErrorCode.NOT_RIGHT)
        infos = self.wait(handlers.pullInfo(self.context(BOB), handlers.PullGroupInfo(
            (created.groupId,))))
        self.assertIsInstance(infos, GroupInfoList)


class SqliteGroupTests(TestCase):
    """
    The same rules over the SQLite store (real reactor and threads).
    """

    @inlineCallbacks
    def test_kickQuitDismiss(self):
        """
        Over SQLite: a kicked member gets 106 and no later message; the
        owner quitting hands the group to the manager; a taken id is 11;
        the new owner dismisses.
        """
        from twisted.internet import reactor
        from fxim.storage import openStore
        store = yield openStore(reactor, None, self.mktemp())
        self.addCleanup(store.close)
        node = yield ensureDeferred(buildMemoryNode(reactor=reactor, store=store,
                                                    bus=RecordingBus()))
        self.addCleanup(lambda: ensureDeferred(node.close()))
        messages, groups = node.server.messages, node.server.groups
        for i, userId in enumerate((OWNER, BOB, CAROL, DAVE)):
            yield store.createUser("1380000000" + str(i), userId, 0, userId=userId)
        gid = yield ensureDeferred(groups.create(
            OWNER, GroupInfo("", "n"), [GroupMember(m) for m in (BOB, CAROL, DAVE)], None))
        yield ensureDeferred(groups.setManager(gid, CAROL, True))
        yield ensureDeferred(groups.kickMembers(OWNER, gid, [DAVE], None))
        yield ensureDeferred(messages.send(OWNER, "c", Message(
            Conversation(1, gid, 0), OWNER, MessageContent(1, "hi"))))
        pulled = yield ensureDeferred(messages.pull(DAVE, 0))
        self.assertEqual([m.content.type for m in pulled.messages], [104, 106])
        yield ensureDeferred(groups.quit(OWNER, gid, None))
        info = yield store.getGroup(gid)
        self.assertEqual(info.owner, CAROL)
        members = yield ensureDeferred(groups.pullMembers(BOB, gid, 0))
        self.assertEqual([(m.memberId, m.type) for m in members],
                         [(BOB, MemberType.NORMAL), (CAROL, MemberType.OWNER)])
        failure = yield self.assertFailure(
            ensureDeferred(groups.create(BOB, GroupInfo(gid, "dup"), [], None)), SignalError)
        self.assertEqual(failure.code, ErrorCode.GROUP_ALREADY_EXIST)
        yield ensureDeferred(groups.dismiss(CAROL, gid, None))
        self.assertIsNone((yield store.getGroup(gid)))
