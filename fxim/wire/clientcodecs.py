# -*- test-case-name: fxim.test.test_codecs -*-
"""
The client side of L{fxim.wire.codecs}: encode typed requests as the real
clients do (the Java TCP SDK's protobuf bodies, the web client's JSON
C{content}) and decode the server's replies and pushes back into typed
objects.  Used by the Python client SDK, end-to-end tests and the codec
round-trip tests.

What a transport cannot carry is lost on the way back, exactly as with the
real clients: on WebSocket a C{PullUsers} update time, a
C{MessageNotify.target}, a group's
C{memberUpdateDt}, friend-request read flags and the extra ConnectAck heads.
"""

import json
import struct
from typing import Any, Callable, Dict, Optional, Tuple

from fxim.errors import WireError
from fxim.wire import extensions, im_pb2 as pb
from fxim.wire.codecs_convert import (
    contentToJson, contentToPb, conversationToPb, dumps, friendFromJson,
    friendFromPb, friendRequestFromJson, friendRequestFromPb,
    groupInfoFromJson, groupInfoFromPb, groupInfoToJson, groupInfoToPb,
    groupMemberFromJson, groupMemberFromPb, groupMemberToJson,
    groupMemberToPb, jint, jlist, jobj, jstr, loadsJson, messageFromPb,
    messageToPb, messagesFromJsonList, parsePb, ps, userFromJson, userFromPb,
)
from fxim.wire.envelope import Envelope, decodeEnvelope, subSignalName
from fxim.wire.frame import Frame, encodeFrame
from fxim.wire.requests import (
    AddFriend, AddGroupMembers, ConnectAck, ConnectRequest, CreateGroup,
    DisconnectRequest, DismissGroup, FriendList, FriendNotify,
    FriendRequestList, FriendRequestNotify, GetUploadToken, GetUploadUrl,
    GroupCreated, GroupInfoList, GroupMemberList, HandleFriendRequest,
    HistoryResult, JsonRequest, KickGroupMembers, LoadHistory, MessageNotify,
    ModifyGroupInfo, ModifyMyInfo, PingReply, PingRequest, PluginPush,
    PullFriendRequests, PullFriends, PullGroupInfo, PullGroupMembers,
    PullMessages, PullResult, PullUsers, PullUsersResult, QuitGroup,
    RecallMessage, RecallNotify, SearchUsers, SendMessage, SendResult,
    SetFriendAlias, SyncFriendRequestUnread, TransparentMessage, UploadToken,
    UploadUrl, UserList,
)
from fxim.wire.signals import PLUGIN_SUBSIGNALS, Signal, SubSignal

__all__ = [
    "requestKey", "encodeRequestTcp", "encodeRequestWs", "encodeRequestFrame",
    "encodeRequestEnvelope", "decodeReplyTcp", "decodeReplyWs",
    "decodeReplyFrame", "decodePushTcp", "decodePushWs", "decodeServerEnvelope",
    "isPush",
]

_INT64 = struct.Struct(">q")
_MS_ACK = struct.Struct(">qq")
S = SubSignal


def _pb(cls: Any, **fields: Any) -> bytes:
    return cls(**fields).SerializeToString()


def _notify(msg: Any, field: str, content: Any) -> None:
    if content is not None:
        contentToPb(content, getattr(msg, field))


def _groupOpJson(d: Dict[str, Any], r: Any) -> Dict[str, Any]:
    if r.toLines:
        d["lines"] = list(r.toLines)
    if r.notifyContent is not None:
        d["notifyContent"] = contentToJson(r.notifyContent)
    return d


# -- request encoders ---------------------------------------------------------

def _connectTcp(r: ConnectRequest) -> bytes:
    # fastjson with alphabetical keys, as the Java SDK sends it.
    return dumps({"clientIdentifier": r.clientIdentifier, "password": r.password,
                  "userName": r.userName}).encode("utf-8")


