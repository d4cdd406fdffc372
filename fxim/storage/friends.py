# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
Friends and friend requests (L{fxim.interfaces.IFriendStore}): their
C{*_txn} queries, the SQL store L{SQLFriendStore} and its in-memory twin
L{MemoryFriendStore}.

A check-and-write between two users (FAR, FHR, the blacklist, an alias)
is one transaction: L{IFriendStore.changeFriendship} reads what the
decision needs with both users' rows locked (PostgreSQL: C{SELECT ... FOR
UPDATE}; SQLite has one writer), calls the service's decision, and writes
what it returns -- so two nodes changing what links the same two users
take turns.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import attr
from twisted.internet.defer import Deferred
from zope.interface import implementer

from fxim.interfaces import IFriendStore
from fxim.model import Friend, FriendRequest, User
from fxim.storage.database import SQLDatabase, all_txn, one_txn, upsert
from fxim.storage.dialect import Dialect
from fxim.storage.fired import fired
from fxim.storage.users import getUser_txn, lockUsers_txn


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FriendPair:
    """
    What a friendship decision reads about two users, C{fromUid} and
    C{toUid}, in the transaction that writes its outcome.

    @ivar target: the L{User} C{toUid}, or L{None}.
    @ivar fromRow: C{fromUid}'s friend row for C{toUid}, or L{None}.
    @ivar toRow: C{toUid}'s friend row for C{fromUid}, or L{None}.
    @ivar request: the request from C{fromUid} to C{toUid}, or L{None}.
    """

    target: Optional[User]
    fromRow: Optional[Friend]
    toRow: Optional[Friend]
    request: Optional[FriendRequest]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FriendChange:
    """
    What a friendship decision writes.

    @ivar request: the request to store, or L{None}.
    @ivar friends: C{(owner uid, Friend)} rows to store.
    """

    request: Optional[FriendRequest] = None
    friends: Sequence[Tuple[str, Friend]] = ()


#: A decision: raises to refuse (nothing is written), returns L{None} to
#: write nothing.
Decision = Callable[[FriendPair], Optional[FriendChange]]

_FRIEND_SELECT = "SELECT friend_uid, state, update_dt, alias FROM friends"
_REQUEST_SELECT = ("SELECT from_uid, to_uid, reason, status, update_dt,"
                   " from_read_status, to_read_status FROM friend_requests")
_PUT_FRIEND = upsert("friends", ("uid", "friend_uid"), ("state", "alias", "update_dt"))
_PUT_REQUEST = upsert("friend_requests", ("from_uid", "to_uid"), (
    "reason", "status", "update_dt", "from_read_status", "to_read_status"))


def _request(row: Sequence[Any]) -> FriendRequest:
    fromUid, toUid, reason, status, updateDt, fromRead, toRead = row
    return FriendRequest(fromUid, toUid, reason, status, updateDt, bool(fromRead), bool(toRead))


def getFriend_txn(txn: Any, d: Dialect, userId: str, friendUid: str) -> Optional[Friend]:
    row = one_txn(txn, d, _FRIEND_SELECT + " WHERE uid = ? AND friend_uid = ?",
                  (userId, friendUid))
    return None if row is None else Friend(*row)


def putFriend_txn(txn: Any, d: Dialect, userId: str, f: Friend) -> None:
    txn.execute(d.q(_PUT_FRIEND),
                (userId, f.userId, f.state, f.alias, f.updateDt))


def listFriends_txn(txn: Any, d: Dialect, userId: str, sinceDt: int) -> List[Friend]:
    return [Friend(*row) for row in all_txn(
        txn, d, _FRIEND_SELECT + " WHERE uid = ? AND update_dt > ?"
        " ORDER BY update_dt, friend_uid", (userId, sinceDt))]


def getFriendRequest_txn(txn: Any, d: Dialect, fromUid: str,
                         toUid: str) -> Optional[FriendRequest]:
    row = one_txn(txn, d, _REQUEST_SELECT + " WHERE from_uid = ? AND to_uid = ?",
                  (fromUid, toUid))
    return None if row is None else _request(row)


def putFriendRequest_txn(txn: Any, d: Dialect, r: FriendRequest) -> None:
    txn.execute(d.q(_PUT_REQUEST),
                (r.fromUid, r.toUid, r.reason, r.status, r.updateDt,
         int(r.fromReadStatus), int(r.toReadStatus)))


def listFriendRequests_txn(txn: Any, d: Dialect, userId: str,
                           sinceDt: int) -> List[FriendRequest]:
    return [_request(row) for row in all_txn(
        txn, d, _REQUEST_SELECT + " WHERE (from_uid = ? OR to_uid = ?)"
        " AND update_dt > ? ORDER BY update_dt, from_uid, to_uid",
        (userId, userId, sinceDt))]


def getFriendHeads_txn(txn: Any, d: Dialect, userId: str) -> Tuple[int, int]:
    friends = one_txn(txn, d, "SELECT MAX(update_dt) FROM friends"
                      " WHERE uid = ?", (userId,))[0]
    requests = one_txn(txn, d, "SELECT MAX(update_dt) FROM friend_requests"
                       " WHERE from_uid = ? OR to_uid = ?", (userId, userId))[0]
    return (friends or 0, requests or 0)


