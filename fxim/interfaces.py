# -*- test-case-name: fxim.test.unit.test_storage,fxim.test.unit.test_directory,fxim.test.unit.test_bus,fxim.test.unit.test_plugins -*-
"""
Every zope Interface of fxim, in one place.

Methods documented as returning a L{Deferred} may also be implemented as
C{async def}; callers wrap them with L{twisted.internet.defer.ensureDeferred}
or simply C{await} them.
"""

from zope.interface import Attribute, Interface


# -- handlers and plugins ---------------------------------------------------

class IHandlerPlugin(Interface):
    """
    A named family of subsignal handlers, found with
    C{getPlugins(IHandlerPlugin)} in C{twisted/plugins/*.py} drop-ins.
    """

    name = Attribute("C{str}: unique name, used by C{--disable-plugin}.")

    def handlers():
        """
        @return: an iterable of L{fxim.dispatch.Handler}.
        """


class IConnection(Interface):
    """
    One client connection, whatever its transport (TCP or WebSocket).
    """

    transportName = Attribute("C{'tcp'} or C{'ws'}.")
    userId = Attribute("The authenticated user id, or L{None} before CONNECT.")
    cid = Attribute("The device's clientIdentifier, or L{None} before CONNECT.")
    peer = Attribute("C{str} describing the remote address, for logs.")

    def sendPush(push):
        """
        Send one server-initiated push (a typed push some
        L{fxim.protocol.command.Notification} declares), encoded by the
        connection's own wire object.
        """

    def disconnect():
        """
        Close the connection after pending output is written.
        """

    def setIdleTimeout(seconds):
        """
        Close the connection if nothing is received for C{seconds}.
        """


# -- storage ----------------------------------------------------------------

class IUserStore(Interface):
    """
    Users (C{t_user} + C{t_user_status}).
    """

    def getOrCreateByMobile(mobile, now):
        """
        @return: L{Deferred} firing with C{(User, created)}; a new user gets
            a fresh short unique uid, name = displayName = mobile.
        """

    def createUser(mobile, displayName, now, userId=None):
        """
        Create a user (admin API).  @return: L{Deferred} firing with the
        L{fxim.model.User}; fails with L{KeyError} if uid or mobile exist.
        """

    def getUser(userId):
        """
        @return: L{Deferred} firing with a L{fxim.model.User} or L{None}.
        """

    def getUsers(userIds):
        """
        @return: L{Deferred} firing with a C{dict} uid -> User of those found.
        """

    def updateUser(userId, changes, now):
        """
        Apply C{changes} (a dict of L{fxim.model.User} field names to values,
        not C{uid}) and set C{updateDt = now}.  @return: L{Deferred} firing
        with the new User, or L{None} if there is no such user; fails with
        L{ValueError} for an unknown field, L{KeyError} if the new mobile
        belongs to another user.
        """

    def searchUsers(keyword, fuzzy, offset, limit):
        """
        Users with C{mobile == keyword} or (if C{fuzzy}) a display name
        containing it (literal, case-sensitive); only C{searchable} users,
        in creation order, C{limit} of them from C{offset}.
        @return: L{Deferred} firing with a list of User.
        """


class ISessionStore(Interface):
    """
    Durable device sessions, one per (uid, cid) (C{t_user_session}).
    """

    def createSession(session):
        """
        Insert or replace the session for C{(session.userId, session.cid)}.
        @return: L{Deferred} firing with the stored L{fxim.model.Session}.
        """

    def getSession(userId, cid):
        """
        @return: L{Deferred} firing with the Session or L{None}.
        """

    def listSessions(userId):
        """
        @return: L{Deferred} firing with a list of the user's Sessions,
            sorted by cid.
        """

    def deleteSession(userId, cid):
        """
        @return: L{Deferred} firing with C{True} if one was deleted.
        """


class ILoginCodeStore(Interface):
    """
    SMS login codes and their counters, per mobile.
    """

    def getCodeState(mobile):
        """
        @return: L{Deferred} firing with a L{fxim.storage.records.CodeState}
            or L{None}.
        """

    def putCodeState(mobile, state):
        """
        Store C{state} (a L{fxim.storage.records.CodeState}) for
        C{mobile}, replacing any earlier one.  @return: L{Deferred}.
        """


class StoredMessage(Interface):
    """
    Marker for documentation: see L{fxim.storage.records.StoredMessage}.
    """


