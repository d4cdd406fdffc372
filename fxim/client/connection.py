# -*- test-case-name: fxim.test.e2e.test_client -*-
"""
One client connection to an fxim (or universe_push) server, over TCP or
WebSocket, with one API: typed requests in, typed responses and pushes out.
"""

import json
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.defer import Deferred, fail
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from fxim import crypto
from fxim.errors import ErrorCode, SignalError
from fxim.transport.nodelay import setNoDelay
from fxim.protocol.client import CLIENT, ClientWire
from fxim.wire import requests as rq
from fxim.wire.envelope import HEARTBEAT, Envelope
from fxim.wire.frame import Frame, FrameDecoder, encodeFrame
from fxim.wire.signals import Signal, SubSignal

_log = Logger()

def registerPluginSubsignal(name: str, ordinal: int) -> None:
    """
    Teach the SDK's connections the WebSocket name of a plugin subsignal
    (64-127), whose requests and replies are JSON.

    @raise ValueError: if the name or ordinal is taken differently.
    """
    ClientConnection.wire = ClientWire(
        ClientConnection.wire.registry.withPluginNames({name: ordinal}))


class RequestFailed(SignalError):
    """
    The server answered a request with a non-zero code (on WebSocket, where
    data replies carry no code, C{INVALID_DATA} stands for "failed").
    """


class ConnectionLost(RequestFailed):
    """
    The connection closed before the reply came (the request may or may
    not have reached the server).
    """

    def __init__(self, description: str = "connection lost") -> None:
        super().__init__(ErrorCode.SERVER_ERROR, description)


class _Core:
    """
    Request/response bookkeeping shared by both transports.
    """

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self._nextId = 0
        self._pending: Dict[Tuple[int, int], Deferred] = {}
        self._connectWaiter: Optional[Deferred] = None
        self.pushObservers: List[Callable[[Any], None]] = []
        self.closed: Deferred = Deferred()
        self.userId: Optional[str] = None
        self.clientId: Optional[str] = None

    def messageId(self) -> int:
        self._nextId = self._nextId % 65535 + 1
        return self._nextId

    def expect(self, signal: int, subsignal: int, messageId: int, timeout: float) -> Deferred:
        d: Deferred = Deferred()
        key = (subsignal, messageId)
        self._pending[key] = d
        timer = self.clock.callLater(timeout, self._timeout, key)
        d.addBoth(lambda r: (timer.cancel() if timer.active() else None, r)[1])
        return d

    def _timeout(self, key: Tuple[int, int]) -> None:
        d = self._pending.pop(key, None)
        if d is not None:
            d.errback(RequestFailed(ErrorCode.TIMEOUT, f"no reply to {key}"))

    def resolve(self, subsignal: int, messageId: int, result: Any, failed: bool = False) -> bool:
        d = self._pending.pop((subsignal, messageId), None)
        if d is None:
            return False
        (d.errback if failed else d.callback)(result)
        return True

    def push(self, push: Any) -> None:
        for observer in list(self.pushObservers):
            try:
                observer(push)
            except Exception:
                _log.failure("push observer failed")

    def lost(self, reason: Any) -> None:
        pending, self._pending = self._pending, {}
        for d in pending.values():
            d.errback(ConnectionLost())
        if self._connectWaiter is not None and not self._connectWaiter.called:
            self._connectWaiter.errback(ConnectionLost())
        if not self.closed.called:
            self.closed.callback(None)