def _msTcp(r: SendMessage) -> bytes:
    m = pb.Message()
    messageToPb(r.message, m)
    return m.SerializeToString()


def _msWs(r: SendMessage) -> Dict[str, Any]:
    m = r.message
    c = m.conversation
    d: Dict[str, Any] = {
        "conversationType": c.type, "target": c.target, "line": c.line,
        "from": m.fromUser, "content": contentToJson(m.content),
    }
    if m.localId is not None:
        d["messageId"] = m.localId
    d.update({"direction": 0, "status": 0, "messageUid": m.uid,
              "timestamp": m.timestamp, "to": m.toUser})
    if m.to:
        d["tos"] = list(m.to)
    return d


def _lrmTcp(r: LoadHistory) -> bytes:
    m = pb.LoadRemoteMessages(before_uid=r.beforeUid, count=r.count)
    conversationToPb(r.conversation, m.conversation)
    return m.SerializeToString()


def _gcTcp(r: CreateGroup) -> bytes:
    m = pb.CreateGroupRequest()
    groupInfoToPb(r.info, m.group.group_info)
    for member in r.members:
        groupMemberToPb(member, m.group.members.add())
    m.to_line.extend(r.toLines)
    _notify(m, "notify_content", r.notifyContent)
    return m.SerializeToString()


def _gcWs(r: CreateGroup) -> Dict[str, Any]:
    return _groupOpJson({"groupInfo": groupInfoToJson(r.info),
                         "groupMembers": [groupMemberToJson(x) for x in r.members]}, r)


def _gamTcp(r: AddGroupMembers) -> bytes:
    m = pb.AddGroupMemberRequest(group_id=r.groupId, to_line=r.toLines)
    for member in r.members:
        groupMemberToPb(member, m.added_member.add())
    _notify(m, "notify_content", r.notifyContent)
    return m.SerializeToString()


def _groupTcp(cls: Any, **extra: Callable[[Any], Any]) -> Callable[[Any], bytes]:
    def encode(r: Any) -> bytes:
        m = cls(group_id=r.groupId, to_line=r.toLines,
                **{k: f(r) for k, f in extra.items()})
        _notify(m, "notify_content", r.notifyContent)
        return m.SerializeToString()
    return encode


def _frpWs(r: PullFriendRequests) -> Dict[str, Any]:
    # The server subtracts 1000 from what the web client sends.
    return {"version": None if r.version <= 0 else str(r.version + 1000)}


def _mmiWs(r: ModifyMyInfo) -> Any:
    entries = [{"type": t, "value": v} for t, v in r.entries]
    return entries[0] if len(entries) == 1 else entries


def _jsonTcp(r: JsonRequest) -> bytes:
    return b"" if r.value is None else dumps(r.value).encode("utf-8")


_Enc = Tuple[int, int, Callable[[Any], bytes], Callable[[Any], Any]]

