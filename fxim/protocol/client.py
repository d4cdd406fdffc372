# -*- test-case-name: fxim.test.unit.test_codecs -*-
"""
L{ClientWire}: the client side of the commands -- encode typed requests as
the real clients do (the Java TCP SDK's protobuf bodies, the web client's
JSON C{content}) and decode the server's replies and pushes back into
typed objects.  Used by the Python client SDK, end-to-end tests and the
round-trip tests.

What a transport cannot carry is lost on the way back, exactly as with the
real clients: on WebSocket a C{PullUsers} update time, a
C{MessageNotify.target}, a group's C{memberUpdateDt}, friend-request read
flags and the extra ConnectAck heads.
"""

import json
from typing import Any, Optional, Tuple, Type

from fxim.errors import WireError
from fxim.protocol.command import Command, JsonCommand, guarded
from fxim.protocol.registry import BUILTIN, CommandRegistry
from fxim.wire.envelope import Envelope, decodeEnvelope, subSignalName
from fxim.wire.frame import Frame, encodeFrame
from fxim.wire.signals import Signal, SubSignal

__all__ = ["ClientWire", "CLIENT"]


def _wsValue(contentText: Any) -> Any:
    if contentText is None or contentText == "":
        return None
    if type(contentText) is not str:
        raise WireError("content is not text")
    try:
        return json.loads(contentText)
    except (ValueError, RecursionError) as e:
        raise WireError(f"bad content JSON: {e}") from None


