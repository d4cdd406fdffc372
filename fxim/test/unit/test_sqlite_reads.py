"""
Tests for L{fxim.storage.sqlite.InlineReader}: small reads inline, big
ones (pulls, history) on the pool's threads.
"""

import os

from twisted.internet.defer import succeed
from twisted.trial.unittest import SynchronousTestCase

from fxim.storage.sqlite import InlineReader


class _Pool:
    def __init__(self):
        self.calls = []

    def runInteraction(self, func, *args):
        self.calls.append(func.__name__)
        return succeed("pooled")

    def close(self):
        pass


def pullMessages_txn(cursor, *args):
    return "inline"


def getHead_txn(cursor, *args):
    return "inline"


class InlineReaderTests(SynchronousTestCase):
    """
    Which reads leave the reactor thread.
    """

    def setUp(self):
        path = os.path.join(self.mktemp() + ".sqlite3")
        self.pool = _Pool()
        self.reader = InlineReader(path, lambda conn: None, self.pool)
        self.addCleanup(self.reader.close)

    def test_pullsGoToThePool(self):
        """
        A pull runs on the pool (it may read C{--pull-max-bytes}).
        """
        self.assertEqual(self.successResultOf(self.reader.runInteraction(pullMessages_txn)),
                         "pooled")
        self.assertEqual(self.pool.calls, ["pullMessages_txn"])

    def test_smallReadsStayInline(self):
        """
        A small lookup runs on the calling thread.
        """
        self.assertEqual(self.successResultOf(self.reader.runInteraction(getHead_txn)),
                         "inline")
        self.assertEqual(self.pool.calls, [])
