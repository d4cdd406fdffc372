"""
Contract tests of L{fxim.storage.receipts}: the same tests on memory,
SQLite and PostgreSQL.
"""

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from fxim.storage.receipts import (
    DELIVERED, READ, IReportStore, MemoryReportStore, Report, ReportEntry, reportStoreFor,
)
from fxim.test.unit.test_storage import PostgresBackendMixin, SqliteBackendMixin


def entry(owner, reporter, target=None, kind=DELIVERED, date=1000):
    return ReportEntry(owner, Report(kind, reporter, target or reporter, date))


class ReportStoreContract:
    """
    What every L{IReportStore} does; C{self.reports} is the store.
    """

    def test_interface(self):
        self.assertTrue(verifyObject(IReportStore, self.reports))

    @inlineCallbacks
    def test_storeAndPullAscending(self):
        """
        Each change takes the owner's next seq; a pull returns seq >= id
        in ascending order with current and head.
        """
        changed = yield self.reports.storeReports([
            entry("alice", "bob", date=10), entry("alice", "bob", kind=READ, date=11),
            entry("carol", "bob", "group1", READ, 12)])
        self.assertEqual(changed, {"alice": (2, READ), "carol": (1, READ)})
        batch = yield self.reports.pullReports("alice", "phone", 1, 100)
        self.assertEqual(batch.reports, (
            (1, Report(DELIVERED, "bob", "bob", 10)), (2, Report(READ, "bob", "bob", 11))))
        self.assertEqual((batch.current, batch.head), (2, 2))
        self.assertEqual((yield self.reports.getReportHead("carol")), 1)
        self.assertEqual((yield self.reports.getReportHead("nobody")), 0)

    @inlineCallbacks
    def test_inclusiveFrom(self):
        """
        A device asking from the head it was notified of gets the report
        with that seq (the web client does not subtract 1).
        """
        for date in (1, 2, 3):
            yield self.reports.storeReports([entry("alice", f"u{date}", date=date)])
        yield self.reports.pullReports("alice", "phone", 1, 100)
        yield self.reports.storeReports([entry("alice", "u9", date=9)])
        batch = yield self.reports.pullReports("alice", "phone", 4, 100)
        self.assertEqual([s for s, _ in batch.reports], [4])

    @inlineCallbacks
    def test_latestPerKeyOnly(self):
        """
        A burst from one reporter keeps one row, with the newest date; an
        older or equal date changes nothing.
        """
        for date in range(1, 301):
            yield self.reports.storeReports([entry("alice", "bob", date=date)])
        changed = yield self.reports.storeReports([entry("alice", "bob", date=300),
                                                   entry("alice", "bob", date=5)])
        self.assertEqual(changed, {})
        batch = yield self.reports.pullReports("alice", "phone", 1, 1000)
        self.assertEqual(batch.reports, ((300, Report(DELIVERED, "bob", "bob", 300)),))
        self.assertEqual(batch.head, 300)

    @inlineCallbacks
    def test_missedNotificationCaughtUp(self):
        """
        A device that pulled up to seq 2 and then missed notifications gets
        everything after 2 when it next pulls, even from the latest head.
        """
        for i in (1, 2):
            yield self.reports.storeReports([entry("alice", f"u{i}", date=i)])
        yield self.reports.pullReports("alice", "phone", 2, 100)
        for i in (3, 4, 5):
            yield self.reports.storeReports([entry("alice", f"u{i}", date=i)])
        batch = yield self.reports.pullReports("alice", "phone", 5, 100)
        self.assertEqual([s for s, _ in batch.reports], [3, 4, 5])
        # Another device that never pulled gets everything.
        batch = yield self.reports.pullReports("alice", "laptop", 5, 100)
        self.assertEqual([s for s, _ in batch.reports], [1, 2, 3, 4, 5])

    @inlineCallbacks
    def test_limit(self):
        """
        A capped pull says where it stopped; the next pull continues there.
        """
        yield self.reports.storeReports([entry("alice", f"u{i}", date=i) for i in range(10)])
        batch = yield self.reports.pullReports("alice", "phone", 1, 4)
        self.assertEqual(([s for s, _ in batch.reports], batch.current, batch.head),
                         ([1, 2, 3, 4], 4, 10))
        batch = yield self.reports.pullReports("alice", "phone", 10, 4)
        self.assertEqual([s for s, _ in batch.reports], [5, 6, 7, 8])

    @inlineCallbacks
    def test_emptyPull(self):
        batch = yield self.reports.pullReports("alice", "phone", 1, 10)
        self.assertEqual((batch.reports, batch.current, batch.head), ((), 0, 0))


class MemoryReportStoreTests(ReportStoreContract, TestCase):
    def setUp(self):
        self.reports = MemoryReportStore()


class SqliteReportStoreTests(SqliteBackendMixin, ReportStoreContract, TestCase):
    @inlineCallbacks
    def setUp(self):
        yield SqliteBackendMixin.setUp(self)
        self.reports = reportStoreFor(self.store)


class PostgresReportStoreTests(PostgresBackendMixin, ReportStoreContract, TestCase):
    @inlineCallbacks
    def setUp(self):
        yield PostgresBackendMixin.setUp(self)
        self.reports = reportStoreFor(self.store)
