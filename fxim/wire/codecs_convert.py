# -*- test-case-name: fxim.test.unit.test_codecs -*-
"""
Conversions shared by the commands (L{fxim.protocol}), server and client
side alike: domain records to and from the
C{im.*} protobuf messages, and to and from the web client's JSON shapes,
plus strict coercion helpers for JSON values.

Every C{*FromPb} and C{*FromJson} function raises L{WireError} (or lets a
C{ValueError}/C{TypeError}/C{UnicodeError} escape, which the commands turn
into L{WireError}) on input that does not fit.
"""

import base64
import binascii
import json
from typing import Any, Callable, Dict, Optional, Tuple

from fxim.errors import WireError
from fxim.wire import sanitize
from fxim.wire.sanitize import MAX_JSON_DEPTH, checkValue
from fxim.model import (
    Conversation, Friend, FriendRequest, GroupInfo, GroupMember, Message,
    MessageContent, User,
)
from fxim.wire import im_pb2 as pb

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

#: Compact JSON without null dropping, for dicts built without nulls (hot
#: paths); gives the same text as L{fxim.wire.envelope.dumpContent} there.
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


# -- JSON value coercion ------------------------------------------------------

def jobj(value: Any, what: str = "content") -> Dict[str, Any]:
    """
    C{value} if it is a JSON object.

    @raise WireError: otherwise.
    """
    if type(value) is not dict:
        raise WireError(f"{what} is not an object")
    return value


def jlist(value: Any, what: str = "content", default: Optional[list] = None) -> list:
    """
    C{value} if it is a JSON array; C{default} (if given) for null/absent.

    @raise WireError: otherwise.
    """
    if value is None and default is not None:
        return default
    if type(value) is not list:
        raise WireError(f"{what} is not an array")
    return value


