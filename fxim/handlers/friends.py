# -*- test-case-name: fxim.test.unit.test_social -*-
"""
The C{fxim.friends} family: FAR, FHR, FRP, FRUS, FP and FALS, answered by
L{fxim.services.social.SocialService}.
"""

from fxim.dispatch import HandlerSet, RequestContext
from fxim.wire.requests import (
    AddFriend, FriendList, FriendRequestList, HandleFriendRequest, PullFriendRequests,
    PullFriends, SetFriendAlias, SyncFriendRequestUnread,
)
from fxim.wire.signals import Signal, SubSignal

plugin = HandlerSet("fxim.friends", "friend requests, friends, aliases")


@plugin.handler(Signal.PUBLISH, SubSignal.FAR)
async def addFriend(context: RequestContext, request: AddFriend) -> None:
    await context.server.social.addFriendRequest(
        context.userId, request.targetUid, request.reason)


@plugin.handler(Signal.PUBLISH, SubSignal.FHR)
async def handleFriendRequest(context: RequestContext, request: HandleFriendRequest) -> None:
    await context.server.social.handleFriendRequest(
        context.userId, request.targetUid, request.status)


@plugin.handler(Signal.PUBLISH, SubSignal.FRP)
async def pullFriendRequests(context: RequestContext,
                             request: PullFriendRequests) -> FriendRequestList:
    requests = await context.server.social.pullFriendRequests(context.userId, request.version)
    return FriendRequestList(tuple(requests))


@plugin.handler(Signal.PUBLISH, SubSignal.FRUS)
async def syncUnread(context: RequestContext, request: SyncFriendRequestUnread) -> None:
    await context.server.social.syncUnread(context.userId, request.version)


@plugin.handler(Signal.PUBLISH, SubSignal.FP)
async def pullFriends(context: RequestContext, request: PullFriends) -> FriendList:
    friends = await context.server.social.pullFriends(context.userId, request.version)
    return FriendList(tuple(friends))


@plugin.handler(Signal.PUBLISH, SubSignal.FALS)
async def setAlias(context: RequestContext, request: SetFriendAlias) -> None:
    await context.server.social.setAlias(context.userId, request.targetUid, request.alias)
