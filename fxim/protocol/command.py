# -*- test-case-name: fxim.test.unit.test_codecs -*-
"""
The declarative L{Command} (one per signal/subsignal a client sends) and
L{Notification} (one per push the server sends), in the spirit of Twisted
AMP's C{Command}: a class names its ordinals, its request and response
types, and both transports' encodings for both sides, side by side:

  - server side: C{requestFromTcp} (body bytes to request), C{requestFromWs}
    (content value to request), C{responseToTcp} (response to the bytes
    after the code byte; L{None}: the TCP reply is the code only),
    C{responseToWs} (response to content JSON text; L{None}: the WebSocket
    reply is a WsResult);
  - client side: C{requestToTcp}, C{requestToWs}, C{responseFromTcp},
    C{responseFromWs} (L{None}: code only).

Error and close rules are declared too: C{closeUnlessAccepted} (CONNECT's
"close unless accepted", as AMP's C{fatalErrors}) and C{refusal} (the
answer to a request refused for a NUL or deep nesting).

Commands are used as classes (their methods are class methods), gathered
into a L{fxim.protocol.registry.CommandRegistry} instance.
"""

import struct
from operator import attrgetter
from typing import Any, Callable, Optional, Sequence, Tuple, Type, cast

from fxim.errors import ErrorCode, WireError
from fxim.wire import im_pb2 as pb
from fxim.wire.codecs_convert import (
    dumps, jint, jobj, jsonList, jsonRecords, loadsJson, parsePb, pb_, pbList, pbRecords,
)
from fxim.wire.envelope import Envelope, dumpContent
from fxim.wire.frame import Frame
from fxim.wire.requests import JsonRequest, PluginPush
from fxim.wire.signals import PLUGIN_SUBSIGNALS, Signal, SubSignal

__all__ = ["Command", "Notification", "JsonCommand", "jsonCommand", "PluginPushNotification",
           "WS_SUCCESS", "WS_ERROR"]

#: WsResult texts for subsignals whose result is only a code.
WS_SUCCESS = '{"code":200,"message":"success"}'
WS_ERROR = '{"code":400,"message":"error"}'

_PUBLISH = int(Signal.PUBLISH)
_PUB_ACK = int(Signal.PUB_ACK)


def guarded(name: str, decode: Any, value: Any) -> Any:
    """
    C{decode(value)}, with anything but a L{WireError} turned into one.
    """
    try:
        return decode(value)
    except WireError:
        raise
    except Exception as e:
        raise WireError(f"{name}: {type(e).__name__}: {e}") from None