class IMessageStore(Interface):
    """
    Messages, per-user inboxes with gapless sequences, idempotency keys.
    """

    def storeMessage(message, receivers, dedupKey, now):
        """
        Durably store C{message} (its C{uid} and C{timestamp} already set)
        and append it to the inbox of every receiver in C{receivers}, each
        getting the next value of its own sequence (starting at 1).  If
        C{dedupKey} (a C{(uid, cid, localId)} tuple or L{None}) was seen
        before, store nothing and return the original.

        The transaction is committed before the Deferred fires.  A
        receiver listed twice gets one entry.  Concurrent calls may be
        committed together (group commit); a message whose uid is already
        stored fails with L{KeyError} without affecting the others.

        @param dedupKey: C{(uid, cid, localId)}; L{None}, or a C{localId}
            of L{None}, means no deduplication.  Keys are recorded with
            C{now} (ms) and kept until L{purgeDedupKeys}.
        @return: L{Deferred} firing with a
            L{fxim.storage.records.StoredMessage}; for a duplicate it holds
            the original message, the seqs it was given, and
            C{duplicate=True}.
        """

    def purgeDedupKeys(olderThan):
        """
        Forget dedup keys recorded with C{now < olderThan} (ms).  Callers
        keep keys at least 24 hours.
        @return: L{Deferred} firing with the number of keys forgotten.
        """

    def pullMessages(userId, afterSeq, maxBytes):
        """
        Inbox entries of C{uid} with seq > C{afterSeq}, oldest first, as
        many as fit in C{maxBytes} by L{fxim.storage.messages.estimateSize}
        (but at least one if there is any).  There is no window: every
        stored entry stays pullable.
        @return: L{Deferred} firing with a
            L{fxim.storage.records.PullBatch}.
        """

    def getHead(userId):
        """
        @return: L{Deferred} firing with the user's highest seq (0 if none).
        """

    def getMessage(messageUid):
        """
        @return: L{Deferred} firing with the L{fxim.model.Message} or L{None}.
        """

    def getSendContext(userId, conversationType, target):
        """
        What sending a message checks, read at once: the sender, and for a
        private conversation the target user and whether it blacklisted
        the sender, or for a group its non-removed members.
        @return: L{Deferred} firing with a
            L{fxim.storage.records.SendContext}.
        """

    def getReceivers(messageUid):
        """
        @return: L{Deferred} firing with the sorted list of uids whose inbox
            holds the message.
        """

    def replaceContent(messageUid, content):
        """
        Replace a stored message's content (recall).  @return: L{Deferred}
        firing with the updated Message or L{None}.
        """

    def loadHistory(viewer, conversation, beforeUid, count):
        """
        Messages of C{conversation} in C{viewer}'s inbox with uid <
        C{beforeUid} (0 = no bound), newest first, at most C{count}.  For a
        private conversation the target is the peer, both directions.
        @return: L{Deferred} firing with a list of Message.
        """


class IFriendStore(Interface):
    """
    Friends (C{t_friend}) and friend requests (C{t_friend_request}).
    """

    def getFriend(userId, friendUid):
        """@return: L{Deferred} firing with a L{fxim.model.Friend} or None."""

    def putFriend(userId, friend):
        """Insert or update C{userId}'s row for C{friend.userId}.  @return: Deferred."""

    def listFriends(userId, sinceDt):
        """@return: L{Deferred} firing with Friends with updateDt > sinceDt."""

    def getFriendRequest(fromUid, toUid):
        """@return: L{Deferred} firing with a FriendRequest or None."""

    def putFriendRequest(request):
        """Insert or replace the (fromUid, toUid) request.  @return: Deferred."""

    def listFriendRequests(userId, sinceDt):
        """
        Requests to or from C{uid} with updateDt > sinceDt.
        @return: L{Deferred} firing with a list of FriendRequest.
        """

    def getFriendHeads(userId):
        """
        @return: L{Deferred} firing with C{(friendHead, friendRequestHead)}:
            max updateDt of the user's friends and of requests to/from them.
        """

    def changeFriendship(fromUid, toUid, decide):
        """
        Check and write what links two users (a friend request, friend
        rows) in one transaction, with both users' rows locked (so nodes sharing the
        database take turns).

        @param decide: C{f(pair) -> change}: given the
            L{fxim.storage.friends.FriendPair} read for C{fromUid} and
            C{toUid}, return the L{fxim.storage.friends.FriendChange} to
            write, or L{None} to write nothing; whatever it raises fails
            the call with nothing written.  It may be called in a database
            thread, and again if the transaction is retried.
        @return: L{Deferred} firing with C{(pair, change)}.
        """


