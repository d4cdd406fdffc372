# -*- test-case-name: fxim.test.unit.test_push -*-
"""
Push targets (one per device) and push preferences (global
do-not-disturb, muted conversations): L{IPushStore}, on SQL
(L{SQLPushStore}) and in memory (L{MemoryPushStore}).
"""

from typing import Iterable

import attr
from twisted.internet.defer import succeed
from zope.interface import Interface, implementer


@attr.s(frozen=True, auto_attribs=True)
class PushTarget:
    """
    Where to push for one device.

    @ivar badge: pushes queued for this device since it last connected
        (the unread badge shown on its icon).
    """

    userId: str
    cid: str
    platform: str
    pushToken: str
    appId: str = ""
    voipToken: str = ""
    badge: int = 0
    updatedAt: int = 0


#: The conversation key of the global do-not-disturb preference.
DND = ""


def conversationKey(conversationType: int, target: str, line: int = 0) -> str:
    """
    @return: the preference key of a conversation.
    """
    return f"{int(conversationType)}:{target}:{int(line)}"


class IPushStore(Interface):
    """
    Push targets and preferences.  Every method returns a L{Deferred}.
    """

    def putTarget(target):
        """
        Register C{target}, replacing any of its (uid, cid).
        """

    def dropTargets(userId, cid=None):
        """
        Drop the target of (uid, cid), or every target of C{uid}.
        @return: the number dropped.
        """

    def dropPushToken(pushToken):
        """
        Drop every target with this push token (a gateway rejected it).
        @return: the number dropped.
        """

    def targetsOf(userIds):
        """
        @return: the L{PushTarget}s of these users, with C{badge} already
            incremented by one for C{bump} callers (see L{bumpBadge}).
        """

    def bumpBadge(userId, cid):
        """
        Add one to the device's badge.  @return: the new badge (0: no target).
        """

    def resetBadge(userId, cid):
        """
        Set the device's badge to 0 (it connected).
        """

    def setPreference(userId, key, on):
        """
        Turn the preference C{key} (L{DND} or a L{conversationKey}) on or off.
        """

    def preferencesOf(userIds):
        """
        @return: a dict uid -> set of keys that are on.
        """


_TARGET = ("SELECT uid, cid, platform, push_token, app_id, voip_token, badge, updated_at"
           " FROM push_targets")


def _target(row) -> PushTarget:
    return PushTarget(row[0], row[1], row[2], row[3], row[4], row[5], int(row[6]), int(row[7]))


def putTarget_txn(txn, d, t):
    txn.execute(d.q("DELETE FROM push_targets WHERE uid = ? AND cid = ?"), (t.userId, t.cid))
    txn.execute(d.q("INSERT INTO push_targets (uid, cid, platform, push_token, app_id, voip_token,"
                    " badge, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)"),
                (t.userId, t.cid, t.platform, t.pushToken, t.appId, t.voipToken, t.updatedAt))


def dropTargets_txn(txn, d, userId, cid):
    if cid is None:
        txn.execute(d.q("DELETE FROM push_targets WHERE uid = ?"), (userId,))
    else:
        txn.execute(d.q("DELETE FROM push_targets WHERE uid = ? AND cid = ?"), (userId, cid))
    return txn.rowcount


def dropPushToken_txn(txn, d, token):
    txn.execute(d.q("DELETE FROM push_targets WHERE push_token = ?"), (token,))
    return txn.rowcount


def targetsOf_txn(txn, d, userIds):
    out = []
    for start in range(0, len(userIds), 500):
        chunk = userIds[start:start + 500]
        txn.execute(d.q(_TARGET + " WHERE uid IN (%s) ORDER BY uid, cid"
                        % ", ".join("?" * len(chunk))), chunk)
        out.extend(_target(row) for row in txn.fetchall())
    return out


def bumpBadge_txn(txn, d, userId, cid):
    txn.execute(d.q("UPDATE push_targets SET badge = badge + 1 WHERE uid = ? AND cid = ?"
                    " RETURNING badge"), (userId, cid))
    row = txn.fetchone()
    return 0 if row is None else int(row[0])


