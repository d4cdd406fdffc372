# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
Groups and their members (L{fxim.interfaces.IGroupStore}): their C{*_txn}
queries, the SQL store L{SQLGroupStore} and its in-memory twin
L{MemoryGroupStore}.

A membership or info change (add, kick, quit, dismiss, modify, manager and
mute switches) is one transaction: L{IGroupStore.changeGroup} locks the
group's row (PostgreSQL: C{SELECT ... FOR UPDATE}; SQLite has one writer),
reads its members, calls the service's decision and writes what it
returns -- so changes of one group made on several nodes take turns.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import attr
from twisted.internet.defer import Deferred
from zope.interface import implementer

from fxim.interfaces import IGroupStore
from fxim.model import GroupInfo, GroupMember, MemberType, User
from fxim.storage.database import SQLDatabase, all_txn, one_txn
from fxim.storage.dialect import Dialect
from fxim.storage.fired import fired
from fxim.storage.records import TooManyGroups, UnknownUsers, activeMemberIds
from fxim.storage.users import getUsers_txn


@attr.s(frozen=True, slots=True, auto_attribs=True)
class GroupState:
    """
    What a group change decision reads, in the transaction that writes
    its outcome.

    @ivar info: the group, or L{None} if there is none.
    @ivar members: its members, removed ones left out, in joining order.
    @ivar getUsers: C{f(uids) -> {uid: User}} reading users in the same
        transaction (so only while the decision runs).
    """

    info: Optional[GroupInfo]
    members: List[GroupMember]
    getUsers: Callable[[Sequence[str]], Dict[str, User]]

    def member(self, userId: str) -> Optional[GroupMember]:
        """
        @return: C{uid}'s membership, or L{None} if it is not a member.
        """
        for m in self.members:
            if m.memberId == userId:
                return m
        return None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class GroupChange:
    """
    What a group change decision writes, in this order: the group's
    C{changes} (as L{IGroupStore.updateGroup}), the C{members} (as
    L{IGroupStore.putMembers}), or deleting the group.

    @ivar now: the time of the change (ms).
    """

    now: int
    changes: Mapping[str, Any] = attr.Factory(dict)
    members: Sequence[GroupMember] = ()
    delete: bool = False


#: A decision: raises to refuse (nothing is written), returns L{None} to
#: write nothing.
Decision = Callable[[GroupState], Optional[GroupChange]]

#: L{GroupInfo} field -> column.
GROUP_COLUMNS = {
    "targetId": "gid", "name": "name", "portrait": "portrait",
    "owner": "owner", "type": "type", "memberCount": "member_count",
    "extra": "extra", "updateDt": "update_dt",
    "memberUpdateDt": "member_update_dt",
}
_GROUP_FIELDS = [f.name for f in attr.fields(GroupInfo)]
GROUP_SELECT = "SELECT %s FROM chat_groups" % (
    ", ".join(GROUP_COLUMNS[f] for f in _GROUP_FIELDS),)
_MEMBER_SELECT = ("SELECT member_id, alias, type, update_dt"
                  " FROM group_members")


def _insertMembers_txn(txn: Any, d: Dialect, groupId: str, members: Iterable[GroupMember],
                       now: int) -> None:
    for m in members:
        txn.execute(d.q(
            "INSERT INTO group_members (gid, member_id, alias, type,"
            " update_dt, position) VALUES (?, ?, ?, ?, ?, (SELECT"
            " COALESCE(MAX(position), 0) + 1 FROM group_members"
            " WHERE gid = ?)) ON CONFLICT (gid, member_id) DO UPDATE"
            " SET alias = excluded.alias, type = excluded.type,"
            " update_dt = excluded.update_dt"),
            (groupId, m.memberId, m.alias, m.type, m.updateDt or now,
             groupId))


def _countMembers_txn(txn: Any, d: Dialect, groupId: str) -> int:
    return one_txn(txn, d, "SELECT COUNT(*) FROM group_members"
                   " WHERE gid = ? AND type <> ?",
                   (groupId, int(MemberType.REMOVED)))[0]