def jint(value: Any, default: int = 0, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int:
    """
    A JSON number (or decimal string, or boolean, as fastjson accepts) as an
    C{int} in C{[lo, hi]}; C{default} for null.

    @raise WireError: for other types, fractions and out-of-range values.
    """
    t = type(value)
    if t is int:
        n = value
    elif value is None:
        return default
    elif t is str:
        s = value.strip()
        if not s:
            return default
        if len(s) > 24 or not (s.isascii() and (
                s.isdigit() or (s[0] in "+-" and s[1:].isdigit()))):
            raise WireError(f"not an integer: {value[:40]!r}")
        n = int(s)
    elif t is bool:
        n = int(value)
    elif t is float:
        if not value.is_integer():
            raise WireError(f"not an integer: {value!r}")
        n = int(value)
    else:
        raise WireError(f"not an integer: {t.__name__}")
    if not lo <= n <= hi:
        raise WireError(f"integer out of range: {n}")
    return n


def jint32(value: Any, default: int = 0) -> int:
    """
    L{jint} limited to the int32 range.
    """
    return jint(value, default, INT32_MIN, INT32_MAX)


def jstr(value: Any, default: str = "") -> str:
    """
    A JSON string (an integer is turned into its decimal text, as fastjson
    does for C{String} fields); C{default} for null.

    @raise WireError: for other types or text that is not valid Unicode
        (lone surrogates).
    """
    t = type(value)
    if t is str:
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise WireError("string is not valid Unicode") from None
        return value
    if value is None:
        return default
    if t is int:
        return str(value)
    raise WireError(f"not a string: {t.__name__}")


def jstrs(value: Any, what: str = "array") -> Tuple[str, ...]:
    """
    A JSON array of strings (null or absent: empty).
    """
    return tuple(jstr(v) for v in jlist(value, what, []))


def jints32(value: Any, what: str = "array") -> Tuple[int, ...]:
    """
    A JSON array of int32 (null or absent: empty).
    """
    return tuple(jint32(v) for v in jlist(value, what, []))


def jbytes(value: Any) -> bytes:
    """
    Standard Base64 text (padding optional) to bytes; null or C{""} is
    empty.
    """
    s = jstr(value)
    if not s:
        return b""
    if not s.isascii():
        raise WireError("bad base64")
    s = s.strip()
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise WireError("bad base64") from None


def b64(data: bytes) -> str:
    """
    Standard Base64 text of C{data}.
    """
    return base64.b64encode(data).decode("ascii")


def loadsJson(body: bytes) -> Any:
    """
    Parse a UTF-8 JSON body.

    @raise WireError: for bad UTF-8 or bad JSON.
    """
    try:
        value = json.loads(bytes(body).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise WireError(f"bad JSON body: {e}") from None
    deep = checkValue(value, MAX_JSON_DEPTH, nul=False)
    if deep is not None:
        raise WireError(deep)
    return value


# -- protobuf helpers ---------------------------------------------------------

def ps(value: Any) -> str:
    """
    A proto2 string field's value; upb hands back C{bytes} for invalid
    UTF-8, which is refused here.
    """
    if type(value) is not str:
        raise WireError(_NOT_UTF8)
    return value


_NOT_UTF8 = "protobuf string is not valid UTF-8"


def pss(values: Any) -> Tuple[str, ...]:
    """
    A repeated string field as a tuple of valid strings.
    """
    return tuple(ps(v) for v in values)


def parsePb(cls: Any, body: bytes) -> Any:
    """
    Parse C{body} as C{cls}, insisting on its required fields.

    @raise WireError: if the body is not a complete C{cls}.
    """
    msg = cls()
    msg.ParseFromString(body)
    if not msg.IsInitialized():
        raise WireError(f"{cls.__name__}: missing required fields")
    # Refuse long id lists before converting them (the costly part).
    cap = sanitize.requestItemCap
    if cap is not None:
        names = _REPEATED.get(cls)
        for name in names if names is not None else _repeatedOf(cls):
            count = len(getattr(msg, name))
            if count > cap:
                raise sanitize.TooManyItems(f"{cls.__name__}.{name}: {count} items > {cap}")
    return msg


#: Message class -> the names of its repeated fields.
_REPEATED: Dict[Any, Tuple[str, ...]] = {}


def _repeatedOf(cls: Any) -> Tuple[str, ...]:
    names = _REPEATED.get(cls)
    if names is None:
        names = _REPEATED[cls] = tuple(f.name for f in cls.DESCRIPTOR.fields
                                       if f.label == f.LABEL_REPEATED)
    return names


# -- records <-> protobuf -----------------------------------------------------

def conversationFromPb(m: Any) -> Conversation:
    return Conversation(m.type, ps(m.target), m.line)


def conversationToPb(c: Conversation, m: Any) -> None:
    m.type = c.type
    m.target = c.target
    m.line = c.line


def contentFromPb(m: Any) -> MessageContent:
    # ps()'s check, inline: every MS builds one.
    targets = tuple(m.mentioned_target)
    strings = (m.searchable_content, m.push_content, m.content, m.remoteMediaUrl)
    for value in strings + targets:
        if type(value) is not str:
            raise WireError(_NOT_UTF8)
    return MessageContent(
        m.type, strings[0], strings[1], strings[2], m.data, m.mediaType, strings[3],
        m.persist_flag, m.expire_duration, m.mentioned_type, targets,
    )


def contentToPb(c: MessageContent, m: Any) -> None:
    m.type = c.type
    if c.searchableContent:
        m.searchable_content = c.searchableContent
    if c.pushContent:
        m.push_content = c.pushContent
    if c.content:
        m.content = c.content
    if c.data:
        m.data = c.data
    if c.mediaType:
        m.mediaType = c.mediaType
    if c.remoteMediaUrl:
        m.remoteMediaUrl = c.remoteMediaUrl
    if c.persistFlag:
        m.persist_flag = c.persistFlag
    if c.expireDuration:
        m.expire_duration = c.expireDuration
    if c.mentionedType:
        m.mentioned_type = c.mentionedType
    if c.mentionedTargets:
        m.mentioned_target.extend(c.mentionedTargets)


def messageFromPb(m: Any) -> Message:
    # ps()'s check and conversationFromPb, inline: every MS builds one.
    c = m.conversation
    to = tuple(m.to)
    for value in (c.target, m.from_user, m.to_user) + to:
        if type(value) is not str:
            raise WireError(_NOT_UTF8)
    return Message(
        Conversation(c.type, c.target, c.line), m.from_user,
        contentFromPb(m.content), m.message_id, m.server_timestamp, m.to_user, to,
        m.local_message_id if m.HasField("local_message_id") else None,
    )


def messageToPb(msg: Message, m: Any) -> None:
    """
    Fill C{m} (an C{im.Message}) from C{msg}; required fields are always
    written, C{message_id} and C{server_timestamp} too.
    """
    # conversationToPb, inline: every pulled message runs this.
    c, mc = msg.conversation, m.conversation
    mc.type, mc.target, mc.line = c.type, c.target, c.line
    m.from_user = msg.fromUser
    contentToPb(msg.content, m.content)
    m.message_id = msg.messageUid
    m.server_timestamp = msg.timestamp
    if msg.toUser:
        m.to_user = msg.toUser
    if msg.to:
        m.to.extend(msg.to)
    if msg.localId is not None:
        m.local_message_id = msg.localId


def optionalContentFromPb(m: Any, field: str = "notify_content") -> Optional[MessageContent]:
    return contentFromPb(getattr(m, field)) if m.HasField(field) else None


def userFromPb(m: Any) -> User:
    return User(
        userId=ps(m.uid), name=ps(m.name), displayName=ps(m.display_name),
        portrait=ps(m.portrait), mobile=ps(m.mobile), email=ps(m.email),
        address=ps(m.address), company=ps(m.company), extra=ps(m.extra),
        updateDt=m.update_dt, gender=m.gender, social=ps(m.social), type=m.type,
    )


def userToPb(u: User, m: Any) -> None:
    m.uid = u.userId
    m.name = u.name
    m.display_name = u.displayName
    m.portrait = u.portrait
    m.mobile = u.mobile
    m.email = u.email
    m.address = u.address
    m.company = u.company
    m.extra = u.extra
    m.update_dt = u.updateDt
    m.gender = u.gender
    m.social = u.social
    m.type = u.type


def friendFromPb(m: Any) -> Friend:
    return Friend(ps(m.uid), m.state, m.update_dt, ps(m.alias))


def friendToPb(f: Friend, m: Any) -> None:
    m.uid = f.userId
    m.state = f.state
    m.update_dt = f.updateDt
    m.alias = f.alias


def friendRequestFromPb(m: Any) -> FriendRequest:
    return FriendRequest(ps(m.from_uid), ps(m.to_uid), ps(m.reason), m.status,
                         m.update_dt, m.from_read_status, m.to_read_status)


def friendRequestToPb(r: FriendRequest, m: Any) -> None:
    m.from_uid = r.fromUid
    m.to_uid = r.toUid
    m.reason = r.reason
    m.status = r.status
    m.update_dt = r.updateDt
    m.from_read_status = r.fromReadStatus
    m.to_read_status = r.toReadStatus


def groupInfoFromPb(m: Any) -> GroupInfo:
    return GroupInfo(ps(m.target_id), ps(m.name), ps(m.portrait), ps(m.owner),
                     m.type, m.member_count, ps(m.extra), m.update_dt,
                     m.member_update_dt)


def groupInfoToPb(g: GroupInfo, m: Any) -> None:
    m.target_id = g.targetId
    m.name = g.name
    m.portrait = g.portrait
    m.owner = g.owner
    m.type = g.type
    m.member_count = g.memberCount
    m.extra = g.extra
    m.update_dt = g.updateDt
    m.member_update_dt = g.memberUpdateDt


def groupMemberFromPb(m: Any) -> GroupMember:
    return GroupMember(ps(m.memberId), ps(m.alias), m.type, m.update_dt)


def groupMemberToPb(g: GroupMember, m: Any) -> None:
    m.memberId = g.memberId
    m.alias = g.alias
    m.type = g.type
    m.update_dt = g.updateDt


# -- records <-> web JSON -----------------------------------------------------

def contentToJson(c: MessageContent) -> Dict[str, Any]:
    """
    MessageConentResponse: proto defaults present, C{binaryContent} (Base64
    of C{data}) and C{mentionedTargets} only when non-empty; fxim adds
    C{persistFlag}/C{expireDuration} when non-zero (the web client ignores
    them).
    """
    d: Dict[str, Any] = {
        "type": c.type,
        "searchableContent": c.searchableContent,
        "pushContent": c.pushContent,
        "content": c.content,
    }
    if c.data:
        d["binaryContent"] = b64(c.data)
    d["mediaType"] = c.mediaType
    d["remoteMediaUrl"] = c.remoteMediaUrl
    d["mentionedType"] = c.mentionedType
    if c.mentionedTargets:
        d["mentionedTargets"] = list(c.mentionedTargets)
    if c.persistFlag:
        d["persistFlag"] = c.persistFlag
    if c.expireDuration:
        d["expireDuration"] = c.expireDuration
    return d


def contentFromJson(value: Any) -> MessageContent:
    """
    The web client's message C{content} object.
    """
    o = jobj(value, "message content")
    return MessageContent(
        type=jint32(o.get("type")),
        searchableContent=jstr(o.get("searchableContent")),
        pushContent=jstr(o.get("pushContent")),
        content=jstr(o.get("content")),
        data=jbytes(o.get("binaryContent")),
        mediaType=jint32(o.get("mediaType")),
        remoteMediaUrl=jstr(o.get("remoteMediaUrl")),
        persistFlag=jint32(o.get("persistFlag")),
        expireDuration=jint32(o.get("expireDuration")),
        mentionedType=jint32(o.get("mentionedType")),
        mentionedTargets=jstrs(o.get("mentionedTargets"), "mentionedTargets"),
    )


def optionalContentFromJson(value: Any) -> Optional[MessageContent]:
    return None if value is None else contentFromJson(value)


def messageToJson(m: Message) -> Dict[str, Any]:
    """
    A stored message as the web client reads it in pull results:
    C{messageId} is the server uid (a number), C{to}/C{tos} only when set.
    """
    c = m.conversation
    d: Dict[str, Any] = {
        "content": contentToJson(m.content),
        "conversationType": c.type,
        "target": c.target,
        "line": c.line,
        "from": m.fromUser,
        "messageId": m.messageUid,
        "timestamp": m.timestamp,
        "direction": 0,
        "status": 0,
        "messageUid": 0,
    }
    if m.toUser:
        d["to"] = m.toUser
    if m.to:
        d["tos"] = list(m.to)
    if m.localId:
        # A string: the web client compares it with === against the
        # decimal string it generated (often above 2^53).
        d["localMessageId"] = str(m.localId)
    return d


def jlocalId(value: Any) -> Optional[int]:
    """
    A client's local message id: a JSON string or number, C{""}, C{"0"}
    or null meaning none.

    @raise WireError: for anything else (not a decimal integer, or out of
        the int64 range).
    """
    n = jint(value)
    return n if n else None


def jtos(value: Any) -> Tuple[str, ...]:
    """
    The C{tos} receiver list: an array of uids; null, absent or C{""}
    (what the newer web client sends when there is none) is empty.
    """
    if value == "":
        return ()
    return jstrs(value, "tos")


def messageFromJson(value: Any, pulled: bool) -> Message:
    """
    A MessageResponse object.

    @param pulled: C{True} for a message in a pull result (C{messageId} is
        the server uid), C{False} for an MS request (C{messageId} is the
        client's local id, C{messageUid} the uid).
    """
    o = jobj(value, "message")
    content = o.get("content")
    if content is None:
        raise WireError("message without content")
    conversation = Conversation(jint32(o.get("conversationType")),
                                jstr(o.get("target")), jint32(o.get("line")))
    if pulled:
        messageUid = jint(o.get("messageId"))
        localId = jlocalId(o.get("localMessageId"))
    else:
        messageUid = jint(o.get("messageUid"))
        # The 2020 web client sends the local id as messageId (a number);
        # the newer one sends it as a string in both messageId and
        # localMessageId.
        localId = jlocalId(o.get("localMessageId"))
        if localId is None:
            localId = jlocalId(o.get("messageId"))
    return Message(
        conversation, jstr(o.get("from")), contentFromJson(content),
        messageUid, jint(o.get("timestamp")), jstr(o.get("to")),
        jtos(o.get("tos")), localId,
    )


def userToJson(u: User) -> Dict[str, Any]:
    """
    UserResponse.
    """
    return {
        "uid": u.userId, "name": u.name, "displayName": u.displayName,
        "gender": u.gender, "portrait": u.portrait, "mobile": u.mobile,
        "email": u.email, "address": u.address, "company": u.company,
        "social": u.social, "extra": u.extra, "type": u.type,
        "updateDt": u.updateDt,
    }


def userFromJson(value: Any) -> User:
    o = jobj(value, "user")
    return User(
        userId=jstr(o.get("uid")), name=jstr(o.get("name")),
        displayName=jstr(o.get("displayName")), portrait=jstr(o.get("portrait")),
        mobile=jstr(o.get("mobile")), email=jstr(o.get("email")),
        address=jstr(o.get("address")), company=jstr(o.get("company")),
        extra=jstr(o.get("extra")), updateDt=jint(o.get("updateDt")),
        gender=jint32(o.get("gender")), social=jstr(o.get("social")),
        type=jint32(o.get("type")),
    )


def friendToJson(f: Friend) -> Dict[str, Any]:
    return {"alias": f.alias, "friendUid": f.userId, "state": f.state,
            "timestamp": f.updateDt}


def friendFromJson(value: Any) -> Friend:
    o = jobj(value, "friend")
    return Friend(jstr(o.get("friendUid")), jint32(o.get("state")),
                  jint(o.get("timestamp")), jstr(o.get("alias")))


def friendRequestToJson(r: FriendRequest) -> Dict[str, Any]:
    return {"direction": 0, "from": r.fromUid, "target": r.toUid,
            "reason": r.reason, "status": r.status, "readStatus": 0,
            "timestamp": r.updateDt}


def friendRequestFromJson(value: Any) -> FriendRequest:
    o = jobj(value, "friend request")
    return FriendRequest(jstr(o.get("from")), jstr(o.get("target")),
                         jstr(o.get("reason")), jint32(o.get("status")),
                         jint(o.get("timestamp")))


def groupInfoToJson(g: GroupInfo) -> Dict[str, Any]:
    return {"target": g.targetId, "name": g.name, "portrait": g.portrait,
            "owner": g.owner, "type": g.type, "memberCount": g.memberCount,
            "extra": g.extra, "updateDt": g.updateDt}


def groupInfoFromJson(value: Any) -> GroupInfo:
    o = jobj(value, "group info")
    return GroupInfo(jstr(o.get("target")), jstr(o.get("name")),
                     jstr(o.get("portrait")), jstr(o.get("owner")),
                     jint32(o.get("type")), jint32(o.get("memberCount")),
                     jstr(o.get("extra")), jint(o.get("updateDt")))


def groupMemberToJson(g: GroupMember) -> Dict[str, Any]:
    return {"memberId": g.memberId, "alias": g.alias, "type": g.type,
            "updateDt": g.updateDt}


def groupMemberFromJson(value: Any) -> GroupMember:
    o = jobj(value, "group member")
    return GroupMember(jstr(o.get("memberId")), jstr(o.get("alias")),
                       jint32(o.get("type")), jint(o.get("updateDt")))


def messagePieceJson(m: Message) -> str:
    """
    One message as L{pullResultJson} lists it (its JSON text).
    """
    return dumps(messageToJson(m))


def pullResultJson(messages: Any, current: int, head: int, pieces: Any = ()) -> str:
    """
    The MP result text C{{"current","head","messageCount","messageResponseList"}}.

    @param pieces: the messages' L{messagePieceJson} texts when the reply
        size was already measured with them (so they are encoded once).
    """
    if len(pieces) != len(messages) or not messages or type(pieces[0]) is not str:
        pieces = [messagePieceJson(m) for m in messages]
    # What dumps() writes for the dict of these four keys, in this order.
    return '{"current":"%d","head":"%d","messageCount":%d,"messageResponseList":[%s]}' % (
        current, head, len(messages), ",".join(pieces))


def messagePiecePb(m: Message) -> bytes:
    """
    One message as it lies in a serialised C{PullMessageResult}: its
    field tag, its length and its body.
    """
    r = pb.PullMessageResult()
    messageToPb(m, r.message.add())
    return r.SerializePartialToString()


def pullResultPb(messages: Any, current: int, head: int, pieces: Any = ()) -> bytes:
    """
    A serialised C{PullMessageResult}: the messages (field 1) then the
    cursors (fields 2 and 3), as protobuf writes them in field order.

    @param pieces: the messages' L{messagePiecePb} bytes when the reply
        size was already measured with them (so they are encoded once).
    """
    cursors = pb.PullMessageResult(current=current, head=head).SerializeToString()
    if len(pieces) == len(messages) and messages and type(pieces[0]) is bytes:
        return b"".join(pieces) + cursors
    return b"".join(messagePiecePb(m) for m in messages) + cursors


def messagesFromJsonList(value: Any) -> Tuple[Message, ...]:
    return tuple(messageFromJson(m, True) for m in jlist(value, "messageResponseList", []))


# -- record lists (command response encoders and client decoders) -----------

def pb_(cls: Any, **fields: Any) -> bytes:
    """
    The serialised protobuf C{cls(**fields)}.
    """
    return cls(**fields).SerializeToString()


def pbList(cls: Any, field: str, records: Callable[[Any], Any],
           toPb: Callable[[Any, Any], None]) -> Callable[[Any], bytes]:
    """
    A response encoder filling the repeated C{field} of a new C{cls} with
    C{records(response)}.
    """
    def encode(response: Any) -> bytes:
        message = cls()
        add = getattr(message, field).add
        for record in records(response):
            toPb(record, add())
        return message.SerializeToString()
    return encode


def jsonList(records: Callable[[Any], Any], toJson: Callable[[Any], Any]) -> Callable[[Any], str]:
    """
    A response encoder rendering C{records(response)} as a JSON array.
    """
    return lambda response: dumps([toJson(r) for r in records(response)])


def pbRecords(cls: Any, field: str, build: Callable[[Any], Any],
              fromPb: Callable[[Any], Any]) -> Callable[[bytes], Any]:
    """
    A client reply decoder: C{build} of the converted repeated C{field}.
    """
    return lambda body: build(tuple(fromPb(x) for x in getattr(parsePb(cls, body), field)))


def jsonRecords(build: Callable[[Any], Any], fromJson: Callable[[Any], Any],
                what: str = "content") -> Callable[[Any], Any]:
    """
    A client reply decoder: C{build} of the converted JSON array (C{what}
    names it in the error for anything else).
    """
    return lambda v: build(tuple(fromJson(x) for x in jlist(v, what)))
