# -*- test-case-name: fxim.test.unit.test_tcp -*-
"""
The binary TCP transport: frames the 10-byte universe_push header in the
style of L{twisted.protocols.basic.IntNStringReceiver} and hands each frame to
the L{fxim.dispatch.Dispatcher}.
"""

from typing import Any, Optional

from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from zope.interface import implementer

from fxim.errors import WireError
from fxim.interfaces import IConnection
from fxim.transport.nodelay import setNoDelay
from fxim.protocol.registry import BUILTIN
from fxim.protocol.wire import TcpWire
from fxim.wire.frame import DEFAULT_MAX_LENGTH, Frame, FrameDecoder, encodeFrame

_log = Logger()

#: Idle timeout before any PING (upstream C{Const.TIMEOUT}).
DEFAULT_TCP_IDLE = 120.0

#: Largest frame body buffered before CONNECT is accepted (CONNECT and
#: PING bodies are small JSON; see docs/security.md).
DEFAULT_PREAUTH_MAX_LENGTH = 64 * 1024

#: Seconds a connection may stay without an accepted CONNECT.
DEFAULT_CONNECT_TIMEOUT = 30.0


@implementer(IConnection)
class FrameProtocol(Protocol, TimeoutMixin):
    """
    One TCP client connection.

    @ivar userId: the authenticated user, or None before CONNECT.
    @ivar cid: the device's clientIdentifier, or None before CONNECT.
    """

    transportName = "tcp"
    userId: Optional[str] = None
    cid: Optional[str] = None
    peer = "?"
    _closed = False
    _connectDeadline: Any = None
    #: An ITCPTransport once connected (abortConnection included).
    transport: Any

    def connectionMade(self) -> None:
        # Small replies must not wait for the client's delayed ACK.
        setNoDelay(self.transport)
        # TimeoutMixin schedules with the factory's reactor.
        self.callLater = self.factory.reactor.callLater  # type: ignore[method-assign]
        # Until CONNECT is accepted only small frames are buffered, and the
        # connection has a deadline no traffic extends.
        self._decoder = FrameDecoder(min(self.factory.preAuthMaxLength, self.factory.maxLength))
        address = self.transport.getPeer()
        self.peer = f"tcp:{getattr(address, 'host', '?')}:{getattr(address, 'port', '?')}"
        self.setTimeout(self.factory.idleTimeout)
        if self.factory.connectTimeout:
            self._connectDeadline = self.callLater(self.factory.connectTimeout,
                                                   self._connectTimedOut)

    def _connectTimedOut(self) -> None:
        self._connectDeadline = None
        if self.userId is None and not self._closed:
            _log.info("{peer}: no CONNECT within {seconds}s; closing", peer=self.peer,
                      seconds=self.factory.connectTimeout)
            self._closed = True
            self.transport.abortConnection()

    def _authenticated(self) -> None:
        """
        Lift the pre-authentication limits (once a CONNECT was accepted).
        """
        self._decoder.maxLength = self.factory.maxLength
        if self._connectDeadline is not None and self._connectDeadline.active():
            self._connectDeadline.cancel()
        self._connectDeadline = None

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()
        try:
            frames = self._decoder.feed(data)
        except WireError as e:
            _log.info("{peer}: closing on bad frame: {error}", peer=self.peer, error=str(e))
            self._closed = True
            self.transport.abortConnection()
            return
        for frame in frames:
            if self._closed:
                return
            d = self.factory.dispatcher.dispatch(self, self.factory.wire.incoming(frame))
            d.addCallback(self._outcome)

    def _outcome(self, outcome: Any) -> None:
        if self._closed:
            return
        if self.userId is not None and self._decoder.maxLength != self.factory.maxLength:
            self._authenticated()
        if outcome.reply is not None:
            self.transport.write(self.factory.wire.serialize(outcome.reply))
        if outcome.close:
            self.disconnect()

    def timeoutConnection(self) -> None:
        _log.info("{peer}: idle timeout", peer=self.peer)
        self.disconnect()

    def connectionLost(self, reason: Any = None) -> None:
        self._closed = True
        self.setTimeout(None)
        if self._connectDeadline is not None and self._connectDeadline.active():
            self._connectDeadline.cancel()
        self._connectDeadline = None
        self.factory.connectionLost(self)

    # IConnection

    def writeFrame(self, frame: Frame) -> None:
        """
        Send one frame now.
        """
        if not self._closed:
            self.transport.write(encodeFrame(frame))

    def sendPush(self, push: Any) -> None:
        if not self._closed:
            self.transport.write(self.factory.wire.encodePush(push))

    def disconnect(self) -> None:
        if not self._closed:
            self._closed = True
            self.transport.loseConnection()

    def setIdleTimeout(self, seconds: float) -> None:
        self.setTimeout(seconds)


class FrameFactory(Factory):
    """
    Builds L{FrameProtocol}s sharing one dispatcher.

    @ivar dispatcher: the L{fxim.dispatch.Dispatcher}.
    @ivar wire: the L{TcpWire} (with the dispatcher's commands) decoding
        requests and encoding replies and pushes.
    @ivar reactor: the reactor whose clock times connections out.
    @ivar maxLength: the largest accepted frame body.
    @ivar idleTimeout: seconds of silence before a connection is closed.
    @ivar onLost: called with each connection that closes.
    @ivar preAuthMaxLength: the largest frame body accepted before CONNECT.
    @ivar connectTimeout: seconds a connection may stay without an accepted
        CONNECT (0 = forever).
    """

    protocol = FrameProtocol

    def __init__(self, dispatcher: Any, reactor: Any, maxLength: int = DEFAULT_MAX_LENGTH,
                 idleTimeout: float = DEFAULT_TCP_IDLE, onLost: Any = None,
                 preAuthMaxLength: int = DEFAULT_PREAUTH_MAX_LENGTH,
                 connectTimeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        self.dispatcher = dispatcher
        self.wire = TcpWire(BUILTIN if dispatcher is None else dispatcher.commands)
        self.reactor = reactor
        self.maxLength = maxLength
        self.idleTimeout = idleTimeout
        self.onLost = onLost
        self.preAuthMaxLength = preAuthMaxLength
        self.connectTimeout = connectTimeout

    def connectionLost(self, connection: FrameProtocol) -> None:
        if self.onLost is not None:
            self.onLost(connection)
