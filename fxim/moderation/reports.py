# -*- test-case-name: fxim.test.unit.test_moderation -*-
"""
Message reports: L{IReportStore} on SQL (L{SQLReports}) and in memory
(L{MemoryReports}).
"""

import attr
from twisted.internet.defer import succeed
from zope.interface import Interface, implementer


@attr.s(frozen=True, auto_attribs=True)
class Report:
    id: int
    reporter: str
    messageUid: int
    reason: str
    createdAt: int


class IReportStore(Interface):
    def add(reporter, messageUid, reason, now):
        """
        @return: L{Deferred} firing with the new report's id.
        """

    def list(limit=100, beforeId=None):
        """
        @return: L{Deferred} firing with the newest L{Report}s (below
            C{beforeId}), newest first.
        """


def add_txn(txn, d, reporter, messageUid, reason, now):
    txn.execute(d.q("UPDATE counters SET value = value + 1 WHERE name = 'reports' RETURNING value"))
    reportId = txn.fetchone()[0]
    txn.execute(d.q("INSERT INTO message_reports (id, reporter, message_uid, reason, created_at)"
                    " VALUES (?, ?, ?, ?, ?)"), (reportId, reporter, messageUid, reason, now))
    return reportId


def list_txn(txn, d, limit, beforeId):
    txn.execute(d.q("SELECT id, reporter, message_uid, reason, created_at FROM message_reports"
                    " WHERE id < ? ORDER BY id DESC LIMIT ?"),
                (beforeId if beforeId is not None else 2 ** 62, limit))
    return [Report(int(r[0]), r[1], int(r[2]), r[3], int(r[4])) for r in txn.fetchall()]


@implementer(IReportStore)
class SQLReports:
    def __init__(self, store) -> None:
        self._store = store

    def add(self, reporter, messageUid, reason, now):
        return self._store._runWrite(add_txn, reporter, messageUid, reason, now)

    def list(self, limit=100, beforeId=None):
        return self._store._runRead(list_txn, limit, beforeId)


@implementer(IReportStore)
class MemoryReports:
    def __init__(self) -> None:
        self.reports: list = []

    def add(self, reporter, messageUid, reason, now):
        report = Report(len(self.reports) + 1, reporter, messageUid, reason, now)
        self.reports.append(report)
        return succeed(report.id)

    def list(self, limit=100, beforeId=None):
        found = [r for r in reversed(self.reports) if beforeId is None or r.id < beforeId]
        return succeed(found[:limit])


def openReports(store):
    if hasattr(store, "_runWrite") and hasattr(store, "dialect"):
        return SQLReports(store)
    return MemoryReports()
