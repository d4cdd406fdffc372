# -*- test-case-name: fxim.test.test_storage -*-
"""
An in-memory implementation of every store interface, for unit tests and
plugin authors.  Every method returns an already-fired L{Deferred}; nothing
survives the process.
"""

import attr
from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from fxim.interfaces import (
    IFriendStore, IGroupStore, ILoginCodeStore, IMessageStore, ISessionStore,
    IUserStore,
)
from fxim.model import MemberType, User
from fxim.storage.ids import toUid
from fxim.storage.records import (
    PullBatch, StoredMessage, estimateSize, peerOf, uniqueReceivers,
)

#: L{User} fields that L{IUserStore.updateUser} may change.
USER_FIELDS = frozenset(f.name for f in attr.fields(User)) - {"uid"}


def _deferred(f):
    """
    Turn C{f}'s result into a fired L{Deferred}, and its exception into a
    failed one.
    """
    def wrapper(*args, **kwargs):
        try:
            return succeed(f(*args, **kwargs))
        except Exception:
            return fail()
    wrapper.__name__ = f.__name__
    wrapper.__doc__ = f.__doc__
    return wrapper


@implementer(IUserStore, ISessionStore, ILoginCodeStore, IMessageStore,
             IFriendStore, IGroupStore)
class MemoryStore:
    """
    All six stores in memory.

    @ivar messages: message uid -> L{fxim.model.Message}.
    @ivar inboxes: user uid -> list of message uids (seq = index + 1).
    """

    def __init__(self):
        self._idCounter = 0
        self.users = {}
        self._byMobile = {}
        self.sessions = {}
        self.codes = {}
        self.messages = {}
        self.inboxes = {}
        self._receivers = {}
        self._dedup = {}
        self.friends = {}
        self.friendRequests = {}
        self.groups = {}
        self.members = {}

    def close(self):
        """
        Nothing to release.  @return: a fired L{Deferred}.
        """
        return succeed(None)

    # -- users --------------------------------------------------------------

    def _newUid(self):
        while True:
            self._idCounter += 1
            uid = toUid(self._idCounter)
            if uid not in self.users:
                return uid

    def _addUser(self, user):
        if user.uid in self.users or (
                user.mobile and user.mobile in self._byMobile):
            raise KeyError(user.uid)
        self.users[user.uid] = user
        if user.mobile:
            self._byMobile[user.mobile] = user.uid
        return user

    @_deferred
    def getOrCreateByMobile(self, mobile, now):
        uid = self._byMobile.get(mobile)
        if uid is not None:
            return (self.users[uid], False)
        user = User(uid=self._newUid(), name=mobile, displayName=mobile,
                    mobile=mobile, updateDt=now)
        return (self._addUser(user), True)

    @_deferred
    def createUser(self, mobile, displayName, now, uid=None):
        user = User(uid=uid or self._newUid(), name=mobile,
                    displayName=displayName or mobile, mobile=mobile,
                    updateDt=now)
        return self._addUser(user)

    @_deferred
    def getUser(self, uid):
        return self.users.get(uid)

    @_deferred
    def getSendContext(self, uid, conversationType, target):
        from fxim.model import ConversationType, FriendState
        from fxim.storage.records import SendContext
        sender = self.users.get(uid)
        if conversationType == ConversationType.GROUP:
            return SendContext(sender, members=[
                m for m in self.members.get(target, {}).values()
                if m.type != MemberType.REMOVED])
        if not target or target == uid:
            return SendContext(sender)
        friend = self.friends.get((target, uid))
        return SendContext(sender, self.users.get(target),
                           friend is not None and friend.state == FriendState.BLACKED)

    @_deferred
    def getUsers(self, uids):
        return {u: self.users[u] for u in uids if u in self.users}

    @_deferred
    def updateUser(self, uid, changes, now):
        unknown = set(changes) - USER_FIELDS
        if unknown:
            raise ValueError("not updatable: %s" % (sorted(unknown),))
        old = self.users.get(uid)
        if old is None:
            return None
        new = attr.evolve(old, updateDt=now, **changes)
        if new.mobile != old.mobile:
            if new.mobile and new.mobile in self._byMobile:
                raise KeyError(new.mobile)
            self._byMobile.pop(old.mobile, None)
            if new.mobile:
                self._byMobile[new.mobile] = uid
        self.users[uid] = new
        return new

    @_deferred
    def searchUsers(self, keyword, fuzzy, offset, limit):
        found = [
            u for u in self.users.values()
            if u.searchable and (
                u.mobile == keyword or (fuzzy and u.displayName != u.mobile
                                        and keyword in u.displayName))
        ]
        return found[offset:offset + limit]

    # -- sessions -----------------------------------------------------------

    @_deferred
    def createSession(self, session):
        self.sessions[(session.uid, session.cid)] = session
        return session

    @_deferred
    def getSession(self, uid, cid):
        return self.sessions.get((uid, cid))

    @_deferred
    def listSessions(self, uid):
        return sorted((s for s in self.sessions.values() if s.uid == uid),
                      key=lambda s: s.cid)

    @_deferred
    def deleteSession(self, uid, cid):
        return self.sessions.pop((uid, cid), None) is not None

    # -- login codes --------------------------------------------------------

    @_deferred
    def getCodeState(self, mobile):
        return self.codes.get(mobile)

    @_deferred
    def putCodeState(self, mobile, state):
        self.codes[mobile] = state

    # -- messages -----------------------------------------------------------

    def _seqsOf(self, messageUid):
        return dict(self._receivers.get(messageUid, {}))

    @_deferred
    def storeMessage(self, message, receivers, dedupKey, now):
        if dedupKey is not None and dedupKey[2] is not None:
            dedupKey = tuple(dedupKey)
            seen = self._dedup.get(dedupKey)
            if seen is not None:
                return StoredMessage(self.messages[seen[0]],
                                     self._seqsOf(seen[0]), True)
        else:
            dedupKey = None
        if message.uid in self.messages:
            raise KeyError(message.uid)
        self.messages[message.uid] = message
        seqs = {}
        for r in uniqueReceivers(receivers):
            inbox = self.inboxes.setdefault(r, [])
            inbox.append(message.uid)
            seqs[r] = len(inbox)
        self._receivers[message.uid] = seqs
        if dedupKey is not None:
            self._dedup[dedupKey] = (message.uid, now)
        return StoredMessage(message, dict(seqs), False)

    @_deferred
    def purgeDedupKeys(self, olderThan):
        """
        Forget dedup keys recorded before C{olderThan} (ms).
        @return: L{Deferred} firing with the number forgotten.
        """
        old = [k for k, (_, t) in self._dedup.items() if t < olderThan]
        for k in old:
            del self._dedup[k]
        return len(old)

    @_deferred
    def pullMessages(self, uid, afterSeq, maxBytes):
        inbox = self.inboxes.get(uid, [])
        entries, total = [], 0
        for seq in range(max(afterSeq, 0) + 1, len(inbox) + 1):
            if inbox[seq - 1] is None:
                continue  # i12: purged (a tombstone follows)
            message = self.messages[inbox[seq - 1]]
            size = estimateSize(message)
            if entries and total + size > maxBytes:
                break
            entries.append((seq, message))
            total += size
        return PullBatch(entries, len(inbox))

    @_deferred
    def getHead(self, uid):
        return len(self.inboxes.get(uid, ()))

    @_deferred
    def getMessage(self, messageUid):
        return self.messages.get(messageUid)

    @_deferred
    def getReceivers(self, messageUid):
        return sorted(self._receivers.get(messageUid, ()))

    @_deferred
    def replaceContent(self, messageUid, content):
        old = self.messages.get(messageUid)
        if old is None:
            return None
        new = self.messages[messageUid] = attr.evolve(old, content=content)
        return new

    @_deferred
    def loadHistory(self, viewer, conversation, beforeUid, count):
        found = []
        for messageUid in set(self.inboxes.get(viewer, ())) - {None}:  # i12: None = purged
            m = self.messages[messageUid]
            c = m.conversation
            if (c.type == conversation.type and c.line == conversation.line
                    and peerOf(m, viewer) == conversation.target
                    and (beforeUid == 0 or m.uid < beforeUid)):
                found.append(m)
        found.sort(key=lambda m: m.uid, reverse=True)
        return found[:count]

    # -- friends ------------------------------------------------------------

    @_deferred
    def getFriend(self, uid, friendUid):
        return self.friends.get((uid, friendUid))

    @_deferred
    def putFriend(self, uid, friend):
        self.friends[(uid, friend.uid)] = friend

    @_deferred
    def listFriends(self, uid, sinceDt):
        return sorted(
            (f for (u, _), f in self.friends.items()
             if u == uid and f.updateDt > sinceDt),
            key=lambda f: (f.updateDt, f.uid))

    @_deferred
    def getFriendRequest(self, fromUid, toUid):
        return self.friendRequests.get((fromUid, toUid))

    @_deferred
    def putFriendRequest(self, request):
        self.friendRequests[(request.fromUid, request.toUid)] = request

    def _requestsOf(self, uid):
        return [r for r in self.friendRequests.values()
                if uid in (r.fromUid, r.toUid)]

    @_deferred
    def listFriendRequests(self, uid, sinceDt):
        return sorted(
            (r for r in self._requestsOf(uid) if r.updateDt > sinceDt),
            key=lambda r: (r.updateDt, r.fromUid, r.toUid))

    @_deferred
    def getFriendHeads(self, uid):
        friendHead = max((f.updateDt for (u, _), f in self.friends.items()
                          if u == uid), default=0)
        requestHead = max((r.updateDt for r in self._requestsOf(uid)),
                          default=0)
        return (friendHead, requestHead)

    # -- groups -------------------------------------------------------------

    def _count(self, groupId):
        return sum(1 for m in self.members[groupId].values()
                   if m.type != MemberType.REMOVED)

    @_deferred
    def createGroup(self, info, members, maxOwned=None):
        if info.targetId in self.groups:
            raise KeyError(info.targetId)
        self._checkUsersExist(members)
        if maxOwned is not None and sum(
                1 for g in self.groups.values() if g.owner == info.owner) >= maxOwned:
            from fxim.storage.records import TooManyGroups
            raise TooManyGroups(info.owner)
        self.members[info.targetId] = {
            m.memberId: m if m.updateDt else attr.evolve(
                m, updateDt=info.updateDt)
            for m in members}
        self.groups[info.targetId] = attr.evolve(
            info, memberCount=self._count(info.targetId))

    @_deferred
    def getGroup(self, groupId):
        return self.groups.get(groupId)

    @_deferred
    def getGroups(self, groupIds):
        return {g: self.groups[g] for g in groupIds if g in self.groups}

    @_deferred
    def updateGroup(self, groupId, changes, now):
        old = self.groups.get(groupId)
        if old is None:
            return None
        if "targetId" in changes:
            raise ValueError("targetId cannot change")
        new = self.groups[groupId] = attr.evolve(old, updateDt=now, **changes)
        return new

    @_deferred
    def deleteGroup(self, groupId):
        self.groups.pop(groupId, None)
        self.members.pop(groupId, None)

    @_deferred
    def getMembers(self, groupId, includeRemoved=False):
        return [m for m in self.members.get(groupId, {}).values()
                if includeRemoved or m.type != MemberType.REMOVED]

    @_deferred
    def getMember(self, groupId, memberId):
        return self.members.get(groupId, {}).get(memberId)

    @_deferred
    def putMembers(self, groupId, members, now):
        if groupId not in self.groups:
            raise KeyError(groupId)
        self._checkUsersExist(members)
        table = self.members[groupId]
        for m in members:
            table[m.memberId] = m if m.updateDt else attr.evolve(m,
                                                                 updateDt=now)
        self.groups[groupId] = attr.evolve(
            self.groups[groupId], memberUpdateDt=now,
            memberCount=self._count(groupId))

    def _checkUsersExist(self, members):
        from fxim.storage.records import UnknownUsers, activeMemberIds
        missing = [i for i in dict.fromkeys(activeMemberIds(members)) if i not in self.users]
        if missing:
            raise UnknownUsers(missing)

    @_deferred
    def groupsOf(self, uid):
        return sorted(g for g, table in self.members.items()
                      if uid in table and table[uid].type != MemberType.REMOVED)
