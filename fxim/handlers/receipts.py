# -*- test-case-name: fxim.test.e2e.test_receipts -*-
"""
The C{fxim.receipts} family: MDR, MRR and MRP (delivery and read reports).
"""

from fxim.dispatch import HandlerSet, RequestContext
from fxim.wire.extensions import (
    DeliveryReportRequest, PullReports, ReadReportRequest, ReportList, ReportNotify,
)
from fxim.wire.signals import Signal, SubSignal

plugin = HandlerSet("fxim.receipts", "delivery and read reports")


# A login backlog makes the web client send one MDR per message at once:
# over the rate limit the answer is OVER_FREQUENCY, but the report is kept.
@plugin.handler(Signal.PUBLISH, SubSignal.MDR, keepOverLimit=True)
async def delivered(context: RequestContext, request: DeliveryReportRequest) -> None:
    await context.server.receipts.delivered(context.userId, request)


@plugin.handler(Signal.PUBLISH, SubSignal.MRR, keepOverLimit=True)
async def read(context: RequestContext, request: ReadReportRequest) -> None:
    await context.server.receipts.read(context.userId, request)


@plugin.handler(Signal.PUBLISH, SubSignal.MRP)
async def pull(context: RequestContext, request: PullReports) -> ReportList:
    result = await context.server.receipts.pull(context.userId, context.cid, request)
    if result.current < result.head:
        # Capped: the device pulls on from its cursor on the next MRN.
        context.server.reactor.callLater(
            0, context.connection.sendPush, ReportNotify(request.type, result.head))
    return result
