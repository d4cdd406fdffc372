# -*- test-case-name: fxim.test.test_websocket -*-
"""
The WebSocket transport (Autobahn): JSON text frames on any URL path.

Autobahn's protocol owns C{sendFrame}, C{sendMessage}, C{log}, C{peer} and
C{factory.reactor}; this module stays out of those names.
"""

from typing import Any, Optional

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from fxim.errors import WireError
from fxim.interfaces import IConnection
from fxim.wire.codecs import encodePushWs
from fxim.wire.envelope import HEARTBEAT, Envelope, decodeEnvelope, encodeEnvelope

_log = Logger()

#: Upstream's WebSocket heartbeat timeout.
DEFAULT_WS_IDLE = 60.0
DEFAULT_WS_MAX_PAYLOAD = 1024 * 1024


@implementer(IConnection)
class EnvelopeProtocol(WebSocketServerProtocol):
    """
    One WebSocket client connection.
    """

    transportName = "ws"
    uid: Optional[str] = None
    cid: Optional[str] = None
    pendingConnect: Optional[Deferred] = None
    _fximClosed = False
    _idleCall = None
    _idleSeconds = DEFAULT_WS_IDLE

    def onOpen(self) -> None:
        try:
            self.setIdleTimeout(self.factory.idleTimeout)
        except Exception:
            _log.failure("{peer}: onOpen failed", peer=self.peer)
            self.dropConnection(abort=True)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self._touch()
        if isBinary:
            return  # upstream ignores binary frames
        try:
            text = payload.decode("utf-8")
            if text == HEARTBEAT:
                return
            envelope = decodeEnvelope(text)
        except (WireError, UnicodeDecodeError) as e:
            _log.info("{peer}: dropping malformed frame: {error}", peer=self.peer, error=str(e))
            return
        d = self.factory.dispatcher.dispatch(
            self, envelope.signal, envelope.subsignal, envelope.messageId, envelope.content)
        d.addCallback(self._outcome)

    def _outcome(self, outcome: Any) -> None:
        if self._fximClosed:
            return
        if outcome.reply is not None:
            self._sendEnvelope(outcome.reply)
        if outcome.close:
            self.disconnect()

    def _sendEnvelope(self, envelope: Envelope) -> None:
        self.sendMessage(encodeEnvelope(envelope).encode("utf-8"), False)

    def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
        self._fximClosed = True
        if self._idleCall is not None and self._idleCall.active():
            self._idleCall.cancel()
        self._idleCall = None
        self.factory.connectionLost(self)

    def _touch(self) -> None:
        if self._idleCall is not None and self._idleCall.active():
            self._idleCall.reset(self._idleSeconds)

    def _idle(self) -> None:
        self._idleCall = None
        _log.info("{peer}: idle timeout", peer=self.peer)
        self.disconnect()

    # IConnection

    def sendPush(self, push: Any) -> None:
        if not self._fximClosed:
            self.sendMessage(encodePushWs(push).encode("utf-8"), False)

    def sendRaw(self, tcpBytes: bytes, wsText: str) -> None:
        if not self._fximClosed:
            self.sendMessage(wsText.encode("utf-8"), False)

    def disconnect(self) -> None:
        if not self._fximClosed:
            self._fximClosed = True
            self.sendClose()
            # Don't wait forever for a close handshake from a dead peer.
            self.factory.clock.callLater(5, self._dropIfOpen)

    def _dropIfOpen(self) -> None:
        if self.transport is not None and self.state != self.STATE_CLOSED:
            self.dropConnection(abort=True)

    def setIdleTimeout(self, seconds: float) -> None:
        self._idleSeconds = seconds
        if self._idleCall is not None and self._idleCall.active():
            self._idleCall.cancel()
        self._idleCall = self.factory.clock.callLater(seconds, self._idle)


class EnvelopeFactory(WebSocketServerFactory):
    """
    Builds L{EnvelopeProtocol}s sharing one dispatcher; accepts any path.

    @ivar clock: the reactor used for idle timeouts (autobahn owns
        C{reactor}, so it is passed on to autobahn too).
    """

    protocol = EnvelopeProtocol

    def __init__(self, dispatcher: Any, reactor: Any, maxPayload: int = DEFAULT_WS_MAX_PAYLOAD,
                 idleTimeout: float = DEFAULT_WS_IDLE, onLost: Any = None) -> None:
        WebSocketServerFactory.__init__(self, reactor=reactor)
        self.dispatcher = dispatcher
        self.clock = reactor
        self.idleTimeout = idleTimeout
        self.onLost = onLost
        self.setProtocolOptions(
            maxMessagePayloadSize=maxPayload, maxFramePayloadSize=maxPayload,
            requireMaskedClientFrames=False,
        )

    def connectionLost(self, connection: EnvelopeProtocol) -> None:
        if self.onLost is not None:
            self.onLost(connection)