def _checkUsersExist_txn(txn: Any, d: Dialect, members: Iterable[GroupMember]) -> None:
    """
    Raise L{UnknownUsers} if a member being put (not removed) is no user:
    checked in the transaction that writes them.
    """
    ids = list(dict.fromkeys(activeMemberIds(members)))
    found = set(getUsers_txn(txn, d, ids))
    missing = [i for i in ids if i not in found]
    if missing:
        raise UnknownUsers(missing)


def createGroup_txn(txn: Any, d: Dialect, info: GroupInfo, members: Sequence[GroupMember],
                    maxOwned: Optional[int] = None) -> None:
    _checkUsersExist_txn(txn, d, members)
    if maxOwned is not None:
        owned = one_txn(txn, d, "SELECT COUNT(*) FROM chat_groups WHERE owner = ?",
                        (info.owner,))[0]
        if owned >= maxOwned:
            raise TooManyGroups(info.owner)
    txn.execute(d.q("INSERT INTO chat_groups (%s) VALUES (%s)" % (
        ", ".join(GROUP_COLUMNS[f] for f in _GROUP_FIELDS),
        ", ".join("?" * len(_GROUP_FIELDS)))),
        [getattr(info, f) for f in _GROUP_FIELDS])
    _insertMembers_txn(txn, d, info.targetId, members, info.updateDt)
    txn.execute(d.q("UPDATE chat_groups SET member_count = ? WHERE gid = ?"),
                (_countMembers_txn(txn, d, info.targetId), info.targetId))


def getGroup_txn(txn: Any, d: Dialect, groupId: str, lock: bool = False) -> Optional[GroupInfo]:
    """
    @param lock: lock the group's row until commit.
    """
    row = one_txn(txn, d, GROUP_SELECT + " WHERE gid = ?"
                  + (d.forUpdate if lock else ""), (groupId,))
    return None if row is None else GroupInfo(*row)


def getGroups_txn(txn: Any, d: Dialect, groupIds: Iterable[str]) -> Dict[str, GroupInfo]:
    found = {}
    groupIds = list(groupIds)
    for start in range(0, len(groupIds), 500):
        chunk = groupIds[start:start + 500]
        for row in all_txn(txn, d, GROUP_SELECT + " WHERE gid IN (%s)" % (
                ", ".join("?" * len(chunk)),), chunk):
            found[row[0]] = GroupInfo(*row)
    return found


def updateGroup_txn(txn: Any, d: Dialect, groupId: str, changes: Mapping[str, Any],
                    now: int) -> Optional[GroupInfo]:
    unknown = set(changes) - set(GROUP_COLUMNS) | ({"targetId"} & set(changes))
    if unknown:
        raise ValueError("not updatable: %s" % (sorted(unknown),))
    values = dict(changes, updateDt=now)
    names = sorted(values)
    txn.execute(d.q("UPDATE chat_groups SET %s WHERE gid = ?" % (
        ", ".join("%s = ?" % (GROUP_COLUMNS[n],) for n in names),)),
        [values[n] for n in names] + [groupId])
    return getGroup_txn(txn, d, groupId)


def deleteGroup_txn(txn: Any, d: Dialect, groupId: str) -> None:
    txn.execute(d.q("DELETE FROM group_members WHERE gid = ?"), (groupId,))
    txn.execute(d.q("DELETE FROM chat_groups WHERE gid = ?"), (groupId,))


def getMembers_txn(txn: Any, d: Dialect, groupId: str,
                   includeRemoved: bool = False) -> List[GroupMember]:
    where = "" if includeRemoved else " AND type <> %d" % (MemberType.REMOVED,)
    return [GroupMember(*row) for row in all_txn(
        txn, d, _MEMBER_SELECT + " WHERE gid = ?" + where
        + " ORDER BY position", (groupId,))]


def getMember_txn(txn: Any, d: Dialect, groupId: str, memberId: str) -> Optional[GroupMember]:
    row = one_txn(txn, d, _MEMBER_SELECT + " WHERE gid = ? AND member_id = ?",
                  (groupId, memberId))
    return None if row is None else GroupMember(*row)