class ClientConnection:
    """
    The transport-neutral API; see L{connect}.

    @ivar transportName: C{"tcp"} or C{"ws"}.
    @ivar ack: the L{rq.ConnectAck} of the last CONNECT.
    @ivar wire: the L{ClientWire} encoding requests and decoding replies
        and pushes (the built-in commands plus the plugin subsignals given
        to L{registerPluginSubsignal}).
    """

    transportName = ""
    ack: Optional[rq.ConnectAck] = None
    wire: ClientWire = CLIENT

    def __init__(self) -> None:
        self.core: _Core = None  # type: ignore[assignment]

    @property
    def userId(self) -> Optional[str]:
        return self.core.userId

    @property
    def clientId(self) -> Optional[str]:
        return self.core.clientId

    def onPush(self, observer: Callable[[Any], None]) -> None:
        """
        Call C{observer(push)} for every server push (MN, RMN, FN, FRN,
        transparent messages, plugin pushes).
        """
        self.core.pushObservers.append(observer)

    async def connect(self, userId: str, token: str, clientId: str, timeout: float = 10.0) -> rq.ConnectAck:
        """
        Prove the device with a password derived from C{token}.

        @raise RequestFailed: with the CONNECT_ACK code if refused.
        """
        password = crypto.makePassword(token, int(self.core.clock.seconds() * 1000))
        return await self.connectWithPassword(userId, password, clientId, timeout)

    async def connectWithPassword(self, userId: str, password: str, clientId: str,
                                  timeout: float = 10.0) -> rq.ConnectAck:
        self.core.userId, self.core.clientId = userId, clientId
        d: Deferred = Deferred()
        self.core._connectWaiter = d
        def expire() -> None:
            if not d.called:
                d.errback(RequestFailed(ErrorCode.TIMEOUT, "no CONNECT_ACK"))
        timer = self.core.clock.callLater(timeout, expire)
        self._sendConnect(rq.ConnectRequest(userId, password, clientId))
        try:
            ack = await d
        finally:
            if timer.active():
                timer.cancel()
        self.ack = ack
        if ack.code != SubSignal.CONNECTION_ACCEPTED:
            raise RequestFailed(ack.code, f"CONNECT refused with {ack.code}")
        return ack

    def request(self, request: Any, timeout: float = 10.0, subsignal: Optional[int] = None) -> Deferred:
        """
        Send one PUBLISH request and wait for its PUB_ACK.

        @return: a L{Deferred} firing with the typed response (None for
            code-only subsignals), or failing with L{RequestFailed} on a
            non-zero code or a timeout.
        """
        if request is not None:
            subsignal = self.wire.requestKey(request, subsignal)[1]
        sub = cast(int, subsignal)
        if self.core.closed.called:
            return fail(ConnectionLost("connection closed"))
        messageId = self.core.messageId()
        d = self.core.expect(Signal.PUBLISH, sub, messageId, timeout)
        try:
            self._sendPublish(sub, messageId, request)
        except Exception as e:  # e.g. autobahn's Disconnected while closing
            self.core.resolve(sub, messageId,
                              ConnectionLost(f"send failed: {e}"), failed=True)
        return d

    async def ping(self, interval: int, timeout: float = 10.0) -> str:
        """
        Send a TCP heartbeat; @return: the server's text reply.
        """
        raise NotImplementedError("PING is a TCP signal")

    def disconnect(self, clearSession: bool = False, timeout: float = 5.0) -> None:
        """
        Send DISCONNECT and close.  With C{clearSession} (log out) the
        server closes the connection once the session is deleted, so the
        client waits for that (at most C{timeout} seconds): when C{closed}
        fires, the token no longer works.
        """
        self._sendDisconnect(clearSession)
        if not clearSession:
            self.close()
            return
        timer = self.core.clock.callLater(timeout, self.close)
        self.core.closed.addBoth(lambda r: (timer.cancel() if timer.active() else None, r)[1])

    def close(self) -> Deferred:
        """
        Close the connection; @return: a L{Deferred} firing once closed.
        """
        raise NotImplementedError()

    def abort(self) -> Deferred:
        """
        Drop the connection at once, without waiting for buffered data
        (for a peer that stopped answering); @return: L{closed}.
        """
        raise NotImplementedError()

    @property
    def closed(self) -> Deferred:
        return self.core.closed

    # What each transport sends.

    def _sendConnect(self, request: rq.ConnectRequest) -> None:
        raise NotImplementedError()

    def _sendPublish(self, subsignal: int, messageId: int, request: Any) -> None:
        raise NotImplementedError()

    def _sendDisconnect(self, clearSession: bool) -> None:
        raise NotImplementedError()


