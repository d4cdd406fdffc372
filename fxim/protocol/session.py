# -*- test-case-name: fxim.test.unit.test_codecs -*-
"""
The connection commands: CONNECT, PING and DISCONNECT.
"""

from typing import Any, Optional, Tuple

from fxim.errors import ErrorCode, WireError
from fxim.protocol.command import Command, guarded
from fxim.wire import im_pb2 as pb
from fxim.wire.codecs_convert import dumps, jint, jobj, jstr, loadsJson, parsePb
from fxim.wire.envelope import Envelope
from fxim.wire.frame import Frame
from fxim.wire.requests import (
    ConnectAck, ConnectRequest, DisconnectRequest, PingReply, PingRequest,
)
from fxim.wire.signals import Signal, SubSignal

_ACCEPTED = int(SubSignal.CONNECTION_ACCEPTED)


def _connectFromJson(value: Any) -> ConnectRequest:
    o = jobj(value, "CONNECT content")
    return ConnectRequest(jstr(o.get("userName")), jstr(o.get("password")),
                          jstr(o.get("clientIdentifier")))


def _connectToTcp(r: ConnectRequest) -> bytes:
    # fastjson with alphabetical keys, as the Java SDK sends it.
    return dumps({"clientIdentifier": r.clientIdentifier, "password": r.password,
                  "userName": r.userName}).encode("utf-8")


def _ackCode(code: int, response: Any) -> int:
    if code == ErrorCode.INVALID_DATA:
        # A malformed CONNECT (bad JSON, a NUL) is the client's fault,
        # not the server being unavailable (docs/security.md).
        return int(SubSignal.CONNECTION_REFUSED_IDENTIFIER_REJECTED)
    if code != 0 or response is None:
        return int(SubSignal.CONNECTION_REFUSED_SERVER_UNAVAILABLE)
    return int(response.code)


def _connectAckFromTcp(subsignal: int, body: bytes) -> ConnectAck:
    if subsignal != _ACCEPTED or not body:
        return ConnectAck(subsignal)
    m = parsePb(pb.ConnectAckPayload, body)
    return ConnectAck(subsignal, m.msg_head, m.friend_head, m.friend_rq_head,
                      m.setting_head, m.server_time)


class Connect(Command):
    """
    CONNECT: JSON on both transports; the reply is CONNECT_ACK with the
    result in its subsignal and messageId 0.  The connection is closed
    unless the CONNECT was accepted.
    """

    signal = int(Signal.CONNECT)
    subsignal = int(SubSignal.NONE)
    name = "CONNECT"
    request = ConnectRequest
    response = ConnectAck
    closeUnlessAccepted = True
    refusal = (ErrorCode.SUCCESS, ConnectAck(SubSignal.CONNECTION_REFUSED_IDENTIFIER_REJECTED))

    requestFromTcp = staticmethod(lambda body: _connectFromJson(loadsJson(body)))
    requestFromWs = staticmethod(_connectFromJson)
    requestToTcp = staticmethod(_connectToTcp)
    requestToWs = staticmethod(lambda r: {"userName": r.userName, "password": r.password,
                                          "clientIdentifier": r.clientIdentifier})

    @classmethod
    def replyTcp(cls, messageId: int, code: int, response: Any) -> Optional[Frame]:
        ack = _ackCode(code, response)
        body = b""
        if ack == _ACCEPTED:
            body = pb.ConnectAckPayload(
                msg_head=response.msgHead, friend_head=response.friendHead,
                friend_rq_head=response.friendRqHead,
                setting_head=response.settingHead,
                server_time=response.serverTime).SerializeToString()
        return Frame(Signal.CONNECT_ACK, ack, 0, body)

    @classmethod
    def replyWs(cls, messageId: int, code: int, response: Any) -> Optional[Envelope]:
        ack = _ackCode(code, response)
        content = ""
        if ack == _ACCEPTED:
            content = dumps({"friendHead": response.friendHead,
                             "messageHead": str(response.msgHead)})
        return Envelope(Signal.CONNECT_ACK, ack, 0, content)

    @classmethod
    def decodeReplyTcp(cls, subsignal: int, body: bytes) -> Tuple[int, Any]:
        return 0, guarded(cls.name, lambda b: _connectAckFromTcp(subsignal, b), body)

    @classmethod
    def decodeReplyWs(cls, subsignal: int, value: Any) -> Any:
        if subsignal != _ACCEPTED or value is None:
            return ConnectAck(subsignal)
        return guarded(cls.name, lambda v: ConnectAck(
            subsignal, jint(jobj(v).get("messageHead")), jint(v.get("friendHead"))), value)