class Command:
    """
    One request a client sends: subclass it and declare the class
    attributes below.

    @cvar signal: the L{Signal} ordinal.
    @cvar subsignal: the SubSignal ordinal (a plugin ordinal: 64-127).
    @cvar name: the subsignal's name (the WebSocket name of a plugin
        ordinal); defaults to the L{SubSignal} name.
    @cvar request: the typed request class.
    @cvar response: the typed response class (L{None}: code only).
    @cvar wsEmpty: the content of a successful WebSocket reply with no
        response object (C{"[]"} for list results).
    @cvar closeUnlessAccepted: close the connection after the reply unless
        the response's C{code} is C{CONNECTION_ACCEPTED} (CONNECT); the
        request's metrics label is then that code.
    @cvar refusal: C{(code, response)} answering a request refused for a
        NUL in a string or too deep nesting.
    @cvar checkRequest: C{f(request, maxItems)} giving why a decoded request
        is refused (see L{fxim.wire.sanitize.checkValue}, the default) or
        L{None}: the same answer, cheaper, for a hot request's record.
    """

    signal: int = _PUBLISH
    subsignal: int = 0
    name: str = ""
    request: Optional[type] = None
    response: Optional[type] = None
    wsEmpty: str = ""
    closeUnlessAccepted: bool = False
    refusal: Tuple[int, Any] = (ErrorCode.INVALID_DATA, None)
    checkRequest: "Optional[staticmethod[[Any, Optional[int]], Optional[str]]]" = None

    # server side
    requestFromTcp: "staticmethod[[bytes], Any]"
    requestFromWs: "staticmethod[[Any], Any]"
    responseToTcp: "Optional[staticmethod[[Any], bytes]]" = None
    responseToWs: "Optional[staticmethod[[Any], str]]" = None

    # client side
    requestToTcp: "staticmethod[[Any], bytes]"
    requestToWs: "staticmethod[[Any], Any]"
    responseFromTcp: "Optional[staticmethod[[bytes], Any]]" = None
    responseFromWs: "Optional[staticmethod[[Any], Any]]" = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name") and cls.subsignal:
            try:
                cls.name = SubSignal(cls.subsignal).name
            except ValueError:
                pass

    # -- server side ---------------------------------------------------------

    @classmethod
    def codeOnly(cls) -> bool:
        """
        Whether the TCP reply carries nothing but the code.
        """
        return cls.responseToTcp is None

    @classmethod
    def decodeTcp(cls, body: bytes) -> Any:
        """
        Decode a TCP body.

        @raise WireError: on anything malformed.
        """
        # What guarded() does, without its call: every TCP request runs this.
        try:
            return cls.requestFromTcp(body)
        except Exception as e:
            if isinstance(e, WireError):
                raise
            raise WireError(f"{cls.name}: {type(e).__name__}: {e}") from None

    @classmethod
    def decodeWs(cls, content: Any) -> Any:
        """
        Decode a WebSocket content value (as L{decodeEnvelope} produced it).

        @raise WireError: on anything malformed.
        """
        return guarded(cls.name, cls.requestFromWs, content)

    @classmethod
    def replyTcp(cls, messageId: int, code: int, response: Any) -> Optional[Frame]:
        """
        The PUB_ACK frame answering a request: C{[code]} followed, on
        success, by the response body.  A response the encoder cannot render
        (a handler bug) becomes a C{SERVER_ERROR} reply.
        """
        code = int(code) & 0xFF
        body = bytes((code,))
        if code == 0 and response is not None and cls.responseToTcp is not None:
            try:
                body += cls.responseToTcp(response)
            except Exception:
                body = bytes((ErrorCode.SERVER_ERROR,))
        return Frame(_PUB_ACK, cls.subsignal, messageId, body)

    @classmethod
    def replyWs(cls, messageId: int, code: int, response: Any) -> Optional[Envelope]:
        """
        The PUB_ACK envelope answering a request: the response JSON text,
        C{""} on failure, or a WsResult for a code-only command.
        """
        if cls.responseToWs is None:
            content = WS_SUCCESS if code == 0 else WS_ERROR
        elif code != 0:
            content = ""
        elif response is None:
            content = cls.wsEmpty
        else:
            try:
                content = cls.responseToWs(response)
            except Exception:
                content = ""
        return Envelope(_PUB_ACK, cls.subsignal, messageId, content)

    @classmethod
    def closesAfter(cls, response: Any) -> bool:
        """
        Whether the connection is closed once C{response} is sent.
        """
        return cls.closeUnlessAccepted and (
            response is None or response.code != SubSignal.CONNECTION_ACCEPTED)

    @classmethod
    def resultCode(cls, code: int, response: Any) -> int:
        """
        The result a request is counted under in the metrics.
        """
        if cls.closeUnlessAccepted:
            return int(getattr(response, "code", code))
        return int(code)

    # -- client side ---------------------------------------------------------

    @classmethod
    def encodeTcp(cls, request: Any) -> bytes:
        """
        The TCP body of C{request}, as the Java SDK writes it.
        """
        return cls.requestToTcp(request)

    @classmethod
    def encodeWs(cls, request: Any) -> Any:
        """
        The WebSocket C{content} value of C{request}, as the web client
        builds it.
        """
        return cls.requestToWs(request)

    @classmethod
    def decodeReplyTcp(cls, subsignal: int, body: bytes) -> Tuple[int, Any]:
        """
        Decode the body of the reply frame to this command.

        @return: C{(code, response)}; the response is L{None} for a failure
            or a code-only reply.
        @raise WireError: on a malformed body.
        """
        if len(body) < 1:
            raise WireError("PUB_ACK without a code")
        code, rest = body[0], bytes(body[1:])
        if code != 0 or cls.responseFromTcp is None:
            return code, None
        return 0, guarded(cls.name, cls.responseFromTcp, rest)

    @classmethod
    def decodeReplyWs(cls, subsignal: int, value: Any) -> Any:
        """
        Decode the parsed content of the reply envelope to this command.

        @return: the typed response; L{None} for C{""} (failure); for a
            code-only command the WsResult code (C{200} or C{400}).
        @raise WireError: on malformed content.
        """
        if value is None:
            return None
        if cls.responseFromWs is None:
            return guarded(cls.name, _wsResultCode, value)
        return guarded(cls.name, cls.responseFromWs, value)


