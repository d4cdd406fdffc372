# -*- test-case-name: fxim.test.test_codecs -*-
"""
Per-(signal, subsignal) codecs: TCP bodies and WebSocket C{content} values
to typed requests (L{fxim.wire.requests}), typed responses to reply frames
and envelopes, and pushes to whole frames and envelope texts.

One L{Codec} exists per (signal, subsignal).  Most are built from a table
(a protobuf request class with a converter, a JSON converter, a response
encoder per transport); CONNECT, PING and DISCONNECT have their own
classes.  Every decoder raises only L{WireError}.

Replies to PUBLISH are PUB_ACK with the request's subsignal and messageId:
on TCP the body is C{[code]} followed, on success, by the response body;
on WebSocket the content is the response JSON text, C{""} on failure, or a
WsResult (C{{"code":200,"message":"success"}} / C{{"code":400,...}}) for
subsignals whose upstream result type is C{Byte}.  See C{docs/protocol.md}.
"""

import struct
from typing import Any, Callable, Dict, Optional, Tuple

from fxim.errors import ErrorCode, WireError
from fxim.wire import im_pb2 as pb
from fxim.wire.codecs_convert import (
    conversationFromPb, dumps,
    friendRequestToJson, friendRequestToPb, friendToJson, friendToPb,
    groupInfoFromJson, groupInfoFromPb, groupInfoToJson, groupInfoToPb,
    groupMemberFromJson, groupMemberFromPb, groupMemberToJson,
    groupMemberToPb, jint, jint32, jints32, jlist, jobj, jstr, jstrs,
    loadsJson, messageFromJson, messageFromPb, messageToJson,
    optionalContentFromJson, optionalContentFromPb, parsePb, ps, pss,
    pullResultJson, pullResultPb, userToJson, userToPb,
)
from fxim.wire.envelope import Envelope, dumpContent, encodeEnvelope, registerSubSignalName
from fxim.wire.frame import Frame, encodeFrame
from fxim.wire.requests import (
    AddFriend, AddGroupMembers, ConnectRequest, CreateGroup,
    DisconnectRequest, DismissGroup, FriendNotify, FriendRequestNotify,
    GetUploadToken, GetUploadUrl, HandleFriendRequest, JsonRequest,
    KickGroupMembers, LoadHistory, MessageNotify, ModifyGroupInfo,
    ModifyMyInfo, PingRequest, PluginPush, PullFriendRequests,
    PullFriends, PullGroupInfo, PullGroupMembers, PullMessages, PullUsers,
    QuitGroup, RecallMessage, RecallNotify, SearchUsers, SendMessage,
    SetFriendAlias, SyncFriendRequestUnread, TransparentMessage,
)
from fxim.model import Conversation, GroupInfo
from fxim.wire.signals import PLUGIN_SUBSIGNALS, Signal, SubSignal

__all__ = [
    "Codec", "codecFor", "registerCodec", "jsonCodec", "notImplementedReply",
    "encodePushTcp", "encodePushWs", "encodePush", "registerPushCodec",
    "pushFrame", "pushEnvelope", "WS_SUCCESS", "WS_ERROR",
]

#: WsResult texts for subsignals whose result is only a code.
WS_SUCCESS = '{"code":200,"message":"success"}'
WS_ERROR = '{"code":400,"message":"error"}'

_PUBLISH = int(Signal.PUBLISH)
_PUB_ACK = int(Signal.PUB_ACK)
_INT64 = struct.Struct(">q")
_MS_ACK = struct.Struct(">qq")

Decoder = Callable[[Any], Any]


