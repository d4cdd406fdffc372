# -*- test-case-name: fxim.test.e2e.test_settings -*-
"""
User settings synced between a user's devices: UP sets one, every other
device of the user gets UN with the new version and pulls the changes with
UG (C{version} = the highest it has).

Scopes the newer clients use are listed in L{SCOPES}; others are accepted
too (a client may know more), within the size limits.
"""

from typing import Optional

from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger

from fxim.errors import ErrorCode, SignalError
from fxim.wire.extensions import PutSetting, SettingList, SettingNotify, SettingVersion

_log = Logger()

#: scope -> meaning, with the key format.  Values are "1" (on) / "0" (off).
SCOPES = {
    1: "conversation silent; key <conversationType>-<line>-<target>",
    2: "global silent; key empty",
    3: "conversation on top; key <conversationType>-<line>-<target>",
    6: "favourite group; key = the group id",
}
MAX_KEY = 256
MAX_VALUE = 4096


class SettingService:
    """
    @param settings: the L{fxim.storage.settings.ISettingStore}.
    @param bus: the L{fxim.interfaces.IDeliveryBus}.
    """

    def __init__(self, settings, bus, clock) -> None:
        self.settings = settings
        self.bus = bus
        self.clock = clock

    def now(self) -> int:
        return int(self.clock.seconds() * 1000)

    async def put(self, userId: str, cid: Optional[str], request: PutSetting) -> SettingVersion:
        """
        @raise SignalError: C{INVALID_PARAMETER} for an out-of-range scope or
            an oversized key or value, C{INVALID_DATA} for a NUL in either.
        """
        if not 0 <= request.scope <= 0xFFFF:
            raise SignalError(ErrorCode.INVALID_PARAMETER, "bad scope")
        if len(request.key) > MAX_KEY or len(request.value) > MAX_VALUE:
            raise SignalError(ErrorCode.INVALID_PARAMETER, "setting too large")
        if "\x00" in request.key or "\x00" in request.value:
            raise SignalError(ErrorCode.INVALID_DATA, "NUL in a setting")
        version = await self.settings.putSetting(userId, request.scope, request.key,
                                                 request.value, self.now())
        d = ensureDeferred(self.bus.deliver(userId, SettingNotify(version), cid))
        d.addErrback(lambda f: _log.failure("UN to {uid} failed", f, uid=userId))
        return SettingVersion(version)

    async def get(self, userId: str, version: int) -> SettingList:
        return SettingList(tuple(await self.settings.getSettings(userId, max(0, version))))

    async def head(self, userId: str) -> int:
        return await self.settings.getSettingHead(userId)