def _wsResultCode(value: Any) -> int:
    return jint(jobj(value).get("code"))


# -- plugin JSON commands ------------------------------------------------------

def _jsonFromTcp(body: bytes) -> JsonRequest:
    return JsonRequest(loadsJson(body) if len(body) else None)


def _jsonText(value: Any) -> str:
    return dumpContent(value)


def _jsonToTcp(request: JsonRequest) -> bytes:
    return b"" if request.value is None else dumps(request.value).encode("utf-8")


class JsonCommand(Command):
    """
    A plugin subsignal with JSON on both transports: UTF-8 JSON body on TCP
    and content value on WebSocket, both decoded to L{JsonRequest}; the
    reply is C{[code]} plus the response's JSON bytes (nothing after the
    code for L{None}) on TCP, the JSON text (C{""} for an error or L{None})
    on WebSocket.  Subclass it with C{subsignal} and C{name}.
    """

    request = JsonRequest
    requestFromTcp = staticmethod(_jsonFromTcp)
    requestFromWs = staticmethod(JsonRequest)
    responseToTcp = staticmethod(lambda r: _jsonText(r).encode("utf-8"))
    responseToWs = staticmethod(_jsonText)
    requestToTcp = staticmethod(_jsonToTcp)
    requestToWs = staticmethod(lambda r: r.value)

    @classmethod
    def decodeReplyTcp(cls, subsignal: int, body: bytes) -> Tuple[int, Any]:
        if len(body) < 1:
            raise WireError("PUB_ACK without a code")
        code, rest = body[0], bytes(body[1:])
        if code != 0:
            return code, None
        return 0, guarded(cls.name, lambda b: loadsJson(b) if b else None, rest)

    @classmethod
    def decodeReplyWs(cls, subsignal: int, value: Any) -> Any:
        return value


def checkPluginName(subsignal: int, name: str) -> None:
    """
    @raise ValueError: if C{subsignal} is not a plugin ordinal or C{name} is
        not upper-case ASCII, or is a built-in subsignal's name.
    """
    if subsignal not in PLUGIN_SUBSIGNALS:
        raise ValueError(f"plugin subsignal {subsignal} not in 64-127")
    if not (name.isascii() and name.isupper()) or name in SubSignal.__members__:
        raise ValueError(f"bad plugin subsignal name {name!r}")


def jsonCommand(subsignal: int, name: str, signal: int = Signal.PUBLISH) -> Type[Command]:
    """
    A generated L{JsonCommand} for a plugin subsignal (the C{name=}
    shortcut of L{fxim.dispatch.HandlerSet.handler}).

    @raise ValueError: see L{checkPluginName}.
    """
    checkPluginName(subsignal, name)
    return type(name, (JsonCommand,), {"signal": int(signal), "subsignal": int(subsignal),
                                       "name": name, "__module__": __name__})


# -- pushes --------------------------------------------------------------------