class Codec:
    """
    The conversions for one (signal, subsignal).

    @ivar signal: the L{Signal} ordinal.
    @ivar subsignal: the SubSignal ordinal.
    @ivar name: the subsignal's name (the WebSocket name for a plugin).
    """

    def __init__(self, signal: int, subsignal: int, name: str,
                 tcpDecoder: Decoder, wsDecoder: Decoder,
                 tcpEncoder: Optional[Callable[[Any], bytes]] = None,
                 wsEncoder: Optional[Callable[[Any], str]] = None,
                 wsEmpty: str = "") -> None:
        """
        @param tcpDecoder: body bytes to request.
        @param wsDecoder: decoded content value to request.
        @param tcpEncoder: response to the bytes after the code byte, or
            L{None} if the TCP reply is the code only.
        @param wsEncoder: response to content JSON text, or L{None} if the
            WebSocket reply is a WsResult.
        @param wsEmpty: the content for a successful reply with no response
            object (C{"[]"} for list results).
        """
        self.signal = int(signal)
        self.subsignal = int(subsignal)
        self.name = name
        self._tcpDecoder = tcpDecoder
        self._wsDecoder = wsDecoder
        self._tcpEncoder = tcpEncoder
        self._wsEncoder = wsEncoder
        self._wsEmpty = wsEmpty

    def __repr__(self) -> str:
        return f"<Codec {self.name} ({self.signal}/{self.subsignal})>"

    @property
    def codeOnly(self) -> bool:
        """
        Whether the TCP reply carries nothing but the code.
        """
        return self._tcpEncoder is None

    def decodeTcp(self, body: bytes) -> Any:
        """
        Decode a TCP body.

        @raise WireError: on anything malformed.
        """
        try:
            return self._tcpDecoder(body)
        except WireError:
            raise
        except Exception as e:
            raise WireError(f"{self.name}: {type(e).__name__}: {e}") from None

    def decodeWs(self, content: Any) -> Any:
        """
        Decode a WebSocket content value (as L{decodeEnvelope} produced it).

        @raise WireError: on anything malformed.
        """
        try:
            return self._wsDecoder(content)
        except WireError:
            raise
        except Exception as e:
            raise WireError(f"{self.name}: {type(e).__name__}: {e}") from None

    def replyTcp(self, messageId: int, code: int, response: Any) -> Optional[Frame]:
        """
        The PUB_ACK frame answering a request.  A response the encoder
        cannot render (a handler bug) becomes a C{SERVER_ERROR} reply.
        """
        code = int(code) & 0xFF
        body = bytes((code,))
        if code == 0 and response is not None and self._tcpEncoder is not None:
            try:
                body += self._tcpEncoder(response)
            except Exception:
                body = bytes((ErrorCode.SERVER_ERROR,))
        return Frame(_PUB_ACK, self.subsignal, messageId, body)

    def replyWs(self, messageId: int, code: int, response: Any) -> Optional[Envelope]:
        """
        The PUB_ACK envelope answering a request.
        """
        if self._wsEncoder is None:
            content = WS_SUCCESS if code == 0 else WS_ERROR
        elif code != 0:
            content = ""
        elif response is None:
            content = self._wsEmpty
        else:
            try:
                content = self._wsEncoder(response)
            except Exception:
                content = ""
        return Envelope(_PUB_ACK, self.subsignal, messageId, content)


# -- CONNECT, PING, DISCONNECT ------------------------------------------------

def _connectFromJson(value: Any) -> ConnectRequest:
    o = jobj(value, "CONNECT content")
    return ConnectRequest(jstr(o.get("userName")), jstr(o.get("password")),
                          jstr(o.get("clientIdentifier")))


