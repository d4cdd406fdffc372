"""
Unit tests of the one push decision for every stored message: a real
L{MessagingService} and L{GroupService} over in-memory twins, with the
L{PushService} hooked on C{afterReach} the way L{fxim.push.wiring} does.
Client sends and server-published messages (admin broadcasts, friend
greetings, agent answers) push alike; group notifications, tips and
transparent messages do not.
"""

from twisted.internet import task
from twisted.internet.defer import ensureDeferred
from twisted.trial.unittest import TestCase

from fxim.config import Config
from fxim.model import (
    ContentType, Conversation, ConversationType, GroupInfo, GroupMember, Message, MessageContent,
    PersistFlag,
)
from fxim.outbox.store import MemoryOutbox
from fxim.push.service import KIND, PushService, pushable
from fxim.push.store import DND, openPushStore
from fxim.services.groups import notificationContent
from fxim.test.unit.test_groups import RecordingBus
from fxim.testing import buildMemoryNode

START = 1700000000.0
SYSTEM = "SystemNotification"


def text(target: str, body: str, type=ContentType.TEXT, **kw) -> Message:
    return Message(Conversation(ConversationType.PRIVATE, target, 0), "",
                   MessageContent(type=type, searchableContent=body, **kw))


class ReachTests(TestCase):

    async def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(START)
        node = await buildMemoryNode(Config(), self.clock, bus=RecordingBus())
        self.addCleanup(lambda: ensureDeferred(node.close()))
        self.config, self.store = node.config, node.server.store
        self.messages, self.groups = node.server.messages, node.server.groups
        self.directory = node.server.directory
        # The unit under test: a push service with an inspectable outbox (the
        # node's own is off without a pusher).
        self.outbox = MemoryOutbox()
        self.pushStore = openPushStore(self.store)
        self.push = PushService(self.clock, self.pushStore, self.pushStore, self.outbox,
                                self.directory, self.store, collapseWindow=0)
        self.messages.afterReach.append(self.push.messageStored)
        for userId in ("alice", "bob"):
            await self.store.createUser("", userId.title(), 0, userId=userId)
        await self.push.register("bob", "phone", {"platform": "ios", "pushToken": "tp"})

    async def drain(self) -> list:
        jobs = await self.outbox.claim(KIND, "t", 10 ** 13, 1000, 100)
        await self.outbox.complete([j.id for j in jobs])
        return [j.payload for j in jobs]

    async def test_broadcastPushes(self):
        """
        A system message published to an offline registered device queues
        exactly one push, with the system sender and the preview.
        """
        await self.messages.publish(
            Message(Conversation(ConversationType.PRIVATE, "", 0), SYSTEM,
                    MessageContent(type=ContentType.TEXT, searchableContent="maintenance")),
            ["alice", "bob"])
        [payload] = await self.drain()
        self.assertEqual((payload["uid"], payload["cid"], payload["sender"], payload["preview"]),
                         ("bob", "phone", SYSTEM, "maintenance"))

    async def test_clientSendSamePath(self):
        """
        A client's message still pushes -- once, through the same hook.
        """
        await self.messages.send("alice", "a1", text("bob", "hello"))
        [payload] = await self.drain()
        self.assertEqual((payload["sender"], payload["preview"]), ("alice", "hello"))

    async def test_greetingAndAgentAnswer(self):
        """
        Server-published texts between two users (a friend greeting, an
        agent's answer) push the receiver; their tips do not.
        """
        conv = Conversation(ConversationType.PRIVATE, "bob", 0)
        await self.messages.publish(Message(conv, "alice", MessageContent(
            type=ContentType.TEXT, searchableContent="hi, it's Alice",
            persistFlag=PersistFlag.PERSIST_AND_COUNT)), ["alice", "bob"])
        await self.messages.publish(Message(conv, "alice", MessageContent(
            type=ContentType.TIP, content="you are friends now",
            persistFlag=PersistFlag.PERSIST)), ["alice", "bob"])
        [payload] = await self.drain()
        self.assertEqual(payload["preview"], "hi, it's Alice")

    async def test_groupNotificationsSilent(self):
        """
        Creating a group and adding/kicking members publishes notifications
        to bob, none of which push; a text in the group does.
        """
        groupId = await self.groups.create("alice", GroupInfo("", "ops"),
                                           [GroupMember("alice"), GroupMember("bob")])
        self.assertEqual(await self.drain(), [])
        await self.messages.send("alice", "a1", Message(
            Conversation(ConversationType.GROUP, groupId, 0), "",
            MessageContent(type=ContentType.TEXT, searchableContent="standup")))
        [payload] = await self.drain()
        self.assertEqual(payload["preview"], "standup")
        self.assertFalse(pushable(Message(Conversation(1, groupId, 0), "alice", notificationContent(
            ContentType.KICKOFF_GROUP_MEMBER, g=groupId, o="alice", ms=["bob"]))))

    async def test_sameRules(self):
        """
        Transparent messages never push; do-not-disturb and an online
        device hold for published messages too.
        """
        await self.messages.send("alice", "a1", text("bob", "", type=ContentType.TYPING))
        self.assertEqual(await self.drain(), [])
        notice = Message(Conversation(ConversationType.PRIVATE, "", 0), SYSTEM,
                         MessageContent(type=ContentType.TEXT, searchableContent="n"))
        await self.directory.register("bob", "phone", "0", "tcp")
        await self.messages.publish(notice, ["bob"])
        self.assertEqual(await self.drain(), [])
        await self.directory.unregister("bob", "phone", "0")
        await self.pushStore.setPreference("bob", DND, True)
        await self.messages.publish(notice, ["bob"])
        self.assertEqual(await self.drain(), [])
