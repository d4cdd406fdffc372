# -*- test-case-name: fxim.test.unit.test_groups -*-
"""
The C{fxim.groups} family: GC, GPGI, GPGM, GAM, GKM, GQ, GD and GMI, thin
wrappers around L{fxim.services.groups.GroupService}.
"""

from fxim.dispatch import HandlerSet, RequestContext
from fxim.wire.requests import (
    AddGroupMembers, CreateGroup, DismissGroup, GroupCreated, GroupInfoList, GroupMemberList,
    KickGroupMembers, ModifyGroupInfo, PullGroupInfo, PullGroupMembers, QuitGroup,
)
from fxim.wire.signals import Signal, SubSignal

plugin = HandlerSet("fxim.groups", "create, pull, add, kick, quit, dismiss, modify groups")


@plugin.handler(Signal.PUBLISH, SubSignal.GC)
async def create(context: RequestContext, request: CreateGroup) -> GroupCreated:
    groupId = await context.server.groups.create(
        context.userId, request.info, request.members, request.notifyContent)
    return GroupCreated(groupId)


@plugin.handler(Signal.PUBLISH, SubSignal.GPGI)
async def pullInfo(context: RequestContext, request: PullGroupInfo) -> GroupInfoList:
    return GroupInfoList(await context.server.groups.pullInfo(context.userId, request.groupIds))


@plugin.handler(Signal.PUBLISH, SubSignal.GPGM)
async def pullMembers(context: RequestContext, request: PullGroupMembers) -> GroupMemberList:
    return GroupMemberList(await context.server.groups.pullMembers(
        context.userId, request.groupId, request.head))


@plugin.handler(Signal.PUBLISH, SubSignal.GAM)
async def addMembers(context: RequestContext, request: AddGroupMembers) -> None:
    await context.server.groups.addMembers(
        context.userId, request.groupId, request.members, request.notifyContent)


@plugin.handler(Signal.PUBLISH, SubSignal.GKM)
async def kickMembers(context: RequestContext, request: KickGroupMembers) -> None:
    await context.server.groups.kickMembers(
        context.userId, request.groupId, request.memberIds, request.notifyContent)


@plugin.handler(Signal.PUBLISH, SubSignal.GQ)
async def quit(context: RequestContext, request: QuitGroup) -> None:
    await context.server.groups.quit(context.userId, request.groupId, request.notifyContent)


@plugin.handler(Signal.PUBLISH, SubSignal.GD)
async def dismiss(context: RequestContext, request: DismissGroup) -> None:
    await context.server.groups.dismiss(context.userId, request.groupId, request.notifyContent)


@plugin.handler(Signal.PUBLISH, SubSignal.GMI)
async def modify(context: RequestContext, request: ModifyGroupInfo) -> None:
    await context.server.groups.modify(
        context.userId, request.groupId, request.type, request.value, request.notifyContent)
