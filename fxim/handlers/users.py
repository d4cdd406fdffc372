# -*- test-case-name: fxim.test.unit.test_social -*-
"""
The C{fxim.users} family: US, UPUI and MMI, answered by
L{fxim.services.social.SocialService}.
"""

from fxim.dispatch import HandlerSet, RequestContext
from fxim.wire.requests import (
    ModifyMyInfo, PullUsers, PullUsersResult, SearchUsers, UserList,
)
from fxim.wire.signals import Signal, SubSignal

plugin = HandlerSet("fxim.users", "user search, profile pull and edit")


@plugin.handler(Signal.PUBLISH, SubSignal.US)
async def search(context: RequestContext, request: SearchUsers) -> UserList:
    users = await context.server.social.search(
        context.userId, request.keyword, request.fuzzy, request.page)
    return UserList(tuple(users))


@plugin.handler(Signal.PUBLISH, SubSignal.UPUI)
async def pullUsers(context: RequestContext, request: PullUsers) -> PullUsersResult:
    entries = await context.server.social.pullUsers(context.userId, request.requests)
    return PullUsersResult(tuple(entries))


@plugin.handler(Signal.PUBLISH, SubSignal.MMI)
async def modifyMyInfo(context: RequestContext, request: ModifyMyInfo) -> None:
    await context.server.social.modifyMyInfo(context.userId, request.entries)
