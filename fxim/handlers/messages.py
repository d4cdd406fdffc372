# -*- test-case-name: fxim.test.test_e2e_messages -*-
"""
The C{fxim.messages} family: MS, MP, MR and LRM.
"""

from fxim.dispatch import HandlerSet, RequestContext
from fxim.wire.requests import (
    HistoryResult, LoadHistory, PullMessages, PullResult, RecallMessage, SendMessage, SendResult,
)
from fxim.wire.signals import Signal, SubSignal

plugin = HandlerSet("fxim.messages", "send, pull, recall, history")


@plugin.handler(Signal.PUBLISH, SubSignal.MS)
async def send(context: RequestContext, request: SendMessage) -> SendResult:
    return await context.server.messages.send(context.uid, context.cid, request.message)


@plugin.handler(Signal.PUBLISH, SubSignal.MP)
async def pull(context: RequestContext, request: PullMessages) -> PullResult:
    return await context.server.messages.pull(context.uid, request.afterSeq)


@plugin.handler(Signal.PUBLISH, SubSignal.MR)
async def recall(context: RequestContext, request: RecallMessage) -> None:
    await context.server.messages.recall(context.uid, context.cid, request.uid)


@plugin.handler(Signal.PUBLISH, SubSignal.LRM)
async def history(context: RequestContext, request: LoadHistory) -> HistoryResult:
    return await context.server.messages.history(
        context.uid, request.conversation, request.beforeUid, request.count)