_REQUESTS: Dict[type, _Enc] = {
    ConnectRequest: (Signal.CONNECT, S.NONE, _connectTcp, lambda r: {
        "userName": r.userName, "password": r.password,
        "clientIdentifier": r.clientIdentifier}),
    PingRequest: (Signal.PING, S.NONE,
                  lambda r: b"" if r.interval is None else b'{"interval":%d}' % r.interval,
                  lambda r: {"interval": r.interval}),
    DisconnectRequest: (Signal.DISCONNECT, S.NONE,
                        lambda r: b"\x01" if r.clearSession else b"\x00",
                        lambda r: {"clearSession": 1 if r.clearSession else 0}),
    SendMessage: (Signal.PUBLISH, S.MS, _msTcp, _msWs),
    PullMessages: (Signal.PUBLISH, S.MP,
                   lambda r: _pb(pb.PullMessageRequest, id=r.afterSeq, type=r.pullType),
                   lambda r: {"messageId": str(r.afterSeq), "type": r.pullType,
                              "pullType": 0, "sendMessageCount": 0}),
    RecallMessage: (Signal.PUBLISH, S.MR, lambda r: _pb(pb.INT64Buf, id=r.uid),
                    lambda r: {"messageUid": str(r.uid)}),
    LoadHistory: (Signal.PUBLISH, S.LRM, _lrmTcp, lambda r: {
        "beforeUid": str(r.beforeUid), "count": r.count,
        "conversation": {"conversationType": r.conversation.type,
                         "target": r.conversation.target,
                         "line": r.conversation.line}}),
    SearchUsers: (Signal.PUBLISH, S.US,
                  lambda r: _pb(pb.SearchUserRequest, keyword=r.keyword, fuzzy=r.fuzzy,
                                page=r.page),
                  lambda r: {"keyword": r.keyword, "fuzzy": r.fuzzy, "page": r.page}),
    PullUsers: (Signal.PUBLISH, S.UPUI,
                lambda r: _pb(pb.PullUserRequest, request=[
                    pb.UserRequest(uid=uid, update_dt=dt) for uid, dt in r.requests]),
                lambda r: [uid for uid, _ in r.requests]),
    ModifyMyInfo: (Signal.PUBLISH, S.MMI,
                   lambda r: _pb(pb.ModifyMyInfoRequest, entry=[
                       pb.InfoEntry(type=t, value=v) for t, v in r.entries]),
                   _mmiWs),
    AddFriend: (Signal.PUBLISH, S.FAR,
                lambda r: _pb(pb.AddFriendRequest, target_uid=r.targetUid, reason=r.reason),
                lambda r: {"reason": r.reason, "targetUserId": r.targetUid}),
    SetFriendAlias: (Signal.PUBLISH, S.FALS,
                     lambda r: _pb(pb.AddFriendRequest, target_uid=r.targetUid,
                                   reason=r.alias),
                     lambda r: {"reason": r.alias, "targetUserId": r.targetUid}),
    HandleFriendRequest: (Signal.PUBLISH, S.FHR,
                          lambda r: _pb(pb.HandleFriendRequest, target_uid=r.targetUid,
                                        status=r.status),
                          lambda r: {"targetUid": r.targetUid, "status": r.status}),
    PullFriendRequests: (Signal.PUBLISH, S.FRP,
                         lambda r: _pb(pb.Version, version=r.version), _frpWs),
    SyncFriendRequestUnread: (Signal.PUBLISH, S.FRUS,
                              lambda r: _pb(pb.Version, version=r.version),
                              lambda r: {"version": r.version}),
    PullFriends: (Signal.PUBLISH, S.FP, lambda r: _pb(pb.Version, version=r.version),
                  lambda r: {"version": r.version}),
    CreateGroup: (Signal.PUBLISH, S.GC, _gcTcp, _gcWs),
    PullGroupInfo: (Signal.PUBLISH, S.GPGI,
                    lambda r: _pb(pb.PullUserRequest, request=[
                        pb.UserRequest(uid=g) for g in r.groupIds]),
                    lambda r: list(r.groupIds)),
    PullGroupMembers: (Signal.PUBLISH, S.GPGM,
                       lambda r: _pb(pb.PullGroupMemberRequest, target=r.groupId,
                                     head=r.head),
                       lambda r: {"groupId": r.groupId, "version": r.head}),
    AddGroupMembers: (Signal.PUBLISH, S.GAM, _gamTcp, lambda r: _groupOpJson({
        "groupId": r.groupId,
        "groupMembers": [groupMemberToJson(x) for x in r.members]}, r)),
    KickGroupMembers: (Signal.PUBLISH, S.GKM,
                       _groupTcp(pb.RemoveGroupMemberRequest,
                                 removed_member=lambda r: r.memberIds),
                       lambda r: _groupOpJson({"groupId": r.groupId,
                                               "memberIds": list(r.memberIds)}, r)),
    QuitGroup: (Signal.PUBLISH, S.GQ, _groupTcp(pb.QuitGroupRequest),
                lambda r: _groupOpJson({"groupId": r.groupId}, r)),
    DismissGroup: (Signal.PUBLISH, S.GD, _groupTcp(pb.DismissGroupRequest),
                   lambda r: _groupOpJson({"groupId": r.groupId}, r)),
    ModifyGroupInfo: (Signal.PUBLISH, S.GMI,
                      _groupTcp(pb.ModifyGroupInfoRequest, type=lambda r: r.type,
                                value=lambda r: r.value),
                      lambda r: _groupOpJson({"groupId": r.groupId, "type": r.type,
                                              "value": r.value}, r)),
    GetUploadToken: (Signal.PUBLISH, S.GQNUT, lambda r: bytes((r.mediaType,)),
                     lambda r: {"mediaType": r.mediaType}),
    GetUploadUrl: (Signal.PUBLISH, S.GMURL,
                   lambda r: _pb(pb.GetMinioUploadUrlRequest, type=r.mediaType, key=r.key),
                   lambda r: {"mediaType": r.mediaType, "key": r.key}),
    JsonRequest: (Signal.PUBLISH, S.NONE, _jsonTcp, lambda r: r.value),
}
# i13: the newer clients' subsignals.
_REQUESTS.update(extensions.CLIENT_REQUESTS)


