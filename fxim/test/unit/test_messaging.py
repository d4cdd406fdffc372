# -*- test-case-name: fxim.test.unit.test_messaging -*-
"""
Tests for L{fxim.services.messaging.MessagingService}.
"""

import attr
from twisted.internet.defer import ensureDeferred
from twisted.trial.unittest import SynchronousTestCase

from fxim.model import Conversation, Message, MessageContent
from fxim.testing import memoryNode


class StampTests(SynchronousTestCase):
    """
    A sent message is stored as sent, with the server's sender, uid and
    time: what C{attr.evolve} of those three gives (the send path builds
    the record itself, field by field, because that is cheaper).
    """

    def test_everyFieldKept(self):
        """
        A message with every field set keeps all but the three stamped
        ones.  A new field of L{Message} fails the first assertion until
        it is set here and carried in C{MessagingService.send}.
        """
        self.assertEqual([f.name for f in attr.fields(Message)],
                         ["conversation", "fromUser", "content", "messageUid", "timestamp",
                          "toUser", "to", "localId"])
        node = memoryNode()
        self.addCleanup(lambda: self.successResultOf(ensureDeferred(node.close())))
        alice, _ = self.successResultOf(ensureDeferred(node.login("13800000001", "phone")))
        bob, _ = self.successResultOf(ensureDeferred(node.login("13800000002", "phone")))
        message = Message(Conversation(0, bob, 0), "forged", MessageContent(type=1, content="c"),
                          messageUid=5, timestamp=6, toUser="t", to=("a", "b"), localId=9)
        sent = self.successResultOf(ensureDeferred(
            node.server.messages.send(alice, "phone", message)))
        stored = self.successResultOf(node.server.store.getMessage(sent.messageUid))
        self.assertEqual(stored, attr.evolve(message, fromUser=alice, messageUid=sent.messageUid,
                                             timestamp=sent.timestamp))


class SendPathTests(SynchronousTestCase):
    """
    The callbacks of C{MessagingService.send}: a failure on the way fails
    that send only, and the device's next send goes on.
    """

    def setUp(self):
        self.node = memoryNode()
        self.addCleanup(lambda: self.successResultOf(ensureDeferred(self.node.close())))
        self.alice, _ = self.successResultOf(ensureDeferred(
            self.node.login("13800000001", "phone")))
        self.bob, _ = self.successResultOf(ensureDeferred(
            self.node.login("13800000002", "phone")))
        self.messages = self.node.server.messages

    def send(self):
        return self.messages.send(self.alice, "phone", Message(
            Conversation(0, self.bob, 0), "", MessageContent(type=1, content="c")))

    def test_storingRaises(self):
        """
        If storing raises at once, the send fails (a L{Deferred}, not an
        exception) and the device's next send is stored.
        """
        original = self.messages._store
        calls = []

        def broken(*args):
            calls.append(args)
            if len(calls) == 1:
                raise RuntimeError("boom")
            return original(*args)
        self.patch(self.messages, "_store", broken)
        self.failureResultOf(self.send(), RuntimeError)
        sent = self.successResultOf(self.send())
        self.assertIsNotNone(self.successResultOf(self.node.server.store.getMessage(sent.messageUid)))
        self.assertEqual(self.messages._sequencers, {})

    def test_refusedThenSent(self):
        """
        A send refused by the checks (an unknown target) releases the
        device's turn: the next send is stored.
        """
        refused = self.messages.send(self.alice, "phone", Message(
            Conversation(0, "nobody", 0), "", MessageContent(type=1, content="c")))
        self.failureResultOf(refused)
        self.successResultOf(self.send())
        self.assertEqual(self.messages._sequencers, {})
