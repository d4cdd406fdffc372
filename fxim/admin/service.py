# -*- test-case-name: fxim.test.unit.test_admin_resource,fxim.test.e2e.test_admin -*-
"""
L{AdminService}: the admin operations, over the node's services and
stores.  Every method raises L{AdminError} for an expected refusal.
"""

import base64
from typing import Any, Dict, List, Optional, Sequence, Tuple

import attr
from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger

from fxim.admin.retention import RetentionPolicy
from fxim.errors import SignalError
from fxim.identity import InvalidIdentity, parseIdentity
from fxim.model import (
    ContentType, Conversation, ConversationType, FriendState, GroupMember, MemberType, Message,
    MessageContent, UserStatus,
)
from fxim.services.auth import AuthError, NoSuchUser, UserExists
from fxim.storage.adminstore import AuditEntry
from fxim.wire.requests import FriendNotify, RecallNotify

_log = Logger()

#: The sender of system messages (the newer clients file a message from
#: it with an empty target as a system notice).
SYSTEM_UID = "SystemNotification"
SYSTEM_NAME = "System"

#: Receivers per stored copy of a broadcast to everyone.
BROADCAST_CHUNK = 500

#: Most uids in one request (send to users, add members).
MAX_IDS = 1000

#: Messages deleted per purge transaction.
PURGE_BATCH = 500


class AdminError(Exception):
    """
    An admin request is refused.

    @ivar status: the HTTP status.
    @ivar code: the C{code} of the answer (1 invalid input, else the status).
    """

    def __init__(self, status: int, message: str, code: Optional[int] = None) -> None:
        super().__init__(status, message)
        self.status = status
        self.code = status if code is None else code
        self.message = message


def invalid(message: str) -> AdminError:
    return AdminError(400, message, code=1)


def notFound(what: str) -> AdminError:
    return AdminError(404, what)


def userJson(user, loginEmail: str = "") -> dict:
    """
    The admin view of a user (every field, plus its login e-mail).
    """
    # the field is userId, the API key stays "uid"
    out = {("uid" if k == "userId" else k): v for k, v in attr.asdict(user).items()}
    out["loginEmail"] = loginEmail
    return out


def sessionJson(session) -> dict:
    """
    The admin view of a session: never its secrets.
    """
    return {"uid": session.userId, "clientId": session.cid, "createdAt": session.createdAt,
            "expiresAt": session.expiresAt, "platform": session.platform}


def groupJson(info) -> dict:
    return attr.asdict(info)


def memberJson(member) -> dict:
    return {"memberId": member.memberId, "alias": member.alias, "type": member.type,
            "updateDt": member.updateDt}


def messageJson(message) -> dict:
    c = message.content
    return {"uid": message.messageUid, "from": message.fromUser, "timestamp": message.timestamp,
            "conversation": {"type": message.conversation.type,
                             "target": message.conversation.target,
                             "line": message.conversation.line},
            "content": {"type": c.type, "searchableContent": c.searchableContent,
                        "pushContent": c.pushContent, "content": c.content,
                        "data": base64.b64encode(c.data).decode("ascii"),
                        "mediaType": c.mediaType, "remoteMediaUrl": c.remoteMediaUrl}}


def _string(body: dict, key: str, limit: int, default: str = "") -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise invalid(f"{key} must be a string of at most {limit} characters")
    return value