def _pingFromJson(value: Any) -> PingRequest:
    if type(value) is dict:
        try:
            interval = value.get("interval")
            return PingRequest(None if interval is None else jint(interval))
        except WireError:
            pass
    return PingRequest(None)


def _pingFromTcp(body: bytes) -> PingRequest:
    try:
        value = loadsJson(body)
    except WireError:
        return PingRequest(None)
    return _pingFromJson(value)


def _pingReply(body: bytes) -> PingReply:
    text = bytes(body).decode("utf-8")
    prefix = "ping back next interval "
    if not text.startswith(prefix):
        raise WireError(f"not a PING reply: {text[:40]!r}")
    return PingReply(jint(text[len(prefix):]))


class Ping(Command):
    """
    PING: never fails to decode (a bad interval is L{None}); TCP reply is
    the text C{ping back next interval <ms>}, WebSocket gets no reply.
    """

    signal = int(Signal.PING)
    subsignal = int(SubSignal.NONE)
    name = "PING"
    request = PingRequest
    response = PingReply

    requestFromTcp = staticmethod(_pingFromTcp)
    requestFromWs = staticmethod(_pingFromJson)
    requestToTcp = staticmethod(
        lambda r: b"" if r.interval is None else b'{"interval":%d}' % r.interval)
    requestToWs = staticmethod(lambda r: {"interval": r.interval})

    @classmethod
    def replyTcp(cls, messageId: int, code: int, response: Any) -> Optional[Frame]:
        if response is None:
            return None
        return Frame(Signal.PING, 0, messageId,
                     b"ping back next interval %d" % (response.interval,))

    @classmethod
    def replyWs(cls, messageId: int, code: int, response: Any) -> Optional[Envelope]:
        return None

    @classmethod
    def decodeReplyTcp(cls, subsignal: int, body: bytes) -> Tuple[int, Any]:
        return 0, guarded(cls.name, _pingReply, body)


def _disconnectFromJson(value: Any) -> DisconnectRequest:
    if value is None:
        return DisconnectRequest(False)
    return DisconnectRequest(jint(jobj(value).get("clearSession")) == 1)


class Disconnect(Command):
    """
    DISCONNECT: one byte C{clearSession} on TCP (an empty body means 0),
    C{{"clearSession":1}} on WebSocket; never answered.
    """

    signal = int(Signal.DISCONNECT)
    subsignal = int(SubSignal.NONE)
    name = "DISCONNECT"
    request = DisconnectRequest

    requestFromTcp = staticmethod(lambda body: DisconnectRequest(bytes(body[:1]) == b"\x01"))
    requestFromWs = staticmethod(_disconnectFromJson)
    requestToTcp = staticmethod(lambda r: b"\x01" if r.clearSession else b"\x00")
    requestToWs = staticmethod(lambda r: {"clearSession": 1 if r.clearSession else 0})

    @classmethod
    def replyTcp(cls, messageId: int, code: int, response: Any) -> Optional[Frame]:
        return None

    @classmethod
    def replyWs(cls, messageId: int, code: int, response: Any) -> Optional[Envelope]:
        return None


COMMANDS = (Connect, Ping, Disconnect)
