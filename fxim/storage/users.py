# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
Users (L{fxim.interfaces.IUserStore}): their C{*_txn} queries, the SQL
store L{SQLUserStore} that runs them, and its in-memory twin
L{MemoryUserStore}.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import attr
from twisted.internet.defer import Deferred
from zope.interface import implementer

from fxim.ids import toUid
from fxim.interfaces import IUserStore
from fxim.model import User
from fxim.storage.database import SQLDatabase, all_txn, nextCounter_txn, one_txn
from fxim.storage.dialect import Dialect
from fxim.storage.fired import fired

#: L{User} field -> column.
USER_COLUMNS = {
    "userId": "uid", "name": "name", "displayName": "display_name",
    "portrait": "portrait", "mobile": "mobile", "email": "email",
    "address": "address", "company": "company", "extra": "extra",
    "updateDt": "update_dt", "gender": "gender", "social": "social",
    "type": "type", "status": "status", "searchable": "searchable",
}
_USER_FIELDS = [f.name for f in attr.fields(User)]
USER_SELECT = "SELECT %s FROM users" % (
    ", ".join(USER_COLUMNS[f] for f in _USER_FIELDS),)

#: L{User} fields that L{IUserStore.updateUser} may change.
USER_FIELDS = frozenset(_USER_FIELDS) - {"userId"}


def userFromRow(row: Sequence[Any]) -> User:
    """
    @return: the L{User} of a row selected with L{USER_SELECT}.
    """
    values = dict(zip(_USER_FIELDS, row))
    values["searchable"] = bool(values["searchable"])
    return User(**values)


def _userValues(user: User) -> List[Any]:
    values = [getattr(user, f) for f in _USER_FIELDS]
    values[_USER_FIELDS.index("searchable")] = int(user.searchable)
    return values


def insertUser_txn(txn: Any, d: Dialect, user: User, conflict: str = "") -> User:
    seq = nextCounter_txn(txn, d, "users")
    if not user.userId:
        user = attr.evolve(user, userId=toUid(seq))
    cols = [USER_COLUMNS[f] for f in _USER_FIELDS] + ["seq"]
    txn.execute(d.q("INSERT INTO users (%s) VALUES (%s) %s" % (
        ", ".join(cols), ", ".join("?" * len(cols)), conflict)),
        _userValues(user) + [seq])
    return user


def getUserByMobile_txn(txn: Any, d: Dialect, mobile: str) -> Optional[User]:
    row = one_txn(txn, d, USER_SELECT + " WHERE mobile = ? AND mobile <> ''", (mobile,))
    return None if row is None else userFromRow(row)


def getOrCreateByMobile_txn(txn: Any, d: Dialect, mobile: str, now: int) -> Tuple[User, bool]:
    found = getUserByMobile_txn(txn, d, mobile)
    if found is not None:
        return (found, False)
    user = insertUser_txn(txn, d, User(userId="", name=mobile, displayName=mobile,
                                        mobile=mobile, updateDt=now),
                           "ON CONFLICT DO NOTHING")
    found = getUserByMobile_txn(txn, d, mobile)
    assert found is not None
    return (found, found.userId == user.userId)


def createUser_txn(txn: Any, d: Dialect, mobile: str, displayName: str, now: int,
                   userId: Optional[str]) -> User:
    return insertUser_txn(txn, d, User(userId=userId or "", name=mobile,
                                        displayName=displayName or mobile,
                                        mobile=mobile, updateDt=now))


def getUser_txn(txn: Any, d: Dialect, userId: str) -> Optional[User]:
    row = one_txn(txn, d, USER_SELECT + " WHERE uid = ?", (userId,))
    return None if row is None else userFromRow(row)


def getUsers_txn(txn: Any, d: Dialect, userIds: Iterable[str]) -> Dict[str, User]:
    found = {}
    userIds = list(userIds)
    for start in range(0, len(userIds), 500):
        chunk = userIds[start:start + 500]
        for row in all_txn(txn, d, USER_SELECT + " WHERE uid IN (%s)" % (
                ", ".join("?" * len(chunk)),), chunk):
            user = userFromRow(row)
            found[user.userId] = user
    return found


def lockUsers_txn(txn: Any, d: Dialect, userIds: Iterable[str]) -> None:
    """
    Lock the rows of the users C{uids} until commit (on PostgreSQL; SQLite
    has one writer), in uid order so concurrent lockers cannot deadlock.
    """
    userIds = sorted(set(userIds))
    if not userIds:
        return
    all_txn(txn, d, "SELECT uid FROM users WHERE uid IN (%s) ORDER BY uid%s" % (
        ", ".join("?" * len(userIds)), d.forUpdate), userIds)


