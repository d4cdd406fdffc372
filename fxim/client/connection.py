# -*- test-case-name: fxim.test.test_client -*-
"""
One client connection to an fxim (or universe_push) server, over TCP or
WebSocket, with one API: typed requests in, typed responses and pushes out.
"""

import json
from typing import Any, Callable, Dict, List, Optional, Tuple

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger

from fxim import crypto
from fxim.errors import ErrorCode, SignalError
from fxim.wire import clientcodecs, im_pb2, requests as rq
from fxim.wire.envelope import Envelope, HEARTBEAT, decodeEnvelope, encodeEnvelope, subSignalName
from fxim.wire.frame import Frame, FrameDecoder, encodeFrame
from fxim.wire.signals import PLUGIN_SUBSIGNALS, Signal, SubSignal

_log = Logger()

#: The PUBLISH subsignal of each request type.
SUBSIGNAL_OF: Dict[type, int] = {
    rq.SendMessage: SubSignal.MS, rq.PullMessages: SubSignal.MP,
    rq.RecallMessage: SubSignal.MR, rq.LoadHistory: SubSignal.LRM,
    rq.SearchUsers: SubSignal.US, rq.PullUsers: SubSignal.UPUI,
    rq.ModifyMyInfo: SubSignal.MMI, rq.AddFriend: SubSignal.FAR,
    rq.SetFriendAlias: SubSignal.FALS, rq.HandleFriendRequest: SubSignal.FHR,
    rq.PullFriendRequests: SubSignal.FRP, rq.SyncFriendRequestUnread: SubSignal.FRUS,
    rq.PullFriends: SubSignal.FP, rq.CreateGroup: SubSignal.GC,
    rq.PullGroupInfo: SubSignal.GPGI, rq.PullGroupMembers: SubSignal.GPGM,
    rq.AddGroupMembers: SubSignal.GAM, rq.KickGroupMembers: SubSignal.GKM,
    rq.QuitGroup: SubSignal.GQ, rq.DismissGroup: SubSignal.GD,
    rq.ModifyGroupInfo: SubSignal.GMI, rq.GetUploadToken: SubSignal.GQNUT,
    rq.GetUploadUrl: SubSignal.GMURL,
}


def _isPlugin(subsignal: int) -> bool:
    return subsignal in PLUGIN_SUBSIGNALS


def _bodyTcp(request: Any) -> bytes:
    if request is None:
        return b""
    if isinstance(request, rq.JsonRequest):
        return json.dumps(request.value, ensure_ascii=False).encode("utf-8")
    return clientcodecs.encodeRequestTcp(request)


def _contentWs(request: Any) -> Any:
    if request is None:
        return {}
    if isinstance(request, rq.JsonRequest):
        return request.value
    return clientcodecs.encodeRequestWs(request)


def _replyTcp(subsignal: int, body: bytes) -> Tuple[int, Any]:
    if not body:
        return ErrorCode.INVALID_DATA, None
    if body[0] != 0:
        return body[0], None
    if _isPlugin(subsignal):
        return 0, (json.loads(body[1:]) if len(body) > 1 else None)
    return clientcodecs.decodeReplyTcp(subsignal, body)


def _pushTcp(frame: Frame) -> Any:
    if _isPlugin(frame.subsignal):
        return rq.PluginPush(frame.subsignal, json.loads(frame.body) if frame.body else None)
    return clientcodecs.decodePushTcp(frame)


def _pushWs(envelope: Envelope) -> Any:
    if _isPlugin(envelope.subsignal):
        return rq.PluginPush(envelope.subsignal, envelope.content)
    return clientcodecs.decodePushWs(envelope)


class RequestFailed(SignalError):
    """
    The server answered a request with a non-zero code (on WebSocket, where
    data replies carry no code, C{INVALID_DATA} stands for "failed").
    """


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
        self.uid: Optional[str] = None
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
            d.errback(RequestFailed(ErrorCode.SERVER_ERROR, "connection lost"))
        if self._connectWaiter is not None and not self._connectWaiter.called:
            self._connectWaiter.errback(RequestFailed(ErrorCode.SERVER_ERROR, "connection lost"))
        if not self.closed.called:
            self.closed.callback(None)


