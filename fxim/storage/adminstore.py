# -*- test-case-name: fxim.test.unit.test_admin_store -*-
"""
Storage for e-mail logins and the admin API: L{IAdminStore}, on SQL
(L{SQLAdminStore}, beside an L{fxim.storage.sqlstore.SQLStore} on the same
database) and in memory (L{MemoryAdminStore}, beside a
L{fxim.storage.memory.MemoryStore}).  Schema: C{003_admin_identities.sql}.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar

import attr
from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from fxim.model import ContentType, FriendState, GroupInfo, Message, MessageContent, User
from fxim.storage.database import SQLDatabase, all_txn, nextCounter_txn, one_txn
from fxim.storage.dialect import Dialect
from fxim.storage.groups import GROUP_SELECT
from fxim.storage.users import USER_SELECT, getUser_txn, insertUser_txn, userFromRow

if TYPE_CHECKING:
    from fxim.storage.memory import MemoryStore

T = TypeVar("T")

#: Which messages L{IAdminStore.purgeMessages} deletes: C{("before", ms)},
#: C{("private", a, b)} or C{("group", gid)}.
Selector = Tuple[Any, ...]

#: Content that replaces an erased message (GDPR erasure): shown by clients
#: as a recalled message, with none of the original text or media left.
ERASED = MessageContent(type=ContentType.RECALL, content="admin")


@attr.s(frozen=True, slots=True, auto_attribs=True)
class AuditEntry:
    """
    One admin action.

    @ivar id: increasing id (0 before it is stored).
    @ivar at: time in ms.
    @ivar action: e.g. C{"users.block"}.
    @ivar target: what it acted on (a uid, group id, ...).
    @ivar detail: a JSON-able dict of the request's parameters (never a
        secret).
    @ivar peer: the client address of the request.
    """

    id: int
    at: int
    action: str
    target: str
    detail: dict
    peer: str

    def asJson(self) -> dict:
        return attr.asdict(self)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class DeleteCounts:
    """
    What L{IAdminStore.deleteUser} removed.
    """

    sessions: int = 0
    friends: int = 0
    friendRequests: int = 0
    erasedMessages: int = 0


class IAdminStore(Interface):
    """
    E-mail logins, user and group listings, user deletion and the audit
    log.  Every method returns a L{Deferred}.
    """

    def getOrCreateByEmail(email, now):
        """
        @param email: a normalised (lower-case) address.
        @return: C{(user, created)}; a new user has C{email} in its profile
            and as login e-mail.
        """

    def getUserByEmail(email):
        """
        @return: the L{User} whose login e-mail is C{email}, or L{None}.
        """

    def loginEmailOf(userId):
        """
        @return: the login e-mail of C{uid} (C{""} for none).
        """

    def setLoginEmail(userId, email):
        """
        Set (C{""}: clear) the login e-mail of C{uid}.

        @raise KeyError: (asynchronously) if another user has it.
        """

    def listUsers(query, offset, limit):
        """
        Users in creation order; with C{query}, those whose uid, mobile or
        login e-mail equals it or whose display name contains it.

        @return: a list of at most C{limit} L{User}s.
        """

    def listGroups(query, offset, limit):
        """
        Groups by id; with C{query}, those whose id equals it or whose name
        contains it.

        @return: a list of L{fxim.model.GroupInfo}.
        """

    def deleteUser(userId, eraseMessages, now):
        """
        Delete the user's profile, sessions, friendships (their own rows;
        the other side's rows become C{DELETED} at C{now}, so an
        incremental FP tells the friends),
        friend requests and login codes; with C{eraseMessages}, replace the
        content of every message they sent with L{ERASED}.  Group
        memberships are left to the caller (they produce notifications).

        @return: a L{DeleteCounts}, or L{None} for an unknown user.
        """

    def purgeMessages(selector, tombstone, limit):
        """
        Delete up to C{limit} stored messages chosen by C{selector} and
        their inbox entries, leaving in each affected inbox, at the highest
        seq it lost, an entry pointing at C{tombstone} (a message stored
        here first), so a pull that reaches the purged range meets the
        tombstone instead of silently skipping: seqs and cursors never
        move.

        @param selector: C{("before", ms)} for messages sent before C{ms}
            (retention), C{("private", a, b)} or C{("group", gid)} for one
            conversation.
        @param tombstone: a L{fxim.model.Message} with its uid set.
        @return: the number of messages deleted (0 when nothing is left;
            the tombstone is then not stored).
        """

    def addAudit(entry):
        """
        Store an L{AuditEntry} (its C{id} is assigned).

        @return: the stored entry.
        """

    def listAudit(offset, limit):
        """
        @return: audit entries, newest first.
        """


# -- SQL ---------------------------------------------------------------------------

def _local(email: str) -> str:
    return email.split("@", 1)[0]


def getUserByEmail_txn(txn: Any, d: Dialect, email: str) -> Optional[User]:
    row = one_txn(txn, d, USER_SELECT + " WHERE login_email = ? AND login_email <> ''", (email,))
    return None if row is None else userFromRow(row)


def getOrCreateByEmail_txn(txn: Any, d: Dialect, email: str, now: int) -> Tuple[User, bool]:
    found = getUserByEmail_txn(txn, d, email)
    if found is not None:
        return (found, False)
    name = _local(email)
    user = insertUser_txn(txn, d, User(userId="", name=name, displayName=name, email=email,
                                       updateDt=now))
    # A concurrent login of the same address on another node makes this
    # fail with an integrity error: the whole transaction is undone and
    # the caller reads the winner.
    txn.execute(d.q("UPDATE users SET login_email = ? WHERE uid = ?"), (email, user.userId))
    created = getUser_txn(txn, d, user.userId)
    assert created is not None
    return (created, True)


def loginEmailOf_txn(txn: Any, d: Dialect, userId: str) -> str:
    row = one_txn(txn, d, "SELECT login_email FROM users WHERE uid = ?", (userId,))
    return "" if row is None else row[0]


def setLoginEmail_txn(txn: Any, d: Dialect, userId: str, email: str) -> bool:
    txn.execute(d.q("UPDATE users SET login_email = ? WHERE uid = ?"), (email, userId))
    return txn.rowcount > 0


def listUsers_txn(txn: Any, d: Dialect, query: str, offset: int, limit: int) -> List[User]:
    if query:
        rows = all_txn(txn, d, USER_SELECT + " WHERE uid = ? OR (mobile = ? AND mobile <> '')"
                       " OR (login_email = ? AND login_email <> '') OR " + d.contains("display_name")
                       + " ORDER BY seq LIMIT ? OFFSET ?",
                       (query, query, query.lower(), query, limit, offset))
    else:
        rows = all_txn(txn, d, USER_SELECT + " ORDER BY seq LIMIT ? OFFSET ?", (limit, offset))
    return [userFromRow(row) for row in rows]


def listGroups_txn(txn: Any, d: Dialect, query: str, offset: int,
                   limit: int) -> List[GroupInfo]:
    if query:
        rows = all_txn(txn, d, GROUP_SELECT + " WHERE gid = ? OR " + d.contains("name")
                       + " ORDER BY gid LIMIT ? OFFSET ?", (query, query, limit, offset))
    else:
        rows = all_txn(txn, d, GROUP_SELECT + " ORDER BY gid LIMIT ? OFFSET ?",
                       (limit, offset))
    return [GroupInfo(*row) for row in rows]


def deleteUser_txn(txn: Any, d: Dialect, userId: str, eraseMessages: bool,
                   now: int) -> Optional[DeleteCounts]:
    user = getUser_txn(txn, d, userId)
    if user is None:
        return None
    loginEmail = loginEmailOf_txn(txn, d, userId)

    def delete(statement: str, args: Sequence[Any]) -> int:
        txn.execute(d.q(statement), args)
        return txn.rowcount
    sessions = delete("DELETE FROM sessions WHERE uid = ?", (userId,))
    friends = delete("DELETE FROM friends WHERE uid = ?", (userId,))
    friends += delete("UPDATE friends SET state = ?, update_dt = ? WHERE friend_uid = ?",
                      (int(FriendState.DELETED), now, userId))
    requests = delete("DELETE FROM friend_requests WHERE from_uid = ? OR to_uid = ?", (userId, userId))
    for key in (user.mobile, loginEmail):
        if key:
            delete("DELETE FROM login_codes WHERE mobile = ?", (key,))
    erased = 0
    if eraseMessages:
        from fxim.storage.messages import CONTENT_COLUMNS, contentValues
        erased = delete("UPDATE messages SET %s WHERE from_user = ?" % (
            ", ".join("%s = ?" % (c,) for c in CONTENT_COLUMNS),),
            contentValues(ERASED, 64) + [userId])
        # The user's own inbox goes too: nobody can pull it any more.
        delete("DELETE FROM inboxes WHERE uid = ?", (userId,))
        delete("DELETE FROM user_heads WHERE uid = ?", (userId,))
    delete("DELETE FROM users WHERE uid = ?", (userId,))
    return DeleteCounts(sessions, friends, requests, erased)


def _selected_txn(txn: Any, d: Dialect, selector: Selector, limit: int,
                  keep: Sequence[int]) -> List[int]:
    kind = selector[0]
    args: List[Any]
    if kind == "before":
        where, args = "sent_at < ?", [selector[1]]
    elif kind == "private":
        where = ("conv_type = 0 AND ((from_user = ? AND conv_target = ?)"
                 " OR (from_user = ? AND conv_target = ?))")
        args = [selector[1], selector[2], selector[2], selector[1]]
    elif kind == "group":
        where, args = "conv_type = 1 AND conv_target = ?", [selector[1]]
    else:
        raise ValueError("unknown selector %r" % (kind,))
    return [row[0] for row in all_txn(
        txn, d, "SELECT uid FROM messages WHERE " + where + " AND uid NOT IN (%s)"
        " ORDER BY uid LIMIT ?" % (", ".join("?" * len(keep)),), args + list(keep) + [limit])]


def purgeMessages_txn(txn: Any, d: Dialect, selector: Selector, tombstone: Message, limit: int,
                      keep: Sequence[int] = ()) -> int:
    from fxim.storage.messages import MESSAGE_COLUMNS, messageValues
    messageUids = _selected_txn(txn, d, selector, limit, tuple(keep) + (tombstone.messageUid,))
    if not messageUids:
        return 0
    marks = "(%s)" % (", ".join("?" * len(messageUids)),)
    tails = all_txn(txn, d, "SELECT uid, MAX(seq) FROM inboxes WHERE message_uid IN " + marks
                    + " GROUP BY uid", messageUids)
    # One tombstone serves every batch of a purge run.
    txn.execute(d.q("INSERT INTO messages (%s) VALUES (%s) ON CONFLICT (uid) DO NOTHING" % (
        ", ".join(MESSAGE_COLUMNS), ", ".join("?" * len(MESSAGE_COLUMNS)))),
        messageValues(tombstone))
    for owner, seq in tails:
        # One marker per inbox and tombstone: the highest one reports all.
        txn.execute(d.q("DELETE FROM inboxes WHERE uid = ? AND message_uid = ? AND seq < ?"),
                    (owner, tombstone.messageUid, seq))
        txn.execute(d.q("UPDATE inboxes SET message_uid = ? WHERE uid = ? AND seq = ?"),
                    (tombstone.messageUid, owner, seq))
    for table in ("inboxes", "dedup_keys"):
        txn.execute(d.q("DELETE FROM %s WHERE message_uid IN %s" % (table, marks)), messageUids)
    txn.execute(d.q("DELETE FROM messages WHERE uid IN " + marks), messageUids)
    return len(messageUids)


def addAudit_txn(txn: Any, d: Dialect, entry: AuditEntry) -> AuditEntry:
    entryId = nextCounter_txn(txn, d, "admin_audit")
    txn.execute(d.q("INSERT INTO admin_audit (id, at, action, target, detail, peer)"
                    " VALUES (?, ?, ?, ?, ?, ?)"),
                (entryId, entry.at, entry.action, entry.target,
                 json.dumps(entry.detail, ensure_ascii=False, sort_keys=True), entry.peer))
    return attr.evolve(entry, id=entryId)


def listAudit_txn(txn: Any, d: Dialect, offset: int, limit: int) -> List[AuditEntry]:
    rows = all_txn(txn, d, "SELECT id, at, action, target, detail, peer FROM admin_audit"
                   " ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset))
    return [AuditEntry(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]


@implementer(IAdminStore)
class SQLAdminStore:
    """
    L{IAdminStore} on the database of an L{fxim.storage.sqlstore.SQLStore}
    (its pools, dialect and retry rules).
    """

    #: Message uids never purged (none by default).
    keep: Tuple[int, ...] = ()

    def __init__(self, store: SQLDatabase) -> None:
        self._store = store

    def _read(self, func: Callable[..., T], *args: Any) -> Deferred[T]:
        return self._store._runRead(func, *args)

    def _write(self, func: Callable[..., T], *args: Any) -> Deferred[T]:
        return self._store._runWrite(func, *args)

    def getOrCreateByEmail(self, email: str, now: int) -> Deferred[Tuple[User, bool]]:
        def lost(failure: Failure) -> Any:
            # Another node created it at the same moment: read the winner.
            failure.trap(KeyError)
            return self._read(getUserByEmail_txn, email).addCallback(lambda u: (u, False))
        return self._write(getOrCreateByEmail_txn, email, now).addErrback(lost)

    def getUserByEmail(self, email: str) -> Deferred[Optional[User]]:
        return self._read(getUserByEmail_txn, email)

    def loginEmailOf(self, userId: str) -> Deferred[str]:
        return self._read(loginEmailOf_txn, userId)

    def setLoginEmail(self, userId: str, email: str) -> Deferred[bool]:
        return self._write(setLoginEmail_txn, userId, email)

    def listUsers(self, query: str, offset: int, limit: int) -> Deferred[List[User]]:
        return self._read(listUsers_txn, query, offset, limit)

    def listGroups(self, query: str, offset: int, limit: int) -> Deferred[List[GroupInfo]]:
        return self._read(listGroups_txn, query, offset, limit)

    def deleteUser(self, userId: str, eraseMessages: bool,
                   now: int = 0) -> Deferred[Optional[DeleteCounts]]:
        return self._write(deleteUser_txn, userId, eraseMessages, now)

    def purgeMessages(self, selector: Selector, tombstone: Message,
                      limit: int = 500) -> Deferred[int]:
        return self._write(purgeMessages_txn, selector, tombstone, limit, self.keep)

    def addAudit(self, entry: AuditEntry) -> Deferred[AuditEntry]:
        return self._write(addAudit_txn, entry)

    def listAudit(self, offset: int, limit: int) -> Deferred[List[AuditEntry]]:
        return self._read(listAudit_txn, offset, limit)


# -- memory ---------------------------------------------------------------------------

@implementer(IAdminStore)
class MemoryAdminStore:
    """
    The in-memory twin, reading and changing a
    L{fxim.storage.memory.MemoryStore}'s dictionaries.
    """

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._byEmail: Dict[str, str] = {}
        self._audit: List[AuditEntry] = []

    def getOrCreateByEmail(self, email: str, now: int) -> Deferred[Tuple[User, bool]]:
        userId = self._byEmail.get(email)
        if userId is not None and userId in self._store.users:
            return succeed((self._store.users[userId], False))
        name = _local(email)
        user = User(userId=self._store._newUid(), name=name, displayName=name, email=email,
                    updateDt=now)
        self._store._addUser(user)
        self._byEmail[email] = user.userId
        return succeed((user, True))

    def getUserByEmail(self, email: str) -> Deferred[Optional[User]]:
        userId = self._byEmail.get(email)
        return succeed(self._store.users.get(userId) if userId else None)

    def loginEmailOf(self, userId: str) -> Deferred[str]:
        return succeed(next((e for e, u in self._byEmail.items() if u == userId), ""))

    def setLoginEmail(self, userId: str, email: str) -> Deferred[bool]:
        if email and self._byEmail.get(email, userId) != userId:
            return fail(KeyError(email))
        for e, u in list(self._byEmail.items()):
            if u == userId:
                del self._byEmail[e]
        if email:
            self._byEmail[email] = userId
        return succeed(userId in self._store.users)

    def listUsers(self, query: str, offset: int, limit: int) -> Deferred[List[User]]:
        users = list(self._store.users.values())
        if query:
            emails = {u for e, u in self._byEmail.items() if e == query.lower()}
            users = [u for u in users if u.userId == query or (u.mobile and u.mobile == query)
                     or u.userId in emails or query in u.displayName]
        return succeed(users[offset:offset + limit])

    def listGroups(self, query: str, offset: int, limit: int) -> Deferred[List[GroupInfo]]:
        groups = sorted(self._store.groups.values(), key=lambda g: g.targetId)
        if query:
            groups = [g for g in groups if g.targetId == query or query in g.name]
        return succeed(groups[offset:offset + limit])

    def deleteUser(self, userId: str, eraseMessages: bool,
                   now: int = 0) -> Deferred[Optional[DeleteCounts]]:
        s = self._store
        user = s.users.get(userId)
        if user is None:
            return succeed(None)
        sessions = [k for k in s.sessions if k[0] == userId]
        for k in sessions:
            del s.sessions[k]
        friends = [k for k in s.friends if userId in k]
        for k in friends:
            if k[0] == userId:
                del s.friends[k]
            else:
                s.friends[k] = attr.evolve(s.friends[k], state=FriendState.DELETED, updateDt=now)
        requests = [k for k in s.friendRequests if userId in k]
        for k in requests:
            del s.friendRequests[k]
        erased = 0
        if eraseMessages:
            for messageUid, m in list(s.messages.items()):
                if m.fromUser == userId:
                    s.messages[messageUid] = attr.evolve(m, content=ERASED)
                    erased += 1
            s.inboxes.pop(userId, None)
        s.codes.pop(user.mobile, None)
        for e, u in list(self._byEmail.items()):
            if u == userId:
                s.codes.pop(e, None)
                del self._byEmail[e]
        s._byMobile.pop(user.mobile, None)
        del s.users[userId]
        return succeed(DeleteCounts(len(sessions), len(friends), len(requests), erased))

    def purgeMessages(self, selector: Selector, tombstone: Message,
                      limit: int = 500) -> Deferred[int]:
        s = self._store
        kind = selector[0]

        def chosen(m: Message) -> bool:
            c = m.conversation
            if kind == "before":
                return m.timestamp < selector[1]
            if kind == "private":
                return c.type == 0 and {m.fromUser, c.target} == {selector[1], selector[2]}
            return c.type == 1 and c.target == selector[1]
        messageUids = sorted(u for u, m in s.messages.items() if u != tombstone.messageUid and chosen(m))[:limit]
        if not messageUids:
            return succeed(0)
        gone = set(messageUids)
        s.messages[tombstone.messageUid] = tombstone
        for owner, inbox in s.inboxes.items():
            hit = [i for i, u in enumerate(inbox) if u in gone]
            if hit:
                for i, u in enumerate(inbox):
                    if u == tombstone.messageUid:
                        inbox[i] = None
            for i in hit:
                inbox[i] = None
            if hit:
                inbox[hit[-1]] = tombstone.messageUid
                s._receivers.setdefault(tombstone.messageUid, {})[owner] = hit[-1] + 1
        for u in messageUids:
            del s.messages[u]
            s._receivers.pop(u, None)
        return succeed(len(messageUids))

    def addAudit(self, entry: AuditEntry) -> Deferred[AuditEntry]:
        entry = attr.evolve(entry, id=len(self._audit) + 1)
        self._audit.append(entry)
        return succeed(entry)

    def listAudit(self, offset: int, limit: int) -> Deferred[List[AuditEntry]]:
        return succeed(list(reversed(self._audit))[offset:offset + limit])


def adminStoreFor(store: object) -> IAdminStore:
    """
    @return: the L{IAdminStore} beside C{store} (an C{SQLStore} or a
        C{MemoryStore}).
    """
    from fxim.services.sendchecks import watchAdminStore
    from fxim.storage.memory import MemoryStore
    admin: IAdminStore
    if isinstance(store, MemoryStore):
        admin = MemoryAdminStore(store)
    else:
        assert isinstance(store, SQLDatabase)
        admin = SQLAdminStore(store)
    # Its writes bypass the store's methods: invalidate the send checks too.
    watchAdminStore(admin, store)
    return admin


__all__ = ["IAdminStore", "SQLAdminStore", "MemoryAdminStore", "AuditEntry", "DeleteCounts",
           "ERASED", "adminStoreFor"]