class _ConnectCodec(Codec):
    """
    CONNECT: JSON on both transports; the reply is CONNECT_ACK with the
    result in its subsignal and messageId 0.
    """

    def __init__(self) -> None:
        super().__init__(Signal.CONNECT, SubSignal.NONE, "CONNECT",
                         lambda body: _connectFromJson(loadsJson(body)),
                         _connectFromJson)

    @staticmethod
    def _ackCode(code: int, response: Any) -> int:
        if code == ErrorCode.INVALID_DATA:
            # A malformed CONNECT (bad JSON, a NUL) is the client's fault,
            # not the server being unavailable (docs/security.md).
            return int(SubSignal.CONNECTION_REFUSED_IDENTIFIER_REJECTED)
        if code != 0 or response is None:
            return int(SubSignal.CONNECTION_REFUSED_SERVER_UNAVAILABLE)
        return int(response.code)

    def replyTcp(self, messageId: int, code: int, response: Any) -> Optional[Frame]:
        ack = self._ackCode(code, response)
        body = b""
        if ack == SubSignal.CONNECTION_ACCEPTED:
            body = pb.ConnectAckPayload(
                msg_head=response.msgHead, friend_head=response.friendHead,
                friend_rq_head=response.friendRqHead,
                setting_head=response.settingHead,
                server_time=response.serverTime).SerializeToString()
        return Frame(Signal.CONNECT_ACK, ack, 0, body)

    def replyWs(self, messageId: int, code: int, response: Any) -> Optional[Envelope]:
        ack = self._ackCode(code, response)
        content = ""
        if ack == SubSignal.CONNECTION_ACCEPTED:
            content = dumps({"friendHead": response.friendHead,
                             "messageHead": str(response.msgHead)})
        return Envelope(Signal.CONNECT_ACK, ack, 0, content)


def _pingFromJson(value: Any) -> PingRequest:
    if type(value) is dict:
        try:
            return PingRequest(jint(value.get("interval"), None))
        except WireError:
            pass
    return PingRequest(None)


def _pingFromTcp(body: bytes) -> PingRequest:
    try:
        value = loadsJson(body)
    except WireError:
        return PingRequest(None)
    return _pingFromJson(value)


class _PingCodec(Codec):
    """
    PING: never fails to decode (a bad interval is L{None}); TCP reply is
    the text C{ping back next interval <ms>}, WebSocket gets no reply.
    """

    def __init__(self) -> None:
        super().__init__(Signal.PING, SubSignal.NONE, "PING", _pingFromTcp, _pingFromJson)

    def replyTcp(self, messageId: int, code: int, response: Any) -> Optional[Frame]:
        if response is None:
            return None
        return Frame(Signal.PING, 0, messageId,
                     b"ping back next interval %d" % (response.interval,))

    def replyWs(self, messageId: int, code: int, response: Any) -> Optional[Envelope]:
        return None


def _disconnectFromJson(value: Any) -> DisconnectRequest:
    if value is None:
        return DisconnectRequest(False)
    return DisconnectRequest(jint(jobj(value).get("clearSession")) == 1)


class _DisconnectCodec(Codec):
    """
    DISCONNECT: one byte C{clearSession} on TCP (an empty body means 0),
    C{{"clearSession":1}} on WebSocket; never answered.
    """

    def __init__(self) -> None:
        super().__init__(Signal.DISCONNECT, SubSignal.NONE, "DISCONNECT",
                         lambda body: DisconnectRequest(bytes(body[:1]) == b"\x01"),
                         _disconnectFromJson)

    def replyTcp(self, messageId: int, code: int, response: Any) -> Optional[Frame]:
        return None

    def replyWs(self, messageId: int, code: int, response: Any) -> Optional[Envelope]:
        return None


# -- table helpers -------------------------------------------------------------

def _pbIn(cls: Any, convert: Callable[[Any], Any]) -> Decoder:
    def decode(body: bytes) -> Any:
        return convert(parsePb(cls, body))
    return decode


def _pbOut(cls: Any, fill: Callable[[Any, Any], None]) -> Callable[[Any], bytes]:
    def encode(response: Any) -> bytes:
        msg = cls()
        fill(response, msg)
        return msg.SerializeToString()
    return encode


