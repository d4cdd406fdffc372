# -*- test-case-name: fxim.test.unit.test_heap -*-
"""
Tests for L{fxim.heap}.
"""

import gc

from twisted.trial.unittest import SynchronousTestCase

from fxim import heap


class SettleTests(SynchronousTestCase):
    """
    L{heap.settle} freezes what exists and raises the young threshold.
    """

    def setUp(self):
        threshold = gc.get_threshold()

        def restore():
            gc.unfreeze()
            gc.set_threshold(*threshold)
        self.addCleanup(restore)

    def test_settle(self):
        """
        Afterwards the objects that existed are frozen, young collections
        wait for L{heap.YOUNG_THRESHOLD} allocations, and the older
        generations' thresholds are kept.
        """
        gc.set_threshold(700, 10, 10)
        heap.settle()
        self.assertGreater(gc.get_freeze_count(), 0)
        self.assertEqual(gc.get_threshold(), (heap.YOUNG_THRESHOLD, 10, 10))

    def test_keepsAHigherThreshold(self):
        """
        A threshold already above it (set by whoever embeds the node) stays.
        """
        gc.set_threshold(100000, 10, 10)
        heap.settle()
        self.assertEqual(gc.get_threshold()[0], 100000)
