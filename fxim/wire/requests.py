# -*- test-case-name: fxim.test.unit.test_codecs -*-
"""
Typed requests, responses and pushes: what handlers see and return instead
of wire bytes.  The same objects serve TCP (protobuf) and WebSocket (JSON);
the commands of L{fxim.protocol} convert between them and both transports.

Every class is a frozen, slotted attrs class with camelCase fields.  Domain
records (L{fxim.model.Message}, L{fxim.model.User}, ...) are used inside.
Sequences are tuples so that every object is hashable and comparable.
"""

from typing import Any, Optional, Tuple

import attr

from fxim.model import (
    Conversation, Friend, FriendRequest, GroupInfo, GroupMember, Message,
    MessageContent, User,
)



# -- connection ---------------------------------------------------------------

@attr.s(frozen=True, slots=True, auto_attribs=True)
class ConnectRequest:
    """
    CONNECT: C{{"userName","password","clientIdentifier"}} on both transports.
    Missing keys decode as empty strings.
    """

    userName: str
    password: str
    clientIdentifier: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ConnectAck:
    """
    The CONNECT_ACK reply.

    @ivar code: the CONNECT_ACK subsignal, 1 (accepted) to 8.
    @ivar msgHead: the user's highest message seq.
    @ivar friendHead: highest friend update time (ms).
    @ivar friendRqHead: highest friend-request update time (ms).
    @ivar settingHead: highest setting update time (ms).
    @ivar serverTime: the server clock (ms).
    """

    code: int
    msgHead: int = 0
    friendHead: int = 0
    friendRqHead: int = 0
    settingHead: int = 0
    serverTime: int = 0


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PingRequest:
    """
    PING C{{"interval":ms}}; C{interval} is L{None} when the body is missing
    or does not hold a usable number.
    """

    interval: Optional[int]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PingReply:
    """
    The PING reply: text C{ping back next interval <ms>} on TCP.
    """

    interval: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class DisconnectRequest:
    """
    DISCONNECT: C{clearSession} true means log out (drop the session).
    """

    clearSession: bool


# -- messages -----------------------------------------------------------------

@attr.s(frozen=True, slots=True, auto_attribs=True)
class SendMessage:
    """
    MS.  C{message.localId} is the device's local id (idempotency key part).
    """

    message: Message


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SendResult:
    """
    MS ack: the assigned message uid and server timestamp (ms).
    """

    messageUid: int
    timestamp: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PullMessages:
    """
    MP: inbox entries with seq > C{afterSeq}.

    @ivar pullType: PullType (0 normal, 1 chatroom).
    """

    afterSeq: int
    pullType: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PullResult:
    """
    MP result.  C{current} is the seq of the last message returned, C{head}
    the user's highest seq.  C{encoded}: the messages as the reply's
    transport encodes them, when the pull measured them that way (see
    L{fxim.protocol.messages.fitPull}); not part of the value.
    """

    messages: Tuple[Message, ...]
    current: int
    head: int
    encoded: Tuple[Any, ...] = attr.ib(default=(), eq=False, repr=False)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RecallMessage:
    """
    MR: recall the message with this uid.
    """

    messageUid: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class LoadHistory:
    """
    LRM: up to C{count} messages of C{conversation} with uid < C{beforeUid}
    (0 = newest).
    """

    conversation: Conversation
    beforeUid: int
    count: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class HistoryResult:
    """
    LRM result, newest first.
    """

    messages: Tuple[Message, ...]


# -- users --------------------------------------------------------------------

@attr.s(frozen=True, slots=True, auto_attribs=True)
class SearchUsers:
    """
    US.
    """

    keyword: str
    fuzzy: int
    page: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class UserList:
    """
    US result.
    """

    users: Tuple[User, ...]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PullUsers:
    """
    UPUI: C{requests} is a tuple of C{(uid, updateDt)}.
    """

    requests: Tuple[Tuple[str, int], ...]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PullUsersResult:
    """
    UPUI result: C{(user, code)} pairs; code 0 found, 1 not found (the User
    then carries only its uid), 2 not modified.
    """

    entries: Tuple[Tuple[User, int], ...]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ModifyMyInfo:
    """
    MMI: C{(MyInfoType, value)} pairs.
    """

    entries: Tuple[Tuple[int, str], ...]


# -- friends ------------------------------------------------------------------