def putMembers_txn(txn: Any, d: Dialect, groupId: str, members: Sequence[GroupMember],
                   now: int) -> None:
    if getGroup_txn(txn, d, groupId, lock=True) is None:
        raise KeyError(groupId)
    _checkUsersExist_txn(txn, d, members)
    _insertMembers_txn(txn, d, groupId, members, now)
    txn.execute(d.q("UPDATE chat_groups SET member_update_dt = ?,"
                    " member_count = ? WHERE gid = ?"),
                (now, _countMembers_txn(txn, d, groupId), groupId))


def groupsOf_txn(txn: Any, d: Dialect, userId: str) -> List[str]:
    return [row[0] for row in all_txn(
        txn, d, "SELECT gid FROM group_members WHERE member_id = ?"
        " AND type <> ? ORDER BY gid", (userId, int(MemberType.REMOVED)))]


def changeGroup_txn(txn: Any, d: Dialect, groupId: str, decide: Decision
                    ) -> Tuple[GroupState, Optional[GroupChange], Optional[GroupInfo]]:
    info = getGroup_txn(txn, d, groupId, lock=True)
    state = GroupState(info, getMembers_txn(txn, d, groupId) if info is not None else [],
                       lambda userIds: getUsers_txn(txn, d, userIds))
    change = decide(state)
    if change is None or info is None:
        return (state, change, info)
    if change.delete:
        deleteGroup_txn(txn, d, groupId)
        return (state, change, None)
    if change.changes:
        info = updateGroup_txn(txn, d, groupId, change.changes, change.now)
    if change.members:
        putMembers_txn(txn, d, groupId, change.members, change.now)
        info = getGroup_txn(txn, d, groupId)
    return (state, change, info)


@implementer(IGroupStore)
class SQLGroupStore(SQLDatabase):
    """
    L{IGroupStore} on an SQL database.
    """

    def createGroup(self, info: GroupInfo, members: Sequence[GroupMember],
                    maxOwned: Optional[int] = None) -> Deferred[None]:
        return self._runWrite(createGroup_txn, info, members, maxOwned)

    def getGroup(self, groupId: str) -> Deferred[Optional[GroupInfo]]:
        return self._runRead(getGroup_txn, groupId)

    def getGroups(self, groupIds: Iterable[str]) -> Deferred[Dict[str, GroupInfo]]:
        return self._runRead(getGroups_txn, groupIds)

    def updateGroup(self, groupId: str, changes: Mapping[str, Any],
                    now: int) -> Deferred[Optional[GroupInfo]]:
        return self._runWrite(updateGroup_txn, groupId, changes, now)

    def deleteGroup(self, groupId: str) -> Deferred[None]:
        return self._runWrite(deleteGroup_txn, groupId)

    def getMembers(self, groupId: str,
                   includeRemoved: bool = False) -> Deferred[List[GroupMember]]:
        return self._runRead(getMembers_txn, groupId, includeRemoved)

    def getMember(self, groupId: str, memberId: str) -> Deferred[Optional[GroupMember]]:
        return self._runRead(getMember_txn, groupId, memberId)

    def putMembers(self, groupId: str, members: Sequence[GroupMember],
                   now: int) -> Deferred[None]:
        return self._runWrite(putMembers_txn, groupId, members, now)

    def groupsOf(self, userId: str) -> Deferred[List[str]]:
        return self._runRead(groupsOf_txn, userId)

    def changeGroup(self, groupId: str, decide: Decision) -> Deferred[
            Tuple[GroupState, Optional[GroupChange], Optional[GroupInfo]]]:
        return self._runWrite(changeGroup_txn, groupId, decide)