class _TcpProtocol(Protocol, ClientConnection):
    transportName = "tcp"
    #: An ITCPTransport once connected.
    transport: Any

    def __init__(self, clock: Any) -> None:
        ClientConnection.__init__(self)
        self.core = _Core(clock)
        self._decoder = FrameDecoder(1 << 30)
        self._pings: Dict[int, Deferred] = {}

    def connectionMade(self) -> None:
        # A request must not wait for the server's delayed ACK of the last.
        setNoDelay(self.transport)

    def dataReceived(self, data: bytes) -> None:
        for frame in self._decoder.feed(data):
            self._frame(frame)

    def _frame(self, frame: Frame) -> None:
        core = self.core
        if frame.signal == Signal.CONNECT_ACK:
            ack = self.wire.decodeReplyTcp(frame.subsignal, frame.body, Signal.CONNECT_ACK)[1]
            if core._connectWaiter is not None and not core._connectWaiter.called:
                core._connectWaiter.callback(ack)
        elif frame.signal == Signal.PING:
            d = self._pings.pop(frame.messageId, None)
            if d is not None:
                d.callback(frame.body.decode("utf-8", "replace"))
        elif frame.signal == Signal.PUB_ACK and (frame.subsignal, frame.messageId) in core._pending:
            code, response = self.wire.decodeReplyTcp(frame.subsignal, frame.body)
            if code:
                core.resolve(frame.subsignal, frame.messageId, RequestFailed(cast(ErrorCode, code)),
                             failed=True)
            else:
                core.resolve(frame.subsignal, frame.messageId, response)
        elif self.wire.isPush(frame.signal, frame.subsignal, frame.messageId):
            core.push(self.wire.decodePushTcp(frame))

    def connectionLost(self, reason: Any = None) -> None:
        pings, self._pings = self._pings, {}
        for d in pings.values():
            d.errback(ConnectionLost())
        self.core.lost(reason)

    def writeFrame(self, frame: Frame) -> None:
        self.transport.write(encodeFrame(frame))

    def _sendConnect(self, request: rq.ConnectRequest) -> None:
        self.writeFrame(Frame(Signal.CONNECT, 0, 0, self.wire.encodeRequestTcp(request)))

    def _sendPublish(self, subsignal: int, messageId: int, request: Any) -> None:
        body = b"" if request is None else self.wire.encodeRequestTcp(request)
        self.writeFrame(Frame(Signal.PUBLISH, subsignal, messageId, body))

    def _sendDisconnect(self, clearSession: bool) -> None:
        self.writeFrame(Frame(Signal.DISCONNECT, 0, 0, bytes([1 if clearSession else 0])))

    async def ping(self, interval: int, timeout: float = 10.0) -> str:
        messageId = self.core.messageId()
        d: Deferred = Deferred()
        self._pings[messageId] = d

        def expire() -> None:
            if self._pings.pop(messageId, None) is d:
                d.errback(RequestFailed(ErrorCode.TIMEOUT, "no PING reply"))
        timer = self.core.clock.callLater(timeout, expire)
        self.writeFrame(Frame(Signal.PING, 0, messageId, json.dumps({"interval": interval}).encode()))
        try:
            return await d
        finally:
            if timer.active():
                timer.cancel()

    def close(self) -> Deferred:
        self.transport.loseConnection()
        return self.core.closed

    def abort(self) -> Deferred:
        self.transport.abortConnection()
        return self.core.closed