def _encoders(request: Any) -> _Enc:
    try:
        return _REQUESTS[type(request)]
    except KeyError:
        raise TypeError(f"not a request: {type(request).__name__}") from None


def requestKey(request: Any, subsignal: Optional[int] = None) -> Tuple[int, int]:
    """
    The (signal, subsignal) a request travels as; C{subsignal} is needed
    (and only used) for a plugin L{JsonRequest}.
    """
    signal, sub, _, _ = _encoders(request)
    if isinstance(request, JsonRequest):
        if subsignal is None:
            raise ValueError("a JsonRequest needs its plugin subsignal")
        sub = subsignal
    return int(signal), int(sub)


def encodeRequestTcp(request: Any) -> bytes:
    """
    The TCP body of a request, as the Java SDK writes it.
    """
    return _encoders(request)[2](request)


def encodeRequestWs(request: Any) -> Any:
    """
    The WebSocket C{content} value of a request, as the web client builds
    it (a dict or list, to be put in the envelope as is).
    """
    return _encoders(request)[3](request)


def encodeRequestFrame(request: Any, messageId: int, subsignal: Optional[int] = None) -> bytes:
    """
    A whole TCP frame for a request.
    """
    signal, sub = requestKey(request, subsignal)
    return encodeFrame(Frame(signal, sub, messageId, encodeRequestTcp(request)))


def encodeRequestEnvelope(request: Any, messageId: int, subsignal: Optional[int] = None) -> str:
    """
    A whole WebSocket text frame for a request, keys in the web client's
    order.
    """
    signal, sub = requestKey(request, subsignal)
    return json.dumps({"signal": Signal(signal).name, "subSignal": subSignalName(sub),
                       "messageId": messageId, "content": encodeRequestWs(request)},
                      ensure_ascii=False, separators=(",", ":"))


# -- reply decoders -----------------------------------------------------------

def _list(field: str, convert: Callable[[Any], Any]) -> Callable[[Any], Tuple[Any, ...]]:
    return lambda m: tuple(convert(x) for x in getattr(m, field))


def _pbReply(cls: Any, build: Callable[[Any], Any]) -> Callable[[bytes], Any]:
    return lambda body: build(parsePb(cls, body))


