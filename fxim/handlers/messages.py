# -*- test-case-name: fxim.test.e2e.test_messages -*-
"""
The C{fxim.messages} family: MS, MP, MR and LRM.
"""

from typing import Union

from twisted.internet.defer import Deferred

from fxim import metrics
from fxim.dispatch import HandlerSet, RequestContext
from fxim.wire.requests import (
    HistoryResult, LoadHistory, MessageNotify, PullMessages, PullResult, RecallMessage, SendMessage, SendResult,
)
from fxim.wire.signals import Signal, SubSignal

plugin = HandlerSet("fxim.messages", "send, pull, recall, history")


@plugin.handler(Signal.PUBLISH, SubSignal.MS)
def send(context: RequestContext, request: SendMessage) -> "Deferred[SendResult]":
    # The service's Deferred itself: no coroutine between the dispatcher
    # and the store.
    return context.server.messages.send(context.userId, context.cid, request.message)


@plugin.handler(Signal.PUBLISH, SubSignal.MP)
def pull(context: RequestContext, request: PullMessages) -> "Union[PullResult, Deferred[PullResult]]":
    # Read inline where the store can (SQLite): answered with no Deferred;
    # else callbacks, not a coroutine (MessagingService.pullNow and pull).
    connection = context.connection
    config = context.server.config
    transport = getattr(connection, "transportName", None)
    # The reply must fit the transport that carries it (docs/security.md).
    limit = config.pullMaxBytes
    if transport == "ws":
        limit = min(limit, config.maxWsPayload)
    messages = context.server.messages
    result = messages.pullNow(context.userId, request.afterSeq, transport, limit)
    if result is not None:
        return _answered(result, context, request.pullType)
    pulled = messages.pull(context.userId, request.afterSeq, transport, limit)
    return pulled.addCallback(_answered, context, request.pullType)


def _answered(result: PullResult, context: RequestContext, pullType: int) -> PullResult:
    if result.current < result.head:
        # Capped: an MN right after the reply makes every client continue;
        # its head is the next seq, since the web client pulls from head - 1.
        notify = MessageNotify(pullType, result.current + 1)
        context.server.reactor.callLater(0, _followUp, context.connection, notify)
    metrics.PULL_MESSAGES.observe(len(result.messages))
    return result


def _followUp(connection, notify: MessageNotify) -> None:
    connection.sendPush(notify)


@plugin.handler(Signal.PUBLISH, SubSignal.MR)
async def recall(context: RequestContext, request: RecallMessage) -> None:
    await context.server.messages.recall(context.userId, context.cid, request.messageUid)


@plugin.handler(Signal.PUBLISH, SubSignal.LRM)
async def history(context: RequestContext, request: LoadHistory) -> HistoryResult:
    return await context.server.messages.history(
        context.userId, request.conversation, request.beforeUid, request.count)