def updateUser_txn(txn: Any, d: Dialect, userId: str, changes: Mapping[str, Any],
                   now: int) -> Optional[User]:
    unknown = set(changes) - set(USER_COLUMNS) | ({"userId"} & set(changes))
    if unknown:
        raise ValueError("not updatable: %s" % (sorted(unknown),))
    values = dict(changes, updateDt=now)
    if "searchable" in values:
        values["searchable"] = int(bool(values["searchable"]))
    names = sorted(values)
    txn.execute(d.q("UPDATE users SET %s WHERE uid = ?" % (
        ", ".join("%s = ?" % (USER_COLUMNS[n],) for n in names),)),
        [values[n] for n in names] + [userId])
    return getUser_txn(txn, d, userId)


def searchUsers_txn(txn: Any, d: Dialect, keyword: str, fuzzy: bool, offset: int,
                    limit: int) -> List[User]:
    where = "mobile = ?"
    args: List[Any] = [keyword]
    if fuzzy:
        # The display name a login gives (the mobile itself) is not
        # searched fuzzily: that would leak numbers (i10b).
        where = "(mobile = ? OR (display_name <> mobile AND %s))" % (
            d.contains("display_name"),)
        args.append(keyword)
    rows = all_txn(txn, d, USER_SELECT + " WHERE searchable = 1 AND " + where
                   + " ORDER BY seq LIMIT ? OFFSET ?", args + [limit, offset])
    return [userFromRow(row) for row in rows]


@implementer(IUserStore)
class SQLUserStore(SQLDatabase):
    """
    L{IUserStore} on an SQL database.
    """

    def getOrCreateByMobile(self, mobile: str, now: int) -> Deferred[Tuple[User, bool]]:
        return self._runWrite(getOrCreateByMobile_txn, mobile, now)

    def createUser(self, mobile: str, displayName: str, now: int,
                   userId: Optional[str] = None) -> Deferred[User]:
        return self._runWrite(createUser_txn, mobile, displayName, now, userId)

    def getUser(self, userId: str) -> Deferred[Optional[User]]:
        return self._runRead(getUser_txn, userId)

    def getUsers(self, userIds: Iterable[str]) -> Deferred[Dict[str, User]]:
        return self._runRead(getUsers_txn, userIds)

    def updateUser(self, userId: str, changes: Mapping[str, Any],
                   now: int) -> Deferred[Optional[User]]:
        return self._runWrite(updateUser_txn, userId, changes, now)

    def searchUsers(self, keyword: str, fuzzy: bool, offset: int,
                    limit: int) -> Deferred[List[User]]:
        return self._runRead(searchUsers_txn, keyword, fuzzy, offset, limit)


@implementer(IUserStore)
class MemoryUserStore:
    """
    L{IUserStore} in memory.

    @ivar users: uid -> L{User}.
    """

    def __init__(self) -> None:
        super().__init__()
        self._idCounter = 0
        self.users: Dict[str, User] = {}
        self._byMobile: Dict[str, str] = {}

    def _newUid(self) -> str:
        while True:
            self._idCounter += 1
            userId = toUid(self._idCounter)
            if userId not in self.users:
                return userId

    def _addUser(self, user: User) -> User:
        if user.userId in self.users or (user.mobile and user.mobile in self._byMobile):
            raise KeyError(user.userId)
        self.users[user.userId] = user
        if user.mobile:
            self._byMobile[user.mobile] = user.userId
        return user

    @fired
    def getOrCreateByMobile(self, mobile: str, now: int) -> Tuple[User, bool]:
        userId = self._byMobile.get(mobile)
        if userId is not None:
            return (self.users[userId], False)
        user = User(userId=self._newUid(), name=mobile, displayName=mobile,
                    mobile=mobile, updateDt=now)
        return (self._addUser(user), True)

    @fired
    def createUser(self, mobile: str, displayName: str, now: int,
                   userId: Optional[str] = None) -> User:
        user = User(userId=userId or self._newUid(), name=mobile,
                    displayName=displayName or mobile, mobile=mobile, updateDt=now)
        return self._addUser(user)

    @fired
    def getUser(self, userId: str) -> Optional[User]:
        return self.users.get(userId)

    @fired
    def getUsers(self, userIds: Iterable[str]) -> Dict[str, User]:
        return {u: self.users[u] for u in userIds if u in self.users}

    @fired
    def updateUser(self, userId: str, changes: Mapping[str, Any], now: int) -> Optional[User]:
        unknown = set(changes) - USER_FIELDS
        if unknown:
            raise ValueError("not updatable: %s" % (sorted(unknown),))
        old = self.users.get(userId)
        if old is None:
            return None
        new = attr.evolve(old, updateDt=now, **changes)
        if new.mobile != old.mobile:
            if new.mobile and new.mobile in self._byMobile:
                raise KeyError(new.mobile)
            self._byMobile.pop(old.mobile, None)
            if new.mobile:
                self._byMobile[new.mobile] = userId
        self.users[userId] = new
        return new

    @fired
    def searchUsers(self, keyword: str, fuzzy: bool, offset: int, limit: int) -> List[User]:
        found = [
            u for u in self.users.values()
            if u.searchable and (
                u.mobile == keyword or (fuzzy and u.displayName != u.mobile
                                        and keyword in u.displayName))
        ]
        return found[offset:offset + limit]
