"""
fxim-echo: an example third-party fxim plugin.

It adds subsignal 64, named C{ECHO} on WebSocket, with JSON bodies on both
transports: the reply is the request with the caller's uid added, and the
caller's other devices get the same value as a push.  One command and one
handler.
"""

from fxim.dispatch import HandlerSet
from fxim.protocol.command import JsonCommand
from fxim.wire.requests import PluginPush

ECHO = 64


class Echo(JsonCommand):
    """
    64 C{ECHO}: any JSON value, answered with C{{"echo": value, "uid": uid}}.
    """

    subsignal = ECHO
    name = "ECHO"


echo = HandlerSet("acme.echo", "echoes JSON on subsignal 64 (ECHO)")


@echo.handler(Echo)
async def handleEcho(context, request):
    """
    Reply with the request plus the caller's uid; push it to the caller's
    other devices.
    """
    value = {"echo": request.value, "uid": context.userId}
    await context.api.deliver(context.userId, PluginPush(ECHO, value), context.cid)
    return value