class Notification:
    """
    One push the server sends: subclass it and declare the class
    attributes below.

    @cvar push: the typed push class.
    @cvar signal: the signal it travels as (PUBLISH, or PUB_ACK for a
        transparent message).
    @cvar subsignal: its subsignal.
    @cvar toTcp: push to the TCP body (server side).
    @cvar toWs: push to the envelope's content JSON text (server side).
    @cvar fromTcp: TCP body to push (client side).
    @cvar fromWs: parsed content value to push (client side).
    """

    push: type = object
    signal: int = _PUBLISH
    subsignal: int = 0
    toTcp: "staticmethod[[Any], bytes]"
    toWs: "staticmethod[[Any], str]"
    fromTcp: "staticmethod[[bytes], Any]"
    fromWs: "staticmethod[[Any], Any]"

    @classmethod
    def frame(cls, push: Any) -> Frame:
        """
        The TCP L{Frame} of C{push}.
        """
        return Frame(cls.signal, cls.subsignal, 0, cls.toTcp(push))

    @classmethod
    def envelope(cls, push: Any) -> Envelope:
        """
        The WebSocket L{Envelope} of C{push}.
        """
        return Envelope(cls.signal, cls.subsignal, 0, cls.toWs(push))

    @classmethod
    def decodeTcp(cls, subsignal: int, body: bytes) -> Any:
        """
        Client side: the push a TCP body carries.

        @raise WireError: if malformed.
        """
        return guarded(cls.__name__, cls.fromTcp, body)

    @classmethod
    def decodeWs(cls, subsignal: int, value: Any) -> Any:
        """
        Client side: the push a parsed content value carries.

        @raise WireError: if malformed.
        """
        return guarded(cls.__name__, cls.fromWs, value)


#: A big-endian int64 (FN, FRN, UN bodies; the UP reply).
INT64 = struct.Struct(">q")


def int64FromBody(body: bytes) -> int:
    """
    The int64 of an 8-byte body.

    @raise WireError: for another length.
    """
    if len(body) != 8:
        raise WireError(f"int64 body of {len(body)} bytes")
    return int(INT64.unpack(bytes(body))[0])


# -- version requests (FRP, FRUS, FP, UG) ---------------------------------------

def versionFromTcp(request: Any) -> Callable[[bytes], Any]:
    """
    @return: a decoder of a protobuf C{Version} body into C{request(version)}.
    """
    return lambda body: request(parsePb(pb.Version, body).version)


def versionFromWs(request: Any) -> Callable[[Any], Any]:
    """
    @return: a decoder of C{{"version": n}} (or no content: version 0) into
        C{request(version)}.
    """
    def decode(content: Any) -> Any:
        if content is None:
            return request(0)
        return request(jint(jobj(content).get("version")))
    return decode


def versionToTcp(r: Any) -> bytes:
    """
    The protobuf C{Version} body of a request's C{version}.
    """
    return pb_(pb.Version, version=r.version)


def listResponses(message: Any, field: str, records: str, build: Callable[[Any], Any],
                  toPb: Callable[[Any, Any], None], fromPb: Callable[[Any], Any],
                  toJson: Callable[[Any], Any], fromJson: Callable[[Any], Any],
                  what: str = "content") -> Tuple[Any, Any, Any, Any]:
    """
    The four response codecs of a command answered with a list of records,
    to unpack in its class body::

        responseToTcp, responseToWs, responseFromTcp, responseFromWs = listResponses(
            pb.GetFriendsResult, "entry", "friends", FriendList,
            friendToPb, friendFromPb, friendToJson, friendFromJson)

    @param message: the protobuf result class, C{field} its repeated field.
    @param records: the response's attribute holding the records; C{build}
        makes a response of a tuple of them.
    @param what: names the JSON array in the client's error for anything
        else.
    """
    get = attrgetter(records)
    return (staticmethod(pbList(message, field, get, toPb)), staticmethod(jsonList(get, toJson)),
            staticmethod(pbRecords(message, field, build, fromPb)),
            staticmethod(jsonRecords(build, fromJson, what)))


def _versionToWs(r: Any) -> Any:
    return {"version": r.version}