def resetBadge_txn(txn, d, userId, cid):
    txn.execute(d.q("UPDATE push_targets SET badge = 0 WHERE uid = ? AND cid = ? AND badge <> 0"),
                (userId, cid))


def setPreference_txn(txn, d, userId, key, on):
    txn.execute(d.q("DELETE FROM push_prefs WHERE uid = ? AND conv_key = ?"), (userId, key))
    if on:
        txn.execute(d.q("INSERT INTO push_prefs (uid, conv_key) VALUES (?, ?)"), (userId, key))


def preferencesOf_txn(txn, d, userIds):
    out: dict = {}
    for start in range(0, len(userIds), 500):
        chunk = userIds[start:start + 500]
        txn.execute(d.q("SELECT uid, conv_key FROM push_prefs WHERE uid IN (%s)"
                        % ", ".join("?" * len(chunk))), chunk)
        for userId, key in txn.fetchall():
            out.setdefault(userId, set()).add(key)
    return out


@implementer(IPushStore)
class SQLPushStore:
    """
    Push targets and preferences in the node's SQL database.

    @param store: the L{fxim.storage.sqlstore.SQLStore} whose pools are used.
    """

    def __init__(self, store) -> None:
        self._store = store

    def putTarget(self, target):
        return self._store._runWrite(putTarget_txn, target)

    def dropTargets(self, userId, cid=None):
        return self._store._runWrite(dropTargets_txn, userId, cid)

    def dropPushToken(self, pushToken):
        return self._store._runWrite(dropPushToken_txn, pushToken)

    def targetsOf(self, userIds: Iterable[str]):
        userIds = sorted(set(userIds))
        if not userIds:
            return succeed([])
        return self._store._runRead(targetsOf_txn, userIds)

    def bumpBadge(self, userId, cid):
        return self._store._runWrite(bumpBadge_txn, userId, cid)

    def resetBadge(self, userId, cid):
        return self._store._runWrite(resetBadge_txn, userId, cid)

    def setPreference(self, userId, key, on):
        return self._store._runWrite(setPreference_txn, userId, key, bool(on))

    def preferencesOf(self, userIds):
        userIds = sorted(set(userIds))
        if not userIds:
            return succeed({})
        return self._store._runRead(preferencesOf_txn, userIds)


@implementer(IPushStore)
class MemoryPushStore:
    """
    Push targets and preferences in memory (unit tests).
    """

    def __init__(self) -> None:
        self.targets: dict = {}
        self.prefs: dict = {}

    def putTarget(self, target):
        self.targets[(target.userId, target.cid)] = attr.evolve(target, badge=0)
        return succeed(None)

    def dropTargets(self, userId, cid=None):
        keys = [k for k in self.targets if k[0] == userId and cid in (None, k[1])]
        for k in keys:
            del self.targets[k]
        return succeed(len(keys))

    def dropPushToken(self, pushToken):
        keys = [k for k, t in self.targets.items() if t.pushToken == pushToken]
        for k in keys:
            del self.targets[k]
        return succeed(len(keys))

    def targetsOf(self, userIds):
        wanted = set(userIds)
        return succeed([t for k, t in sorted(self.targets.items()) if k[0] in wanted])

    def bumpBadge(self, userId, cid):
        t = self.targets.get((userId, cid))
        if t is None:
            return succeed(0)
        t = self.targets[(userId, cid)] = attr.evolve(t, badge=t.badge + 1)
        return succeed(t.badge)

    def resetBadge(self, userId, cid):
        t = self.targets.get((userId, cid))
        if t is not None:
            self.targets[(userId, cid)] = attr.evolve(t, badge=0)
        return succeed(None)

    def setPreference(self, userId, key, on):
        keys = self.prefs.setdefault(userId, set())
        (keys.add if on else keys.discard)(key)
        return succeed(None)

    def preferencesOf(self, userIds):
        return succeed({u: set(self.prefs[u]) for u in set(userIds) if self.prefs.get(u)})


def openPushStore(store):
    """
    @return: the L{IPushStore} in C{store}'s database (memory for a
        store without SQL).
    """
    if hasattr(store, "_runWrite") and hasattr(store, "dialect"):
        return SQLPushStore(store)
    return MemoryPushStore()