class ClientConnection:
    """
    The transport-neutral API; see L{connect}.

    @ivar transportName: C{"tcp"} or C{"ws"}.
    @ivar ack: the L{rq.ConnectAck} of the last CONNECT.
    """

    transportName = ""
    ack: Optional[rq.ConnectAck] = None

    def __init__(self) -> None:
        self.core: _Core = None  # type: ignore[assignment]

    @property
    def uid(self) -> Optional[str]:
        return self.core.uid

    @property
    def clientId(self) -> Optional[str]:
        return self.core.clientId

    def onPush(self, observer: Callable[[Any], None]) -> None:
        """
        Call C{observer(push)} for every server push (MN, RMN, FN, FRN,
        transparent messages, plugin pushes).
        """
        self.core.pushObservers.append(observer)

    async def connect(self, uid: str, token: str, clientId: str, timeout: float = 10.0) -> rq.ConnectAck:
        """
        Prove the device with a password derived from C{token}.

        @raise RequestFailed: with the CONNECT_ACK code if refused.
        """
        password = crypto.makePassword(token, int(self.core.clock.seconds() * 1000))
        return await self.connectWithPassword(uid, password, clientId, timeout)

    async def connectWithPassword(self, uid: str, password: str, clientId: str,
                                  timeout: float = 10.0) -> rq.ConnectAck:
        self.core.uid, self.core.clientId = uid, clientId
        d: Deferred = Deferred()
        self.core._connectWaiter = d
        timer = self.core.clock.callLater(timeout, lambda: d.called or d.errback(
            RequestFailed(ErrorCode.TIMEOUT, "no CONNECT_ACK")))
        self._sendConnect(rq.ConnectRequest(uid, password, clientId))
        try:
            ack = await d
        finally:
            if timer.active():
                timer.cancel()
        self.ack = ack
        if ack.code != SubSignal.CONNECTION_ACCEPTED:
            raise RequestFailed(ack.code, f"CONNECT refused with {ack.code}")
        return ack

    async def request(self, request: Any, timeout: float = 10.0, subsignal: Optional[int] = None) -> Any:
        """
        Send one PUBLISH request and wait for its PUB_ACK.

        @return: the typed response (None for code-only subsignals).
        @raise RequestFailed: on a non-zero code or a timeout.
        """
        if subsignal is None:
            subsignal = SUBSIGNAL_OF[type(request)]
        messageId = self.core.messageId()
        d = self.core.expect(Signal.PUBLISH, subsignal, messageId, timeout)
        self._sendPublish(subsignal, messageId, request)
        return await d

    async def ping(self, interval: int, timeout: float = 10.0) -> str:
        """
        Send a TCP heartbeat; @return: the server's text reply.
        """
        raise NotImplementedError("PING is a TCP signal")

    def disconnect(self, clearSession: bool = False) -> None:
        """
        Send DISCONNECT (clearSession logs the device out) and close.
        """
        self._sendDisconnect(clearSession)
        self.close()

    def close(self) -> Deferred:
        """
        Close the connection; @return: a L{Deferred} firing once closed.
        """
        raise NotImplementedError()

    @property
    def closed(self) -> Deferred:
        return self.core.closed


def _connectAckTcp(frame: Frame) -> rq.ConnectAck:
    if frame.subsignal != SubSignal.CONNECTION_ACCEPTED or not frame.body:
        return rq.ConnectAck(frame.subsignal)
    payload = im_pb2.ConnectAckPayload.FromString(frame.body)
    return rq.ConnectAck(frame.subsignal, payload.msg_head, payload.friend_head,
                         payload.friend_rq_head, payload.setting_head, payload.server_time)


def _connectAckWs(subName: str, content: Any) -> rq.ConnectAck:
    code = SubSignal[subName] if subName in SubSignal.__members__ else 0
    if code != SubSignal.CONNECTION_ACCEPTED or not content:
        return rq.ConnectAck(code)
    value = json.loads(content)
    return rq.ConnectAck(code, msgHead=int(value.get("messageHead", 0)),
                         friendHead=int(value.get("friendHead", 0)))


class _TcpProtocol(Protocol, ClientConnection):
    transportName = "tcp"

    def __init__(self, clock: Any) -> None:
        ClientConnection.__init__(self)
        self.core = _Core(clock)
        self._decoder = FrameDecoder(1 << 30)
        self._pings: Dict[int, Deferred] = {}

    def dataReceived(self, data: bytes) -> None:
        for frame in self._decoder.feed(data):
            self._frame(frame)

    def _frame(self, frame: Frame) -> None:
        core = self.core
        if frame.signal == Signal.CONNECT_ACK:
            ack = _connectAckTcp(frame)
            if core._connectWaiter is not None and not core._connectWaiter.called:
                core._connectWaiter.callback(ack)
        elif frame.signal == Signal.PING:
            d = self._pings.pop(frame.messageId, None)
            if d is not None:
                d.callback(frame.body.decode("utf-8", "replace"))
        elif frame.signal == Signal.PUB_ACK and (frame.subsignal, frame.messageId) in core._pending:
            code, response = _replyTcp(frame.subsignal, frame.body)
            if code:
                core.resolve(frame.subsignal, frame.messageId, RequestFailed(code), failed=True)
            else:
                core.resolve(frame.subsignal, frame.messageId, response)
        elif frame.signal in (Signal.PUBLISH, Signal.PUB_ACK):
            core.push(_pushTcp(frame))

    def connectionLost(self, reason: Any = None) -> None:
        self.core.lost(reason)

    def writeFrame(self, frame: Frame) -> None:
        self.transport.write(encodeFrame(frame))

    def _sendConnect(self, request: rq.ConnectRequest) -> None:
        self.writeFrame(Frame(Signal.CONNECT, 0, 0, clientcodecs.encodeRequestTcp(request)))

    def _sendPublish(self, subsignal: int, messageId: int, request: Any) -> None:
        self.writeFrame(Frame(Signal.PUBLISH, subsignal, messageId, _bodyTcp(request)))

    def _sendDisconnect(self, clearSession: bool) -> None:
        self.writeFrame(Frame(Signal.DISCONNECT, 0, 0, bytes([1 if clearSession else 0])))

    async def ping(self, interval: int, timeout: float = 10.0) -> str:
        messageId = self.core.messageId()
        d: Deferred = Deferred()
        self._pings[messageId] = d
        self.writeFrame(Frame(Signal.PING, 0, messageId, json.dumps({"interval": interval}).encode()))
        return await d

    def close(self) -> Deferred:
        self.transport.loseConnection()
        return self.core.closed


