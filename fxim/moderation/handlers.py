# -*- test-case-name: fxim.test.e2e.test_moderation -*-
"""
The C{fxim.moderation} handler family: 73 C{REPORT}
C{{"messageUid", "reason"}} -- a user reports a message it received;
answers C{{"reportId"}}.
"""

from fxim.dispatch import HandlerSet, RequestContext
from fxim.errors import ErrorCode, SignalError
from fxim.protocol.command import JsonCommand

REPORT = 73


class ReportMessage(JsonCommand):
    """
    73 C{REPORT}: report a received message to the moderators.
    """

    subsignal = REPORT
    name = "REPORT"

plugin = HandlerSet("fxim.moderation", "message reports to moderators")


@plugin.handler(ReportMessage)
async def report(context: RequestContext, request) -> dict:
    moderation = context.api.getExtension("moderation")
    if moderation is None:
        raise SignalError(ErrorCode.NOT_IMPLEMENT, "moderation is not available")
    return {"reportId": await moderation.report(context.userId, request.value)}