def parseContent(body: Any) -> MessageContent:
    """
    A message content from admin JSON: C{{"type", "searchableContent",
    "pushContent", "content", "data" (base64), "mediaType",
    "remoteMediaUrl"}}, or C{{"text": "..."}} for a text message.  The
    upstream push API's C{binaryContent} is accepted for C{data}.
    """
    if not isinstance(body, dict):
        raise invalid("content must be an object")
    if "text" in body:
        text = _string(body, "text", 16384)
        if not text:
            raise invalid("text must not be empty")
        return MessageContent(type=ContentType.TEXT, searchableContent=text)
    ctype = body.get("type", ContentType.TEXT)
    if not isinstance(ctype, int) or isinstance(ctype, bool) or not 0 < ctype < 2 ** 31:
        raise invalid("content.type must be a positive integer")
    raw = body.get("data", body.get("binaryContent")) or ""
    try:
        data = base64.b64decode(raw, validate=True) if isinstance(raw, str) else None
    except ValueError:
        data = None
    if data is None:
        raise invalid("content.data must be base64")
    mediaType = body.get("mediaType", 0)
    if not isinstance(mediaType, int) or isinstance(mediaType, bool):
        raise invalid("content.mediaType must be an integer")
    content = MessageContent(
        type=ctype, searchableContent=_string(body, "searchableContent", 16384),
        pushContent=_string(body, "pushContent", 1024), content=_string(body, "content", 65536),
        data=data, mediaType=mediaType, remoteMediaUrl=_string(body, "remoteMediaUrl", 2048))
    if content.transparent:
        raise invalid("transparent content types are not stored: use a stored type")
    if not (content.searchableContent or content.content or content.data
            or content.remoteMediaUrl):
        raise invalid("the content is empty")
    return content


#: Profile fields an admin may set: JSON key -> (User field, check).
def _profileFields():
    from fxim.services.social import MY_INFO_FIELDS
    byField = {field: check for field, check in MY_INFO_FIELDS.values()}
    return byField