class _WsProtocol(WebSocketClientProtocol, ClientConnection):
    transportName = "ws"

    def __init__(self) -> None:
        WebSocketClientProtocol.__init__(self)
        ClientConnection.__init__(self)
        self.opened: Deferred = Deferred()

    def onOpen(self) -> None:
        self.core = _Core(self.factory.clock)
        self.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        try:
            self._envelope(json.loads(payload.decode("utf-8")))
        except Exception:
            _log.failure("bad message from server")

    def _envelope(self, obj: dict) -> None:
        core = self.core
        signal = Signal[obj["signal"]]
        subName = obj.get("subSignal", "NONE")
        messageId = obj.get("messageId", 0)
        content = obj.get("content")
        if signal == Signal.CONNECT_ACK:
            ack = _connectAckWs(subName, content)
            if core._connectWaiter is not None and not core._connectWaiter.called:
                core._connectWaiter.callback(ack)
            return
        envelope = decodeEnvelope(json.dumps(obj))
        subsignal = envelope.subsignal
        if signal == Signal.PUB_ACK and (subsignal, messageId) in core._pending:
            try:
                if content == "":
                    raise RequestFailed(ErrorCode.INVALID_DATA, "request failed")
                response = (json.loads(content) if _isPlugin(subsignal)
                            else clientcodecs.decodeReplyWs(subsignal, content))
            except SignalError as e:
                core.resolve(subsignal, messageId, RequestFailed(e.code), failed=True)
            else:
                core.resolve(subsignal, messageId, response)
        elif signal in (Signal.PUBLISH, Signal.PUB_ACK):
            core.push(_pushWs(envelope))

    def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
        if self.core is not None:
            self.core.lost(reason)
        elif not self.opened.called:
            self.opened.errback(RequestFailed(ErrorCode.SERVER_ERROR, f"closed: {reason}"))

    def _send(self, signal: int, subsignal: int, messageId: int, content: Any) -> None:
        text = json.dumps({"signal": Signal(signal).name, "subSignal": subSignalName(subsignal),
                           "messageId": messageId, "content": content}, ensure_ascii=False)
        self.sendMessage(text.encode("utf-8"), False)

    def _sendConnect(self, request: rq.ConnectRequest) -> None:
        self._send(Signal.CONNECT, 0, 0, clientcodecs.encodeRequestWs(request))

    def _sendPublish(self, subsignal: int, messageId: int, request: Any) -> None:
        self._send(Signal.PUBLISH, subsignal, messageId, _contentWs(request))

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


async def connectTcp(reactor: Any, host: str, port: int) -> ClientConnection:
    """
    Open a TCP connection (not yet authenticated; call C{connect}).
    """
    factory = Factory.forProtocol(lambda: _TcpProtocol(reactor))
    return await TCP4ClientEndpoint(reactor, host, port).connect(factory)


async def connectWs(reactor: Any, host: str, port: int, path: str = "/ws") -> ClientConnection:
    """
    Open a WebSocket connection (not yet authenticated; call C{connect}).
    """
    factory = WebSocketClientFactory(f"ws://{host}:{port}{path}", reactor=reactor)
    factory.protocol = _WsProtocol
    factory.clock = reactor
    protocol = await TCP4ClientEndpoint(reactor, host, port).connect(factory)
    return await protocol.opened


async def openConnection(reactor: Any, transportName: str, host: str, port: int) -> ClientConnection:
    """
    Open a connection of either transport.
    """
    if transportName == "tcp":
        return await connectTcp(reactor, host, port)
    return await connectWs(reactor, host, port)