def _fillEach(records: Callable[[Any], Any], field: str,
              toPb: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    def fill(response: Any, msg: Any) -> None:
        add = getattr(msg, field).add
        for record in records(response):
            toPb(record, add())
    return fill


def _jsonList(records: Callable[[Any], Any],
              toJson: Callable[[Any], Any]) -> Callable[[Any], str]:
    return lambda response: dumps([toJson(r) for r in records(response)])


def _obj(f: Callable[[dict], Any]) -> Decoder:
    return lambda content: f(jobj(content))


# -- request decoders ----------------------------------------------------------

def _msFromTcp(body: bytes) -> SendMessage:
    return SendMessage(messageFromPb(parsePb(pb.Message, body)))


def _mpFromWs(o: dict) -> PullMessages:
    seq = jint(o.get("messageId"))
    mode = jint32(o.get("pullType"))
    if mode == 1:
        after = seq - 1
    elif mode == 0:
        after = seq + jint(o.get("sendMessageCount"))
    else:
        after = seq
    return PullMessages(max(0, min(after, (1 << 63) - 1)), jint32(o.get("type")))


def _frpFromWs(content: Any) -> PullFriendRequests:
    version = None if content is None else jobj(content).get("version")
    if version is None:
        return PullFriendRequests(0)
    return PullFriendRequests(max(0, jint(version) - 1000))


def _versionFromWs(cls: Any) -> Decoder:
    def decode(content: Any) -> Any:
        if content is None:
            return cls(0)
        return cls(jint(jobj(content).get("version")))
    return decode


def _upuiFromWs(content: Any) -> PullUsers:
    return PullUsers(tuple((uid, 0) for uid in jstrs(jlist(content, "UPUI content", []))))


def _gcFromTcp(m: Any) -> CreateGroup:
    g = m.group
    return CreateGroup(groupInfoFromPb(g.group_info),
                       tuple(groupMemberFromPb(x) for x in g.members),
                       tuple(m.to_line), optionalContentFromPb(m))


def _gcFromWs(o: dict) -> CreateGroup:
    info = groupInfoFromJson(o.get("groupInfo") if o.get("groupInfo") is not None else {})
    # Upstream forces the group type to 0 on WebSocket.
    info = GroupInfo(info.targetId, info.name, info.portrait, info.owner, 0,
                     info.memberCount, info.extra, info.updateDt, info.memberUpdateDt)
    return CreateGroup(
        info,
        tuple(groupMemberFromJson(x) for x in jlist(o.get("groupMembers"), "groupMembers", [])),
        jints32(o.get("lines"), "lines"),
        optionalContentFromJson(o.get("notifyContent")))


def _groupOpWs(o: dict) -> Tuple[Tuple[int, ...], Any]:
    return (jints32(o.get("lines"), "lines"),
            optionalContentFromJson(o.get("notifyContent")))


def _mmiFromWs(content: Any) -> ModifyMyInfo:
    items = content if type(content) is list else [jobj(content)]
    return ModifyMyInfo(tuple(
        (jint32(jobj(e, "MMI entry").get("type")), jstr(e.get("value"))) for e in items))


def _lrmFromWs(o: dict) -> LoadHistory:
    c = jobj(o.get("conversation"), "conversation")
    ctype = c.get("conversationType")
    if ctype is None:
        ctype = c.get("type")
    conversation = Conversation(jint32(ctype), jstr(c.get("target")), jint32(c.get("line")))
    return LoadHistory(conversation, jint(o.get("beforeUid")), jint32(o.get("count")))


def _gqnutFromTcp(body: bytes) -> GetUploadToken:
    if len(body) < 1:
        raise WireError("GQNUT: empty body")
    return GetUploadToken(body[0])


# -- response encoders ---------------------------------------------------------

def _msAckTcp(r: Any) -> bytes:
    return _MS_ACK.pack(r.uid, r.timestamp)


def _msAckWs(r: Any) -> str:
    return '{"messageId":"%d","timestamp":%d}' % (r.uid, r.timestamp)


def _pullTcp(r: Any) -> bytes:
    return pullResultPb(r.messages, r.current, r.head)


def _pullWs(r: Any) -> str:
    return pullResultJson(r.messages, r.current, r.head)


def _historyTcp(r: Any) -> bytes:
    return pullResultPb(r.messages, 0, 0)


def _historyWs(r: Any) -> str:
    return dumps({"count": len(r.messages),
                  "messageResponseList": [messageToJson(m) for m in r.messages]})


def _pullUsersFill(r: Any, msg: Any) -> None:
    add = msg.result.add
    for user, code in r.entries:
        entry = add()
        if code == 1:
            entry.user.uid = user.uid
        else:
            userToPb(user, entry.user)
        entry.code = code


def _pullUsersWs(r: Any) -> str:
    return dumps([userToJson(user) for user, code in r.entries if code == 0])


def _uploadTokenTcp(r: Any) -> bytes:
    return pb.GetUploadTokenResult(domain=r.domain, token=r.token, server=r.server,
                                   port=r.port).SerializeToString()


def _uploadTokenWs(r: Any) -> str:
    return dumps({"domain": r.domain, "server": r.server, "token": r.token, "port": r.port})


def _uploadUrlTcp(r: Any) -> bytes:
    return pb.GetMinioUploadUrlResult(domain=r.domain, server=r.server, port=r.port,
                                      url=r.url).SerializeToString()


def _uploadUrlWs(r: Any) -> str:
    return dumps({"domain": r.domain, "server": r.server, "port": r.port, "url": r.url})


# -- the built-in table --------------------------------------------------------

_CODECS: Dict[Tuple[int, int], Codec] = {}


def _builtin(sub: SubSignal, tcpIn: Decoder, wsIn: Decoder,
             tcpOut: Optional[Callable[[Any], bytes]] = None,
             wsOut: Optional[Callable[[Any], str]] = None, wsEmpty: str = "") -> None:
    _CODECS[(_PUBLISH, int(sub))] = Codec(_PUBLISH, sub, sub.name, tcpIn, wsIn,
                                          tcpOut, wsOut, wsEmpty)


def _install() -> None:
    for codec in (_ConnectCodec(), _PingCodec(), _DisconnectCodec()):
        _CODECS[(codec.signal, codec.subsignal)] = codec
    S = SubSignal

    # messages
    _builtin(S.MS, _msFromTcp, lambda c: SendMessage(messageFromJson(c, False)),
             _msAckTcp, _msAckWs)
    _builtin(S.MP, _pbIn(pb.PullMessageRequest, lambda m: PullMessages(m.id, m.type)),
             _obj(_mpFromWs), _pullTcp, _pullWs)
    _builtin(S.MR, _pbIn(pb.INT64Buf, lambda m: RecallMessage(m.id)),
             _obj(lambda o: RecallMessage(jint(o.get("messageUid")))))
    _builtin(S.LRM, _pbIn(pb.LoadRemoteMessages, lambda m: LoadHistory(
                 conversationFromPb(m.conversation), m.before_uid, m.count)),
             _obj(_lrmFromWs), _historyTcp, _historyWs)

    # users
    _builtin(S.US, _pbIn(pb.SearchUserRequest,
                         lambda m: SearchUsers(ps(m.keyword), m.fuzzy, m.page)),
             _obj(lambda o: SearchUsers(jstr(o.get("keyword")), jint32(o.get("fuzzy")),
                                        jint32(o.get("page")))),
             _pbOut(pb.SearchUserResult, _fillEach(lambda r: r.users, "entry", userToPb)),
             _jsonList(lambda r: r.users, userToJson), "[]")
    _builtin(S.UPUI, _pbIn(pb.PullUserRequest, lambda m: PullUsers(
                 tuple((ps(r.uid), r.update_dt) for r in m.request))),
             _upuiFromWs, _pbOut(pb.PullUserResult, _pullUsersFill), _pullUsersWs, "[]")
    _builtin(S.MMI, _pbIn(pb.ModifyMyInfoRequest, lambda m: ModifyMyInfo(
                 tuple((e.type, ps(e.value)) for e in m.entry))),
             _mmiFromWs)

    # friends
    _builtin(S.FAR, _pbIn(pb.AddFriendRequest,
                          lambda m: AddFriend(ps(m.target_uid), ps(m.reason))),
             _obj(lambda o: AddFriend(jstr(o.get("targetUserId")), jstr(o.get("reason")))))
    _builtin(S.FALS, _pbIn(pb.AddFriendRequest,
                           lambda m: SetFriendAlias(ps(m.target_uid), ps(m.reason))),
             _obj(lambda o: SetFriendAlias(jstr(o.get("targetUserId")),
                                           jstr(o.get("reason")))))
    _builtin(S.FHR, _pbIn(pb.HandleFriendRequest,
                          lambda m: HandleFriendRequest(ps(m.target_uid), m.status)),
             _obj(lambda o: HandleFriendRequest(jstr(o.get("targetUid")),
                                                jint32(o.get("status")))))
    _builtin(S.FRP, _pbIn(pb.Version, lambda m: PullFriendRequests(m.version)),
             _frpFromWs,
             _pbOut(pb.GetFriendRequestResult,
                    _fillEach(lambda r: r.requests, "entry", friendRequestToPb)),
             _jsonList(lambda r: r.requests, friendRequestToJson), "[]")
    _builtin(S.FRUS, _pbIn(pb.Version, lambda m: SyncFriendRequestUnread(m.version)),
             _versionFromWs(SyncFriendRequestUnread))
    _builtin(S.FP, _pbIn(pb.Version, lambda m: PullFriends(m.version)),
             _versionFromWs(PullFriends),
             _pbOut(pb.GetFriendsResult, _fillEach(lambda r: r.friends, "entry", friendToPb)),
             _jsonList(lambda r: r.friends, friendToJson), "[]")

    # groups
    _builtin(S.GC, _pbIn(pb.CreateGroupRequest, _gcFromTcp), _obj(_gcFromWs),
             lambda r: r.groupId.encode("utf-8"), None)
    _builtin(S.GPGI, _pbIn(pb.PullUserRequest, lambda m: PullGroupInfo(
                 tuple(ps(r.uid) for r in m.request))),
             lambda c: PullGroupInfo(jstrs(jlist(c, "GPGI content", []))),
             _pbOut(pb.PullGroupInfoResult, _fillEach(lambda r: r.groups, "info", groupInfoToPb)),
             _jsonList(lambda r: r.groups, groupInfoToJson), "[]")
    _builtin(S.GPGM, _pbIn(pb.PullGroupMemberRequest,
                           lambda m: PullGroupMembers(ps(m.target), m.head)),
             _obj(lambda o: PullGroupMembers(jstr(o.get("groupId")), jint(o.get("version")))),
             _pbOut(pb.PullGroupMemberResult,
                    _fillEach(lambda r: r.members, "member", groupMemberToPb)),
             _jsonList(lambda r: r.members, groupMemberToJson), "[]")
    _builtin(S.GAM, _pbIn(pb.AddGroupMemberRequest, lambda m: AddGroupMembers(
                 ps(m.group_id), tuple(groupMemberFromPb(x) for x in m.added_member),
                 tuple(m.to_line), optionalContentFromPb(m))),
             _obj(lambda o: AddGroupMembers(
                 jstr(o.get("groupId")),
                 tuple(groupMemberFromJson(x)
                       for x in jlist(o.get("groupMembers"), "groupMembers", [])),
                 *_groupOpWs(o))))
    _builtin(S.GKM, _pbIn(pb.RemoveGroupMemberRequest, lambda m: KickGroupMembers(
                 ps(m.group_id), pss(m.removed_member), tuple(m.to_line),
                 optionalContentFromPb(m))),
             _obj(lambda o: KickGroupMembers(
                 jstr(o.get("groupId")), jstrs(o.get("memberIds"), "memberIds"),
                 *_groupOpWs(o))))
    _builtin(S.GQ, _pbIn(pb.QuitGroupRequest, lambda m: QuitGroup(
                 ps(m.group_id), tuple(m.to_line), optionalContentFromPb(m))),
             _obj(lambda o: QuitGroup(jstr(o.get("groupId")), *_groupOpWs(o))))
    _builtin(S.GD, _pbIn(pb.DismissGroupRequest, lambda m: DismissGroup(
                 ps(m.group_id), tuple(m.to_line), optionalContentFromPb(m))),
             _obj(lambda o: DismissGroup(jstr(o.get("groupId")), *_groupOpWs(o))))
    _builtin(S.GMI, _pbIn(pb.ModifyGroupInfoRequest, lambda m: ModifyGroupInfo(
                 ps(m.group_id), m.type, ps(m.value), tuple(m.to_line),
                 optionalContentFromPb(m))),
             _obj(lambda o: ModifyGroupInfo(jstr(o.get("groupId")), jint32(o.get("type")),
                                            jstr(o.get("value")), *_groupOpWs(o))))

    # media
    _builtin(S.GQNUT, _gqnutFromTcp,
             _obj(lambda o: GetUploadToken(jint(o.get("mediaType"), 0, 0, 255))),
             _uploadTokenTcp, _uploadTokenWs)
    _builtin(S.GMURL, _pbIn(pb.GetMinioUploadUrlRequest,
                            lambda m: GetUploadUrl(m.type, ps(m.key))),
             _obj(lambda o: GetUploadUrl(jint32(o.get("mediaType")), jstr(o.get("key")))),
             _uploadUrlTcp, _uploadUrlWs)


_install()

# i13: the newer clients' subsignals (reports, settings, SAI).
from fxim.wire import extensions as _extensions  # noqa: E402
_extensions.installServerCodecs(_builtin)

#: The built-in codecs, for restoring after tests.
BUILTIN_CODECS = dict(_CODECS)


def codecFor(signal: int, subsignal: int) -> Optional[Codec]:
    """
    The codec for (signal, subsignal), or L{None} if there is none.
    """
    return _CODECS.get((signal, subsignal))


def registerCodec(codec: Codec) -> None:
    """
    Install C{codec} for its (signal, subsignal), replacing any other.  A
    plugin ordinal (64-127) also gets its WebSocket name registered.

    @raise ValueError: if a plugin name clashes with another registration.
    """
    if codec.subsignal in PLUGIN_SUBSIGNALS:
        registerSubSignalName(codec.name, codec.subsignal)
    _CODECS[(codec.signal, codec.subsignal)] = codec


# -- plugin JSON codecs -----------------------------------------------------------

def _jsonFromTcp(body: bytes) -> JsonRequest:
    return JsonRequest(loadsJson(body) if len(body) else None)


def _jsonText(value: Any) -> str:
    return dumpContent(value)


def jsonCodec(subsignal: int, name: str, signal: int = Signal.PUBLISH) -> Codec:
    """
    A codec for a plugin subsignal: UTF-8 JSON body on TCP and content value
    on WebSocket, both decoded to L{JsonRequest}; the reply is C{[code]}
    plus the response's JSON bytes (nothing after the code for L{None}) on
    TCP, the JSON text (C{""} for an error or L{None}) on WebSocket.

    @raise ValueError: if C{subsignal} is not a plugin ordinal or C{name} is
        not upper-case ASCII.
    """
    if subsignal not in PLUGIN_SUBSIGNALS:
        raise ValueError(f"plugin subsignal {subsignal} not in 64-127")
    if not (name.isascii() and name.isupper()) or name in SubSignal.__members__:
        raise ValueError(f"bad plugin subsignal name {name!r}")
    return Codec(signal, subsignal, name, _jsonFromTcp, JsonRequest,
                 lambda r: _jsonText(r).encode("utf-8"), _jsonText)


# -- unknown subsignals --------------------------------------------------------------

def notImplementedReply(transportName: str, messageId: int, subsignal: int) -> Any:
    """
    PUB_ACK code 254 (NOT_IMPLEMENT) echoing C{subsignal} as received: a
    L{Frame} for C{"tcp"}, an L{Envelope} with content C{""} otherwise.
    """
    if transportName == "tcp":
        return Frame(_PUB_ACK, subsignal & 0x7F, messageId,
                     bytes((ErrorCode.NOT_IMPLEMENT,)))
    return Envelope(_PUB_ACK, subsignal, messageId, "")


# -- pushes -----------------------------------------------------------------------

_PUSHES: Dict[type, Tuple[Callable[[Any], Frame], Callable[[Any], Envelope]]] = {}


def registerPushCodec(pushType: type, toTcp: Callable[[Any], Frame],
                      toWs: Callable[[Any], Envelope]) -> None:
    """
    Teach L{encodePushTcp}/L{encodePushWs} a push type.

    @param toTcp: push to a L{Frame}.
    @param toWs: push to an L{Envelope} whose content is JSON text.
    """
    _PUSHES[pushType] = (toTcp, toWs)


def _codecsOf(push: Any) -> Tuple[Callable[[Any], Frame], Callable[[Any], Envelope]]:
    try:
        return _PUSHES[type(push)]
    except KeyError:
        raise TypeError(f"no push codec for {type(push).__name__}") from None


def pushFrame(push: Any) -> Frame:
    """
    The TCP L{Frame} of a push.
    """
    return _codecsOf(push)[0](push)


def pushEnvelope(push: Any) -> Envelope:
    """
    The WebSocket L{Envelope} of a push.
    """
    return _codecsOf(push)[1](push)


def encodePushTcp(push: Any) -> bytes:
    """
    The whole TCP frame (header included) of a push.

    @raise TypeError: for an unregistered push type.
    """
    return encodeFrame(_codecsOf(push)[0](push))


def encodePushWs(push: Any) -> str:
    """
    The whole WebSocket envelope text of a push.

    @raise TypeError: for an unregistered push type.
    """
    return encodeEnvelope(_codecsOf(push)[1](push))


def encodePush(push: Any) -> Tuple[bytes, str]:
    """
    Both encodings of a push, for fan-out to either transport.
    """
    toTcp, toWs = _codecsOf(push)
    return encodeFrame(toTcp(push)), encodeEnvelope(toWs(push))


def _mnTcp(p: MessageNotify) -> Frame:
    m = pb.NotifyMessage(type=p.type, head=p.head)
    if p.target:
        m.target = p.target
    return Frame(_PUBLISH, SubSignal.MN, 0, m.SerializeToString())


def _mnWs(p: MessageNotify) -> Envelope:
    return Envelope(_PUBLISH, SubSignal.MN, 0,
                    '{"messageHead":"%d","type":%d}' % (p.head, p.type))


def _rmnTcp(p: RecallNotify) -> Frame:
    return Frame(_PUBLISH, SubSignal.RMN, 0, pb.NotifyRecallMessage(
        id=p.uid, from_user=p.fromUser).SerializeToString())


def _rmnWs(p: RecallNotify) -> Envelope:
    return Envelope(_PUBLISH, SubSignal.RMN, 0,
                    dumps({"fromUser": p.fromUser, "messageUid": str(p.uid)}))


def _transparentTcp(p: TransparentMessage) -> Frame:
    return Frame(_PUB_ACK, SubSignal.MP, 0, b"\x00" + pullResultPb((p.message,), 0, 0))


def _transparentWs(p: TransparentMessage) -> Envelope:
    return Envelope(_PUB_ACK, SubSignal.MP, 0, pullResultJson((p.message,), 0, 0))


def _pluginTcp(p: PluginPush) -> Frame:
    body = b"" if p.value is None else _jsonText(p.value).encode("utf-8")
    return Frame(_PUBLISH, p.subsignal, 0, body)


def _pluginWs(p: PluginPush) -> Envelope:
    return Envelope(_PUBLISH, p.subsignal, 0, "" if p.value is None else _jsonText(p.value))


registerPushCodec(MessageNotify, _mnTcp, _mnWs)
registerPushCodec(RecallNotify, _rmnTcp, _rmnWs)
registerPushCodec(
    FriendNotify,
    lambda p: Frame(_PUBLISH, SubSignal.FN, 0, _INT64.pack(p.head)),
    lambda p: Envelope(_PUBLISH, SubSignal.FN, 0, '{"head":"%d"}' % p.head))
registerPushCodec(
    FriendRequestNotify,
    lambda p: Frame(_PUBLISH, SubSignal.FRN, 0, _INT64.pack(p.version)),
    lambda p: Envelope(_PUBLISH, SubSignal.FRN, 0, '{"version":"%d"}' % p.version))
registerPushCodec(TransparentMessage, _transparentTcp, _transparentWs)
registerPushCodec(PluginPush, _pluginTcp, _pluginWs)
_extensions.installPushCodecs(registerPushCodec)