class _WsProtocol(WebSocketClientProtocol, ClientConnection):  # type: ignore[misc]
    transportName = "ws"

    def __init__(self) -> None:
        WebSocketClientProtocol.__init__(self)
        ClientConnection.__init__(self)
        self.opened: Deferred = Deferred()

    def connectionMade(self) -> None:
        WebSocketClientProtocol.connectionMade(self)
        # Autobahn's own setTcpNoDelay runs before its options are copied
        # onto the protocol and fails silently (see fxim.transport.websocket).
        setNoDelay(self.transport)

    def onOpen(self) -> None:
        self.core = _Core(self.factory.clock)
        self.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        try:
            self._envelope(self.wire.decodeServerEnvelope(payload.decode("utf-8")))
        except Exception:
            _log.failure("bad message from server")

    def _envelope(self, envelope: Envelope) -> None:
        core = self.core
        signal, subsignal, messageId = envelope.signal, envelope.subsignal, envelope.messageId
        if signal == Signal.CONNECT_ACK:
            ack = self.wire.decodeReplyWs(subsignal, envelope.content, Signal.CONNECT_ACK)
            if core._connectWaiter is not None and not core._connectWaiter.called:
                core._connectWaiter.callback(ack)
        elif signal == Signal.PUB_ACK and (subsignal, messageId) in core._pending:
            if not envelope.content:
                core.resolve(subsignal, messageId,
                             RequestFailed(ErrorCode.INVALID_DATA, "request failed"), failed=True)
                return
            response = self.wire.decodeReplyWs(subsignal, envelope.content)
            if self.wire.codeOnly(subsignal) and response != 200:
                core.resolve(subsignal, messageId, RequestFailed(ErrorCode.INVALID_DATA), failed=True)
            else:
                core.resolve(subsignal, messageId, None if self.wire.codeOnly(subsignal) else response)
        elif self.wire.isPush(signal, subsignal, messageId):
            core.push(self.wire.decodePushWs(envelope))

    def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
        if self.core is not None:
            self.core.lost(reason)
        elif not self.opened.called:
            self.opened.errback(RequestFailed(ErrorCode.SERVER_ERROR, f"closed: {reason}"))

    def _send(  # type: ignore[override]
            self, signal: int, subsignal: int, messageId: int, content: Any) -> None:
        text = json.dumps({"signal": Signal(signal).name, "subSignal": self.wire.subSignalName(subsignal),
                           "messageId": messageId, "content": content}, ensure_ascii=False)
        self.sendMessage(text.encode("utf-8"), False)

    def _sendConnect(self, request: rq.ConnectRequest) -> None:
        self._send(Signal.CONNECT, 0, 0, self.wire.encodeRequestWs(request))

    def _sendPublish(self, subsignal: int, messageId: int, request: Any) -> None:
        content = {} if request is None else self.wire.encodeRequestWs(request)
        self._send(Signal.PUBLISH, subsignal, messageId, content)

    def _sendDisconnect(self, clearSession: bool) -> None:
        self._send(Signal.DISCONNECT, 0, 0, {"clearSession": 1 if clearSession else 0})

    def heartbeat(self) -> None:
        """
        Send the web client's heartbeat text frame.
        """
        self.sendMessage(HEARTBEAT.encode("utf-8"), False)

    def sendText(self, text: str) -> None:
        """
        Send an arbitrary text frame (for tests of bad input).
        """
        self.sendMessage(text.encode("utf-8"), False)

    def close(self) -> Deferred:
        self.sendClose()
        return self.core.closed

    def abort(self) -> Deferred:
        self.dropConnection(abort=True)
        return self.core.closed


def _endpoint(reactor: Any, host: str, port: int, tls: Any, alpn: Any = None) -> Any:
    endpoint = TCP4ClientEndpoint(reactor, host, port)
    if tls is None:
        return endpoint
    from twisted.internet.endpoints import wrapClientTLS
    return wrapClientTLS(tls.forHost(host, alpn), endpoint)


def _withWire(protocol: Any, wire: Optional[ClientWire]) -> Any:
    if wire is not None:
        protocol.wire = wire
    return protocol


async def connectTcp(reactor: Any, host: str, port: int, tls: Any = None,
                     wire: Optional[ClientWire] = None) -> ClientConnection:
    """
    Open a TCP connection (not yet authenticated; call C{connect}).

    @param tls: a L{fxim.client.tls.ClientTLS} to speak TLS (an C{ssl:}
        port of the server), or L{None} for plain TCP.
    @param wire: the L{ClientWire} of the commands to speak (by default
        L{ClientConnection.wire}).
    """
    factory = Factory.forProtocol(lambda: _withWire(_TcpProtocol(reactor), wire))
    return await _endpoint(reactor, host, port, tls).connect(factory)


async def connectWs(reactor: Any, host: str, port: int, path: str = "/ws",
                    tls: Any = None, wire: Optional[ClientWire] = None) -> ClientConnection:
    """
    Open a WebSocket connection (not yet authenticated; call C{connect}).

    @param tls: a L{fxim.client.tls.ClientTLS} for C{wss://}, or L{None}
        for C{ws://}.
    @param wire: see L{connectTcp}.
    """
    scheme = "ws" if tls is None else "wss"
    factory = WebSocketClientFactory(f"{scheme}://{host}:{port}{path}", reactor=reactor)
    factory.protocol = _WsProtocol
    factory.clock = reactor  # type: ignore[attr-defined]
    protocol = await _endpoint(reactor, host, port, tls, [b"http/1.1"]).connect(factory)
    return _withWire(await protocol.opened, wire)


async def openConnection(reactor: Any, transportName: str, host: str, port: int,
                         path: str = "/ws", tls: Any = None,
                         wire: Optional[ClientWire] = None) -> ClientConnection:
    """
    Open a connection of either transport (C{path} is the WebSocket URL
    path; C{tls} a L{fxim.client.tls.ClientTLS} for TLS; C{wire} see
    L{connectTcp}).
    """
    if transportName == "tcp":
        return await connectTcp(reactor, host, port, tls, wire)
    return await connectWs(reactor, host, port, path, tls, wire)
