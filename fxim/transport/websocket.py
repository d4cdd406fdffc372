# -*- test-case-name: fxim.test.unit.test_websocket -*-
"""
The WebSocket transport (Autobahn): JSON text frames on any URL path.

Autobahn's protocol owns C{sendFrame}, C{sendMessage}, C{log}, C{peer} and
C{factory.reactor}; this module stays out of those names.
"""

from typing import Any, Optional

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.logger import Logger
from zope.interface import implementer

from fxim.errors import WireError
from fxim.interfaces import IConnection
from fxim.transport.nodelay import setNoDelay
from fxim.protocol.registry import BUILTIN
from fxim.protocol.wire import WsWire
from fxim.wire.envelope import HEARTBEAT, Envelope

_log = Logger()

#: i15: bodies of the plain answers to non-WebSocket requests.
_HTTP_ERROR_BODY = {
    426: "This port speaks the WebSocket protocol only; the web chat is on the HTTP port.\n",
}
_HTTP_REASON = {400: "Bad Request", 404: "Not Found", 426: "Upgrade Required"}

#: Upstream's WebSocket heartbeat timeout.
DEFAULT_WS_IDLE = 60.0
DEFAULT_WS_MAX_PAYLOAD = 1024 * 1024

#: Largest WebSocket message accepted before CONNECT is accepted.
DEFAULT_WS_PREAUTH_PAYLOAD = 64 * 1024

#: Seconds a connection may stay without an accepted CONNECT.
DEFAULT_CONNECT_TIMEOUT = 30.0