def _jsonArray(build: Callable[[Tuple[Any, ...]], Any],
               convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: build(tuple(convert(x) for x in jlist(v)))


def _msAck(body: bytes) -> SendResult:
    if len(body) != 16:
        raise WireError(f"MS ack body of {len(body)} bytes")
    return SendResult(*_MS_ACK.unpack(body))


def _pullWs(v: Any) -> PullResult:
    o = jobj(v)
    return PullResult(messagesFromJsonList(o.get("messageResponseList")),
                      jint(o.get("current")), jint(o.get("head")))


_Dec = Tuple[Optional[Callable[[bytes], Any]], Optional[Callable[[Any], Any]]]

#: subsignal -> (TCP body-after-code decoder, WS content decoder); L{None}
#: for a code-only reply on that transport.
_REPLIES: Dict[int, _Dec] = {
    S.MS: (_msAck, lambda v: SendResult(jint(jobj(v).get("messageId")),
                                        jint(v.get("timestamp")))),
    S.MP: (_pbReply(pb.PullMessageResult, lambda m: PullResult(
               _list("message", messageFromPb)(m), m.current, m.head)), _pullWs),
    S.LRM: (_pbReply(pb.PullMessageResult, lambda m: HistoryResult(
                _list("message", messageFromPb)(m))),
            lambda v: HistoryResult(messagesFromJsonList(jobj(v).get("messageResponseList")))),
    S.US: (_pbReply(pb.SearchUserResult, lambda m: UserList(_list("entry", userFromPb)(m))),
           _jsonArray(UserList, userFromJson)),
    S.UPUI: (_pbReply(pb.PullUserResult, lambda m: PullUsersResult(tuple(
                 (userFromPb(r.user), r.code) for r in m.result))),
             _jsonArray(PullUsersResult, lambda u: (userFromJson(u), 0))),
    S.FRP: (_pbReply(pb.GetFriendRequestResult, lambda m: FriendRequestList(
                _list("entry", friendRequestFromPb)(m))),
            _jsonArray(FriendRequestList, friendRequestFromJson)),
    S.FP: (_pbReply(pb.GetFriendsResult, lambda m: FriendList(_list("entry", friendFromPb)(m))),
           _jsonArray(FriendList, friendFromJson)),
    S.GC: (lambda body: GroupCreated(bytes(body).decode("utf-8")), None),
    S.GPGI: (_pbReply(pb.PullGroupInfoResult, lambda m: GroupInfoList(
                 _list("info", groupInfoFromPb)(m))),
             _jsonArray(GroupInfoList, groupInfoFromJson)),
    S.GPGM: (_pbReply(pb.PullGroupMemberResult, lambda m: GroupMemberList(
                 _list("member", groupMemberFromPb)(m))),
             _jsonArray(GroupMemberList, groupMemberFromJson)),
    S.GQNUT: (_pbReply(pb.GetUploadTokenResult, lambda m: UploadToken(
                  ps(m.domain), ps(m.token), ps(m.server), m.port)),
              lambda v: UploadToken(jstr(jobj(v).get("domain")), jstr(v.get("token")),
                                    jstr(v.get("server")), jint(v.get("port")))),
    S.GMURL: (_pbReply(pb.GetMinioUploadUrlResult, lambda m: UploadUrl(
                  ps(m.domain), ps(m.server), m.port, ps(m.url))),
              lambda v: UploadUrl(jstr(jobj(v).get("domain")), jstr(v.get("server")),
                                  jint(v.get("port")), jstr(v.get("url")))),
}
for _sub in (S.FAR, S.FALS, S.FHR, S.FRUS, S.GAM, S.GKM, S.GQ, S.GD, S.GMI, S.MMI, S.MR):
    _REPLIES[_sub] = (None, None)
_REPLIES.update(extensions.CLIENT_REPLIES)


def _guard(f: Callable[[], Any]) -> Any:
    try:
        return f()
    except WireError:
        raise
    except Exception as e:
        raise WireError(f"{type(e).__name__}: {e}") from None


def _connectAckTcp(subsignal: int, body: bytes) -> ConnectAck:
    if subsignal != S.CONNECTION_ACCEPTED or not body:
        return ConnectAck(subsignal)
    m = parsePb(pb.ConnectAckPayload, body)
    return ConnectAck(subsignal, m.msg_head, m.friend_head, m.friend_rq_head,
                      m.setting_head, m.server_time)


def _pingReply(body: bytes) -> PingReply:
    text = bytes(body).decode("utf-8")
    prefix = "ping back next interval "
    if not text.startswith(prefix):
        raise WireError(f"not a PING reply: {text[:40]!r}")
    return PingReply(jint(text[len(prefix):]))


def decodeReplyTcp(subsignal: int, body: bytes,
                   signal: int = Signal.PUB_ACK) -> Tuple[int, Any]:
    """
    Decode a reply frame's body.

    @param signal: C{PUB_ACK} (default), C{CONNECT_ACK} or C{PING}.
    @return: C{(code, response)}: the ErrorCode and the typed response
        (L{None} for a failure or a code-only reply).  For CONNECT_ACK the
        code is 0 and the result is L{ConnectAck.code}; for PING it is 0.
    @raise WireError: on a malformed body.
    """
    if signal == Signal.CONNECT_ACK:
        return 0, _guard(lambda: _connectAckTcp(subsignal, body))
    if signal == Signal.PING:
        return 0, _guard(lambda: _pingReply(body))
    if signal != Signal.PUB_ACK:
        raise WireError(f"signal {signal} is not a reply")
    if len(body) < 1:
        raise WireError("PUB_ACK without a code")
    code, rest = body[0], bytes(body[1:])
    if code != 0:
        return code, None
    if subsignal in PLUGIN_SUBSIGNALS:
        return 0, _guard(lambda: loadsJson(rest) if rest else None)
    decoders = _REPLIES.get(subsignal)
    if decoders is None:
        raise WireError(f"no reply decoder for subsignal {subsignal}")
    if decoders[0] is None:
        return 0, None
    return 0, _guard(lambda: decoders[0](rest))


def decodeReplyFrame(frame: Frame) -> Tuple[int, Any]:
    """
    L{decodeReplyTcp} for a whole L{Frame}.
    """
    return decodeReplyTcp(frame.subsignal, frame.body, frame.signal)


def _wsValue(contentText: Any) -> Any:
    if contentText is None or contentText == "":
        return None
    if type(contentText) is not str:
        raise WireError("content is not text")
    try:
        return json.loads(contentText)
    except (ValueError, RecursionError) as e:
        raise WireError(f"bad content JSON: {e}") from None


def decodeReplyWs(subsignal: int, contentText: Optional[str],
                  signal: int = Signal.PUB_ACK) -> Any:
    """
    Decode a reply envelope's raw C{content} text (not yet JSON-parsed).

    @param signal: C{PUB_ACK} (default) or C{CONNECT_ACK}.
    @return: the typed response; L{None} for C{""} (failure); for code-only
        subsignals the WsResult code, C{200} on success or C{400}.
    @raise WireError: on malformed content.
    """
    value = _wsValue(contentText)
    if signal == Signal.CONNECT_ACK:
        if subsignal != S.CONNECTION_ACCEPTED or value is None:
            return ConnectAck(subsignal)
        return _guard(lambda: ConnectAck(subsignal, jint(jobj(value).get("messageHead")),
                                         jint(value.get("friendHead"))))
    if signal != Signal.PUB_ACK:
        raise WireError(f"signal {signal} is not a reply")
    if subsignal in PLUGIN_SUBSIGNALS:
        return value
    decoders = _REPLIES.get(subsignal)
    if decoders is None:
        raise WireError(f"no reply decoder for subsignal {subsignal}")
    if value is None:
        return None
    if decoders[1] is None:
        return _guard(lambda: jint(jobj(value).get("code")))
    return _guard(lambda: decoders[1](value))


# -- pushes ---------------------------------------------------------------------

def isPush(signal: int, subsignal: int, messageId: int) -> bool:
    """
    Whether a server frame is a push rather than a reply: any PUBLISH, and
    the unsolicited PUB_ACK/MP with messageId 0 (transparent messages).
    """
    return signal == Signal.PUBLISH or (
        signal == Signal.PUB_ACK and subsignal == S.MP and messageId == 0)


def _transparentTcp(body: bytes) -> TransparentMessage:
    if body[:1] != b"\x00":
        raise WireError("transparent push with a non-zero code")
    m = parsePb(pb.PullMessageResult, body[1:])
    if len(m.message) != 1:
        raise WireError(f"transparent push with {len(m.message)} messages")
    return TransparentMessage(messageFromPb(m.message[0]))


def _pushTcp(frame: Frame) -> Any:
    sub, body = frame.subsignal, bytes(frame.body)
    if frame.signal == Signal.PUB_ACK and sub == S.MP and frame.messageId == 0:
        return _transparentTcp(body)
    if frame.signal != Signal.PUBLISH:
        raise WireError("not a push")
    if sub == S.MN:
        m = parsePb(pb.NotifyMessage, body)
        return MessageNotify(m.type, m.head, ps(m.target))
    if sub == S.RMN:
        m = parsePb(pb.NotifyRecallMessage, body)
        return RecallNotify(m.id, ps(m.from_user))
    if sub in (S.FN, S.FRN):
        if len(body) != 8:
            raise WireError(f"FN/FRN body of {len(body)} bytes")
        value = _INT64.unpack(body)[0]
        return FriendNotify(value) if sub == S.FN else FriendRequestNotify(value)
    if sub in PLUGIN_SUBSIGNALS:
        return PluginPush(sub, loadsJson(body) if body else None)
    newer = extensions.decodePushTcp(sub, body)
    if newer is not None:
        return newer
    raise WireError(f"unknown push subsignal {sub}")


def decodePushTcp(frame: Frame) -> Any:
    """
    Decode a server push frame (see L{isPush}).

    @raise WireError: if it is not a well-formed push.
    """
    return _guard(lambda: _pushTcp(frame))


def _pushWs(envelope: Envelope) -> Any:
    sub = envelope.subsignal
    value = _wsValue(envelope.content)
    if envelope.signal == Signal.PUB_ACK and sub == S.MP and envelope.messageId == 0:
        result = _pullWs(value)
        if len(result.messages) != 1:
            raise WireError(f"transparent push with {len(result.messages)} messages")
        return TransparentMessage(result.messages[0])
    if envelope.signal != Signal.PUBLISH:
        raise WireError("not a push")
    if sub == S.MN:
        o = jobj(value)
        return MessageNotify(jint(o.get("type")), jint(o.get("messageHead")))
    if sub == S.RMN:
        o = jobj(value)
        return RecallNotify(jint(o.get("messageUid")), jstr(o.get("fromUser")))
    if sub == S.FN:
        return FriendNotify(jint(jobj(value).get("head")))
    if sub == S.FRN:
        return FriendRequestNotify(jint(jobj(value).get("version")))
    if sub in PLUGIN_SUBSIGNALS:
        return PluginPush(sub, value)
    newer = extensions.decodePushWs(sub, value)
    if newer is not None:
        return newer
    raise WireError(f"unknown push subsignal {sub}")


def decodePushWs(envelope: Envelope) -> Any:
    """
    Decode a server push envelope whose C{content} is the raw JSON text
    (as L{decodeServerEnvelope} returns it).

    @raise WireError: if it is not a well-formed push.
    """
    return _guard(lambda: _pushWs(envelope))


def decodeServerEnvelope(text: str) -> Envelope:
    """
    Parse a server text frame, keeping C{content} as the raw JSON text (or
    L{None} when absent), unlike L{decodeEnvelope} which parses it.

    @raise WireError: for anything that is not a server envelope.
    """
    header = decodeEnvelope(text)
    try:
        raw = json.loads(text).get("content")
    except (ValueError, RecursionError) as e:  # pragma: no cover (decodeEnvelope parsed it)
        raise WireError(str(e)) from None
    if raw is not None and type(raw) is not str:
        raise WireError("server content is not a string")
    return Envelope(header.signal, header.subsignal, header.messageId, raw)
