# -*- test-case-name: fxim.test.unit.test_settings_storage -*-
"""
Per-user settings synced between a user's devices (UG/UP/UN).

A setting is (scope, key) -> value; its C{updateDt} is its version, taken
from the user's setting head, which only grows: a put gets
C{max(now, head + 1)}, so versions are unique per user and a device that
pulls with C{version = the highest it has} never misses a change.
Settings are never deleted: clients write C{"0"} to switch one off.

L{SQLSettingStore} runs on the pools of an
L{fxim.storage.sqlstore.SQLStore} (tables of schema delta 004);
L{MemorySettingStore} is its twin.  Both pass the contract tests in
L{fxim.test.unit.test_settings_storage}.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import attr
from twisted.internet.defer import Deferred, succeed
from zope.interface import Interface, implementer

from fxim.storage.database import SQLDatabase, one_txn, upsert
from fxim.storage.dialect import Dialect

_PUT_SETTING = upsert("user_settings", ("uid", "scope", "skey"), ("value", "update_dt"))


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Setting:
    scope: int
    key: str
    value: str
    updateDt: int


class ISettingStore(Interface):
    """
    Users' settings and setting heads.
    """

    def putSetting(userId, scope, key, value, now):
        """
        Set one setting.  @return: L{Deferred} firing with its new version
            (the user's new setting head).
        """

    def getSettings(userId, afterVersion):
        """
        @return: L{Deferred} firing with the user's settings whose version
            is above C{afterVersion}, in ascending version order.
        """

    def getSettingHead(userId):
        """
        @return: L{Deferred} firing with the user's setting head (0 if none).
        """



def putSetting_txn(txn: Any, d: Dialect, userId: str, scope: int, key: str, value: str,
                   now: int) -> int:
    # One statement: the head row lock orders concurrent puts (any node).
    version = one_txn(txn, d, "INSERT INTO setting_heads (uid, head) VALUES (?, ?)"
                   " ON CONFLICT (uid) DO UPDATE SET head = CASE"
                   " WHEN excluded.head > setting_heads.head THEN excluded.head"
                   " ELSE setting_heads.head + 1 END RETURNING head", (userId, now))[0]
    txn.execute(d.q(_PUT_SETTING),
                (userId, scope, key, value, version))
    return version


def getSettings_txn(txn: Any, d: Dialect, userId: str, afterVersion: int) -> List[Setting]:
    txn.execute(d.q("SELECT scope, skey, value, update_dt FROM user_settings"
                    " WHERE uid = ? AND update_dt > ? ORDER BY update_dt"),
                (userId, afterVersion))
    return [Setting(*row) for row in txn.fetchall()]


def getSettingHead_txn(txn: Any, d: Dialect, userId: str) -> int:
    row = one_txn(txn, d, "SELECT head FROM setting_heads WHERE uid = ?", (userId,))
    return 0 if row is None else row[0]


@implementer(ISettingStore)
class SQLSettingStore:
    """
    L{ISettingStore} on the pools of an L{fxim.storage.sqlstore.SQLStore}.
    """

    def __init__(self, store: SQLDatabase) -> None:
        self._store = store

    def putSetting(self, userId: str, scope: int, key: str, value: str, now: int) -> Deferred:
        return self._store._runWrite(putSetting_txn, userId, scope, key, value, now)

    def getSettings(self, userId: str, afterVersion: int) -> Deferred:
        return self._store._runRead(getSettings_txn, userId, afterVersion)

    def getSettingHead(self, userId: str) -> Deferred:
        return self._store._runRead(getSettingHead_txn, userId)


@implementer(ISettingStore)
class MemorySettingStore:
    """
    L{ISettingStore} in memory.
    """

    def __init__(self) -> None:
        self.heads: Dict[str, int] = {}
        self.settings: Dict[str, Dict[Tuple[int, str], Setting]] = {}

    def putSetting(self, userId: str, scope: int, key: str, value: str, now: int) -> Deferred:
        head = self.heads.get(userId)
        version = now if head is None or now > head else head + 1
        self.heads[userId] = version
        self.settings.setdefault(userId, {})[(scope, key)] = Setting(scope, key, value, version)
        return succeed(version)

    def getSettings(self, userId: str, afterVersion: int) -> Deferred:
        found = [s for s in self.settings.get(userId, {}).values() if s.updateDt > afterVersion]
        return succeed(sorted(found, key=lambda s: s.updateDt))

    def getSettingHead(self, userId: str) -> Deferred:
        return succeed(self.heads.get(userId, 0))


def settingStoreFor(store: object) -> ISettingStore:
    """
    The setting store beside C{store}: SQL on an SQL store's pools, else in
    memory.
    """
    if isinstance(store, SQLDatabase):
        return SQLSettingStore(store)
    return MemorySettingStore()
