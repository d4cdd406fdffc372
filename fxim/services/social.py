# -*- test-case-name: fxim.test.unit.test_social -*-
"""
Users and friends: search, profile pulls and edits, friend requests,
friendship, aliases and the blacklist (docs/protocol.md,
docs/friends.md).

Every change is stored before the pushes that announce it go out; pushes
are fire-and-forget through the L{fxim.interfaces.IDeliveryBus}.
"""

import re
from typing import Iterable, List, Optional, Sequence, Tuple

import attr
from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger

from fxim.errors import ErrorCode, SignalError
from fxim.interfaces import IFriendStore, IUserStore
from fxim.model import (
    ContentType, Conversation, ConversationType, Friend, FriendRequest,
    FriendRequestStatus, FriendState, Message, MessageContent, MyInfoType, PersistFlag,
    User,
)
from fxim.services.contactchange import VERIFIED_TYPES, splitCode
from fxim.services.contacts import friendsOf, visibleTo
from fxim.storage.friends import FriendChange, FriendPair
from fxim.wire.requests import FriendNotify, FriendRequestNotify

_log = Logger()

#: Users per US page.
SEARCH_PAGE_SIZE = 20

#: A pending or rejected request younger than this (ms) is not renewed by
#: a repeated FAR: the repeat is answered 0 and nothing is stored or pushed.
REQUEST_COOLDOWN = 24 * 3600 * 1000

#: A request older than this (ms) can no longer be handled (FHR -> 19).
REQUEST_EXPIRY = 7 * 24 * 3600 * 1000

#: UPUI result codes (docs/protocol.md).
USER_FOUND = 0
USER_NOT_FOUND = 1
USER_NOT_MODIFIED = 2

#: The two tips that follow the greeting text when a request is accepted.
GREETING_TIP = "以上是打招呼信息"
FRIENDS_TIP = "你们已经成为好友了，现在可以开始聊天了"

#: Longest friend-request reason and friend alias, in characters.
MAX_REASON = 512
MAX_ALIAS = 64

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text(maxLength: int, minLength: int = 0, singleLine: bool = True):
    def check(value: str) -> str:
        if singleLine:
            value = value.strip()
        if not minLength <= len(value) <= maxLength:
            raise ValueError("length")
        if singleLine and _CONTROL.search(value):
            raise ValueError("control characters")
        return value
    return check


def _gender(value: str) -> int:
    gender = int(value.strip() or "0")
    if gender not in (0, 1, 2):
        raise ValueError("gender")
    return gender


def _mobile(value: str) -> str:
    # Normalised as a login is (one person, one spelling: i10b).
    from fxim.identity import InvalidIdentity, parseIdentity
    try:
        identity = parseIdentity(value.strip())
    except InvalidIdentity:
        raise ValueError("mobile") from None
    if not identity.isPhone:
        raise ValueError("mobile")
    return identity.value


def _email(value: str) -> str:
    from fxim.identity import EMAIL, InvalidIdentity, parseIdentity
    value = value.strip()
    if len(value) > 128 or (value and not _EMAIL.match(value)):
        raise ValueError("email")
    if not value:
        return value
    try:
        identity = parseIdentity(value)
    except InvalidIdentity:
        raise ValueError("email") from None
    if identity.kind != EMAIL:
        raise ValueError("email")
    return identity.value


#: MyInfoType -> (User field, validator turning the wire string into the
#: stored value or raising ValueError).
MY_INFO_FIELDS = {
    MyInfoType.DISPLAY_NAME: ("displayName", _text(64, 1)),
    MyInfoType.PORTRAIT: ("portrait", _text(1024)),
    MyInfoType.GENDER: ("gender", _gender),
    MyInfoType.MOBILE: ("mobile", _mobile),
    MyInfoType.EMAIL: ("email", _email),
    MyInfoType.ADDRESS: ("address", _text(256)),
    MyInfoType.COMPANY: ("company", _text(256)),
    MyInfoType.SOCIAL: ("social", _text(1024, singleLine=False)),
    MyInfoType.EXTRA: ("extra", _text(4096, singleLine=False)),
}


