# -*- test-case-name: fxim.test.unit.test_groups -*-
"""
Groups: create, pull info and members, add, kick, quit, dismiss, modify,
and the admin-only manager and mute switches.

Every operation that changes a group publishes a group notification (a
group-conversation message on line 0 from the operator, content types
104-112) through L{fxim.services.messaging.MessagingService.publish}.
Kick, quit and dismiss send it to the members the group had I{before} the
change, so the members who leave still receive it; after the change a
removed member (type L{MemberType.REMOVED}) is no longer a receiver,
because C{IGroupStore.getMembers} leaves removed members out.

Each change checks and writes in one store transaction
(L{fxim.interfaces.IGroupStore.changeGroup}, the group's row locked), so
nodes sharing a database need no lock of their own; the notification is
published once the change is committed.

Permissions are described in C{docs/groups.md}.
"""

import json
import secrets
import string
from typing import Iterable, List, Optional, Sequence, Tuple

import attr
from twisted.logger import Logger

from fxim.errors import ErrorCode, SignalError
from fxim.interfaces import IGroupStore
from fxim.storage.groups import GroupChange, GroupState
from fxim.storage.records import TooManyGroups, UnknownUsers
from fxim.model import (
    ContentType, Conversation, ConversationType, GroupInfo, GroupMember, MemberType, Message,
    MessageContent, PersistFlag,
)

_log = Logger()


class GroupType:
    """
    C{GroupInfo.type} values (spec section 7.2).
    """

    NORMAL = 0
    #: "free": anyone may pull its members and join it.
    FREE = 1
    #: only the owner and managers may add members or modify it.
    RESTRICTED = 2

    ALL = (NORMAL, FREE, RESTRICTED)


class ModifyType:
    """
    C{ModifyGroupInfo.type} values.
    """

    NAME = 0
    PORTRAIT = 1
    EXTRA = 2


#: Characters of a server-assigned group id.
_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_LENGTH = 12
#: Largest client-chosen group id, name, portrait URL and extra, in chars.
MAX_ID_LENGTH = 64
MAX_NAME_LENGTH = 256
MAX_PORTRAIT_LENGTH = 2048
MAX_EXTRA_LENGTH = 64 * 1024

#: Member types that count as being in the group.
_ADMINS = (MemberType.OWNER, MemberType.MANAGER)


def notificationContent(contentType: int, **fields) -> MessageContent:
    """
    Build a server-side group notification the way upstream's Gson does:
    C{data} is compact UTF-8 JSON in the order given, keys whose value is
    L{None} omitted; searchable content and content are empty.

    @param contentType: one of the L{ContentType} group notification types.
    @param fields: the JSON members (C{g}, C{o}, C{n}, C{ms}, C{m}).
    """
    body = {k: v for k, v in fields.items() if v is not None}
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return MessageContent(type=contentType, data=data, persistFlag=PersistFlag.PERSIST)


def _isMember(member: Optional[GroupMember]) -> bool:
    return member is not None and member.type != MemberType.REMOVED


def _existing(state: GroupState, groupId: str) -> GroupInfo:
    """
    @return: the group C{state} read.
    @raise SignalError: C{NOT_EXIST} if there is none.
    """
    if state.info is None:
        raise SignalError(ErrorCode.NOT_EXIST, f"no group {groupId!r}")
    return state.info


def _unique(ids: Iterable[str]) -> List[str]:
    seen, result = set(), []
    for i in ids:
        if i and i not in seen:
            seen.add(i)
            result.append(i)
    return result


