# -*- test-case-name: fxim.test.unit.test_receipts -*-
"""
Delivery and read reports: MDR and MRR in, MRN out, MRP to pull.

Who sees a report (the "owners"):
  - MDR from B C{{target: A}}: A, as (uid B, target B, delivered);
  - MRR from B for the 1:1 conversation with A: A, as (B, B, read);
  - MRR from B for group G with C{tos}: every member of G in C{tos} but B,
    as (B, G, read).
A user never receives its own reports.  In a 1:1 report the target the
original sender sees is the reporter: its conversation with B is keyed by B.

Reports are coalesced the way messages are group-committed: while one
store transaction runs, further reports queue, and the next transaction
takes them all, keeping only the newest date per (owner, reporter, target,
kind).  A login backlog that produces one MDR per received message thus
costs a few transactions, and one MRN per owner and transaction.  Every
device of an owner gets the MRN; each device pulls from its own cursor, so
an MRN lost while it was offline is caught up by the next pull.
"""

from typing import Dict, List, Optional, Tuple

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger

from fxim.errors import ErrorCode, SignalError
from fxim.model import ConversationType, MemberType
from fxim.storage.receipts import DELIVERED, READ, Report, ReportEntry
from fxim.wire.extensions import (
    DeliveryReportRequest, PullReports, ReadReportRequest, ReportList, ReportNotify,
)

_log = Logger()

#: Most reports one MRP returns; the rest follows another MRN.
PULL_LIMIT = 500

#: How far ahead of the server clock a report date may be (ms): a date
#: far in the future would make every later report of that key "older".
MAX_CLOCK_SKEW = 24 * 3600 * 1000

_Key = Tuple[str, str, str, int]


class ReportService:
    """
    @param reports: the L{fxim.storage.receipts.IReportStore}.
    @param store: the node's main store (users, group members).
    @param bus: the L{fxim.interfaces.IDeliveryBus}.
    """

    def __init__(self, reports, store, bus, clock) -> None:
        self.reports = reports
        self.store = store
        self.bus = bus
        self.clock = clock
        self._pending: Dict[_Key, int] = {}
        self._waiters: List[Deferred] = []
        self._flushing = False
        #: Transactions run so far and the reports submitted to them.
        self.flushes = 0
        self.submitted = 0

    def _date(self, date: int) -> int:
        return max(0, min(date, int(self.clock.seconds() * 1000) + MAX_CLOCK_SKEW))

    async def delivered(self, userId: str, request: DeliveryReportRequest) -> None:
        """
        MDR from C{uid}.

        @raise SignalError: C{NOT_EXIST} for an unknown target user.
        """
        target = request.target
        if not target or target == userId:
            return
        if await self.store.getUser(target) is None:
            raise SignalError(ErrorCode.NOT_EXIST, "unknown target user")
        await self._submit([ReportEntry(target, Report(DELIVERED, userId, userId,
                                                       self._date(request.date)))])

    async def read(self, userId: str, request: ReadReportRequest) -> None:
        """
        MRR from C{uid}.

        @raise SignalError: C{NOT_EXIST} unknown target, C{NOT_IN_GROUP} not
            in the group, C{NOT_IMPLEMENT} for other conversation types.
        """
        target = request.target
        if request.conversationType == ConversationType.PRIVATE:
            if not target or target == userId:
                return
            if await self.store.getUser(target) is None:
                raise SignalError(ErrorCode.NOT_EXIST, "unknown target user")
            await self._submit([ReportEntry(target, Report(READ, userId, userId,
                                                           self._date(request.date)))])
            return
        if request.conversationType != ConversationType.GROUP:
            raise SignalError(ErrorCode.NOT_IMPLEMENT,
                              f"conversation type {request.conversationType}")
        wanted = set(request.tos) - {userId}
        members = {m.memberId: m for m in await self.store.getMembers(target)}
        me = members.get(userId)
        if me is None or me.type == MemberType.REMOVED:
            raise SignalError(ErrorCode.NOT_IN_GROUP)
        owners = sorted(u for u in wanted if u in members)
        if owners:
            await self._submit([ReportEntry(u, Report(READ, userId, target, self._date(request.date)))
                                for u in owners])

    def _submit(self, entries: List[ReportEntry]) -> Deferred:
        """
        Queue entries for the next store transaction.

        @return: a L{Deferred} firing once they are stored and notified.
        """
        for e in entries:
            r = e.report
            key = (e.owner, r.userId, r.target, r.reportType)
            if self._pending.get(key, -1) < r.date:
                self._pending[key] = r.date
        self.submitted += len(entries)
        waiter: Deferred = Deferred()
        self._waiters.append(waiter)
        if not self._flushing:
            self._flush()
        return waiter

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        waiters, self._waiters = self._waiters, []
        self._flushing = True
        self.flushes += 1
        entries = [ReportEntry(owner, Report(kind, reporter, target, date))
                   for (owner, reporter, target, kind), date in pending.items()]
        d = ensureDeferred(self._store(entries))

        def done(result):
            self._flushing = False
            if self._waiters:
                self._flush()
            for w in waiters:
                if isinstance(result, Exception):
                    w.errback(result)
                else:
                    w.callback(None)

        d.addCallbacks(done, lambda f: done(f.value))

    async def _store(self, entries: List[ReportEntry]) -> None:
        changed = await self.reports.storeReports(entries)
        for owner, (head, kind) in sorted(changed.items()):
            self._deliver(owner, ReportNotify(kind, head))

    def _deliver(self, userId: str, push, excludeCid: Optional[str] = None) -> None:
        d = ensureDeferred(self.bus.deliver(userId, push, excludeCid))
        d.addErrback(lambda f: _log.failure("report notification to {uid} failed", f, uid=userId))

    async def pull(self, userId: str, cid: str, request: PullReports) -> ReportList:
        """
        MRP: the caller's reports from C{request.fromSeq} (inclusive) or
        from after what this device pulled last, whichever is lower.
        """
        batch = await self.reports.pullReports(userId, cid, max(0, request.fromSeq), PULL_LIMIT)
        return ReportList(tuple(r for _, r in batch.reports), batch.current, batch.head)