@attr.s(frozen=True, slots=True, auto_attribs=True)
class AddFriend:
    """
    FAR.
    """

    targetUid: str
    reason: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SetFriendAlias:
    """
    FALS (TCP body C{AddFriendRequest{target_uid, reason = alias}}).
    """

    targetUid: str
    alias: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class HandleFriendRequest:
    """
    FHR.
    """

    targetUid: str
    status: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PullFriendRequests:
    """
    FRP: requests updated after C{version} (ms).
    """

    version: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FriendRequestList:
    """
    FRP result.
    """

    requests: Tuple[FriendRequest, ...]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SyncFriendRequestUnread:
    """
    FRUS: friend requests up to C{version} are read.
    """

    version: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PullFriends:
    """
    FP: friends updated after C{version} (ms).
    """

    version: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FriendList:
    """
    FP result.
    """

    friends: Tuple[Friend, ...]


# -- groups -------------------------------------------------------------------

@attr.s(frozen=True, slots=True, auto_attribs=True)
class CreateGroup:
    """
    GC.  An empty C{info.targetId} lets the server assign the id.
    """

    info: GroupInfo
    members: Tuple[GroupMember, ...]
    toLines: Tuple[int, ...] = ()
    notifyContent: Optional[MessageContent] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class GroupCreated:
    """
    GC result (TCP only: WebSocket answers a WsResult).
    """

    groupId: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PullGroupInfo:
    """
    GPGI.
    """

    groupIds: Tuple[str, ...]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class GroupInfoList:
    """
    GPGI result.
    """

    groups: Tuple[GroupInfo, ...]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PullGroupMembers:
    """
    GPGM: members if the group's member update time is after C{head}.
    """

    groupId: str
    head: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class GroupMemberList:
    """
    GPGM result.
    """

    members: Tuple[GroupMember, ...]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class AddGroupMembers:
    """
    GAM.
    """

    groupId: str
    members: Tuple[GroupMember, ...]
    toLines: Tuple[int, ...] = ()
    notifyContent: Optional[MessageContent] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class KickGroupMembers:
    """
    GKM.
    """

    groupId: str
    memberIds: Tuple[str, ...]
    toLines: Tuple[int, ...] = ()
    notifyContent: Optional[MessageContent] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class QuitGroup:
    """
    GQ.
    """

    groupId: str
    toLines: Tuple[int, ...] = ()
    notifyContent: Optional[MessageContent] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class DismissGroup:
    """
    GD.
    """

    groupId: str
    toLines: Tuple[int, ...] = ()
    notifyContent: Optional[MessageContent] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ModifyGroupInfo:
    """
    GMI: C{type} 0 name, 1 portrait, 2 extra.
    """

    groupId: str
    type: int
    value: str
    toLines: Tuple[int, ...] = ()
    notifyContent: Optional[MessageContent] = None


# -- media --------------------------------------------------------------------

@attr.s(frozen=True, slots=True, auto_attribs=True)
class GetUploadToken:
    """
    GQNUT.
    """

    mediaType: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class UploadToken:
    """
    GQNUT result.
    """

    domain: str
    token: str
    server: str
    port: int = 80


@attr.s(frozen=True, slots=True, auto_attribs=True)
class GetUploadUrl:
    """
    GMURL.
    """

    mediaType: int
    key: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class UploadUrl:
    """
    GMURL result: the client PUTs the file to C{url}.
    """

    domain: str
    server: str
    port: int
    url: str


# -- plugins ------------------------------------------------------------------

@attr.s(frozen=True, slots=True, auto_attribs=True)
class JsonRequest:
    """
    A plugin subsignal's request: the decoded JSON value (L{None} for an
    empty body).  A plugin handler answers any JSON-able value or L{None}.
    """

    value: Any


# -- pushes (server -> client, messageId 0) -----------------------------------

@attr.s(frozen=True, slots=True, auto_attribs=True)
class MessageNotify:
    """
    PUBLISH/MN: new messages up to seq C{head}; C{type} is the PullType.
    """

    type: int
    head: int
    target: str = ""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RecallNotify:
    """
    PUBLISH/RMN.
    """

    messageUid: int
    fromUser: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FriendNotify:
    """
    PUBLISH/FN: the friend list changed (TCP body: bare int64 BE).
    """

    head: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FriendRequestNotify:
    """
    PUBLISH/FRN: friend requests changed (TCP body: bare int64 BE).
    """

    version: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class TransparentMessage:
    """
    An unsolicited PUB_ACK/MP with messageId 0 carrying one message that is
    not stored (typing, call signalling).
    """

    message: Message


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PluginPush:
    """
    PUBLISH/<plugin subsignal> with a JSON body.
    """

    subsignal: int
    value: Any
