# -*- test-case-name: fxim.test.unit.test_receipts_storage -*-
"""
Delivery and read reports (MDR/MRR), stored per user who should see them,
with that user's own gapless report sequence (the MRN head) and a pull
cursor per device (MRP).

Only the latest report per (owner, reporter, target, kind) is kept: a
report that changes moves to the owner's next seq, so pulling from any seq
shows every change once, and a burst of reports from one reporter collapses
into one row.  A report whose date is not newer than the stored one changes
nothing (and gets no seq).

L{SQLReportStore} runs on the pools of an L{fxim.storage.database.SQLDatabase}
(SQLite or PostgreSQL, tables of schema delta 004); L{MemoryReportStore}
is its twin for unit tests.  Both pass the contract tests in
L{fxim.test.unit.test_receipts_storage}.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import attr
from twisted.internet.defer import Deferred, succeed
from zope.interface import Interface, implementer

from fxim.storage.database import SQLDatabase, one_txn, upsert
from fxim.storage.dialect import Dialect

#: Report kinds (C{reportType} on the wire).
DELIVERED = 1
READ = 2
KINDS = (DELIVERED, READ)

_PUT_REPORT = upsert("user_reports", ("uid", "reporter", "target", "kind"), ("report_date", "seq"),
                     # Another node may have stored a newer one since the SELECT.
                     " WHERE excluded.report_date > user_reports.report_date")
_PUT_CURSOR = upsert("report_cursors", ("uid", "cid"), ("seq",))


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Report:
    """
    One report as its owner sees it.

    @ivar reportType: L{DELIVERED} or L{READ}.
    @ivar userId: the reporter.
    @ivar target: the conversation target from the owner's side (the
        reporter for 1:1 reports, the group id for group ones).
    @ivar date: the reporter's clock (ms) when it reported.
    """

    reportType: int
    userId: str
    target: str
    date: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ReportEntry:
    """
    A report to store for C{owner}.
    """

    owner: str
    report: Report


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ReportBatch:
    """
    The result of L{IReportStore.pullReports}.

    @ivar reports: C{(seq, Report)} pairs in ascending seq.
    @ivar current: the seq of the last report returned (the head if none).
    @ivar head: the owner's report head.
    """

    reports: Tuple[Tuple[int, Report], ...]
    current: int
    head: int


class IReportStore(Interface):
    """
    Reports per owner, with per-owner sequences and per-device cursors.
    """

    def storeReports(entries):
        """
        Store the L{ReportEntry}s in one transaction.  An entry replaces the
        owner's stored report of the same (reporter, target, kind) only if
        its date is newer; each replacement takes the owner's next seq.

        @return: L{Deferred} firing with a C{dict} owner -> (new head, kind
            of its last change) for the owners whose reports changed.
        """

    def pullReports(owner, cid, fromSeq, limit):
        """
        The owner's reports with seq >= C{fromSeq} -- or from just after
        what device C{cid} pulled last, if that is lower, so a device that
        missed a notification gets the rest -- ascending, at most
        C{limit}; records how far C{cid} has now pulled.

        @return: L{Deferred} firing with a L{ReportBatch}.
        """

    def getReportHead(owner):
        """
        @return: L{Deferred} firing with the owner's report head (0 if none).
        """


# -- SQL --------------------------------------------------------------------


def storeReports_txn(txn: Any, d: Dialect,
                     entries: Sequence[ReportEntry]) -> Dict[str, Tuple[int, int]]:
    changed: Dict[str, Tuple[int, int]] = {}
    # Owners in a fixed order so concurrent transactions (other nodes)
    # lock their head rows in the same order.
    for entry in sorted(entries, key=lambda e: (e.owner, e.report.userId, e.report.target,
                                                e.report.reportType)):
        r = entry.report
        key = (entry.owner, r.userId, r.target, r.reportType)
        row = one_txn(txn, d, "SELECT report_date FROM user_reports WHERE uid = ?"
                   " AND reporter = ? AND target = ? AND kind = ?", key)
        if row is not None and row[0] >= r.date:
            continue
        head = one_txn(txn, d, "INSERT INTO report_heads (uid, head) VALUES (?, 1)"
                    " ON CONFLICT (uid) DO UPDATE SET head = report_heads.head + 1"
                    " RETURNING head", (entry.owner,))[0]
        txn.execute(d.q(_PUT_REPORT), key + (r.date, head))
        changed[entry.owner] = (head, r.reportType)
    return changed


def getReportHead_txn(txn: Any, d: Dialect, owner: str) -> int:
    row = one_txn(txn, d, "SELECT head FROM report_heads WHERE uid = ?", (owner,))
    return 0 if row is None else row[0]


def pullReports_txn(txn: Any, d: Dialect, owner: str, cid: str, fromSeq: int,
                    limit: int) -> ReportBatch:
    row = one_txn(txn, d, "SELECT seq FROM report_cursors WHERE uid = ? AND cid = ?",
               (owner, cid))
    cursor = 0 if row is None else row[0]
    start = max(1, min(fromSeq, cursor + 1))
    txn.execute(d.q("SELECT seq, kind, reporter, target, report_date FROM user_reports"
                    " WHERE uid = ? AND seq >= ? ORDER BY seq LIMIT ?"),
                (owner, start, limit))
    rows = txn.fetchall()
    head = getReportHead_txn(txn, d, owner)
    reports = tuple((seq, Report(kind, reporter, target, date))
                    for seq, kind, reporter, target, date in rows)
    current = reports[-1][0] if reports else head
    if current > cursor:
        txn.execute(d.q(_PUT_CURSOR), (owner, cid, current))
    return ReportBatch(reports, current, head)


@implementer(IReportStore)
class SQLReportStore:
    """
    L{IReportStore} on the pools of an L{fxim.storage.sqlstore.SQLStore}.
    """

    def __init__(self, store: SQLDatabase) -> None:
        self._store = store

    def storeReports(self, entries: Sequence[ReportEntry]) -> Deferred:
        if not entries:
            return succeed({})
        return self._store._runWrite(storeReports_txn, list(entries))

    def pullReports(self, owner: str, cid: str, fromSeq: int, limit: int) -> Deferred:
        return self._store._runWrite(pullReports_txn, owner, cid, fromSeq, limit)

    def getReportHead(self, owner: str) -> Deferred:
        return self._store._runRead(getReportHead_txn, owner)


# -- memory -----------------------------------------------------------------

@implementer(IReportStore)
class MemoryReportStore:
    """
    L{IReportStore} in memory.
    """

    def __init__(self) -> None:
        self.heads: Dict[str, int] = {}
        #: owner -> (reporter, target, kind) -> (date, seq)
        self.rows: Dict[str, Dict[Tuple[str, str, int], Tuple[int, int]]] = {}
        self.cursors: Dict[Tuple[str, str], int] = {}

    def storeReports(self, entries: Sequence[ReportEntry]) -> Deferred:
        changed: Dict[str, Tuple[int, int]] = {}
        for entry in entries:
            r = entry.report
            rows = self.rows.setdefault(entry.owner, {})
            key = (r.userId, r.target, r.reportType)
            old = rows.get(key)
            if old is not None and old[0] >= r.date:
                continue
            head = self.heads[entry.owner] = self.heads.get(entry.owner, 0) + 1
            rows[key] = (r.date, head)
            changed[entry.owner] = (head, r.reportType)
        return succeed(changed)

    def pullReports(self, owner: str, cid: str, fromSeq: int, limit: int) -> Deferred:
        cursor = self.cursors.get((owner, cid), 0)
        start = max(1, min(fromSeq, cursor + 1))
        found = sorted((seq, Report(kind, reporter, target, date))
                       for (reporter, target, kind), (date, seq)
                       in self.rows.get(owner, {}).items() if seq >= start)
        reports = tuple(found[:max(0, limit)])
        head = self.heads.get(owner, 0)
        current = reports[-1][0] if reports else head
        if current > cursor:
            self.cursors[(owner, cid)] = current
        return succeed(ReportBatch(reports, current, head))

    def getReportHead(self, owner: str) -> Deferred:
        return succeed(self.heads.get(owner, 0))


def reportStoreFor(store: object) -> IReportStore:
    """
    The report store that lives beside C{store}: SQL on an SQL store's
    pools, else in memory.
    """
    if isinstance(store, SQLDatabase):
        return SQLReportStore(store)
    return MemoryReportStore()