@implementer(IGroupStore)
class MemoryGroupStore:
    """
    L{IGroupStore} in memory; it checks members against the C{users} of a
    L{fxim.storage.users.MemoryUserStore} beside it.

    @ivar groups: group id -> L{GroupInfo}.
    @ivar members: group id -> member id -> L{GroupMember}, in joining
        order.
    """

    users: Dict[str, User]

    def __init__(self) -> None:
        super().__init__()
        self.groups: Dict[str, GroupInfo] = {}
        self.members: Dict[str, Dict[str, GroupMember]] = {}

    def _count(self, groupId: str) -> int:
        return sum(1 for m in self.members[groupId].values() if m.type != MemberType.REMOVED)

    def _checkUsersExist(self, members: Iterable[GroupMember]) -> None:
        missing = [i for i in dict.fromkeys(activeMemberIds(members)) if i not in self.users]
        if missing:
            raise UnknownUsers(missing)

    def _active(self, groupId: str) -> List[GroupMember]:
        return [m for m in self.members.get(groupId, {}).values()
                if m.type != MemberType.REMOVED]

    @fired
    def createGroup(self, info: GroupInfo, members: Sequence[GroupMember],
                    maxOwned: Optional[int] = None) -> None:
        if info.targetId in self.groups:
            raise KeyError(info.targetId)
        self._checkUsersExist(members)
        if maxOwned is not None and sum(
                1 for g in self.groups.values() if g.owner == info.owner) >= maxOwned:
            raise TooManyGroups(info.owner)
        self.members[info.targetId] = {
            m.memberId: m if m.updateDt else attr.evolve(m, updateDt=info.updateDt)
            for m in members}
        self.groups[info.targetId] = attr.evolve(info, memberCount=self._count(info.targetId))

    @fired
    def getGroup(self, groupId: str) -> Optional[GroupInfo]:
        return self.groups.get(groupId)

    @fired
    def getGroups(self, groupIds: Iterable[str]) -> Dict[str, GroupInfo]:
        return {g: self.groups[g] for g in groupIds if g in self.groups}

    def _updateGroup(self, groupId: str, changes: Mapping[str, Any],
                     now: int) -> Optional[GroupInfo]:
        old = self.groups.get(groupId)
        if old is None:
            return None
        if "targetId" in changes:
            raise ValueError("targetId cannot change")
        new = self.groups[groupId] = attr.evolve(old, updateDt=now, **changes)
        return new

    updateGroup = fired(_updateGroup)

    def _deleteGroup(self, groupId: str) -> None:
        self.groups.pop(groupId, None)
        self.members.pop(groupId, None)

    deleteGroup = fired(_deleteGroup)

    @fired
    def getMembers(self, groupId: str, includeRemoved: bool = False) -> List[GroupMember]:
        return [m for m in self.members.get(groupId, {}).values()
                if includeRemoved or m.type != MemberType.REMOVED]

    @fired
    def getMember(self, groupId: str, memberId: str) -> Optional[GroupMember]:
        return self.members.get(groupId, {}).get(memberId)

    def _putMembers(self, groupId: str, members: Sequence[GroupMember], now: int) -> None:
        if groupId not in self.groups:
            raise KeyError(groupId)
        self._checkUsersExist(members)
        table = self.members[groupId]
        for m in members:
            table[m.memberId] = m if m.updateDt else attr.evolve(m, updateDt=now)
        self.groups[groupId] = attr.evolve(self.groups[groupId], memberUpdateDt=now,
                                           memberCount=self._count(groupId))

    putMembers = fired(_putMembers)

    @fired
    def groupsOf(self, userId: str) -> List[str]:
        return sorted(g for g, table in self.members.items()
                      if userId in table and table[userId].type != MemberType.REMOVED)

    @fired
    def changeGroup(self, groupId: str, decide: Decision
                    ) -> Tuple[GroupState, Optional[GroupChange], Optional[GroupInfo]]:
        info = self.groups.get(groupId)
        state = GroupState(info, self._active(groupId),
                           lambda userIds: {u: self.users[u] for u in userIds if u in self.users})
        change = decide(state)
        if change is None or info is None:
            return (state, change, info)
        if change.delete:
            self._deleteGroup(groupId)
            return (state, change, None)
        self._checkUsersExist(change.members)  # before writing anything
        if change.changes:
            self._updateGroup(groupId, change.changes, change.now)
        if change.members:
            self._putMembers(groupId, change.members, change.now)
        return (state, change, self.groups.get(groupId))
