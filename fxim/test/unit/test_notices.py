"""
Empty-target system notices (what the admin API's push route stores) are
stored, notified and pulled with the shapes the iOS client reads: a
non-zero uid, an empty conversation target, the sender
C{"SystemNotification"}, history under the sender.
"""

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from fxim.config import Config
from fxim.model import Conversation, Message, MessageContent
from fxim.protocol.registry import BUILTIN
from fxim.test.unit import RecordingBus
from fxim.testing import buildMemoryNode
from fxim.wire import im_pb2 as pb
from fxim.wire.requests import MessageNotify
from fxim.wire.signals import Signal, SubSignal


SYSTEM_SENDER = "SystemNotification"


class SystemNoticeTests(TestCase):

    async def test_emptyTargetNotice(self):
        """
        The notice has a non-zero uid, the empty target and the system
        sender on TCP (field by field) and WS; each receiver gets one MN;
        history finds it under the sender.
        """
        bus, clock = RecordingBus(), Clock()
        clock.advance(1_800_000_000)
        node = await buildMemoryNode(Config(), clock, bus=bus)
        self.addCleanup(lambda: ensureDeferred(node.close()))
        messaging = node.server.messages
        stored = await messaging.publish(
            Message(Conversation(0, "", 0), SYSTEM_SENDER, MessageContent(1, "维护通知")),
            ["alice", "bob"])
        self.assertNotEqual(stored.messageUid, 0)
        self.assertEqual(sorted(userId for userId, p in bus.pushes if isinstance(p, MessageNotify)),
                         ["alice", "bob"])
        result = await messaging.pull("bob", 0)
        frame = BUILTIN.lookup(Signal.PUBLISH, SubSignal.MP).replyTcp(1, 0, result)
        parsed = pb.PullMessageResult()
        parsed.ParseFromString(frame.body[1:])
        [m] = parsed.message
        self.assertEqual((m.conversation.target, m.from_user, m.message_id),
                         ("", SYSTEM_SENDER, stored.messageUid))
        history = await messaging.history("bob", Conversation(0, SYSTEM_SENDER, 0), 0, 20)
        self.assertEqual([x.messageUid for x in history.messages], [stored.messageUid])
