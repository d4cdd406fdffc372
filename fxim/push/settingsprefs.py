# -*- test-case-name: fxim.test.unit.test_push -*-
"""
L{SettingsPreferences}: push preferences read from the clients' synced
settings (UG/UP/UN, L{fxim.storage.settings.ISettingStore}) on top of
fxim's own C{push_prefs} table.

Scope 1 (conversation silent, key C{<conversationType>-<line>-<target>})
mutes that conversation; scope 2 (global silent, key C{""}) is
do-not-disturb.  The latest value of a setting wins (C{"1"} on, C{"0"}
off) over the push table's entry for the same key; keys the settings do not
mention come from the push table (C{PUSHPREFS} / C{POST /push/preferences}).
"""

from typing import Any, Dict, Iterable, Set

from fxim.push.store import DND, conversationKey

#: Setting scopes that are push preferences.
SCOPE_CONVERSATION_SILENT = 1
SCOPE_GLOBAL_SILENT = 2


def preferenceKey(scope: int, key: str):
    """
    @return: the push preference key of a setting, or None.
    """
    if scope == SCOPE_GLOBAL_SILENT:
        return DND
    if scope == SCOPE_CONVERSATION_SILENT:
        parts = key.split("-", 2)
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() and parts[2]:
            return conversationKey(int(parts[0]), parts[2], int(parts[1]))
    return None


class SettingsPreferences:
    """
    @param settings: the L{fxim.storage.settings.ISettingStore}.
    @param pushStore: the L{fxim.push.store.IPushStore} (its own preferences
        and C{setPreference}).
    """

    def __init__(self, settings: Any, pushStore: Any) -> None:
        self.settings = settings
        self.pushStore = pushStore

    def setPreference(self, userId, key, on):
        return self.pushStore.setPreference(userId, key, on)

    async def preferencesOf(self, userIds: Iterable[str]) -> Dict[str, Set[str]]:
        userIds = list(userIds)
        own = await self.pushStore.preferencesOf(userIds)
        out: Dict[str, Set[str]] = {}
        for userId in userIds:
            keys = set(own.get(userId, ()))
            decided: Dict[str, bool] = {}
            for setting in await self.settings.getSettings(userId, 0):
                key = preferenceKey(setting.scope, setting.key)
                if key is not None:
                    decided[key] = setting.value == "1"  # ascending versions: last wins
            for key, on in decided.items():
                (keys.add if on else keys.discard)(key)
            if keys:
                out[userId] = keys
        return out
