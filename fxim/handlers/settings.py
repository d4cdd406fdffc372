# -*- test-case-name: fxim.test.e2e.test_settings -*-
"""
The C{fxim.settings} family: UG and UP (settings sync between devices).
"""

from fxim.dispatch import HandlerSet, RequestContext
from fxim.wire.extensions import GetSettings, PutSetting, SettingList, SettingVersion
from fxim.wire.signals import Signal, SubSignal

plugin = HandlerSet("fxim.settings", "user settings sync")


@plugin.handler(Signal.PUBLISH, SubSignal.UG)
async def get(context: RequestContext, request: GetSettings) -> SettingList:
    return await context.server.settings.get(context.userId, request.version)


@plugin.handler(Signal.PUBLISH, SubSignal.UP)
async def put(context: RequestContext, request: PutSetting) -> SettingVersion:
    return await context.server.settings.put(context.userId, context.cid, request)
