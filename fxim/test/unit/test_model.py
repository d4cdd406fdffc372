# -*- test-case-name: fxim.test.unit.test_model -*-
"""
Tests for L{fxim.model}.
"""

import attr
from twisted.trial.unittest import SynchronousTestCase

from fxim.model import Conversation, Message, MessageContent


class StampedTests(SynchronousTestCase):
    """
    L{Message.stamped} is C{attr.evolve} of the sender, uid and time.
    """

    def test_likeEvolve(self):
        """
        Every field is carried over: a message with every field set (a new
        field fails the first assertion until it is set here and named in
        C{stamped}).
        """
        self.assertEqual([f.name for f in attr.fields(Message)],
                         ["conversation", "fromUser", "content", "messageUid", "timestamp",
                          "toUser", "to", "localId"])
        message = Message(Conversation(1, "g", 2), "x", MessageContent(type=1, content="c"),
                          messageUid=5, timestamp=6, toUser="t", to=("a", "b"), localId=9)
        self.assertEqual(message.stamped("alice", 77, 88),
                         attr.evolve(message, fromUser="alice", messageUid=77, timestamp=88))