class ClientWire:
    """
    The client side of both transports, for the commands of a
    L{CommandRegistry}.

    @ivar registry: the L{CommandRegistry}.
    """

    def __init__(self, registry: CommandRegistry = BUILTIN) -> None:
        self.registry = registry

    # -- requests --------------------------------------------------------------

    def commandFor(self, request: Any) -> Type[Command]:
        """
        The command C{request} is sent with.

        @raise TypeError: if C{request} is not a request.
        """
        return self.registry.forRequest(request)

    def requestKey(self, request: Any, subsignal: Optional[int] = None) -> Tuple[int, int]:
        """
        The (signal, subsignal) a request travels as; C{subsignal} is needed
        (and only used) for a plugin L{JsonRequest}.
        """
        command = self.commandFor(request)
        sub = command.subsignal
        if command is JsonCommand:
            if subsignal is None:
                raise ValueError("a JsonRequest needs its plugin subsignal")
            sub = subsignal
        return int(command.signal), int(sub)

    def encodeRequestTcp(self, request: Any) -> bytes:
        """
        The TCP body of a request, as the Java SDK writes it.
        """
        return self.commandFor(request).encodeTcp(request)

    def encodeRequestWs(self, request: Any) -> Any:
        """
        The WebSocket C{content} value of a request, as the web client
        builds it (a dict or list, to be put in the envelope as is).
        """
        return self.commandFor(request).encodeWs(request)

    def encodeRequestFrame(self, request: Any, messageId: int,
                           subsignal: Optional[int] = None) -> bytes:
        """
        A whole TCP frame for a request.
        """
        signal, sub = self.requestKey(request, subsignal)
        return encodeFrame(Frame(signal, sub, messageId, self.encodeRequestTcp(request)))

    def subSignalName(self, ordinal: int) -> str:
        """
        The WebSocket name of a subsignal (plugin names included).
        """
        return subSignalName(ordinal, self.registry.pluginNames)

    def encodeRequestEnvelope(self, request: Any, messageId: int,
                              subsignal: Optional[int] = None) -> str:
        """
        A whole WebSocket text frame for a request, keys in the web client's
        order.
        """
        signal, sub = self.requestKey(request, subsignal)
        return json.dumps({"signal": Signal(signal).name, "subSignal": self.subSignalName(sub),
                           "messageId": messageId, "content": self.encodeRequestWs(request)},
                          ensure_ascii=False, separators=(",", ":"))

    # -- replies ---------------------------------------------------------------

    def _replyCommand(self, signal: int, subsignal: int) -> Type[Command]:
        if signal == Signal.CONNECT_ACK:
            command = self.registry.lookup(Signal.CONNECT, SubSignal.NONE)
        elif signal == Signal.PING:
            command = self.registry.lookup(Signal.PING, SubSignal.NONE)
        elif signal == Signal.PUB_ACK:
            command = self.registry.replyCommand(subsignal)
            if command is None:
                raise WireError(f"no reply decoder for subsignal {subsignal}")
        else:
            raise WireError(f"signal {signal} is not a reply")
        assert command is not None
        return command

    def codeOnly(self, subsignal: int) -> bool:
        """
        Whether the TCP reply to PUBLISH C{subsignal} carries only a code.
        """
        command = self.registry.lookup(Signal.PUBLISH, subsignal)
        return command is not None and command.codeOnly()

    def decodeReplyTcp(self, subsignal: int, body: bytes,
                       signal: int = Signal.PUB_ACK) -> Tuple[int, Any]:
        """
        Decode a reply frame's body.

        @param signal: C{PUB_ACK} (default), C{CONNECT_ACK} or C{PING}.
        @return: C{(code, response)}: the ErrorCode and the typed response
            (L{None} for a failure or a code-only reply).  For CONNECT_ACK
            the code is 0 and the result is L{ConnectAck.code}; for PING it
            is 0.
        @raise WireError: on a malformed body.
        """
        if signal == Signal.PUB_ACK and self.registry.replyCommand(subsignal) is None:
            # A failure code needs no decoder (NOT_IMPLEMENT for an unknown
            # subsignal).
            if len(body) < 1:
                raise WireError("PUB_ACK without a code")
            if body[0] != 0:
                return body[0], None
        return self._replyCommand(signal, subsignal).decodeReplyTcp(subsignal, body)

    def decodeReplyFrame(self, frame: Frame) -> Tuple[int, Any]:
        """
        L{decodeReplyTcp} for a whole L{Frame}.
        """
        return self.decodeReplyTcp(frame.subsignal, frame.body, frame.signal)

    def decodeReplyWs(self, subsignal: int, contentText: Optional[str],
                      signal: int = Signal.PUB_ACK) -> Any:
        """
        Decode a reply envelope's raw C{content} text (not yet JSON-parsed).

        @param signal: C{PUB_ACK} (default) or C{CONNECT_ACK}.
        @return: the typed response; L{None} for C{""} (failure); for
            code-only subsignals the WsResult code, C{200} on success or
            C{400}.
        @raise WireError: on malformed content.
        """
        value = _wsValue(contentText)
        if signal not in (Signal.CONNECT_ACK, Signal.PUB_ACK):
            raise WireError(f"signal {signal} is not a reply")
        return self._replyCommand(signal, subsignal).decodeReplyWs(subsignal, value)

    # -- pushes ----------------------------------------------------------------

    @staticmethod
    def isPush(signal: int, subsignal: int, messageId: int) -> bool:
        """
        Whether a server frame is a push rather than a reply: any PUBLISH,
        and the unsolicited PUB_ACK/MP with messageId 0 (transparent
        messages).
        """
        return signal == Signal.PUBLISH or (
            signal == Signal.PUB_ACK and subsignal == SubSignal.MP and messageId == 0)

    def _notification(self, signal: int, subsignal: int, messageId: int) -> Any:
        if not self.isPush(signal, subsignal, messageId):
            raise WireError("not a push")
        notification = self.registry.notificationAt(signal, subsignal)
        if notification is None:
            raise WireError(f"unknown push subsignal {subsignal}")
        return notification

    def decodePushTcp(self, frame: Frame) -> Any:
        """
        Decode a server push frame (see L{isPush}).

        @raise WireError: if it is not a well-formed push.
        """
        notification = self._notification(frame.signal, frame.subsignal, frame.messageId)
        return notification.decodeTcp(frame.subsignal, bytes(frame.body))

    def decodePushWs(self, envelope: Envelope) -> Any:
        """
        Decode a server push envelope whose C{content} is the raw JSON text
        (as L{decodeServerEnvelope} returns it).

        @raise WireError: if it is not a well-formed push.
        """
        value = guarded("push", _wsValue, envelope.content)
        notification = self._notification(envelope.signal, envelope.subsignal,
                                          envelope.messageId)
        return notification.decodeWs(envelope.subsignal, value)

    def decodeServerEnvelope(self, text: str) -> Envelope:
        """
        Parse a server text frame, keeping C{content} as the raw JSON text
        (or L{None} when absent), unlike L{decodeEnvelope} which parses it.

        @raise WireError: for anything that is not a server envelope.
        """
        header = decodeEnvelope(text, self.registry.pluginOrdinals)
        try:
            raw = json.loads(text).get("content")
        except (ValueError, RecursionError) as e:  # pragma: no cover (decodeEnvelope parsed it)
            raise WireError(str(e)) from None
        if raw is not None and type(raw) is not str:
            raise WireError("server content is not a string")
        return Envelope(header.signal, header.subsignal, header.messageId, raw)


#: The client side of the built-in commands.
CLIENT = ClientWire()