@implementer(IConnection)
class EnvelopeProtocol(WebSocketServerProtocol):
    """
    One WebSocket client connection.
    """

    transportName = "ws"
    userId: Optional[str] = None
    cid: Optional[str] = None
    _fximClosed = False
    _idleCall = None
    _idleSeconds = DEFAULT_WS_IDLE
    _connectDeadline: Any = None
    #: Autobahn's payload limits (copied from the factory's options).
    maxMessagePayloadSize: int
    maxFramePayloadSize: int
    logOctets: bool

    def connectionMade(self) -> None:
        WebSocketServerProtocol.connectionMade(self)
        # Autobahn tries setTcpNoDelay(self.tcpNoDelay) before it copies the
        # factory's options onto the protocol, and swallows the
        # AttributeError: accepted WS sockets kept Nagle on.  Small pushes
        # must not wait for the client's delayed ACK.
        setNoDelay(self.transport)
        # The deadline runs from the TCP connection, handshake included;
        # heartbeats do not extend it.
        if self.factory.connectTimeout:
            self._connectDeadline = self.factory.clock.callLater(
                self.factory.connectTimeout, self._connectTimedOut)

    # Autobahn formats the arguments of a debug line (qualified names,
    # terminal colours) on every read and every write, logged or not: a
    # twentieth of a message's cost.  These two do the same minus that line.

    def dataReceived(self, data: bytes) -> None:
        self._dataReceived(data)

    def sendData(self, data: bytes, sync: bool = False, chopsize: Optional[int] = None) -> None:
        if sync or chopsize or self.send_queue or self.logOctets or self.state != self.STATE_OPEN:
            WebSocketServerProtocol.sendData(self, data, sync, chopsize)
            return
        self.transport.write(data)  # type: ignore[union-attr]
        self.trafficStats.outgoingOctetsWireLevel += len(data)

    def _connectTimedOut(self) -> None:
        self._connectDeadline = None
        if self.userId is None and not self._fximClosed:
            _log.info("{peer}: no CONNECT within {seconds}s; closing", peer=self.peer,
                      seconds=self.factory.connectTimeout)
            self._fximClosed = True
            self.dropConnection(abort=True)

    def _authenticated(self) -> None:
        """
        Lift the pre-authentication payload limit (once a CONNECT was
        accepted; the factory's options are the pre-auth ones).
        """
        self.maxMessagePayloadSize = self.factory.fullPayload
        self.maxFramePayloadSize = self.factory.fullPayload
        self._cancelConnectDeadline()

    def _cancelConnectDeadline(self) -> None:
        if self._connectDeadline is not None and self._connectDeadline.active():
            self._connectDeadline.cancel()
        self._connectDeadline = None

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
            envelope = self.factory.wire.decodeText(text)
        except (WireError, UnicodeDecodeError) as e:
            _log.info("{peer}: dropping malformed frame: {error}", peer=self.peer, error=str(e))
            return
        d = self.factory.dispatcher.dispatch(self, self.factory.wire.incoming(envelope))
        d.addCallback(self._outcome)

    def _outcome(self, outcome: Any) -> None:
        if self._fximClosed:
            return
        if self.userId is not None and self.maxMessagePayloadSize != self.factory.fullPayload:
            self._authenticated()
        if outcome.reply is not None:
            self._sendEnvelope(outcome.reply)
        if outcome.close:
            self.disconnect()

    def _sendEnvelope(self, envelope: Envelope) -> None:
        self._sendText(self.factory.wire.serialize(envelope))

    def _sendText(self, data: bytes) -> None:
        """
        Send one text message.  The payload limit bounds what clients send;
        what the node sends is bounded by the pull cap and by the senders'
        own limits, so a message over it (a lone huge stored message, a big
        transparent push) is still sent rather than lost.
        """
        limit = self.maxMessagePayloadSize
        if not limit or len(data) <= limit:
            self.sendMessage(data, False)
            return
        _log.info("{peer}: sending a {size}-byte message over the {limit}-byte payload limit",
                  peer=self.peer, size=len(data), limit=limit)
        self.maxMessagePayloadSize = 0
        try:
            self.sendMessage(data, False)
        finally:
            self.maxMessagePayloadSize = limit

    def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
        self._fximClosed = True
        self._cancelConnectDeadline()
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
            self._sendText(self.factory.wire.encodePush(push))

    def disconnect(self) -> None:
        if not self._fximClosed:
            self._fximClosed = True
            self.sendClose()
            # Don't wait forever for a close handshake from a dead peer.
            self.factory.clock.callLater(5, self._dropIfOpen)

    def sendHttpErrorResponse(self, code: int, reason: str, responseHeaders: Any = None) -> None:
        # i15: Autobahn's own answers to a plain HTTP request (its status
        # page, a redirect, a bare status line) name its version; answer a
        # complete, versionless plain-text response instead.
        body = _HTTP_ERROR_BODY.get(code, "Bad request.\n").encode("utf-8")
        head = [f"HTTP/1.1 {int(code)} {_HTTP_REASON.get(code, 'Bad Request')}",
                "Content-Type: text/plain; charset=utf-8",
                f"Content-Length: {len(body)}", "Connection: close"]
        if code == 426:
            head.append("Upgrade: websocket")
        self.sendData(("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body)

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
                 idleTimeout: float = DEFAULT_WS_IDLE, onLost: Any = None,
                 preAuthPayload: int = DEFAULT_WS_PREAUTH_PAYLOAD,
                 connectTimeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        WebSocketServerFactory.__init__(self, reactor=reactor)
        self.dispatcher = dispatcher
        #: The L{WsWire} (with the dispatcher's commands) decoding requests
        #: and encoding replies and pushes.
        self.wire = WsWire(BUILTIN if dispatcher is None else dispatcher.commands)
        self.clock = reactor
        self.idleTimeout = idleTimeout
        self.onLost = onLost
        self.connectTimeout = connectTimeout
        #: The payload limit once CONNECT is accepted; autobahn copies the
        #: factory's (pre-auth) options into each new protocol.
        self.fullPayload = maxPayload
        preAuth = min(preAuthPayload, maxPayload)
        self.setProtocolOptions(
            maxMessagePayloadSize=preAuth, maxFramePayloadSize=preAuth,
            requireMaskedClientFrames=False,
            # i15: no status page on a plain GET: a versionless 426.
            webStatus=False,
        )
        # i15: no "Server: AutobahnPython/<version>" header either.
        self.server = None

    def connectionLost(self, connection: EnvelopeProtocol) -> None:
        if self.onLost is not None:
            self.onLost(connection)
