"""
Unit tests of L{fxim.services.receipts.ReportService} on the memory twins:
who is told, refusals, date clamping, coalescing of bursts.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from fxim.errors import SignalError
from fxim.model import GroupInfo, GroupMember
from fxim.services.receipts import MAX_CLOCK_SKEW, ReportService
from fxim.storage.memory import MemoryStore
from fxim.storage.receipts import MemoryReportStore
from fxim.test.unit import RecordingBus
from fxim.wire.extensions import DeliveryReportRequest, PullReports, ReadReportRequest, ReportNotify


class ReportServiceTests(TestCase):

    async def setUp(self):
        self.store = MemoryStore()
        self.clock = Clock()
        self.clock.advance(1_800_000_000)
        self.bus = RecordingBus()
        self.service = ReportService(MemoryReportStore(), self.store, self.bus, self.clock)
        self.userIds = []
        for i in range(4):
            user, _ = await self.store.getOrCreateByMobile(f"1380000060{i}", 0)
            self.userIds.append(user.userId)

    async def test_unknownTarget(self):
        with self.assertRaises(SignalError) as caught:
            await self.service.delivered(self.userIds[0], DeliveryReportRequest("nobody", 1))
        self.assertEqual(caught.exception.code, 253)

    async def test_selfReportIgnored(self):
        a = self.userIds[0]
        await self.service.delivered(a, DeliveryReportRequest(a, 5))
        await self.service.read(a, ReadReportRequest(a, 5))
        self.assertEqual(self.bus.pushes, [])

    async def test_futureDateClamped(self):
        a, b = self.userIds[:2]
        await self.service.delivered(b, DeliveryReportRequest(a, 2 ** 62))
        result = await self.service.pull(a, "phone", PullReports(1))
        [report] = result.reports
        self.assertEqual(report.date, 1_800_000_000_000 + MAX_CLOCK_SKEW)

    async def test_groupNotMember(self):
        a, b, c, outsider = self.userIds
        await self.store.createGroup(GroupInfo("g1", "g", owner=a),
                                     [GroupMember(a, type=2), GroupMember(b)])
        with self.assertRaises(SignalError) as caught:
            await self.service.read(outsider, ReadReportRequest("g1", 5, 1, 0, (a,)))
        self.assertEqual(caught.exception.code, 9)
        # tos outside the group are ignored.
        await self.service.read(b, ReadReportRequest("g1", 5, 1, 0, (a, c, b)))
        self.assertEqual([userId for userId, p in self.bus.pushes], [a])

    async def test_burstCoalesced(self):
        """
        Reports submitted while a store transaction runs are stored together
        in the next one, newest date per key; one MRN per owner per
        transaction.
        """
        a, b = self.userIds[:2]
        from twisted.internet.defer import Deferred, gatherResults
        gate = Deferred()
        original = self.service.reports.storeReports

        async def slow(entries):
            await gate
            return await original(entries)
        self.service.reports.storeReports = slow
        ds = [self.service._submit([self._entry(a, b, date)]) for date in range(1, 101)]
        gate.callback(None)
        await gatherResults(ds)
        self.assertEqual(self.service.flushes, 2)
        mrns = [p for userId, p in self.bus.pushes if isinstance(p, ReportNotify)]
        self.assertEqual(len(mrns), 2)
        result = await self.service.pull(a, "phone", PullReports(1))
        self.assertEqual([r.date for r in result.reports], [100])

    def _entry(self, owner, reporter, date):
        from fxim.storage.receipts import DELIVERED, Report, ReportEntry
        return ReportEntry(owner, Report(DELIVERED, reporter, reporter, date))


class KeepOverLimitTests(TestCase):
    """
    A C{keepOverLimit} handler (MDR, MRR) still runs over the rate limit;
    only its answer is 250.
    """

    def test_overLimitStillHandled(self):
        from fxim.dispatch import Dispatcher, HandlerRegistry, HandlerSet
        from fxim.test.unit.test_dispatch import FakeConnection, dispatchRaw
        from fxim.wire.frame import Frame
        from fxim.wire.signals import Signal, SubSignal
        from fxim.wire import im_pb2 as pb
        seen = []
        handlers = HandlerSet("test.reports")

        @handlers.handler(Signal.PUBLISH, SubSignal.MDR, keepOverLimit=True)
        def mdr(context, request):
            seen.append(request.date)
        registry = HandlerRegistry.fromPlugins([handlers])
        clock = Clock()
        dispatcher = Dispatcher(registry, None, clock, rate=1.0, burst=1)
        connection = FakeConnection("tcp")
        replies = []
        for date in (1, 2, 3):
            body = pb.DeliveryReport(date=date, target="bob").SerializeToString()
            replies.append(self.successResultOf(dispatchRaw(
                dispatcher, connection, Signal.PUBLISH, SubSignal.MDR, date, body)).reply)
        self.assertEqual(seen, [1, 2, 3])
        self.assertEqual([r.body for r in replies], [b"\x00", b"\xfa", b"\xfa"])
        self.assertIsInstance(replies[0], Frame)