class GroupService:
    """
    @param store: an L{fxim.interfaces.IGroupStore}.
    @param bus: the L{fxim.interfaces.IDeliveryBus} (unused for now: every
        notification goes through C{messages}).
    @param clock: an C{IReactorTime}.
    @param config: the L{fxim.config.Config} (C{maxGroupSize}).
    @param messages: the L{fxim.services.messaging.MessagingService}.
    """

    def __init__(self, store: IGroupStore, bus, clock, config, messages, *,
                 nameFilter=None) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self.config = config
        self.messages = messages
        # i14: moderation.
        #: C{f(kind, name) -> name} checks a group name; it may mask it or
        #: raise L{SignalError}.
        self.nameFilter = nameFilter

    def now(self) -> int:
        return int(self.clock.seconds() * 1000)

    # -- helpers -------------------------------------------------------------

    async def _member(self, groupId: str, userId: str) -> GroupMember:
        member = await self.store.getMember(groupId, userId)
        if not _isMember(member):
            raise SignalError(ErrorCode.NOT_IN_GROUP, f"{userId} not in {groupId}")
        return member

    async def _notify(self, groupId: str, operator: str, notifyContent: Optional[MessageContent],
                      built: MessageContent, receivers: Optional[Sequence[str]] = None) -> None:
        """
        Publish a group notification to C{receivers} (default: every current
        member).  The client's C{notifyContent} wins if its type is > 0.
        """
        content = notifyContent if notifyContent is not None and notifyContent.type > 0 else built
        if receivers is None:
            receivers = [m.memberId for m in await self.store.getMembers(groupId)]
        if not receivers:
            return
        message = Message(Conversation(ConversationType.GROUP, groupId, 0), operator, content)
        await self.messages.publish(message, receivers)

    def _maxOwned(self) -> Optional[int]:
        cap = getattr(self.config, "maxGroupsPerUser", 0)
        return cap if cap else None

    def _newId(self) -> str:
        return "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))

    def _checkLength(self, value: str, limit: int, what: str) -> None:
        if len(value) > limit:
            raise SignalError(ErrorCode.INVALID_PARAMETER, f"{what} longer than {limit}")

    # -- create --------------------------------------------------------------

    async def create(self, userId: str, info: GroupInfo, members: Sequence[GroupMember],
                     notifyContent: Optional[MessageContent] = None) -> str:
        """
        Create a group owned by C{uid} with C{members} (deduplicated; the
        creator is added as owner if missing; every other member is
        normal) and publish 104 C{{"g","o","n","m":""}} to all of them.

        @param info: name, portrait, extra, type and optional C{targetId}.
        @return: the group id (server-assigned if C{info.targetId} is empty).
        @raise SignalError: C{GROUP_ALREADY_EXIST} if the given id is
            taken, C{INVALID_PARAMETER} for a bad type, id or size above
            C{maxGroupSize}, C{NOT_EXIST} if a member id is no user,
            C{CLIENT_COUNT_OUT_OF_LIMIT} if C{uid} already owns
            C{maxGroupsPerUser} groups.
        """
        if info.type not in GroupType.ALL:
            raise SignalError(ErrorCode.INVALID_PARAMETER, f"group type {info.type}")
        self._checkLength(info.targetId, MAX_ID_LENGTH, "group id")
        self._checkLength(info.name, MAX_NAME_LENGTH, "name")
        if self.nameFilter is not None:
            info = attr.evolve(info, name=self.nameFilter("group name", info.name))
        self._checkLength(info.portrait, MAX_PORTRAIT_LENGTH, "portrait")
        self._checkLength(info.extra, MAX_EXTRA_LENGTH, "extra")
        if info.targetId and not info.targetId.isprintable():
            raise SignalError(ErrorCode.INVALID_PARAMETER, "group id")
        now = self.now()
        ids = _unique([userId] + [m.memberId for m in members])
        if len(ids) > self.config.maxGroupSize:
            raise SignalError(ErrorCode.INVALID_PARAMETER, "too many members")
        aliases = {m.memberId: m.alias for m in members}
        records = [GroupMember(i, aliases.get(i, ""),
                               MemberType.OWNER if i == userId else MemberType.NORMAL, now)
                   for i in ids]
        given = bool(info.targetId)
        for _ in range(1 if given else 5):
            groupId = info.targetId or self._newId()
            record = attr.evolve(info, targetId=groupId, owner=userId, memberCount=len(ids),
                                 updateDt=now, memberUpdateDt=now)
            try:
                await self.store.createGroup(record, records, self._maxOwned())
            except KeyError:
                continue
            except UnknownUsers as e:
                raise SignalError(ErrorCode.NOT_EXIST, "no such users: %s" % (
                    ", ".join(e.userIds[:10]),)) from None
            except TooManyGroups:
                raise SignalError(ErrorCode.CLIENT_COUNT_OUT_OF_LIMIT,
                                  "already owns %d groups" % (self.config.maxGroupsPerUser,)) from None
            break
        else:
            if given:
                raise SignalError(ErrorCode.GROUP_ALREADY_EXIST, info.targetId)
            raise SignalError(ErrorCode.SERVER_ERROR, "could not find a free group id")
        _log.info("{uid} created group {groupId} with {count} members",
                  uid=userId, groupId=groupId, count=len(ids))
        built = notificationContent(ContentType.CREATE_GROUP, g=groupId, o=userId,
                                    n=info.name, m="")
        await self._notify(groupId, userId, notifyContent, built, ids)
        return groupId

    # -- pulls ---------------------------------------------------------------

    async def pullInfo(self, userId: str, groupIds: Sequence[str]) -> Tuple[GroupInfo, ...]:
        """
        Info of the known groups among C{groupIds}, in request order;
        unknown ids are left out.  Anyone may pull any group's info.
        """
        ids = _unique(groupIds)
        found = await self.store.getGroups(ids)
        return tuple(found[g] for g in ids if g in found)

    async def pullMembers(self, userId: str, groupId: str, head: int) -> Tuple[GroupMember, ...]:
        """
        The group's members (removed ones left out) if its member update
        time is after C{head}, else nothing; nothing for an unknown group.

        @raise SignalError: C{NOT_IN_GROUP} if C{uid} is not a member of a
            group that is not free (type 1).
        """
        info = await self.store.getGroup(groupId) if groupId else None
        if info is None:
            return ()
        if info.type != GroupType.FREE:
            await self._member(groupId, userId)
        if info.memberUpdateDt <= head:
            return ()
        return tuple(await self.store.getMembers(groupId))

    # -- membership changes --------------------------------------------------

    async def addMembers(self, userId: str, groupId: str, members: Sequence[GroupMember],
                         notifyContent: Optional[MessageContent] = None) -> None:
        """
        Add members (as normal members) and publish 105
        C{{"g","o","ms":[new ids]}} to everyone, the new members included.
        Any member may add to a normal group; only the owner and managers
        to a restricted one; anyone may join a free group by adding
        himself.  Existing members are skipped.

        @raise SignalError: C{NOT_EXIST} unknown group or a member id that
            is no user (nothing added), C{NOT_IN_GROUP} not a member,
            C{NOT_RIGHT} not allowed, C{INVALID_PARAMETER} the group would
            exceed C{maxGroupSize}.
        """
        ids = _unique(m.memberId for m in members)
        aliases = {m.memberId: m.alias for m in members}
        now = self.now()
        added: List[str] = []

        def decide(state: GroupState) -> Optional[GroupChange]:
            info = _existing(state, groupId)
            me = state.member(userId)
            if me is None:
                if not (info.type == GroupType.FREE and ids == [userId]):
                    raise SignalError(ErrorCode.NOT_IN_GROUP)
            elif info.type == GroupType.RESTRICTED and me.type not in _ADMINS:
                raise SignalError(ErrorCode.NOT_RIGHT, "restricted group")
            current = {m.memberId for m in state.members}
            new = [i for i in ids if i not in current]
            if not new:
                return None
            if len(current) + len(new) > self.config.maxGroupSize:
                raise SignalError(ErrorCode.INVALID_PARAMETER, "group full")
            added[:] = new
            return GroupChange(now, members=[
                GroupMember(i, aliases.get(i, ""), MemberType.NORMAL, now) for i in new])
        try:
            _, change, _ = await self.store.changeGroup(groupId, decide)
        except UnknownUsers as e:
            raise SignalError(ErrorCode.NOT_EXIST, "no such users: %s" % (
                ", ".join(e.userIds[:10]),)) from None
        if change is None:
            return
        built = notificationContent(ContentType.ADD_GROUP_MEMBER, g=groupId, o=userId, ms=added)
        await self._notify(groupId, userId, notifyContent, built)

    async def kickMembers(self, userId: str, groupId: str, memberIds: Sequence[str],
                          notifyContent: Optional[MessageContent] = None) -> None:
        """
        Remove members.  The owner may kick anyone but himself; a manager
        only normal and muted members.  106 C{{"g","o","ms"}} goes to every
        member the group had, the kicked included.  Ids that are not
        members are ignored.

        @raise SignalError: C{NOT_EXIST} unknown group, C{NOT_RIGHT} not
            allowed.
        """
        now = self.now()
        kicked: List[str] = []

        def decide(state: GroupState) -> Optional[GroupChange]:
            _existing(state, groupId)
            me = state.member(userId)
            if me is None or me.type not in _ADMINS:
                raise SignalError(ErrorCode.NOT_RIGHT, "only the owner and managers may kick")
            members = {m.memberId: m for m in state.members}
            targets = [members[i] for i in _unique(memberIds) if i in members]
            for target in targets:
                if target.memberId == userId or target.type == MemberType.OWNER:
                    raise SignalError(ErrorCode.NOT_RIGHT, "cannot kick the owner or oneself")
                if me.type == MemberType.MANAGER and target.type == MemberType.MANAGER:
                    raise SignalError(ErrorCode.NOT_RIGHT, "a manager cannot kick a manager")
            if not targets:
                return None
            kicked[:] = [t.memberId for t in targets]
            return GroupChange(now, members=[
                attr.evolve(t, type=MemberType.REMOVED, updateDt=now) for t in targets])
        state, change, _ = await self.store.changeGroup(groupId, decide)
        if change is None:
            return
        built = notificationContent(ContentType.KICKOFF_GROUP_MEMBER, g=groupId, o=userId, ms=kicked)
        await self._notify(groupId, userId, notifyContent, built,
                           [m.memberId for m in state.members])

    async def quit(self, userId: str, groupId: str,
                   notifyContent: Optional[MessageContent] = None) -> None:
        """
        Leave a group; 107 C{{"g","o","m":""}} goes to every member the
        group had.  An owner who quits hands the group to the earliest
        manager, else the earliest member; the last member quitting deletes
        the group.

        @raise SignalError: C{NOT_EXIST} unknown group, C{NOT_IN_GROUP} not
            a member.
        """
        now = self.now()

        def decide(state: GroupState) -> GroupChange:
            _existing(state, groupId)
            me = state.member(userId)
            if me is None:
                raise SignalError(ErrorCode.NOT_IN_GROUP, f"{userId} not in {groupId}")
            others = [m for m in state.members if m.memberId != userId]
            if not others:
                return GroupChange(now, delete=True)
            changes = [attr.evolve(me, type=MemberType.REMOVED, updateDt=now)]
            if me.type != MemberType.OWNER:
                return GroupChange(now, members=changes)
            # Only a real user may inherit (members written before ids were
            # checked could name none).
            users = state.getUsers([m.memberId for m in others])
            candidates = [m for m in others if m.memberId in users] or others
            managers = [m for m in candidates if m.type == MemberType.MANAGER]
            heir = (managers or candidates)[0]
            changes.append(attr.evolve(heir, type=MemberType.OWNER, updateDt=now))
            return GroupChange(now, changes={"owner": heir.memberId}, members=changes)
        state, change, _ = await self.store.changeGroup(groupId, decide)
        if change.delete:
            _log.info("last member {uid} left group {groupId}: deleted", uid=userId, groupId=groupId)
        elif "owner" in change.changes:
            _log.info("group {groupId}: ownership passed from {uid} to {heir}",
                      groupId=groupId, uid=userId, heir=change.changes["owner"])
        built = notificationContent(ContentType.QUIT_GROUP, g=groupId, o=userId, m="")
        await self._notify(groupId, userId, notifyContent, built,
                           [m.memberId for m in state.members])

    async def dismiss(self, userId: str, groupId: str,
                      notifyContent: Optional[MessageContent] = None) -> None:
        """
        Delete a group (owner only); 108 C{{"g","o","m":""}} goes to every
        member it had.

        @raise SignalError: C{NOT_EXIST} unknown group, C{NOT_RIGHT} not the
            owner.
        """
        now = self.now()

        def decide(state: GroupState) -> GroupChange:
            _existing(state, groupId)
            me = state.member(userId)
            if me is None or me.type != MemberType.OWNER:
                raise SignalError(ErrorCode.NOT_RIGHT, "only the owner may dismiss")
            return GroupChange(now, delete=True)
        state, _, _ = await self.store.changeGroup(groupId, decide)
        _log.info("{uid} dismissed group {groupId}", uid=userId, groupId=groupId)
        built = notificationContent(ContentType.DISMISS_GROUP, g=groupId, o=userId, m="")
        await self._notify(groupId, userId, notifyContent, built,
                           [m.memberId for m in state.members])

    # -- info ----------------------------------------------------------------

    async def modify(self, userId: str, groupId: str, type: int, value: str,
                     notifyContent: Optional[MessageContent] = None) -> GroupInfo:
        """
        Change the name (type 0, notification 110 C{{"g","o","n","m":""}}),
        portrait (1, notification 112 C{{"g","o","m":""}}) or extra (2, no
        notification).  Any member may in a normal or free group; only the
        owner and managers in a restricted one.

        @return: the new L{GroupInfo}.
        @raise SignalError: C{NOT_EXIST} unknown group, C{NOT_IN_GROUP} not
            a member, C{NOT_RIGHT} not allowed, C{INVALID_PARAMETER} unknown
            type or value too long (checked after the membership).
        """
        value = value or ""
        refused: Optional[SignalError] = None
        field = ""
        built: Optional[MessageContent] = None
        try:
            if type == ModifyType.NAME:
                self._checkLength(value, MAX_NAME_LENGTH, "name")
                if self.nameFilter is not None:
                    value = self.nameFilter("group name", value)
                field = "name"
                built = notificationContent(ContentType.CHANGE_GROUP_NAME, g=groupId, o=userId,
                                            n=value, m="")
            elif type == ModifyType.PORTRAIT:
                self._checkLength(value, MAX_PORTRAIT_LENGTH, "portrait")
                field = "portrait"
                built = notificationContent(ContentType.CHANGE_GROUP_PORTRAIT, g=groupId, o=userId,
                                            m="")
            elif type == ModifyType.EXTRA:
                self._checkLength(value, MAX_EXTRA_LENGTH, "extra")
                field = "extra"
            else:
                raise SignalError(ErrorCode.INVALID_PARAMETER, f"modify type {type}")
        except SignalError as e:
            refused = e
        now = self.now()

        def decide(state: GroupState) -> GroupChange:
            info = _existing(state, groupId)
            me = state.member(userId)
            if me is None:
                raise SignalError(ErrorCode.NOT_IN_GROUP, f"{userId} not in {groupId}")
            if info.type == GroupType.RESTRICTED and me.type not in _ADMINS:
                raise SignalError(ErrorCode.NOT_RIGHT, "restricted group")
            if refused is not None:
                raise refused
            return GroupChange(now, changes={field: value})
        _, _, new = await self.store.changeGroup(groupId, decide)
        if new is None:
            raise SignalError(ErrorCode.NOT_EXIST)
        if built is not None:
            await self._notify(groupId, userId, notifyContent, built)
        return new

    # -- admin service functions ----------------------------------------------

    async def setManager(self, groupId: str, userId: str, isManager: bool) -> None:
        """
        Make a member a manager or a normal member again (admin API; no
        wire subsignal, no notification).

        @raise SignalError: C{NOT_EXIST} unknown group, C{NOT_IN_GROUP} not
            a member, C{NOT_RIGHT} for the owner.
        """
        target = MemberType.MANAGER if isManager else MemberType.NORMAL
        await self._setType(groupId, userId, target, MemberType.MANAGER)

    async def mute(self, groupId: str, userId: str, muted: bool) -> None:
        """
        Mute (member type SILENT: MS answers C{NOT_RIGHT}) or unmute a
        member (admin API; no wire subsignal, no notification).  Muting a
        manager makes him a muted normal member.

        @raise SignalError: C{NOT_EXIST} unknown group, C{NOT_IN_GROUP} not
            a member, C{NOT_RIGHT} for the owner.
        """
        target = MemberType.SILENT if muted else MemberType.NORMAL
        await self._setType(groupId, userId, target, MemberType.SILENT)

    async def _setType(self, groupId: str, userId: str, target: int, undoes: int) -> None:
        now = self.now()

        def decide(state: GroupState) -> Optional[GroupChange]:
            _existing(state, groupId)
            member = state.member(userId)
            if member is None:
                raise SignalError(ErrorCode.NOT_IN_GROUP, f"{userId} not in {groupId}")
            if member.type == MemberType.OWNER:
                raise SignalError(ErrorCode.NOT_RIGHT, "the owner's type cannot change")
            if target == MemberType.NORMAL and member.type != undoes:
                return None
            if member.type == target:
                return None
            return GroupChange(now, members=[attr.evolve(member, type=target, updateDt=now)])
        await self.store.changeGroup(groupId, decide)