class AdminService:
    """
    @param server: the node's L{fxim.node.Node}.
    @param store: the L{fxim.storage.adminstore.IAdminStore}.
    """

    def __init__(self, server: Any, store: Any, *, clock: Any = None, retentionDays: float = 0,
                 retentionInterval: float = 3600.0) -> None:
        self.server = server
        self.store = store
        self.auth = server.auth
        #: The L{RetentionPolicy} with C{retentionDays}, else None.
        self.retention: Optional[RetentionPolicy] = (
            RetentionPolicy(clock, self, retentionDays, retentionInterval)
            if retentionDays else None)
        self._systemReady = False

    def now(self) -> int:
        return self.server.now()

    # -- audit ---------------------------------------------------------------

    async def audit(self, action: str, target: str, detail: dict, peer: str) -> None:
        """
        Record an admin action (a failure to record is logged, not fatal:
        the action already happened).
        """
        try:
            await self.store.addAudit(AuditEntry(0, self.now(), action, target, detail, peer))
        except Exception:
            _log.failure("Could not record admin action {action}", action=action)
        from fxim.adminlog import logAdminAction
        logAdminAction(action, target, peer=peer)

    async def listAudit(self, offset: int, limit: int) -> List[dict]:
        return [e.asJson() for e in await self.store.listAudit(offset, limit)]

    # -- users ---------------------------------------------------------------

    async def _user(self, userId: str):
        user = await self.server.store.getUser(userId) if userId else None
        if user is None:
            raise notFound("no such user")
        return user

    async def listUsers(self, query: str, offset: int, limit: int) -> List[dict]:
        if query:
            # A phone number or address in any spelling finds its account.
            try:
                query = parseIdentity(query).value
            except InvalidIdentity:
                pass
        users = await self.store.listUsers(query, offset, limit)
        return [userJson(u, await self.store.loginEmailOf(u.userId)) for u in users]

    async def getUser(self, userId: str) -> dict:
        user = await self._user(userId)
        out = userJson(user, await self.store.loginEmailOf(userId))
        out["groups"] = await self.server.store.groupsOf(userId)
        out["sessions"] = [sessionJson(s) for s in await self.auth.listSessions(userId)]
        return out

    async def createUser(self, body: dict) -> dict:
        mobile = _string(body, "mobile", 254)
        displayName = _string(body, "displayName", 64)
        userId = body.get("uid")
        if userId is not None and not isinstance(userId, str):
            raise invalid("uid must be a string")
        try:
            user = await self.auth.createUser(mobile, displayName, userId=userId)
        except AuthError as e:
            raise invalid(e.message)
        except UserExists:
            raise AdminError(409, "the uid, mobile or e-mail already exists")
        return userJson(user, await self.store.loginEmailOf(user.userId))

    async def updateUser(self, userId: str, body: dict) -> dict:
        """
        Change profile fields (C{displayName}, C{portrait}, C{gender},
        C{mobile}, C{email}, C{address}, C{company}, C{social}, C{extra},
        C{searchable}) and the C{loginEmail}.
        """
        await self._user(userId)
        checks = _profileFields()
        changes: Dict[str, Any] = {}
        loginEmail = None
        for key, value in body.items():
            if key == "searchable":
                if not isinstance(value, bool):
                    raise invalid("searchable must be true or false")
                changes["searchable"] = value
            elif key == "loginEmail":
                if not isinstance(value, str):
                    raise invalid("loginEmail must be a string")
                loginEmail = self._identity(value, phone=False) if value else ""
            elif key == "mobile":
                if not isinstance(value, str):
                    raise invalid("mobile must be a string")
                changes["mobile"] = self._identity(value, phone=True) if value else ""
            elif key in checks:
                if isinstance(value, int) and not isinstance(value, bool) and key == "gender":
                    value = str(value)
                if not isinstance(value, str):
                    raise invalid(f"{key} must be a string")
                try:
                    changes[key] = checks[key](value)
                except (ValueError, TypeError):
                    raise invalid(f"invalid {key}")
            else:
                raise invalid(f"unknown field {key!r}")
        if not changes and loginEmail is None:
            raise invalid("nothing to change")
        if loginEmail is not None:
            try:
                await self.store.setLoginEmail(userId, loginEmail)
            except KeyError:
                raise AdminError(409, "another user logs in with that e-mail")
        if changes:
            try:
                await self.server.store.updateUser(userId, changes, self.now())
            except KeyError:
                raise AdminError(409, "another user has that mobile")
        return await self.getUser(userId)

    def _identity(self, value: str, phone: bool) -> str:
        try:
            identity = parseIdentity(value)
        except InvalidIdentity as e:
            raise invalid(str(e))
        if identity.isPhone != phone:
            raise invalid("a phone number is needed" if phone else "an e-mail address is needed")
        return identity.value

    async def setBlocked(self, userId: str, blocked: bool) -> dict:
        try:
            await self.auth.setBlocked(userId, blocked)
        except NoSuchUser:
            raise notFound("no such user")
        return await self.getUser(userId)

    async def setMuted(self, userId: str, muted: bool) -> dict:
        """
        A muted user stays connected but every send is refused with
        C{FORBIDDEN_SEND_MSG}.
        """
        user = await self._user(userId)
        if user.status == UserStatus.BLOCKED:
            raise AdminError(409, "the user is blocked: unblock first")
        status = UserStatus.MUTED if muted else UserStatus.NORMAL
        if user.status != status:
            await self.server.store.updateUser(userId, {"status": int(status)}, self.now())
        return await self.getUser(userId)

    async def deleteUser(self, userId: str, eraseMessages: bool) -> dict:
        """
        Delete a user: close and forget every session, leave every group
        (with the usual notifications), drop friendships both ways (their
        friends get FN) and friend requests, then the profile.  With
        C{eraseMessages}, the content of everything they sent is replaced
        by an erased marker everywhere; otherwise their messages stay in
        the receivers' inboxes.
        """
        if userId == SYSTEM_UID:
            raise AdminError(409, "the system account cannot be deleted")
        await self._user(userId)
        friends = [f.userId for f in await self.server.store.listFriends(userId, 0)
                   if f.state != FriendState.DELETED]
        revoked = await self.auth.revokeSessions(userId)
        left = []
        for groupId in await self.server.store.groupsOf(userId):
            try:
                await self.server.groups.quit(userId, groupId)
                left.append(groupId)
            except SignalError:
                pass
        counts = await self.store.deleteUser(userId, eraseMessages, self.now())
        if counts is None:
            raise notFound("no such user")
        now = self.now()
        for friendUid in friends:
            self._deliver(friendUid, FriendNotify(now))
        return {"uid": userId, "sessions": revoked, "groups": left, "friends": counts.friends,
                "friendRequests": counts.friendRequests,
                "erasedMessages": counts.erasedMessages}

    # -- sessions -------------------------------------------------------------

    async def listSessions(self, userId: str) -> List[dict]:
        await self._user(userId)
        return [sessionJson(s) for s in await self.auth.listSessions(userId)]

    async def revokeSessions(self, userId: str, cid: Optional[str] = None) -> dict:
        await self._user(userId)
        return {"revoked": await self.auth.revokeSessions(userId, cid)}

    async def mintToken(self, userId: str, cid: Any) -> dict:
        try:
            token = await self.auth.mintToken(userId, cid)
        except NoSuchUser:
            raise notFound("no such user")
        except AuthError as e:
            raise invalid(e.message)
        return {"userId": userId, "clientId": cid, "token": token}

    # -- groups ---------------------------------------------------------------

    async def _group(self, groupId: str):
        info = await self.server.store.getGroup(groupId) if groupId else None
        if info is None:
            raise notFound("no such group")
        return info

    async def listGroups(self, query: str, offset: int, limit: int) -> List[dict]:
        return [groupJson(g) for g in await self.store.listGroups(query, offset, limit)]

    async def getGroup(self, groupId: str) -> dict:
        out = groupJson(await self._group(groupId))
        out["members"] = [memberJson(m) for m in await self.server.store.getMembers(groupId)]
        return out

    async def dismissGroup(self, groupId: str) -> dict:
        info = await self._group(groupId)
        await self._groupCall(self.server.groups.dismiss, info.owner, groupId)
        return {"groupId": groupId, "dismissed": True}

    async def addMembers(self, groupId: str, userIds: Sequence[str]) -> dict:
        info = await self._group(groupId)
        userIds = self._uids(userIds)
        known = await self.server.store.getUsers(userIds)
        unknown = [u for u in userIds if u not in known]
        if unknown:
            raise AdminError(404, "no such user: " + ", ".join(unknown[:20]))
        members = [GroupMember(u) for u in userIds]
        await self._groupCall(self.server.groups.addMembers, info.owner, groupId, members)
        return await self.getGroup(groupId)

    async def removeMember(self, groupId: str, userId: str) -> dict:
        info = await self._group(groupId)
        if userId == info.owner:
            raise AdminError(409, "the owner cannot be removed: set another owner first")
        await self._member(groupId, userId)
        await self._groupCall(self.server.groups.kickMembers, info.owner, groupId, [userId])
        return await self.getGroup(groupId)

    async def setOwner(self, groupId: str, userId: str) -> dict:
        """
        Hand the group to member C{uid}: the old owner becomes a normal
        member; every member gets notification 109.
        """
        from fxim.services.groups import notificationContent
        info = await self._group(groupId)
        member = await self._member(groupId, userId)
        if info.owner == userId:
            return await self.getGroup(groupId)
        now = self.now()
        changes = [attr.evolve(member, type=MemberType.OWNER, updateDt=now)]
        old = await self.server.store.getMember(groupId, info.owner)
        if old is not None and old.type != MemberType.REMOVED:
            changes.append(attr.evolve(old, type=MemberType.NORMAL, updateDt=now))
        await self.server.store.putMembers(groupId, changes, now)
        await self.server.store.updateGroup(groupId, {"owner": userId}, now)
        built = notificationContent(ContentType.TRANSFER_GROUP_OWNER, g=groupId, o=info.owner,
                                    m=userId)
        members = [m.memberId for m in await self.server.store.getMembers(groupId)]
        await self.server.messages.publish(
            Message(Conversation(ConversationType.GROUP, groupId, 0), info.owner, built), members)
        return await self.getGroup(groupId)

    async def setManager(self, groupId: str, userId: str, manager: bool) -> dict:
        await self._group(groupId)
        await self._groupCall(self.server.groups.setManager, groupId, userId, manager)
        return await self.getGroup(groupId)

    async def muteMember(self, groupId: str, userId: str, muted: bool) -> dict:
        await self._group(groupId)
        await self._groupCall(self.server.groups.mute, groupId, userId, muted)
        return await self.getGroup(groupId)

    async def _member(self, groupId: str, userId: str):
        member = await self.server.store.getMember(groupId, userId)
        if member is None or member.type == MemberType.REMOVED:
            raise notFound("no such member")
        return member

    async def _groupCall(self, function, *args) -> None:
        try:
            await function(*args)
        except SignalError as e:
            status = {253: 404, 9: 404}.get(int(e.code), 409)
            raise AdminError(status, e.description or e.code.name.lower())

    def _uids(self, userIds: Any) -> List[str]:
        if (not isinstance(userIds, list) or not userIds or len(userIds) > MAX_IDS
                or not all(isinstance(u, str) and u for u in userIds)):
            raise invalid(f"a list of 1 to {MAX_IDS} uids is needed")
        return list(dict.fromkeys(userIds))

    # -- messages -----------------------------------------------------------------

    async def _ensureSystemUser(self) -> None:
        if self._systemReady:
            return
        if await self.server.store.getUser(SYSTEM_UID) is None:
            try:
                await self.auth.createUser("", SYSTEM_NAME, userId=SYSTEM_UID)
            except UserExists:
                pass
        self._systemReady = True

    async def sendSystemMessage(self, body: dict) -> dict:
        """
        Store a message from L{SYSTEM_UID} and notify its receivers (MN,
        then they pull it like any other): C{{"users": [uids]}} (a private
        notice with an empty target), C{{"group": gid}} (in the group) or
        C{{"everyone": true}}, with C{"content"} (see L{parseContent}) or
        C{"text"}.
        """
        content = parseContent(body["content"] if "content" in body else
                               {"text": body.get("text")} if "text" in body else None)
        targets = [k for k in ("users", "group", "everyone") if body.get(k) not in (None, False)]
        if len(targets) != 1:
            raise invalid("give exactly one of users, group or everyone")
        await self._ensureSystemUser()
        notice = Conversation(ConversationType.PRIVATE, "", 0)
        if targets == ["users"]:
            messageUids = self._uids(body["users"])
            known = await self.server.store.getUsers(messageUids)
            unknown = [u for u in messageUids if u not in known]
            if unknown:
                raise AdminError(404, "no such user: " + ", ".join(unknown[:20]))
            stored = await self._publish(notice, content, messageUids)
            return {"messageUids": [stored.messageUid], "receivers": len(messageUids)}
        if targets == ["group"]:
            groupId = body["group"]
            if not isinstance(groupId, str):
                raise invalid("group must be a group id")
            await self._group(groupId)
            members = [m.memberId for m in await self.server.store.getMembers(groupId)]
            stored = await self._publish(Conversation(ConversationType.GROUP, groupId, 0),
                                         content, members)
            return {"messageUids": [stored.messageUid], "receivers": len(members)}
        if body["everyone"] is not True:
            raise invalid("everyone must be true")
        messageUids, count, offset = [], 0, 0
        while True:
            page = await self.store.listUsers("", offset, BROADCAST_CHUNK)
            offset += len(page)
            receivers = [u.userId for u in page if u.userId != SYSTEM_UID]
            if receivers:
                messageUids.append((await self._publish(notice, content, receivers)).messageUid)
                count += len(receivers)
            if len(page) < BROADCAST_CHUNK:
                break
        return {"messageUids": messageUids, "receivers": count}

    async def _publish(self, conversation, content, receivers):
        return await self.server.messages.publish(
            Message(conversation, SYSTEM_UID, content), receivers)

    async def pushByMobile(self, body: dict) -> dict:
        """
        Upstream's push API: C{{"mobiles": [...], "content": {"content":
        {...}, "messageId", "timestamp"}}}: a system notice to the users
        with those mobiles (or e-mail addresses).
        """
        mobiles = body.get("mobiles")
        if (not isinstance(mobiles, list) or not mobiles or len(mobiles) > MAX_IDS
                or not all(isinstance(m, str) for m in mobiles)):
            raise invalid(f"mobiles must be a list of 1 to {MAX_IDS} numbers")
        outer = body.get("content")
        if not isinstance(outer, dict):
            raise invalid("content must be an object")
        content = parseContent(outer.get("content"))
        userIds: List[str] = []
        unknown: List[str] = []
        for mobile in mobiles:
            userId = await self._findByIdentity(mobile)
            (userIds if userId else unknown).append(userId or mobile)
        if not userIds:
            raise AdminError(404, "no user has any of these mobiles")
        await self._ensureSystemUser()
        stored = await self._publish(Conversation(ConversationType.PRIVATE, "", 0), content,
                                     list(dict.fromkeys(userIds)))
        return {"messageUid": stored.messageUid, "receivers": len(set(userIds)), "unknown": unknown}

    async def _findByIdentity(self, text: str) -> Optional[str]:
        try:
            identity = parseIdentity(text)
        except InvalidIdentity:
            return None
        if identity.isPhone:
            found = [u for u in await self.store.listUsers(identity.value, 0, 5)
                     if u.mobile == identity.value]
            return found[0].userId if found else None
        user = await self.store.getUserByEmail(identity.value)
        return user.userId if user else None

    async def recall(self, messageUid: Any) -> dict:
        """
        Recall any message: it becomes type 80 (operator L{SYSTEM_UID})
        and every receiver gets RMN.
        """
        try:
            messageUid = int(messageUid)
        except (TypeError, ValueError):
            raise invalid("a message uid is a number")
        message = await self.server.store.getMessage(messageUid)
        if message is None:
            raise notFound("no such message")
        if message.content.type != ContentType.RECALL:
            content = MessageContent(type=ContentType.RECALL, content=SYSTEM_UID,
                                     data=str(messageUid).encode("ascii"))
            await self.server.store.replaceContent(messageUid, content)
            for receiver in await self.server.store.getReceivers(messageUid):
                self._deliver(receiver, RecallNotify(messageUid, SYSTEM_UID))
        return {"uid": messageUid, "recalled": True}

    async def getMessage(self, messageUid: Any) -> dict:
        try:
            messageUid = int(messageUid)
        except (TypeError, ValueError):
            raise invalid("a message uid is a number")
        message = await self.server.store.getMessage(messageUid)
        if message is None:
            raise notFound("no such message")
        return messageJson(message)

    def tombstone(self, text: str) -> Message:
        """
        A new tombstone: what a pull shows where messages were purged.
        """
        content = MessageContent(type=ContentType.TIP, searchableContent=text, content=text)
        return attr.evolve(Message(Conversation(ConversationType.PRIVATE, "", 0), SYSTEM_UID,
                                   content),
                           messageUid=self.server.messages.messageUids.next(), timestamp=self.now())

    async def purge(self, selector: tuple, text: str) -> int:
        """
        Delete the messages C{selector} chooses (see
        L{fxim.storage.adminstore.IAdminStore.purgeMessages}) in batches,
        leaving one tombstone per affected inbox.

        @return: the number of messages deleted.
        """
        await self._ensureSystemUser()
        tomb = self.tombstone(text)
        total = 0
        while True:
            n = await self.store.purgeMessages(selector, tomb, PURGE_BATCH)
            total += n
            if n < PURGE_BATCH:
                return total

    async def purgeConversation(self, body: dict) -> dict:
        """
        C{{"type": 0, "users": [a, b]}} or C{{"type": 1, "group": gid}}.
        """
        ctype = body.get("type")
        if ctype == ConversationType.PRIVATE:
            users = body.get("users")
            if (not isinstance(users, list) or len(users) != 2
                    or not all(isinstance(u, str) and u for u in users)):
                raise invalid("a private conversation needs users: [uid, uid]")
            selector: Tuple[str, ...] = ("private", users[0], users[1])
        elif ctype == ConversationType.GROUP:
            groupId = body.get("group")
            if not isinstance(groupId, str) or not groupId:
                raise invalid("a group conversation needs group")
            selector = ("group", groupId)
        else:
            raise invalid("type must be 0 (private) or 1 (group)")
        n = await self.purge(selector, "Messages of this conversation were removed by an "
                                       "administrator.")
        return {"purged": n}

    def _deliver(self, userId: str, push: Any) -> None:
        d = ensureDeferred(self.server.bus.deliver(userId, push, None))
        d.addErrback(lambda f: _log.failure("delivery to {uid} failed", f, uid=userId))


