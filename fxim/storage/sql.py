# -*- test-case-name: fxim.test.test_storage -*-
"""
Every query of the SQL stores, written once for SQLite and PostgreSQL.

Each C{*_txn(txn, d, ...)} function runs inside one transaction: C{txn} is
a DB-API cursor (an L{twisted.enterprise.adbapi.Transaction}) and C{d} the
L{fxim.storage.dialect.Dialect}.  They run in a database thread, never on
the reactor thread; the caller begins (L{Dialect.begin}) and commits the
transaction.
"""

import attr

from fxim.model import (
    FriendState,
    Friend, FriendRequest, GroupInfo, GroupMember, MemberType, Session, User,
)
from fxim.storage.ids import toUid
from fxim.storage.records import CodeState

#: Largest signed 64-bit value: C{beforeUid=0} means "below this".
MAX_UID = 2 ** 63 - 1


def insertMany_txn(txn, d, head, columns, rows, tail=""):
    """
    Insert C{rows} with multi-row C{VALUES} statements, as few as the
    dialect's parameter limit allows.

    @param head: C{"INSERT INTO table (a, b)"}.
    @param columns: the number of values per row.
    @param tail: appended to each statement (C{ON CONFLICT ...},
        C{RETURNING ...}).
    @return: every row returned (with a C{RETURNING} tail).
    """
    out = []
    per = max(1, d.maxParams // columns)
    one = "(" + ", ".join(["?"] * columns) + ")"
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        sql = "%s VALUES %s %s" % (head, ", ".join([one] * len(chunk)), tail)
        txn.execute(d.q(sql), [v for row in chunk for v in row])
        if "RETURNING" in tail:
            out.extend(txn.fetchall())
    return out


def _one(txn, d, sql, args=()):
    txn.execute(d.q(sql), args)
    return txn.fetchone()


def _all(txn, d, sql, args=()):
    txn.execute(d.q(sql), args)
    return txn.fetchall()


# -- users ------------------------------------------------------------------

#: L{User} field -> column.
USER_COLUMNS = {
    "uid": "uid", "name": "name", "displayName": "display_name",
    "portrait": "portrait", "mobile": "mobile", "email": "email",
    "address": "address", "company": "company", "extra": "extra",
    "updateDt": "update_dt", "gender": "gender", "social": "social",
    "type": "type", "status": "status", "searchable": "searchable",
}
_USER_FIELDS = [f.name for f in attr.fields(User)]
_USER_SELECT = "SELECT %s FROM users" % (
    ", ".join(USER_COLUMNS[f] for f in _USER_FIELDS),)


def _user(row):
    values = dict(zip(_USER_FIELDS, row))
    values["searchable"] = bool(values["searchable"])
    return User(**values)


def _userValues(user):
    values = [getattr(user, f) for f in _USER_FIELDS]
    values[_USER_FIELDS.index("searchable")] = int(user.searchable)
    return values


def nextCounter_txn(txn, d, name):
    """
    @return: the next value of counter C{name} (locks it until commit).
    """
    return _one(txn, d, "UPDATE counters SET value = value + 1"
                " WHERE name = ? RETURNING value", (name,))[0]


def _insertUser_txn(txn, d, user, conflict=""):
    seq = nextCounter_txn(txn, d, "users")
    if not user.uid:
        user = attr.evolve(user, uid=toUid(seq))
    cols = [USER_COLUMNS[f] for f in _USER_FIELDS] + ["seq"]
    txn.execute(d.q("INSERT INTO users (%s) VALUES (%s) %s" % (
        ", ".join(cols), ", ".join("?" * len(cols)), conflict)),
        _userValues(user) + [seq])
    return user


def getUserByMobile_txn(txn, d, mobile):
    row = _one(txn, d, _USER_SELECT + " WHERE mobile = ? AND mobile <> ''",
               (mobile,))
    return None if row is None else _user(row)


def getOrCreateByMobile_txn(txn, d, mobile, now):
    found = getUserByMobile_txn(txn, d, mobile)
    if found is not None:
        return (found, False)
    user = _insertUser_txn(txn, d, User(uid="", name=mobile,
                                        displayName=mobile, mobile=mobile,
                                        updateDt=now),
                           "ON CONFLICT DO NOTHING")
    found = getUserByMobile_txn(txn, d, mobile)
    return (found, found.uid == user.uid)


def createUser_txn(txn, d, mobile, displayName, now, uid):
    return _insertUser_txn(txn, d, User(uid=uid or "", name=mobile,
                                        displayName=displayName or mobile,
                                        mobile=mobile, updateDt=now))


def getUser_txn(txn, d, uid):
    row = _one(txn, d, _USER_SELECT + " WHERE uid = ?", (uid,))
    return None if row is None else _user(row)


def getUsers_txn(txn, d, uids):
    found = {}
    uids = list(uids)
    for start in range(0, len(uids), 500):
        chunk = uids[start:start + 500]
        for row in _all(txn, d, _USER_SELECT + " WHERE uid IN (%s)" % (
                ", ".join("?" * len(chunk)),), chunk):
            user = _user(row)
            found[user.uid] = user
    return found


def updateUser_txn(txn, d, uid, changes, now):
    unknown = set(changes) - set(USER_COLUMNS) | ({"uid"} & set(changes))
    if unknown:
        raise ValueError("not updatable: %s" % (sorted(unknown),))
    changes = dict(changes, updateDt=now)
    if "searchable" in changes:
        changes["searchable"] = int(bool(changes["searchable"]))
    names = sorted(changes)
    txn.execute(d.q("UPDATE users SET %s WHERE uid = ?" % (
        ", ".join("%s = ?" % (USER_COLUMNS[n],) for n in names),)),
        [changes[n] for n in names] + [uid])
    return getUser_txn(txn, d, uid)


def searchUsers_txn(txn, d, keyword, fuzzy, offset, limit):
    where = "mobile = ?"
    args = [keyword]
    if fuzzy:
        # The display name a login gives (the mobile itself) is not
        # searched fuzzily: that would leak numbers (i10b).
        where = "(mobile = ? OR (display_name <> mobile AND %s))" % (
            d.contains("display_name"),)
        args.append(keyword)
    rows = _all(txn, d, _USER_SELECT + " WHERE searchable = 1 AND " + where
                + " ORDER BY seq LIMIT ? OFFSET ?", args + [limit, offset])
    return [_user(row) for row in rows]


# -- sessions and login codes --------------------------------------------------

_SESSION_SELECT = ("SELECT uid, cid, secret, db_secret, created_at,"
                   " expires_at, platform FROM sessions")


def createSession_txn(txn, d, s):
    txn.execute(d.q(
        "INSERT INTO sessions (uid, cid, secret, db_secret, created_at,"
        " expires_at, platform) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (uid, cid) DO UPDATE SET secret = excluded.secret,"
        " db_secret = excluded.db_secret, created_at = excluded.created_at,"
        " expires_at = excluded.expires_at, platform = excluded.platform"),
        (s.uid, s.cid, s.secret, s.dbSecret, s.createdAt, s.expiresAt,
         s.platform))
    return s


def getSession_txn(txn, d, uid, cid):
    row = _one(txn, d, _SESSION_SELECT + " WHERE uid = ? AND cid = ?",
               (uid, cid))
    return None if row is None else Session(*row)


def listSessions_txn(txn, d, uid):
    return [Session(*row) for row in _all(
        txn, d, _SESSION_SELECT + " WHERE uid = ? ORDER BY cid", (uid,))]


def deleteSession_txn(txn, d, uid, cid):
    txn.execute(d.q("DELETE FROM sessions WHERE uid = ? AND cid = ?"),
                (uid, cid))
    return txn.rowcount > 0


def getCodeState_txn(txn, d, mobile):
    row = _one(txn, d, "SELECT code, expires_at, attempts, last_sent_at,"
               " day_start, sent_today FROM login_codes WHERE mobile = ?",
               (mobile,))
    return None if row is None else CodeState(*row)


def putCodeState_txn(txn, d, mobile, s):
    txn.execute(d.q(
        "INSERT INTO login_codes (mobile, code, expires_at, attempts,"
        " last_sent_at, day_start, sent_today) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (mobile) DO UPDATE SET code = excluded.code,"
        " expires_at = excluded.expires_at, attempts = excluded.attempts,"
        " last_sent_at = excluded.last_sent_at,"
        " day_start = excluded.day_start, sent_today = excluded.sent_today"),
        (mobile, s.code, s.expiresAt, s.attempts, s.lastSentAt, s.dayStart,
         s.sentToday))


# -- friends --------------------------------------------------------------------

_FRIEND_SELECT = "SELECT friend_uid, state, update_dt, alias FROM friends"
_REQUEST_SELECT = ("SELECT from_uid, to_uid, reason, status, update_dt,"
                   " from_read_status, to_read_status FROM friend_requests")


def _request(row):
    return FriendRequest(*row[:5], bool(row[5]), bool(row[6]))


def getFriend_txn(txn, d, uid, friendUid):
    row = _one(txn, d, _FRIEND_SELECT + " WHERE uid = ? AND friend_uid = ?",
               (uid, friendUid))
    return None if row is None else Friend(*row)


def putFriend_txn(txn, d, uid, f):
    txn.execute(d.q(
        "INSERT INTO friends (uid, friend_uid, state, alias, update_dt)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (uid, friend_uid) DO UPDATE"
        " SET state = excluded.state, alias = excluded.alias,"
        " update_dt = excluded.update_dt"),
        (uid, f.uid, f.state, f.alias, f.updateDt))


def listFriends_txn(txn, d, uid, sinceDt):
    return [Friend(*row) for row in _all(
        txn, d, _FRIEND_SELECT + " WHERE uid = ? AND update_dt > ?"
        " ORDER BY update_dt, friend_uid", (uid, sinceDt))]


def getFriendRequest_txn(txn, d, fromUid, toUid):
    row = _one(txn, d, _REQUEST_SELECT + " WHERE from_uid = ? AND to_uid = ?",
               (fromUid, toUid))
    return None if row is None else _request(row)


def putFriendRequest_txn(txn, d, r):
    txn.execute(d.q(
        "INSERT INTO friend_requests (from_uid, to_uid, reason, status,"
        " update_dt, from_read_status, to_read_status)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (from_uid, to_uid)"
        " DO UPDATE SET reason = excluded.reason, status = excluded.status,"
        " update_dt = excluded.update_dt,"
        " from_read_status = excluded.from_read_status,"
        " to_read_status = excluded.to_read_status"),
        (r.fromUid, r.toUid, r.reason, r.status, r.updateDt,
         int(r.fromReadStatus), int(r.toReadStatus)))


def listFriendRequests_txn(txn, d, uid, sinceDt):
    return [_request(row) for row in _all(
        txn, d, _REQUEST_SELECT + " WHERE (from_uid = ? OR to_uid = ?)"
        " AND update_dt > ? ORDER BY update_dt, from_uid, to_uid",
        (uid, uid, sinceDt))]


def getFriendHeads_txn(txn, d, uid):
    friends = _one(txn, d, "SELECT MAX(update_dt) FROM friends"
                   " WHERE uid = ?", (uid,))[0]
    requests = _one(txn, d, "SELECT MAX(update_dt) FROM friend_requests"
                    " WHERE from_uid = ? OR to_uid = ?", (uid, uid))[0]
    return (friends or 0, requests or 0)


# -- groups ---------------------------------------------------------------------

#: L{GroupInfo} field -> column.
GROUP_COLUMNS = {
    "targetId": "gid", "name": "name", "portrait": "portrait",
    "owner": "owner", "type": "type", "memberCount": "member_count",
    "extra": "extra", "updateDt": "update_dt",
    "memberUpdateDt": "member_update_dt",
}
_GROUP_FIELDS = [f.name for f in attr.fields(GroupInfo)]
_GROUP_SELECT = "SELECT %s FROM chat_groups" % (
    ", ".join(GROUP_COLUMNS[f] for f in _GROUP_FIELDS),)
_MEMBER_SELECT = ("SELECT member_id, alias, type, update_dt"
                  " FROM group_members")


def _putMembers_txn(txn, d, groupId, members, now):
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


def _countMembers_txn(txn, d, groupId):
    return _one(txn, d, "SELECT COUNT(*) FROM group_members"
                " WHERE gid = ? AND type <> ?",
                (groupId, int(MemberType.REMOVED)))[0]


def _checkUsersExist_txn(txn, d, members):
    """
    Raise L{UnknownUsers} if a member being put (not removed) is no user:
    checked in the transaction that writes them.
    """
    from fxim.storage.records import UnknownUsers, activeMemberIds
    ids = list(dict.fromkeys(activeMemberIds(members)))
    found = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found.update(row[0] for row in _all(
            txn, d, "SELECT uid FROM users WHERE uid IN (%s)" % (
                ", ".join("?" * len(chunk)),), chunk))
    missing = [i for i in ids if i not in found]
    if missing:
        raise UnknownUsers(missing)


def createGroup_txn(txn, d, info, members, maxOwned=None):
    _checkUsersExist_txn(txn, d, members)
    if maxOwned is not None:
        from fxim.storage.records import TooManyGroups
        owned = _one(txn, d, "SELECT COUNT(*) FROM chat_groups WHERE owner = ?",
                     (info.owner,))[0]
        if owned >= maxOwned:
            raise TooManyGroups(info.owner)
    txn.execute(d.q("INSERT INTO chat_groups (%s) VALUES (%s)" % (
        ", ".join(GROUP_COLUMNS[f] for f in _GROUP_FIELDS),
        ", ".join("?" * len(_GROUP_FIELDS)))),
        [getattr(info, f) for f in _GROUP_FIELDS])
    _putMembers_txn(txn, d, info.targetId, members, info.updateDt)
    txn.execute(d.q("UPDATE chat_groups SET member_count = ? WHERE gid = ?"),
                (_countMembers_txn(txn, d, info.targetId), info.targetId))


def getGroup_txn(txn, d, groupId, lock=False):
    row = _one(txn, d, _GROUP_SELECT + " WHERE gid = ?"
               + (d.forUpdate if lock else ""), (groupId,))
    return None if row is None else GroupInfo(*row)


def getGroups_txn(txn, d, groupIds):
    found = {}
    groupIds = list(groupIds)
    for start in range(0, len(groupIds), 500):
        chunk = groupIds[start:start + 500]
        for row in _all(txn, d, _GROUP_SELECT + " WHERE gid IN (%s)" % (
                ", ".join("?" * len(chunk)),), chunk):
            found[row[0]] = GroupInfo(*row)
    return found


def updateGroup_txn(txn, d, groupId, changes, now):
    unknown = set(changes) - set(GROUP_COLUMNS) | (
        {"targetId"} & set(changes))
    if unknown:
        raise ValueError("not updatable: %s" % (sorted(unknown),))
    changes = dict(changes, updateDt=now)
    names = sorted(changes)
    txn.execute(d.q("UPDATE chat_groups SET %s WHERE gid = ?" % (
        ", ".join("%s = ?" % (GROUP_COLUMNS[n],) for n in names),)),
        [changes[n] for n in names] + [groupId])
    return getGroup_txn(txn, d, groupId)


def deleteGroup_txn(txn, d, groupId):
    txn.execute(d.q("DELETE FROM group_members WHERE gid = ?"), (groupId,))
    txn.execute(d.q("DELETE FROM chat_groups WHERE gid = ?"), (groupId,))


def getMembers_txn(txn, d, groupId, includeRemoved):
    where = "" if includeRemoved else " AND type <> %d" % (MemberType.REMOVED,)
    return [GroupMember(*row) for row in _all(
        txn, d, _MEMBER_SELECT + " WHERE gid = ?" + where
        + " ORDER BY position", (groupId,))]


def getMember_txn(txn, d, groupId, memberId):
    row = _one(txn, d, _MEMBER_SELECT + " WHERE gid = ? AND member_id = ?",
               (groupId, memberId))
    return None if row is None else GroupMember(*row)


def putMembers_txn(txn, d, groupId, members, now):
    if getGroup_txn(txn, d, groupId, lock=True) is None:
        raise KeyError(groupId)
    _checkUsersExist_txn(txn, d, members)
    _putMembers_txn(txn, d, groupId, members, now)
    txn.execute(d.q("UPDATE chat_groups SET member_update_dt = ?,"
                    " member_count = ? WHERE gid = ?"),
                (now, _countMembers_txn(txn, d, groupId), groupId))


def groupsOf_txn(txn, d, uid):
    return [row[0] for row in _all(
        txn, d, "SELECT gid FROM group_members WHERE member_id = ?"
        " AND type <> ? ORDER BY gid", (uid, int(MemberType.REMOVED)))]


def getSendContext_txn(txn, d, uid, conversationType, target):
    """
    Everything sending a message checks, in one interaction: the sender,
    and the private target and its blacklist entry, or the group's members.
    """
    from fxim.model import ConversationType
    from fxim.storage.records import SendContext
    sender = getUser_txn(txn, d, uid)
    if conversationType == ConversationType.GROUP:
        return SendContext(sender, members=getMembers_txn(txn, d, target, False))
    if not target or target == uid:
        return SendContext(sender)
    friend = getFriend_txn(txn, d, target, uid)
    return SendContext(sender, getUser_txn(txn, d, target),
                       friend is not None and friend.state == FriendState.BLACKED)
