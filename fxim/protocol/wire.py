# -*- test-case-name: fxim.test.unit.test_dispatch -*-
"""
The wire objects each transport factory owns: L{TcpWire} (universe_push
frames, protobuf bodies) and L{WsWire} (JSON envelopes).  A wire object
turns what its transport received into an L{Incoming} request for the
dispatcher, and renders replies and pushes with the commands and
notifications of its L{CommandRegistry}; the dispatcher never asks which
transport it serves.
"""

from typing import Any, Optional, Type, Union

import attr

from fxim.errors import ErrorCode
from fxim.protocol.command import Command
from fxim.protocol.registry import BUILTIN, CommandRegistry
from fxim.wire.envelope import Envelope, decodeEnvelope, encodeEnvelope
from fxim.wire.frame import Frame, encodeFrame
from fxim.wire.sanitize import TooManyItems, checkValue, tooManyItems
from fxim.wire.signals import Signal

__all__ = ["Incoming", "TcpWire", "WsWire"]

_PUB_ACK = int(Signal.PUB_ACK)

@attr.s(frozen=True, slots=True, auto_attribs=True)
class Incoming:
    """
    One request as a wire object received it; the dispatcher decodes it
    with C{wire.decodeRequest} once it wants the typed request (so that a
    request refused first -- before CONNECT, over the rate -- costs no
    parsing) and answers with C{wire.reply}.

    @ivar signal: the L{Signal} ordinal.
    @ivar subsignal: the SubSignal ordinal as received.
    @ivar messageId: the correlation id.
    @ivar command: the L{Command} for (signal, subsignal), or L{None}.
    @ivar payload: the undecoded body (TCP bytes or WebSocket content).
    @ivar wire: the wire object it came through.
    @ivar items: a bound on the length of the payload's lists, or -1
        (unknown; see L{Envelope.items}).
    """

    signal: int
    subsignal: int
    messageId: int
    command: Optional[Type[Command]]
    payload: Any
    wire: "Wire"
    items: int = -1


class TcpWire:
    """
    The TCP wire: frame bodies are protobuf (or the command's binary form).

    @ivar registry: the L{CommandRegistry}.
    """

    #: The last push encoded and its bytes: one push delivered to many
    #: connections of one transport is encoded once.
    _lastPush: Any = None
    _lastBytes = b""

    def __init__(self, registry: CommandRegistry = BUILTIN) -> None:
        self.registry = registry

    def incoming(self, frame: Frame) -> Incoming:
        """
        The request a received frame carries.
        """
        return Incoming(frame.signal, frame.subsignal, frame.messageId,
                        self.registry.byKey.get((frame.signal, frame.subsignal)), frame.body, self)

    def decodeRequest(self, command: Type[Command], payload: bytes,
                      maxItems: Optional[int] = None, items: int = -1) -> Any:
        return command.decodeTcp(payload)

    def reply(self, command: Type[Command], messageId: int, code: int,
              response: Any) -> Optional[Frame]:
        return command.replyTcp(messageId, code, response)

    def notImplemented(self, messageId: int, subsignal: int) -> Frame:
        return Frame(_PUB_ACK, subsignal & 0x7F, messageId, bytes((ErrorCode.NOT_IMPLEMENT,)))

    #: The bytes of a reply frame (the frame encoder itself: no call
    #: between the transport and it).
    serialize = staticmethod(encodeFrame)

    def encodePush(self, push: Any) -> bytes:
        """
        The whole frame (header included) of a push.

        @raise TypeError: for a push no notification declares.
        """
        if push is not self._lastPush:
            notification = (self.registry.byPush.get(type(push))
                            or self.registry.notificationFor(push))  # (raises)
            self._lastBytes = encodeFrame(notification.frame(push))
            self._lastPush = push
        return self._lastBytes


class WsWire:
    """
    The WebSocket wire: JSON envelopes whose C{content} is JSON text.

    @ivar registry: the L{CommandRegistry} (its plugin names too).
    """

    #: The last push encoded and its bytes (see L{TcpWire}).
    _lastPush: Any = None
    _lastBytes = b""

    def __init__(self, registry: CommandRegistry = BUILTIN) -> None:
        self.registry = registry

    def decodeText(self, text: str) -> Envelope:
        """
        Parse a client text frame.

        @raise WireError: see L{decodeEnvelope}.
        """
        return decodeEnvelope(text, self.registry.pluginOrdinals)

    def incoming(self, envelope: Envelope) -> Incoming:
        """
        The request a received envelope carries.
        """
        return Incoming(envelope.signal, envelope.subsignal, envelope.messageId,
                        self.registry.byKey.get((envelope.signal, envelope.subsignal)),
                        envelope.content, self, envelope.items)

    def decodeRequest(self, command: Type[Command], payload: Any,
                      maxItems: Optional[int] = None, items: int = -1) -> Any:
        """
        @param items: a bound on the length of C{payload}'s lists (-1:
            unknown): under C{maxItems}, they need no walk.
        """
        # i10a: long id lists are refused before they are converted (the
        # depth was checked by decodeEnvelope).
        if maxItems is not None and not 0 <= items <= maxItems:
            refused = checkValue(payload, nul=False, maxItems=maxItems)
            if tooManyItems(refused):
                raise TooManyItems(refused)
        return command.decodeWs(payload)

    def reply(self, command: Type[Command], messageId: int, code: int,
              response: Any) -> Optional[Envelope]:
        return command.replyWs(messageId, code, response)

    def notImplemented(self, messageId: int, subsignal: int) -> Envelope:
        return Envelope(_PUB_ACK, subsignal, messageId, "")

    def serialize(self, reply: Envelope) -> bytes:
        """
        The UTF-8 text of a reply envelope.
        """
        return encodeEnvelope(reply, self.registry.pluginNames).encode("utf-8")

    def encodePush(self, push: Any) -> bytes:
        """
        The UTF-8 envelope text of a push.

        @raise TypeError: for a push no notification declares.
        """
        if push is not self._lastPush:
            notification = (self.registry.byPush.get(type(push))
                            or self.registry.notificationFor(push))  # (raises)
            envelope = notification.envelope(push)
            self._lastBytes = self.serialize(envelope)
            self._lastPush = push
        return self._lastBytes


Wire = Union[TcpWire, WsWire]
