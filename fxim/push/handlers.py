# -*- test-case-name: fxim.test.e2e.test_push -*-
"""
The C{fxim.push} handler family: push-target registration and push
preferences on both transports (plugin subsignals; see docs/push.md).

  - 70 C{PUSHREG} C{{"platform","pushToken","appId","voipToken"}}
  - 71 C{PUSHUNREG} (no body)
  - 72 C{PUSHPREFS} C{{"dnd": bool}} or
    C{{"conversation": {"type","target","line"}, "muted": bool}}
"""

from typing import Any

from fxim.dispatch import HandlerSet, RequestContext
from fxim.errors import ErrorCode, SignalError
from fxim.protocol.command import JsonCommand
from fxim.push.service import PushRefused

#: The subsignal ordinals (fxim's own extensions, in the plugin range).
PUSHREG, PUSHUNREG, PUSHPREFS = 70, 71, 72


class PushRegister(JsonCommand):
    """
    70 C{PUSHREG}: register this device's push target.
    """

    subsignal = PUSHREG
    name = "PUSHREG"


class PushUnregister(JsonCommand):
    """
    71 C{PUSHUNREG}: drop this device's push target.
    """

    subsignal = PUSHUNREG
    name = "PUSHUNREG"


class PushPreferences(JsonCommand):
    """
    72 C{PUSHPREFS}: do-not-disturb or a conversation's mute flag.
    """

    subsignal = PUSHPREFS
    name = "PUSHPREFS"

plugin = HandlerSet("fxim.push", "push-target registration and push preferences")


def _service(context: RequestContext) -> Any:
    push = context.api.getExtension("push")
    if push is None:
        raise SignalError(ErrorCode.NOT_IMPLEMENT, "push is not available")
    return push


@plugin.handler(PushRegister)
async def register(context: RequestContext, request) -> dict:
    try:
        target = await _service(context).register(context.userId, context.cid, request.value)
    except PushRefused as e:
        raise SignalError(ErrorCode.INVALID_DATA, str(e))
    return {"platform": target.platform, "appId": target.appId}


@plugin.handler(PushUnregister)
async def unregister(context: RequestContext, request) -> dict:
    return {"dropped": await _service(context).unregister(context.userId, context.cid)}


@plugin.handler(PushPreferences)
async def preferences(context: RequestContext, request) -> None:
    try:
        await _service(context).setPreference(context.userId, request.value)
    except PushRefused as e:
        raise SignalError(ErrorCode.INVALID_DATA, str(e))