def _befriended(row: Optional[Friend], friendUid: str, now: int,
                keepBlacklist: bool) -> Friend:
    """
    @return: the friend row for C{friendUid} that accepting a request
        stores in place of C{row}: state NORMAL (BLACKED kept if
        C{keepBlacklist}), the alias kept.
    """
    state = FriendState.NORMAL
    if keepBlacklist and row is not None and row.state == FriendState.BLACKED:
        state = FriendState.BLACKED
    alias = row.alias if row is not None else ""
    return Friend(friendUid, int(state), now, alias)


class SocialService:
    """
    The users and friends service behind US, UPUI, MMI, FAR, FHR, FRP, FRUS,
    FP and FALS, plus the admin-only search visibility and blacklist.

    @param users: the L{fxim.interfaces.IUserStore}.
    @param bus: the L{fxim.interfaces.IDeliveryBus}.
    @param clock: an C{IReactorTime}.
    @param config: the L{fxim.config.Config}.
    @param messages: the L{fxim.services.messaging.MessagingService}, used
        to publish the greetings of an accepted request.
    @param friends: the L{fxim.interfaces.IFriendStore} (default:
        C{users}, when one store provides both).
    """

    def __init__(self, users: IUserStore, bus, clock, config, messages,
                 friends: Optional[IFriendStore] = None, *, contactVerifier=None,
                 nameFilter=None) -> None:
        self.users = users
        self.friends: IFriendStore = friends if friends is not None else IFriendStore(users)
        self.bus = bus
        self.clock = clock
        self.config = config
        self.messages = messages
        self._lastStamp = 0
        #: The L{fxim.services.contactchange.ContactVerifier} that proves a
        #: new mobile or e-mail; None refuses such changes.
        self.contactVerifier = contactVerifier
        # i14: webhooks.
        #: C{async f(event, data)}: C{"friend.request"}, C{"friend.accepted"},
        #: C{"friend.rejected"} with C{{"from","to"}} (and C{"reason"}).
        self.eventHooks: list = []
        #: C{f(kind, name) -> name} checks a nickname (moderation); it may
        #: mask it or raise L{SignalError}.
        self.nameFilter = nameFilter

    async def _event(self, event: str, data: dict) -> None:
        for hook in self.eventHooks:
            try:
                await hook(event, data)
            except Exception:
                _log.failure("a social event hook failed")

    def now(self) -> int:
        """
        @return: the clock in ms, strictly increasing from one call to the
            next, so two changes never share an updateDt and a client that
            pulls with the version it was pushed never misses the second.
        """
        self._lastStamp = max(int(self.clock.seconds() * 1000), self._lastStamp + 1)
        return self._lastStamp

    def _deliver(self, userId: str, push, excludeCid: Optional[str] = None) -> None:
        d = ensureDeferred(self.bus.deliver(userId, push, excludeCid))
        d.addErrback(lambda f: _log.failure("delivery to {uid} failed", f, uid=userId))

    async def _requireUser(self, userId: str) -> User:
        user = await self.users.getUser(userId)
        if user is None:
            raise SignalError(ErrorCode.NOT_EXIST, f"no user {userId!r}")
        return user

    # -- users ----------------------------------------------------------------

    async def search(self, userId: str, keyword: str, fuzzy: int, page: int) -> List[User]:
        """
        US: users whose mobile is C{keyword}, or (if C{fuzzy}) whose display
        name contains it, 20 per C{page} (from 0).  Users hidden from search
        (L{setSearchable}) are never found; a blank keyword finds nobody.
        A display name that is only the login fallback (the mobile) is not
        matched fuzzily, and results show contact details only as
        L{fxim.services.contacts.visibleTo} allows.
        """
        keyword = (keyword or "").strip()
        if not keyword:
            return []
        page = max(0, int(page or 0))
        found = await self.users.searchUsers(
            keyword, bool(fuzzy), page * SEARCH_PAGE_SIZE, SEARCH_PAGE_SIZE)
        # Contact details only for oneself, friends, or the exact mobile
        # searched for (i10b: contact privacy).
        friends = await friendsOf(self.friends, userId) if found else set()
        return [visibleTo(u, userId, friends, searchedMobile=keyword) for u in found]

    async def pullUsers(self, userId: str,
                        requests: Sequence[Tuple[str, int]]) -> List[Tuple[User, int]]:
        """
        UPUI: one C{(user, code)} per requested C{(uid, updateDt)}, in order.

        Code 1 (not found) carries C{User(uid)} only.  Code 2 (not modified)
        is answered when the requester's C{updateDt} is positive and not
        older than the user's; it carries only the uid and updateDt.
        Otherwise code 0 with the user as the requester may see it: whole
        for oneself and friends, else without mobile and e-mail
        (L{fxim.services.contacts.strangerView}).
        """
        found = await self.users.getUsers(list({u for u, _ in requests}))
        friends = await friendsOf(self.friends, userId) if found else set()
        entries = []
        for requested, since in requests:
            user = found.get(requested)
            if user is None:
                entries.append((User(userId=requested), USER_NOT_FOUND))
            elif since and since > 0 and since >= user.updateDt:
                entries.append((User(userId=user.userId, updateDt=user.updateDt),
                                USER_NOT_MODIFIED))
            else:
                entries.append((visibleTo(user, userId, friends), USER_FOUND))
        return entries

    async def modifyMyInfo(self, userId: str, entries: Iterable[Tuple[int, str]]) -> User:
        """
        MMI: validate every C{(MyInfoType, value)} entry, then apply them
        all at once (nothing is applied if one is invalid).  If anything
        changed, each friend's row for C{uid} gets a new updateDt and every
        friend gets FN, so an incremental FP returns C{uid} and the client
        re-pulls its profile with UPUI; the user's own devices get FN too.

        A new mobile or e-mail needs the code sent to it (value
        C{"<address>:<code>"}; see L{fxim.services.contactchange}).

        @raise SignalError: C{INVALID_PARAMETER} for an unknown type or an
            invalid value (or a mobile another user has), C{NOT_EXIST} for an
            unknown user, C{AUTH_FAILURE} (a code was sent),
            C{PASSWORD_INCORRECT}, C{OVER_FREQUENCY} from the address proof.
        @return: the user as stored.
        """
        changes, codes = {}, {}
        for infoType, value in entries:
            try:
                field, validate = MY_INFO_FIELDS[MyInfoType(infoType)]
                if infoType in VERIFIED_TYPES:
                    value, codes[field] = splitCode(value or "")
                changes[field] = validate(value or "")
            except (KeyError, ValueError, TypeError):
                raise SignalError(ErrorCode.INVALID_PARAMETER,
                                  f"MMI type {infoType!r} value rejected")
        if self.nameFilter is not None and changes.get("displayName"):
            changes["displayName"] = self.nameFilter("nickname", changes["displayName"])
        user = await self._requireUser(userId)
        changes = {k: v for k, v in changes.items() if getattr(user, k) != v}
        if not changes:
            return user
        if "mobile" in changes:
            taken = await self.users.searchUsers(changes["mobile"], False, 0, 1)
            if any(u.userId != userId and u.mobile == changes["mobile"] for u in taken):
                raise SignalError(ErrorCode.INVALID_PARAMETER, "mobile taken")
        for field in ("mobile", "email"):
            # A new address must be proven with a code sent to it (i10b).
            if changes.get(field):
                if self.contactVerifier is None:
                    raise SignalError(ErrorCode.NOT_RIGHT, f"{field} changes are disabled")
                await self.contactVerifier.prove(changes[field], codes.get(field))
        now = self.now()
        try:
            user = await self.users.updateUser(userId, changes, now)
        except KeyError:
            raise SignalError(ErrorCode.INVALID_PARAMETER, "mobile taken")
        await self._touchFriendsOf(userId, now)
        return user

    async def _touchFriendsOf(self, userId: str, now: int) -> None:
        """
        Bump every (non-deleted) friend's row for C{uid} and send FN to them
        and to C{uid}.
        """
        notified = []
        for mine in await self.friends.listFriends(userId, -1):
            theirs = await self.friends.getFriend(mine.userId, userId)
            if theirs is None or theirs.state == FriendState.DELETED:
                continue
            await self.friends.putFriend(mine.userId, attr.evolve(theirs, updateDt=now))
            notified.append(mine.userId)
        for friendUid in notified:
            self._deliver(friendUid, FriendNotify(now))
        self._deliver(userId, FriendNotify(now))

    async def setSearchable(self, userId: str, searchable: bool) -> User:
        """
        Admin: show or hide C{uid} in US results.

        @raise SignalError: C{NOT_EXIST} for an unknown user.
        """
        user = await self.users.updateUser(userId, {"searchable": bool(searchable)}, self.now())
        if user is None:
            raise SignalError(ErrorCode.NOT_EXIST, f"no user {userId!r}")
        return user

    async def setBlacklisted(self, userId: str, targetUid: str,
                             blacklisted: bool) -> Optional[Friend]:
        """
        Admin: C{uid} blacklists (or stops blacklisting) C{targetUid}.

        Blacklisting sets C{uid}'s friend row for the target to state 2
        (creating it if needed): the target's private messages to C{uid}
        then fail with 246 and its friend requests with 18.  Lifting it sets
        the row back to state 0 if the two are friends (the target's row
        for C{uid} is state 0), else to 1 (deleted).  C{uid}'s devices get
        FN.

        @raise SignalError: C{NOT_EXIST} unknown user, C{INVALID_PARAMETER}
            C{uid == targetUid}.
        @return: the stored row, or L{None} when lifting a blacklist that
            had no row (nothing is stored).
        """
        if userId == targetUid:
            raise SignalError(ErrorCode.INVALID_PARAMETER, "cannot blacklist oneself")
        await self._requireUser(userId)
        now = self.now()

        def decide(pair: FriendPair) -> Optional[FriendChange]:
            if pair.target is None:
                raise SignalError(ErrorCode.NOT_EXIST, f"no user {targetUid!r}")
            mine, theirs = pair.fromRow, pair.toRow
            alias = mine.alias if mine is not None else ""
            if blacklisted:
                state = FriendState.BLACKED
            elif mine is None:
                return None
            elif theirs is not None and theirs.state == FriendState.NORMAL:
                state = FriendState.NORMAL
            else:
                state = FriendState.DELETED
            return FriendChange(friends=[(userId, Friend(targetUid, int(state), now, alias))])
        _, change = await self.friends.changeFriendship(userId, targetUid, decide)
        if change is None:
            return None
        row = change.friends[0][1]
        _log.info("{uid} {verb} {target}", uid=userId, target=targetUid,
                  verb="blacklisted" if blacklisted else "lifted the blacklist of")
        self._deliver(userId, FriendNotify(now))
        return row

    # -- friend requests --------------------------------------------------------

    async def addFriendRequest(self, userId: str, targetUid: str, reason: str) -> None:
        """
        FAR: C{uid} asks C{targetUid} to be friends.

        A new request is stored as SENT with updateDt now, and the target's
        devices get FRN (if the target is a normal user, type 0).  A repeat
        while the previous request from C{uid} is pending or was rejected
        less than 24 hours ago is answered 0 and changes nothing.

        The checks and the write are one store transaction
        (L{fxim.interfaces.IFriendStore.changeFriendship}).

        @raise SignalError: C{INVALID_PARAMETER} oneself or a reason over
            512 characters, C{NOT_EXIST} unknown target,
            C{FRIEND_ALREADY_REQUEST} already friends,
            C{FRIEND_REQUEST_BLOCKED} the target blacklisted C{uid} (nothing
            stored, nothing pushed).
        """
        reason = reason or ""
        if targetUid == userId or len(reason) > MAX_REASON:
            raise SignalError(ErrorCode.INVALID_PARAMETER)
        now = self.now()

        def decide(pair: FriendPair) -> Optional[FriendChange]:
            if pair.target is None:
                raise SignalError(ErrorCode.NOT_EXIST, f"no user {targetUid!r}")
            theirs, mine, previous = pair.toRow, pair.fromRow, pair.request
            if theirs is not None and theirs.state == FriendState.BLACKED:
                raise SignalError(ErrorCode.FRIEND_REQUEST_BLOCKED)
            if (mine is not None and mine.state == FriendState.NORMAL
                    and theirs is not None and theirs.state == FriendState.NORMAL):
                raise SignalError(ErrorCode.FRIEND_ALREADY_REQUEST)
            if (previous is not None
                    and previous.status in (FriendRequestStatus.SENT,
                                            FriendRequestStatus.REJECTED)
                    and now - previous.updateDt < REQUEST_COOLDOWN):
                return None
            return FriendChange(request=FriendRequest(
                userId, targetUid, reason, int(FriendRequestStatus.SENT), now,
                fromReadStatus=True, toReadStatus=False))
        pair, change = await self.friends.changeFriendship(userId, targetUid, decide)
        if change is None:
            _log.debug("{uid}: repeated friend request to {target} ignored",
                       uid=userId, target=targetUid)
            return
        await self._event("friend.request", {"from": userId, "to": targetUid, "reason": reason})
        if pair.target.type == 0:
            self._deliver(targetUid, FriendRequestNotify(now))

    async def handleFriendRequest(self, userId: str, targetUid: str, status: int) -> None:
        """
        FHR: C{uid} accepts (status 1, or 0 as upstream always accepted) or
        rejects (status 2) the request C{targetUid} sent it.

        Accepting makes both friend rows state 0 (a blacklist the requester
        holds is kept) and marks the request ACCEPTED, in one transaction;
        then publishes the greetings from the requester to C{uid} (the
        reason as text unless empty, then two tips) to both inboxes, then
        sends FN to both users.  Rejecting marks it REJECTED and sends FRN
        to both users.  Handling a request again with the same decision is
        answered 0 and changes nothing.

        @raise SignalError: C{INVALID_PARAMETER} other status, C{NOT_EXIST}
            no such pending request, C{FRIEND_REQUEST_OVERTIME} request
            older than 7 days.
        """
        if status in (0, FriendRequestStatus.ACCEPTED):
            accept = True
        elif status == FriendRequestStatus.REJECTED:
            accept = False
        else:
            raise SignalError(ErrorCode.INVALID_PARAMETER, f"FHR status {status!r}")
        wanted = FriendRequestStatus.ACCEPTED if accept else FriendRequestStatus.REJECTED
        now = self.now()

        def decide(pair: FriendPair) -> Optional[FriendChange]:
            # The request goes from targetUid (the pair's "from") to uid.
            request = pair.request
            if request is None:
                raise SignalError(ErrorCode.NOT_EXIST, "no friend request")
            if request.status != FriendRequestStatus.SENT:
                if request.status == wanted:
                    return None
                raise SignalError(ErrorCode.NOT_EXIST, "request already handled")
            if now - request.updateDt > REQUEST_EXPIRY:
                raise SignalError(ErrorCode.FRIEND_REQUEST_OVERTIME)
            handled = attr.evolve(request, status=int(wanted), updateDt=now, toReadStatus=True)
            if not accept:
                return FriendChange(request=handled)
            return FriendChange(request=handled, friends=[
                (userId, _befriended(pair.toRow, targetUid, now, keepBlacklist=False)),
                (targetUid, _befriended(pair.fromRow, userId, now, keepBlacklist=True))])
        pair, change = await self.friends.changeFriendship(targetUid, userId, decide)
        if change is None:
            return
        await self._event("friend.accepted" if accept else "friend.rejected",
                          {"from": targetUid, "to": userId})
        if not accept:
            self._deliver(targetUid, FriendRequestNotify(now))
            self._deliver(userId, FriendRequestNotify(now))
            return
        _log.info("{uid} accepted the friend request of {target}", uid=userId, target=targetUid)
        assert pair.request is not None
        await self._greet(targetUid, userId, pair.request.reason)
        self._deliver(userId, FriendNotify(now))
        self._deliver(targetUid, FriendNotify(now))

    async def _greet(self, requester: str, accepter: str, reason: str) -> None:
        contents = []
        if reason:
            contents.append(MessageContent(
                type=ContentType.TEXT, searchableContent=reason,
                persistFlag=PersistFlag.PERSIST_AND_COUNT))
        for tip in (GREETING_TIP, FRIENDS_TIP):
            contents.append(MessageContent(
                type=ContentType.TIP, content=tip, persistFlag=PersistFlag.PERSIST))
        conversation = Conversation(ConversationType.PRIVATE, accepter, 0)
        for content in contents:
            await self.messages.publish(
                Message(conversation, requester, content), [requester, accepter])

    async def pullFriendRequests(self, userId: str, version: int) -> List[FriendRequest]:
        """
        FRP: requests to or from C{uid} updated after C{version} (ms),
        oldest first.  Nobody sees requests they are not part of.
        """
        return list(await self.friends.listFriendRequests(userId, max(0, int(version or 0))))

    async def syncUnread(self, userId: str, version: int) -> None:
        """
        FRUS: requests to C{uid} updated up to C{version} (ms; 0 = all) are
        read (C{toReadStatus}), as are handled requests from C{uid}
        (C{fromReadStatus}); updateDt is kept.  Then C{uid}'s devices get
        FRN with the current ms.
        """
        now = self.now()
        limit = now if not version or version <= 0 else version
        for request in await self.friends.listFriendRequests(userId, -1):
            if request.updateDt > limit:
                continue
            if request.toUid == userId and not request.toReadStatus:
                await self.friends.putFriendRequest(attr.evolve(request, toReadStatus=True))
            elif request.fromUid == userId and not request.fromReadStatus:
                await self.friends.putFriendRequest(attr.evolve(request, fromReadStatus=True))
        self._deliver(userId, FriendRequestNotify(now))

    # -- friends ----------------------------------------------------------------

    async def pullFriends(self, userId: str, version: int) -> List[Friend]:
        """
        FP: C{uid}'s friend rows (any state) updated after C{version} (ms).
        """
        return list(await self.friends.listFriends(userId, max(0, int(version or 0))))

    async def setAlias(self, userId: str, targetUid: str, alias: str) -> Friend:
        """
        FALS: set C{uid}'s alias for friend C{targetUid} (empty clears it);
        C{uid}'s devices get FN.

        @raise SignalError: C{NOT_EXIST} not a friend (no row or a deleted
            one), C{INVALID_PARAMETER} alias over 64 characters.
        """
        try:
            alias = _text(MAX_ALIAS)(alias or "")
        except ValueError:
            raise SignalError(ErrorCode.INVALID_PARAMETER, "alias")
        now = self.now()

        def decide(pair: FriendPair) -> FriendChange:
            row = pair.fromRow
            if row is None or row.state == FriendState.DELETED:
                raise SignalError(ErrorCode.NOT_EXIST, "not a friend")
            return FriendChange(friends=[(userId, attr.evolve(row, alias=alias, updateDt=now))])
        _, change = await self.friends.changeFriendship(userId, targetUid, decide)
        self._deliver(userId, FriendNotify(now))
        return change.friends[0][1]