class VersionCommand(Command):
    """
    A request of one C{version} ("what changed after it": FP, FRP, FRUS,
    UG): its four request codecs follow from C{request}, unless the
    subclass declares its own.
    """

    requestToTcp = staticmethod(versionToTcp)
    requestToWs = staticmethod(_versionToWs)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "requestFromTcp" not in cls.__dict__:
            cls.requestFromTcp = staticmethod(versionFromTcp(cls.request))
        if "requestFromWs" not in cls.__dict__:
            cls.requestFromWs = staticmethod(versionFromWs(cls.request))


#: One field of a flat request: its attribute, its protobuf field and how
#: to read it, its JSON key and how to read it.
Field = Tuple[str, str, Callable[[Any], Any], str, Callable[[Any], Any]]


def flatCommand(name: str, subsignal: int, request: type, message: Any,
                fields: Sequence[Field], wsOrder: Sequence[str], doc: str) -> Type[Command]:
    """
    The command of a code-only request whose fields stand flat in one
    protobuf C{message} and one JSON object (MDR, FHR).

    @param fields: in the order of C{request}'s attributes, which is the
        order they are read in.
    @param wsOrder: the attributes in the order the JSON object has them.
    """
    keys = {attribute: (pbName, wsKey) for attribute, pbName, _, wsKey, _ in fields}

    def fromTcp(body: bytes) -> Any:
        m = parsePb(message, body)
        return request(*[read(getattr(m, pbName)) for _, pbName, read, _, _ in fields])

    def fromWs(content: Any) -> Any:
        o = jobj(content)
        return request(*[read(o.get(wsKey)) for _, _, _, wsKey, read in fields])

    return cast(Type[Command], type(name, (Command,), {
        "__doc__": doc, "__module__": __name__, "subsignal": int(subsignal), "request": request,
        "requestFromTcp": staticmethod(fromTcp),
        "requestFromWs": staticmethod(fromWs),
        "requestToTcp": staticmethod(lambda r: pb_(message, **{
            keys[a][0]: getattr(r, a) for a in wsOrder})),
        "requestToWs": staticmethod(lambda r: {keys[a][1]: getattr(r, a) for a in wsOrder}),
    }))


def int64Notification(subsignal: int, push: type, key: str, doc: str) -> Type[Notification]:
    """
    The notification of a push whose one field C{key} is an int64: a bare
    big-endian int64 body on TCP, C{{"<key>":"<decimal>"}} on WebSocket
    (FN, FRN, UN).
    """
    template = '{"%s":"%%d"}' % (key,)
    return cast(Type[Notification], type(push.__name__ + "Notification", (Notification,), {
        "__doc__": doc, "__module__": __name__, "push": push, "subsignal": int(subsignal),
        "toTcp": staticmethod(lambda p: INT64.pack(getattr(p, key))),
        "toWs": staticmethod(lambda p: template % (getattr(p, key),)),
        "fromTcp": staticmethod(lambda body: push(int64FromBody(body))),
        "fromWs": staticmethod(lambda v: push(jint(jobj(v).get(key)))),
    }))


class PluginPushNotification(Notification):
    """
    L{PluginPush}: a plugin's JSON value on its own subsignal (64-127), the
    JSON bytes as the TCP body (empty for L{None}), the JSON text as the
    content (C{""} for L{None}).
    """

    push = PluginPush
    toTcp = staticmethod(lambda p: b"" if p.value is None else _jsonText(p.value).encode("utf-8"))
    toWs = staticmethod(lambda p: "" if p.value is None else _jsonText(p.value))

    # The push names its subsignal.

    @classmethod
    def frame(cls, push: Any) -> Frame:
        return Frame(cls.signal, int(push.subsignal), 0, cls.toTcp(push))

    @classmethod
    def envelope(cls, push: Any) -> Envelope:
        return Envelope(cls.signal, int(push.subsignal), 0, cls.toWs(push))

    @classmethod
    def decodeTcp(cls, subsignal: int, body: bytes) -> Any:
        return PluginPush(subsignal, guarded(cls.__name__, loadsJson, body) if body else None)

    @classmethod
    def decodeWs(cls, subsignal: int, value: Any) -> Any:
        return PluginPush(subsignal, value)
