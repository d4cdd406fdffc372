# -*- test-case-name: fxim.test.unit.test_codecs,fxim.test.unit.test_storage -*-
"""
Domain records shared by the commands, the services and the stores.

Every record is a frozen attrs class; field names are camelCase as in the
rest of Twisted-style code, and map one to one onto the C{im.*} protobuf
fields and the web client's JSON keys (see L{fxim.protocol}).
"""

from enum import IntEnum
from typing import Optional, Tuple

import attr


class ConversationType(IntEnum):
    PRIVATE = 0
    GROUP = 1
    CHATROOM = 2
    CHANNEL = 3
    THING = 4


class PersistFlag(IntEnum):
    NOT_PERSIST = 0
    PERSIST = 1
    PERSIST_AND_COUNT = 3
    TRANSPARENT = 4


class ContentType(IntEnum):
    UNKNOWN = 0
    TEXT = 1
    VOICE = 2
    IMAGE = 3
    LOCATION = 4
    FILE = 5
    VIDEO = 6
    STICKER = 7
    IMAGE_TEXT = 8
    P_TEXT = 9
    RECALL = 80
    TIP = 90
    TYPING = 91
    GENERAL_NOTIFICATION = 100
    CREATE_GROUP = 104
    ADD_GROUP_MEMBER = 105
    KICKOFF_GROUP_MEMBER = 106
    QUIT_GROUP = 107
    DISMISS_GROUP = 108
    TRANSFER_GROUP_OWNER = 109
    CHANGE_GROUP_NAME = 110
    MODIFY_GROUP_ALIAS = 111
    CHANGE_GROUP_PORTRAIT = 112
    CALL_START = 400
    CALL_ANSWER = 401
    CALL_BYE = 402
    CALL_SIGNAL = 403
    CALL_MODIFY = 404
    CALL_ANSWER_T = 405


#: Content types that are never stored: pushed at once, no seq, no MN.
TRANSPARENT_TYPES = frozenset({91, 401, 402, 403, 404, 405})


class MemberType(IntEnum):
    NORMAL = 0
    MANAGER = 1
    OWNER = 2
    SILENT = 3
    REMOVED = 4


class FriendState(IntEnum):
    NORMAL = 0
    DELETED = 1
    BLACKED = 2


class FriendRequestStatus(IntEnum):
    SENT = 0
    ACCEPTED = 1
    REJECTED = 2


class UserStatus(IntEnum):
    NORMAL = 0
    MUTED = 1
    BLOCKED = 2


class MyInfoType(IntEnum):
    DISPLAY_NAME = 0
    PORTRAIT = 1
    GENDER = 2
    MOBILE = 3
    EMAIL = 4
    ADDRESS = 5
    COMPANY = 6
    SOCIAL = 7
    EXTRA = 8


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Conversation:
    type: int
    target: str
    line: int = 0


@attr.s(frozen=True, slots=True, auto_attribs=True)
class MessageContent:
    type: int
    searchableContent: str = ""
    pushContent: str = ""
    content: str = ""
    data: bytes = b""
    mediaType: int = 0
    remoteMediaUrl: str = ""
    persistFlag: int = 0
    expireDuration: int = 0
    mentionedType: int = 0
    mentionedTargets: Tuple[str, ...] = ()

    @property
    def transparent(self) -> bool:
        """
        Whether this content is pushed without being stored, decided by
        content type as upstream's store does (docs/decisions.md).
        """
        return self.type in TRANSPARENT_TYPES


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Message:
    """
    A chat message.

    @ivar messageUid: the server-assigned message uid (0 before it is assigned).
    @ivar timestamp: server time in ms (0 before it is assigned).
    @ivar toUser: TCP C{to_user} / WS C{to}.
    @ivar to: TCP repeated C{to} / WS C{tos}.
    @ivar localId: the sending device's local id, for idempotency (or None).
    """

    conversation: Conversation
    fromUser: str
    content: MessageContent
    messageUid: int = 0
    timestamp: int = 0
    toUser: str = ""
    to: Tuple[str, ...] = ()
    localId: Optional[int] = None


@attr.s(frozen=True, slots=True, auto_attribs=True)
class User:
    userId: str
    name: str = ""
    displayName: str = ""
    portrait: str = ""
    mobile: str = ""
    email: str = ""
    address: str = ""
    company: str = ""
    extra: str = ""
    updateDt: int = 0
    gender: int = 0
    social: str = ""
    type: int = 0
    #: L{UserStatus}: server-side only, never on the wire.
    status: int = 0
    #: Whether US (search) may find this user: server-side only.
    searchable: bool = True


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Session:
    """
    A logged-in device: one per (uid, cid), created at login and removed at
    logout (DISCONNECT with clearSession 1) or revocation.

    @ivar secret: 16 printable characters; the AES key of the device's
        CONNECT password.
    @ivar dbSecret: the third part of the token (opaque to clients).
    """

    userId: str
    cid: str
    secret: str
    dbSecret: str
    createdAt: int
    expiresAt: int
    platform: int = 0


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Friend:
    userId: str
    state: int
    updateDt: int
    alias: str = ""


@attr.s(frozen=True, slots=True, auto_attribs=True)
class FriendRequest:
    fromUid: str
    toUid: str
    reason: str
    status: int
    updateDt: int
    fromReadStatus: bool = False
    toReadStatus: bool = False


@attr.s(frozen=True, slots=True, auto_attribs=True)
class GroupInfo:
    targetId: str
    name: str
    portrait: str = ""
    owner: str = ""
    type: int = 0
    memberCount: int = 0
    extra: str = ""
    updateDt: int = 0
    memberUpdateDt: int = 0


@attr.s(frozen=True, slots=True, auto_attribs=True)
class GroupMember:
    memberId: str
    alias: str = ""
    type: int = 0
    updateDt: int = 0