def changeFriendship_txn(txn: Any, d: Dialect, fromUid: str, toUid: str,
                            decide: Decision) -> Tuple[FriendPair, Optional[FriendChange]]:
    lockUsers_txn(txn, d, [fromUid, toUid])
    pair = FriendPair(getUser_txn(txn, d, toUid), getFriend_txn(txn, d, fromUid, toUid),
                      getFriend_txn(txn, d, toUid, fromUid),
                      getFriendRequest_txn(txn, d, fromUid, toUid))
    change = decide(pair)
    if change is not None:
        if change.request is not None:
            putFriendRequest_txn(txn, d, change.request)
        for owner, row in change.friends:
            putFriend_txn(txn, d, owner, row)
    return (pair, change)


@implementer(IFriendStore)
class SQLFriendStore(SQLDatabase):
    """
    L{IFriendStore} on an SQL database.
    """

    def getFriend(self, userId: str, friendUid: str) -> Deferred[Optional[Friend]]:
        return self._runRead(getFriend_txn, userId, friendUid)

    def putFriend(self, userId: str, friend: Friend) -> Deferred[None]:
        return self._runWrite(putFriend_txn, userId, friend)

    def listFriends(self, userId: str, sinceDt: int) -> Deferred[List[Friend]]:
        return self._runRead(listFriends_txn, userId, sinceDt)

    def getFriendRequest(self, fromUid: str, toUid: str) -> Deferred[Optional[FriendRequest]]:
        return self._runRead(getFriendRequest_txn, fromUid, toUid)

    def putFriendRequest(self, request: FriendRequest) -> Deferred[None]:
        return self._runWrite(putFriendRequest_txn, request)

    def listFriendRequests(self, userId: str, sinceDt: int) -> Deferred[List[FriendRequest]]:
        return self._runRead(listFriendRequests_txn, userId, sinceDt)

    def getFriendHeads(self, userId: str) -> Deferred[Tuple[int, int]]:
        return self._runRead(getFriendHeads_txn, userId)

    def changeFriendship(
            self, fromUid: str, toUid: str,
            decide: Decision) -> Deferred[Tuple[FriendPair, Optional[FriendChange]]]:
        return self._runWrite(changeFriendship_txn, fromUid, toUid, decide)


@implementer(IFriendStore)
class MemoryFriendStore:
    """
    L{IFriendStore} in memory; L{changeFriendship} needs the C{users} of
    a L{fxim.storage.users.MemoryUserStore} beside it.

    @ivar friends: C{(uid, friend uid)} -> L{Friend}.
    @ivar friendRequests: C{(from uid, to uid)} -> L{FriendRequest}.
    """

    users: Dict[str, User]

    def __init__(self) -> None:
        super().__init__()
        self.friends: Dict[Tuple[str, str], Friend] = {}
        self.friendRequests: Dict[Tuple[str, str], FriendRequest] = {}

    @fired
    def getFriend(self, userId: str, friendUid: str) -> Optional[Friend]:
        return self.friends.get((userId, friendUid))

    @fired
    def putFriend(self, userId: str, friend: Friend) -> None:
        self.friends[(userId, friend.userId)] = friend

    @fired
    def listFriends(self, userId: str, sinceDt: int) -> List[Friend]:
        return sorted(
            (f for (u, _), f in self.friends.items() if u == userId and f.updateDt > sinceDt),
            key=lambda f: (f.updateDt, f.userId))

    @fired
    def getFriendRequest(self, fromUid: str, toUid: str) -> Optional[FriendRequest]:
        return self.friendRequests.get((fromUid, toUid))

    @fired
    def putFriendRequest(self, request: FriendRequest) -> None:
        self.friendRequests[(request.fromUid, request.toUid)] = request

    def _requestsOf(self, userId: str) -> List[FriendRequest]:
        return [r for r in self.friendRequests.values() if userId in (r.fromUid, r.toUid)]

    @fired
    def listFriendRequests(self, userId: str, sinceDt: int) -> List[FriendRequest]:
        return sorted(
            (r for r in self._requestsOf(userId) if r.updateDt > sinceDt),
            key=lambda r: (r.updateDt, r.fromUid, r.toUid))

    @fired
    def getFriendHeads(self, userId: str) -> Tuple[int, int]:
        friendHead = max((f.updateDt for (u, _), f in self.friends.items() if u == userId),
                         default=0)
        requestHead = max((r.updateDt for r in self._requestsOf(userId)), default=0)
        return (friendHead, requestHead)

    @fired
    def changeFriendship(self, fromUid: str, toUid: str,
                            decide: Decision) -> Tuple[FriendPair, Optional[FriendChange]]:
        pair = FriendPair(self.users.get(toUid), self.friends.get((fromUid, toUid)),
                          self.friends.get((toUid, fromUid)),
                          self.friendRequests.get((fromUid, toUid)))
        change = decide(pair)
        if change is not None:
            if change.request is not None:
                r = change.request
                self.friendRequests[(r.fromUid, r.toUid)] = r
            for owner, row in change.friends:
                self.friends[(owner, row.userId)] = row
        return (pair, change)