class IGroupStore(Interface):
    """
    Groups (C{t_group}) and members (C{t_group_member}).
    """

    def createGroup(info, members, maxOwned=None):
        """
        Store C{info} (its C{memberCount} is replaced by the number of
        C{members} not REMOVED) and C{members} (a member's updateDt of 0
        becomes C{info.updateDt}).
        @param maxOwned: if given, refuse when C{info.owner} already owns
            that many groups (counted in the same transaction).
        @return: L{Deferred}; fails with L{KeyError} if the id exists,
            L{fxim.storage.records.UnknownUsers} if a member is no user,
            L{fxim.storage.records.TooManyGroups} over C{maxOwned}.
        """

    def getGroup(groupId):
        """@return: L{Deferred} firing with a GroupInfo or None."""

    def getGroups(groupIds):
        """@return: L{Deferred} firing with a dict groupId -> GroupInfo."""

    def updateGroup(groupId, changes, now):
        """
        Apply C{changes} (L{fxim.model.GroupInfo} field names, not
        C{targetId}) and set C{updateDt = now}.
        @return: L{Deferred} firing with the new GroupInfo or None.
        """

    def deleteGroup(groupId):
        """Delete the group and all its member rows.  @return: L{Deferred}."""

    def getMembers(groupId, includeRemoved=False):
        """
        @return: L{Deferred} firing with a list of GroupMember, in the order
            they first joined; REMOVED members only if C{includeRemoved}.
        """

    def getMember(groupId, memberId):
        """@return: L{Deferred} firing with a GroupMember or None."""

    def putMembers(groupId, members, now):
        """
        Insert or update members (a removed member has type REMOVED; a
        member's updateDt of 0 becomes C{now}) and set the group's
        memberUpdateDt to C{now} and memberCount to the number of members
        not REMOVED.  @return: L{Deferred}; fails with L{KeyError} if there
        is no such group, L{fxim.storage.records.UnknownUsers} (nothing
        written) if a member put as not REMOVED is no user.
        """

    def groupsOf(userId):
        """
        @return: L{Deferred} firing with the sorted ids of the groups C{uid}
            is a member of (not REMOVED).
        """

    def changeGroup(groupId, decide):
        """
        Check and write a change of one group in one transaction, with the
        group's row locked (so nodes sharing the database take turns).

        @param decide: C{f(state) -> change}: given the
            L{fxim.storage.groups.GroupState} (info L{None} for no such
            group), return the L{fxim.storage.groups.GroupChange} to write,
            or L{None} to write nothing; whatever it raises (and
            L{fxim.storage.records.UnknownUsers} for a member put who is no
            user) fails the call with nothing written.  It may be called in
            a database thread, and again if the transaction is retried.
        @return: L{Deferred} firing with C{(state, change, info)}, C{info}
            being the group after the change (L{None} if deleted).
        """


# -- presence and delivery --------------------------------------------------

class IDirectory(Interface):
    """
    Which devices of a user are connected, on which node, over which
    transport.  Entries of a node that stops heart-beating expire.

    One entry per (uid, cid): the latest C{register} wins.  See
    L{fxim.directory.memory.MemoryDirectory} and
    L{fxim.directory.redis.RedisDirectory}.
    """

    def register(userId, cid, nodeId, transportName):
        """
        Record that (uid, cid) is connected to C{nodeId} over
        C{transportName} (C{'tcp'} or C{'ws'}), replacing any previous
        entry of that device, whatever its node.  @return: L{Deferred}.
        """

    def registerIfRoom(userId, cid, nodeId, transportName, maxDevices):
        """
        Like C{register}, but only if fewer than C{maxDevices} other live
        devices (cids) of C{uid} are registered; checked and written in one
        step, so concurrent CONNECTs cannot overshoot the cap.
        @return: L{Deferred} firing with C{True} if registered, C{False} if
            refused (nothing written).
        """

    def unregister(userId, cid, nodeId):
        """
        Remove the entry if it still belongs to C{nodeId} (a device that
        moved to another node keeps its new entry).
        @return: L{Deferred} firing with C{True} if an entry was removed.
        """

    def devicesOf(userId):
        """
        @return: L{Deferred} firing with a list of
            L{fxim.directory.Presence} (live nodes only), ordered by cid.
        """

    def lookup(userId, cid):
        """
        @return: L{Deferred} firing with a live L{fxim.directory.Presence}
            or L{None}.
        """


class IDeliveryBus(Interface):
    """
    Gets pushes to a user's connected devices, wherever they are connected.

    Best effort (at most once): messages are stored before anybody is
    notified and clients pull what they missed.  Failing to reach another
    node is logged, not raised.  See L{fxim.bus.local.LocalBus} and
    L{fxim.bus.redis.RedisBus}.
    """

    def deliver(userId, push, excludeCid=None):
        """
        Send C{push} to every connected device of C{uid} except
        C{excludeCid}: local connections with C{sendPush}, remote ones
        through the node that holds them (the push crosses in its
        transport-neutral form, L{fxim.protocol.neutral}, and that node
        calls C{sendPush}).  @return: L{Deferred} firing with the number of devices
        it was sent to.
        """

    def presenceChanged(userId):
        """
        Announce that C{uid}'s devices changed (called after a device
        registered), so that nodes caching device lists drop them.
        @return: L{Deferred}.
        """

    def kick(userId, cid, keep=None):
        """
        Close every connection of (uid, cid) on any node except C{keep} (a
        local L{IConnection}); closed local connections are removed from
        the node's L{fxim.bus.local.LocalConnections} at once.  Works
        whether or not the new connection was registered first.
        @return: L{Deferred}.
        """


# -- outside services -------------------------------------------------------

class ISmsSender(Interface):
    """
    Sends login codes.
    """

    def sendCode(mobile, code):
        """@return: L{Deferred} firing when the code was handed over."""


class IMediaStorage(Interface):
    """
    Where uploaded media bytes live.
    """

    def put(key, data):
        """Store C{data} under C{key}.  @return: L{Deferred}."""

    def get(key):
        """@return: L{Deferred} firing with the bytes, or None."""
