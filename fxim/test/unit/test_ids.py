"""
Tests for L{fxim.ids}'s message uids (the user and group ids are tested in
L{fxim.test.unit.test_storage.IdTests}).
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from fxim.ids import EPOCH_MS, MessageUidGenerator


class MessageUidGeneratorTests(TestCase):
    """
    Tests for L{MessageUidGenerator}.
    """

    def test_increasing(self):
        """
        Uids grow, within one millisecond (the counter) and across them,
        and stay below 2 ** 53.
        """
        clock = Clock()
        clock.advance(EPOCH_MS / 1000 + 10)
        gen = MessageUidGenerator(5, clock)
        messageUids = [gen.next() for _ in range(300)]
        clock.advance(1)
        messageUids.append(gen.next())
        self.assertEqual(messageUids, sorted(set(messageUids)))
        self.assertLess(messageUids[-1], 2 ** 53)

    def test_clockStepsBack(self):
        """
        A clock that steps back does not make the generator repeat a uid.
        """
        clock = Clock()
        clock.advance(EPOCH_MS / 1000 + 100)
        gen = MessageUidGenerator(1, clock)
        first = gen.next()
        clock.rightNow -= 50
        self.assertGreater(gen.next(), first)

    def test_nodeIdRange(self):
        """
        Node ids outside 0-63 are refused.
        """
        self.assertRaises(ValueError, MessageUidGenerator, 64, Clock())
        self.assertRaises(ValueError, MessageUidGenerator, -1, Clock())
