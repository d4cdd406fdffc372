# -*- test-case-name: fxim.test.e2e.test_client -*-
"""
L{ChatClient}: the high-level client of an fxim (or universe_push) server,
one API over TCP and WebSocket.

It logs in over HTTP (or takes L{Credentials}), connects, keeps the
connection alive with heartbeats, reconnects after any drop with
exponential backoff and jitter, resends unacknowledged messages with their
original local id (the server deduplicates them and answers the original
uid), pulls messages after every MN from the last seq it saw (never
skipping or repeating one), and hands typed objects to observers.

    client = ChatClient(reactor, "tcp", "127.0.0.1", 6789, httpBase="http://127.0.0.1:8081")
    await client.login("13800000000", "556677")
    client.onMessage(lambda m: print(m.fromUser, m.content.searchableContent))
    await client.start()
    result = await client.sendText(peerUid, "hello")

Nothing of the wire (frames, envelopes, subsignals, request objects) shows
through: arguments and results are L{fxim.model} records and the small
records defined here.  Time comes from the injected reactor (or C{clock}).
"""

import base64
import json
import random as _random
import re
import uuid
from collections import OrderedDict
from enum import Enum
from io import BytesIO
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import attr
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger

from fxim.client.connection import ConnectionLost, RequestFailed, openConnection
from fxim.client.http import Credentials, login as _httpLogin, sendCode as _httpSendCode
from fxim.errors import ErrorCode
from fxim.model import (
    ContentType, Conversation, ConversationType, Friend, FriendRequest,
    FriendState, GroupInfo, GroupMember, Message, MessageContent, MyInfoType, User,
)
from fxim.wire import requests as rq
from fxim.wire.signals import SubSignal

_log = Logger()

__all__ = [
    "Backoff", "ChatClient", "ConnectionState", "GroupEvent", "NotConnected", "Recall",
    "SendResult", "Unauthorized", "UploadFailed", "describe", "groupEvent",
]


# -- typed results and events ---------------------------------------------------

@attr.s(frozen=True, slots=True, auto_attribs=True)
class SendResult:
    """
    A stored message: its server uid and timestamp (ms), and the local id
    it was sent (and possibly resent) with.
    """

    messageUid: int
    timestamp: int
    localId: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Recall:
    """
    The message C{uid} was recalled by C{fromUser}.
    """

    messageUid: int
    fromUser: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class GroupEvent:
    """
    A group notification message (types 104-112) decoded.

    @ivar kind: the content type (104 create, 105 add, 106 kick, 107 quit,
        108 dismiss, 110 rename, 112 portrait, ...).
    @ivar groupId: the group.
    @ivar operator: who did it.
    @ivar name: the (new) name for 104 and 110, else C{""}.
    @ivar members: the added or kicked member ids (105, 106).
    """

    kind: int
    groupId: str
    operator: str
    name: str = ""
    members: Sequence[str] = ()


class ConnectionState(str, Enum):
    """
    What L{ChatClient.onState} observers are told.
    """

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    STOPPED = "stopped"
    #: The server refused the credentials: no more reconnects.
    UNAUTHORIZED = "unauthorized"


class NotConnected(Exception):
    """
    The client is stopped (or was refused), so the request was not sent.
    """


class Unauthorized(Exception):
    """
    The server refused the credentials (CONNECT_ACK code in C{code}); log
    in again.
    """

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class UploadFailed(Exception):
    """
    The media PUT answered C{status} (not 200).
    """

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


#: CONNECT_ACK codes after which reconnecting with the same credentials is
#: pointless (protocol version, identifier, password, authorization, session).
_FATAL_CONNECT = frozenset({
    SubSignal.CONNECTION_REFUSED_UNACCEPTABLE_PROTOCOL_VERSION,
    SubSignal.CONNECTION_REFUSED_IDENTIFIER_REJECTED,
    SubSignal.CONNECTION_REFUSED_BAD_USER_NAME_OR_PASSWORD,
    SubSignal.CONNECTION_REFUSED_NOT_AUTHORIZED,
    SubSignal.CONNECTION_REFUSED_SESSION_NOT_EXIST,
})

_GROUP_NOTIFICATIONS = frozenset(range(104, 118))


def groupEvent(message: Message) -> Optional[GroupEvent]:
    """
    Decode a group notification message (content types 104-117 in a group
    conversation); @return: L{None} for any other message.
    """
    content = message.content
    if content.type not in _GROUP_NOTIFICATIONS:
        return None
    try:
        data = json.loads(bytes(content.data).decode("utf-8")) if content.data else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    groupId = str(data.get("g") or message.conversation.target)
    members = data.get("ms") or ()
    return GroupEvent(content.type, groupId, str(data.get("o") or message.fromUser),
                      str(data.get("n") or ""), tuple(str(m) for m in members))


class Backoff:
    """
    Reconnect delays: exponential growth with random jitter, so that many
    clients dropped at the same moment (a server restart) spread their
    reconnects instead of arriving together.

    Attempt C{n} (from 0) waits a random time in
    C{[base * (1 - jitter), base]} where C{base = min(maximum, initial *
    factor ** n)}.  The default C{jitter=1.0} is "full jitter": uniform in
    C{[0, base]}.
    """

    def __init__(self, initial: float = 1.0, maximum: float = 60.0, factor: float = 2.0,
                 jitter: float = 1.0, random: Optional[_random.Random] = None) -> None:
        if not 0 <= jitter <= 1:
            raise ValueError("jitter must be within [0, 1]")
        self.initial, self.maximum, self.factor, self.jitter = initial, maximum, factor, jitter
        self.random = random or _random.Random()

    def base(self, attempt: int) -> float:
        """
        The upper bound of the delay before attempt C{attempt}.
        """
        return min(self.maximum, self.initial * self.factor ** min(attempt, 64))

    def delay(self, attempt: int) -> float:
        """
        A random delay before attempt C{attempt}.
        """
        base = self.base(attempt)
        return base * (1.0 - self.jitter * self.random.random())


@attr.s(auto_attribs=True)
class _Outgoing:
    message: Message
    deferred: Deferred
    #: The message's local id (the outbox key), never None here.
    localId: int
    inFlight: bool = False
    attempts: int = 0


class _RecentUids:
    """
    The last C{size} message uids delivered (dedup of deliveries).
    """

    def __init__(self, size: int = 10000) -> None:
        self.size = size
        self._uids: "OrderedDict[int, None]" = OrderedDict()

    def add(self, messageUid: int) -> bool:
        """
        @return: whether C{uid} was new.
        """
        if messageUid in self._uids:
            return False
        self._uids[messageUid] = None
        if len(self._uids) > self.size:
            self._uids.popitem(last=False)
        return True


_SAFE_KEY = re.compile(r"[^A-Za-z0-9._\-]+")


class ChatClient:
    """
    A logged-in device of one user, connected over C{transport}.

    @ivar credentials: the L{Credentials} (uid, token, device id), or
        L{None} before L{login}.
    @ivar state: the L{ConnectionState}.
    @ivar lastSeq: the seq of the last message pulled; pulls continue from
        here, across reconnects (save it to continue across runs).
    @ivar lastLocalId: the last local message id used (save it too, so
        that a restarted client never reuses a local id within the
        server's deduplication window).
    @ivar groups: C{{groupId: name}} of the groups this device learned of
        from pulled messages (group notifications and group messages),
        minus those it left, was kicked from or saw dismissed.
    @ivar friendVersion: the friend-list version pulled so far.
    @ivar friendRequestVersion: the friend-request version pulled so far.
    @ivar attempt: reconnect attempts since the last successful CONNECT.
    @ivar resent: how many times a message was sent again (after a drop
        or a timeout), for statistics and tests.
    """

    def __init__(self, reactor: Any, transport: str = "tcp", host: str = "127.0.0.1",
                 port: Optional[int] = None, httpBase: Optional[str] = None,
                 credentials: Optional[Credentials] = None, *, wsPath: str = "/ws",
                 clock: Any = None, backoff: Optional[Backoff] = None,
                 heartbeatInterval: Optional[float] = None, heartbeatTimeout: float = 20.0,
                 requestTimeout: float = 10.0, lastSeq: int = 0, lastLocalId: int = 0,
                 groups: Optional[Dict[str, str]] = None, autoSync: bool = True,
                 connector: Optional[Callable[[], Any]] = None, tls: Any = None,
                 httpsTrust: Any = None) -> None:
        """
        @param transport: C{"tcp"} (binary) or C{"ws"} (WebSocket JSON).
        @param port: defaults to 6789 (TCP) or 9326 (WebSocket).
        @param httpBase: the HTTP API base URL, for L{login} and L{sendCode}.
        @param clock: an C{IReactorTime} for heartbeats, backoff and local
            ids (defaults to C{reactor}); tests pass a L{task.Clock}.
        @param heartbeatInterval: seconds between heartbeats: TCP PING (with
            that interval) or the WebSocket C{心跳内容} text frame; default
            60 (TCP) and 25 (WebSocket, as the web client).
        @param heartbeatTimeout: a TCP PING unanswered this long drops the
            connection (and so reconnects).
        @param autoSync: pull at connect and after every MN (default); with
            C{False} only L{sync} pulls (for one-shot tools).
        @param connector: a no-argument callable returning a L{Deferred} (or
            coroutine) of an unauthenticated
            L{fxim.client.connection.ClientConnection}; defaults to opening
            C{transport} to C{host:port}.
        @param tls: a L{fxim.client.tls.ClientTLS}: connect with TLS
            (C{wss://}, TLS TCP) and trust its authorities for C{https://}
            logins; L{None}: plain connections, platform trust for HTTPS.
        @param httpsTrust: a L{fxim.client.tls.ClientTLS} for C{https://}
            only (default: C{tls}), for plain connections with an HTTPS
            login.
        """
        if transport not in ("tcp", "ws"):
            raise ValueError("transport must be 'tcp' or 'ws'")
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.transport = transport
        self.host = host
        self.port = port or (6789 if transport == "tcp" else 9326)
        self.wsPath = wsPath
        self.httpBase = httpBase
        self.credentials = credentials
        self.backoff = backoff or Backoff()
        self.heartbeatInterval = (heartbeatInterval if heartbeatInterval is not None
                                  else (60.0 if transport == "tcp" else 25.0))
        self.heartbeatTimeout = heartbeatTimeout
        self.requestTimeout = requestTimeout
        self.lastSeq = lastSeq
        self.lastLocalId = lastLocalId
        self.groups: Dict[str, str] = dict(groups or {})
        self.autoSync = autoSync
        self.friendVersion = 0
        self.friendRequestVersion = 0
        self.tls = tls
        self.httpsTrust = httpsTrust if httpsTrust is not None else tls
        self._connector = connector or (lambda: openConnection(
            reactor, transport, self.host, self.port, self.wsPath, tls))
        self.state = ConnectionState.STOPPED
        self.connection: Any = None
        self.lastConnectAck: Optional[rq.ConnectAck] = None
        self.attempt = 0
        self.resent = 0
        self.nextRetryDelay: Optional[float] = None
        self._running = False
        self._retryCall: Any = None
        self._heartbeatCall: Any = None
        self._outbox: "OrderedDict[int, _Outgoing]" = OrderedDict()
        self._seen = _RecentUids()
        self._pulling = False
        self._pullAgain = False
        self._syncWaiters: List[Deferred] = []
        self._connectedWaiters: List[Deferred] = []
        # Pulls run by _coalesced, by name: {"again": bool, "done": Deferred}.
        self._coalescedPulls: Dict[str, Dict[str, Any]] = {}
        self._observers: Dict[str, List[Callable[..., None]]] = {
            k: [] for k in ("message", "recall", "transparent", "friend", "friendRequest",
                            "state", "group", "cursor")}

    # -- identity --------------------------------------------------------------

    @property
    def userId(self) -> Optional[str]:
        """
        This user's id (L{None} before login).
        """
        return self.credentials.userId if self.credentials else None

    async def sendCode(self, mobile: str) -> None:
        """
        Ask the server to send a login code to C{mobile} (over HTTP).

        @raise fxim.client.http.LoginError: on a refusal.
        """
        await _httpSendCode(self.reactor, self._http(), mobile, tls=self.httpsTrust)

    async def login(self, mobile: str, code: str, clientId: Optional[str] = None) -> Credentials:
        """
        Log in over HTTP and keep the credentials for L{start}.  The device
        id is C{clientId}, else the one of the current credentials, else a
        new UUID.

        @raise fxim.client.http.LoginError: on a refusal.
        """
        clientId = clientId or (self.credentials.clientId if self.credentials else None) \
            or str(uuid.uuid4())
        self.credentials = await _httpLogin(self.reactor, self._http(), mobile, code, clientId,
                                            tls=self.httpsTrust)
        return self.credentials

    def _http(self) -> str:
        if not self.httpBase:
            raise ValueError("no httpBase given")
        return self.httpBase

    # -- observers -------------------------------------------------------------

    def _observe(self, kind: str, observer: Callable[..., None]) -> Callable[[], None]:
        self._observers[kind].append(observer)
        return lambda: self._observers[kind].remove(observer)

    def onMessage(self, observer: Callable[[Message], None]) -> Callable[[], None]:
        """
        Call C{observer(message)} for every stored message pulled, in seq
        order, each once -- the user's own messages from any of his
        devices included.  @return: a function removing the observer (as
        every C{on*} method).
        """
        return self._observe("message", observer)

    def onRecall(self, observer: Callable[[Recall], None]) -> Callable[[], None]:
        """
        Call C{observer(recall)} for every L{Recall} pushed.  (The recall
        notice, type 80, also arrives later as a message.)
        """
        return self._observe("recall", observer)

    def onTransparent(self, observer: Callable[[Message], None]) -> Callable[[], None]:
        """
        Call C{observer(message)} for every transparent message (typing 91,
        call signalling 400-405): pushed at once, never stored.
        """
        return self._observe("transparent", observer)

    def onFriend(self, observer: Callable[[Friend], None]) -> Callable[[], None]:
        """
        Call C{observer(friend)} for every friend entry changed (added,
        deleted, alias or profile changed), after an FN push or at connect
        if the friend head moved.
        """
        return self._observe("friend", observer)

    def onFriendRequest(self, observer: Callable[[FriendRequest], None]) -> Callable[[], None]:
        """
        Call C{observer(request)} for every friend request changed (sent,
        received, accepted, rejected), after an FRN push or at connect.
        """
        return self._observe("friendRequest", observer)

    def onGroup(self, observer: Callable[[GroupEvent], None]) -> Callable[[], None]:
        """
        Call C{observer(event)} for every group notification pulled.
        """
        return self._observe("group", observer)

    def onState(self, observer: Callable[[ConnectionState], None]) -> Callable[[], None]:
        """
        Call C{observer(state)} on every L{ConnectionState} change.
        """
        return self._observe("state", observer)

    def onCursor(self, observer: Callable[[int], None]) -> Callable[[], None]:
        """
        Call C{observer(lastSeq)} whenever L{lastSeq} advanced (after the
        batch's messages were delivered): the moment to save it.
        """
        return self._observe("cursor", observer)

    def _fire(self, kind: str, value: Any) -> None:
        for observer in list(self._observers[kind]):
            try:
                observer(value)
            except Exception:
                _log.failure("{kind} observer failed", kind=kind)

    def _setState(self, state: ConnectionState) -> None:
        if state != self.state:
            self.state = state
            self._fire("state", state)

    # -- connection lifecycle ----------------------------------------------------

    def start(self) -> Deferred:
        """
        Connect, and keep reconnecting after every drop until L{stop}.

        @return: a L{Deferred} firing once connected (the first time), or
            failing with L{Unauthorized} if the server refuses the
            credentials.
        """
        if self.credentials is None:
            raise ValueError("log in first (or pass credentials)")
        d = self.whenConnected()
        if not self._running:
            self._running = True
            self.attempt = 0
            self._connectNow()
        return d

    def whenConnected(self) -> Deferred:
        """
        @return: a L{Deferred} firing when connected (at once if so), or
            failing with L{NotConnected}/L{Unauthorized} if the client
            stops first.
        """
        d: Deferred = Deferred()
        if self.state == ConnectionState.CONNECTED:
            d.callback(None)
        else:
            self._connectedWaiters.append(d)
        return d

    def _releaseWaiters(self, failure: Optional[Exception] = None) -> None:
        waiters, self._connectedWaiters = self._connectedWaiters, []
        for d in waiters:
            if failure is None:
                d.callback(None)
            else:
                d.errback(failure)

    def _connectNow(self) -> None:
        self._retryCall = None
        if not self._running:
            return
        self._setState(ConnectionState.CONNECTING)
        ensureDeferred(self._connectOnce()).addErrback(self._connectFailed)

    async def _connectOnce(self) -> None:
        conn = await self._connector()
        if not self._running:
            conn.close()
            return
        conn.onPush(lambda push: self._push(conn, push))
        creds = self.credentials
        if creds is None:  # start() refuses to run without credentials
            raise ValueError("no credentials")
        try:
            ack = await conn.connect(creds.userId, creds.token, creds.clientId,
                                     timeout=self.requestTimeout)
        except RequestFailed as e:
            _abort(conn)
            if e.code in _FATAL_CONNECT:
                self._unauthorized(int(e.code))
                return
            raise
        except BaseException:
            _abort(conn)
            raise
        if not self._running:
            conn.close()
            return
        self.connection = conn
        self.lastConnectAck = ack
        self.attempt = 0
        self.nextRetryDelay = None
        self._setState(ConnectionState.CONNECTED)
        self._scheduleHeartbeat(conn)
        self._releaseWaiters()
        self._flushOutbox(conn)
        if self.autoSync:
            self.sync()
            if ack.friendHead > self.friendVersion:
                self.syncFriends()
            if conn.transportName == "ws" or ack.friendRqHead > self.friendRequestVersion:
                self.syncFriendRequests()
        conn.closed.addBoth(lambda _: self._lost(conn))

    def _connectFailed(self, failure: Any) -> None:
        _log.info("fxim client: connect failed: {reason}", reason=failure.getErrorMessage())
        self._scheduleReconnect()

    def _unauthorized(self, code: int) -> None:
        self._running = False
        self._setState(ConnectionState.UNAUTHORIZED)
        self._releaseWaiters(Unauthorized(code))

    def _lost(self, conn: Any) -> None:
        if conn is not self.connection:
            return
        self.connection = None
        self._cancelHeartbeat()
        for entry in self._outbox.values():
            entry.inFlight = False
        if self._running:
            self._setState(ConnectionState.DISCONNECTED)
            self._scheduleReconnect()

    def _scheduleReconnect(self) -> None:
        if not self._running or self._retryCall is not None:
            return
        self._setState(ConnectionState.DISCONNECTED)
        delay = self.backoff.delay(self.attempt)
        self.attempt += 1
        self.nextRetryDelay = delay
        self._retryCall = self.clock.callLater(delay, self._connectNow)

    def stop(self, logout: bool = False) -> Deferred:
        """
        Stop: no more reconnects or heartbeats; send DISCONNECT (with
        C{logout}, clearSession: the token stops working) and close.
        Unacknowledged messages stay in the outbox (see L{unacked}) and
        are resent if L{start} is called again.

        @return: a L{Deferred} firing once the connection is closed.
        """
        self._running = False
        if self._retryCall is not None and self._retryCall.active():
            self._retryCall.cancel()
        self._retryCall = None
        self._cancelHeartbeat()
        conn, self.connection = self.connection, None
        self._setState(ConnectionState.STOPPED)
        self._releaseWaiters(NotConnected("stopped"))
        if conn is None or conn.closed.called:
            d: Deferred = Deferred()
            d.callback(None)
            return d
        closed = conn.closed
        try:
            conn.disconnect(logout)
        except Exception:
            _abort(conn)
        return closed

    def dropConnection(self) -> None:
        """
        Drop the current connection at once, as a network failure would
        (the client reconnects).  For tests and for "reconnect now".
        """
        if self.connection is not None:
            _abort(self.connection)

    # -- heartbeat ------------------------------------------------------------

    def _scheduleHeartbeat(self, conn: Any) -> None:
        self._cancelHeartbeat()
        if self.heartbeatInterval > 0:
            self._heartbeatCall = self.clock.callLater(self.heartbeatInterval, self._beat, conn)

    def _cancelHeartbeat(self) -> None:
        if self._heartbeatCall is not None and self._heartbeatCall.active():
            self._heartbeatCall.cancel()
        self._heartbeatCall = None

    def _beat(self, conn: Any) -> None:
        self._heartbeatCall = None
        if conn is not self.connection:
            return
        if conn.transportName == "ws":
            conn.heartbeat()
        else:
            d = ensureDeferred(conn.ping(int(self.heartbeatInterval * 1000),
                                         timeout=self.heartbeatTimeout))
            timer = self.clock.callLater(self.heartbeatTimeout, self._heartbeatLost, conn, d)

            def done(result: Any) -> None:
                if timer.active():
                    timer.cancel()
                if isinstance(result, str) or conn is not self.connection:
                    return None
                if not result.check(ConnectionLost):
                    self._heartbeatLost(conn, d)
                return None
            d.addBoth(done)
        self._scheduleHeartbeat(conn)

    def _heartbeatLost(self, conn: Any, d: Deferred) -> None:
        if conn is self.connection:
            _log.info("fxim client: heartbeat unanswered; dropping the connection")
            _abort(conn)

    # -- sending --------------------------------------------------------------

    def _nextLocalId(self) -> int:
        # Unique per device across runs: at least the time in ms, always
        # increasing (as the web client's Date.now() local ids).
        self.lastLocalId = max(self.lastLocalId + 1, int(self.clock.seconds() * 1000))
        return self.lastLocalId

    def send(self, conversation: Conversation, content: MessageContent, toUser: str = "",
             to: Iterable[str] = ()) -> Deferred:
        """
        Send a message.  It gets a new local id and stays in the outbox
        until the server acknowledges it: across drops and reconnects it is
        resent with the same local id, so it is stored exactly once.
        Transparent content (typing, call signalling) is not queued: it is
        sent only if connected now.

        @return: a L{Deferred} firing with a L{SendResult}, or failing with
            L{RequestFailed} if the server refuses the message (e.g. not a
            group member) or L{NotConnected} (transparent, not connected).
        """
        localId = self._nextLocalId()
        message = Message(conversation, self.userId or "", content, toUser=toUser, to=tuple(to),
                          localId=localId)
        if content.transparent:
            if self.connection is None:
                return _failed(NotConnected("transparent messages are not queued"))
            d = self.connection.request(rq.SendMessage(message), timeout=self.requestTimeout)
            return d.addCallback(lambda r: SendResult(r.messageUid, r.timestamp, localId))
        entry = _Outgoing(message, Deferred(), localId)
        self._outbox[localId] = entry
        if self.connection is not None:
            self._transmit(self.connection, entry)
        return entry.deferred

    def sendText(self, target: str, text: str, group: bool = False,
                 mentions: Sequence[str] = ()) -> Deferred:
        """
        Send a text message to a user (or a group); see L{send}.
        """
        content = MessageContent(type=ContentType.TEXT, searchableContent=text,
                                 mentionedType=1 if mentions else 0,
                                 mentionedTargets=tuple(mentions))
        return self.send(_conversation(target, group), content)

    def sendTyping(self, target: str, group: bool = False) -> Deferred:
        """
        Tell C{target} this user is typing (transparent type 91).
        """
        return self.send(_conversation(target, group), MessageContent(type=ContentType.TYPING))

    def sendCallSignal(self, target: str, type: int, content: str = "", data: bytes = b"") -> Deferred:
        """
        Send call signalling (400 start, 401 answer, 402 bye, 403 signal,
        404 modify, 405 answer-t) to C{target}; 401-405 are transparent.
        """
        if not 400 <= type <= 405:
            raise ValueError("call signalling types are 400-405")
        return self.send(_conversation(target, False),
                         MessageContent(type=type, content=content, data=data))

    def unacked(self) -> List[Message]:
        """
        The messages sent but not yet acknowledged, oldest first (with
        their local ids).
        """
        return [entry.message for entry in self._outbox.values()]

    def _flushOutbox(self, conn: Any) -> None:
        for entry in list(self._outbox.values()):
            if not entry.inFlight:
                self._transmit(conn, entry)

    def _transmit(self, conn: Any, entry: _Outgoing) -> None:
        entry.inFlight = True
        entry.attempts += 1
        if entry.attempts > 1:
            self.resent += 1
        localId = entry.localId
        d = conn.request(rq.SendMessage(entry.message), timeout=self.requestTimeout)

        def acked(result: rq.SendResult) -> None:
            self._outbox.pop(localId, None)
            if not entry.deferred.called:
                entry.deferred.callback(SendResult(result.messageUid, result.timestamp, localId))

        def failed(failure: Any) -> None:
            entry.inFlight = False
            if localId not in self._outbox:
                return
            if failure.check(ConnectionLost):
                return  # resent after the reconnect
            if failure.check(RequestFailed) and failure.value.code == ErrorCode.TIMEOUT:
                if conn is self.connection:
                    self._transmit(conn, entry)  # same local id: deduplicated
                return
            if failure.check(RequestFailed) and failure.value.code == ErrorCode.OVER_FREQUENCY:
                # The server's rate limit: try again a little later.
                entry.inFlight = True
                self.clock.callLater(self._throttleDelay(), self._retransmit, conn, entry)
                return
            self._outbox.pop(localId, None)
            if not entry.deferred.called:
                entry.deferred.errback(failure)
        d.addCallbacks(acked, failed)

    def _throttleDelay(self) -> float:
        return 0.5 + self.backoff.random.random()

    def _retransmit(self, conn: Any, entry: _Outgoing) -> None:
        entry.inFlight = False
        if entry.localId in self._outbox and conn is self.connection:
            self._transmit(conn, entry)

    # -- receiving --------------------------------------------------------------

    def _push(self, conn: Any, push: Any) -> None:
        if conn is not self.connection:
            return
        if isinstance(push, rq.MessageNotify):
            if self.autoSync and push.head > self.lastSeq:
                self.sync()
        elif isinstance(push, rq.TransparentMessage):
            self._fire("transparent", push.message)
        elif isinstance(push, rq.RecallNotify):
            self._fire("recall", Recall(push.messageUid, push.fromUser))
        elif isinstance(push, rq.FriendNotify) and self.autoSync:
            self.syncFriends()
        elif isinstance(push, rq.FriendRequestNotify) and self.autoSync:
            self.syncFriendRequests()

    def sync(self) -> Deferred:
        """
        Pull every message after L{lastSeq} (done automatically at connect
        and after every MN).  @return: a L{Deferred} firing once caught up
        with the head (or the pull stopped on a drop; it resumes after the
        reconnect).
        """
        d: Deferred = Deferred()
        self._syncWaiters.append(d)
        if self._pulling:
            self._pullAgain = True
        elif self.connection is not None:
            ensureDeferred(self._pullLoop(self.connection))
        else:
            self._fireSyncWaiters()
        return d

    def _fireSyncWaiters(self) -> None:
        waiters, self._syncWaiters = self._syncWaiters, []
        for d in waiters:
            d.callback(self.lastSeq)

    async def _pullLoop(self, conn: Any) -> None:
        self._pulling = True
        try:
            while conn is self.connection:
                self._pullAgain = False
                result = await conn.request(rq.PullMessages(self.lastSeq, 0),
                                            timeout=self.requestTimeout)
                if conn is not self.connection:
                    break
                for message in result.messages:
                    self._deliver(message)
                if result.messages and result.current > self.lastSeq:
                    self.lastSeq = result.current
                    self._fire("cursor", self.lastSeq)
                if not self._pullAgain and (not result.messages or result.current >= result.head):
                    break
        except ConnectionLost:
            pass
        except RequestFailed as e:
            if e.code == ErrorCode.OVER_FREQUENCY and conn is self.connection:
                self.clock.callLater(self._throttleDelay(), self.sync)
            else:
                _log.failure("fxim client: pull failed")
                if conn is self.connection:
                    _abort(conn)
        except Exception:
            _log.failure("fxim client: pull failed")
            if conn is self.connection:
                _abort(conn)  # reconnect and pull again from lastSeq
        finally:
            self._pulling = False
            self._fireSyncWaiters()

    def _deliver(self, message: Message) -> None:
        if not self._seen.add(message.messageUid):
            return
        if message.conversation.type == ConversationType.GROUP:
            self._trackGroup(message)
        self._fire("message", message)

    def _trackGroup(self, message: Message) -> None:
        event = groupEvent(message)
        gid = message.conversation.target
        if event is None:
            self.groups.setdefault(gid, self.groups.get(gid, ""))
            return
        gid = event.groupId
        mine = self.userId
        if event.kind == ContentType.DISMISS_GROUP or (
                event.kind == ContentType.QUIT_GROUP and event.operator == mine) or (
                event.kind == ContentType.KICKOFF_GROUP_MEMBER and mine in event.members):
            self.groups.pop(gid, None)
        elif event.name:
            self.groups[gid] = event.name
        else:
            self.groups.setdefault(gid, "")
        self._fire("group", event)

    def _coalesced(self, name: str, pull: Callable[[], Any], what: str) -> Deferred:
        """
        Run C{pull} now, or once more after the one in flight (named
        C{name}): a notice arriving during a pull may be newer than what
        that pull returns.

        @return: a L{Deferred} firing when no pull is left to run.
        """
        state = self._coalescedPulls.get(name)
        if state is not None:
            state["again"] = True
            return state["done"]
        state = self._coalescedPulls[name] = {"again": False, "done": None}

        async def loop() -> None:
            try:
                while True:
                    state["again"] = False
                    try:
                        await pull()
                    except Exception as e:
                        # Retried at the next notice or connect.
                        _log.info("fxim client: {what} pull failed: {e}", what=what, e=e)
                    if not (state["again"] and self._running):
                        break
            finally:
                del self._coalescedPulls[name]
        state["done"] = ensureDeferred(loop())
        return state["done"]

    def syncFriends(self) -> Deferred:
        """
        Pull friend changes since L{friendVersion} and tell L{onFriend}
        observers (done automatically after FN).
        """
        return self._coalesced("friend", self._syncFriends, "friend")

    async def _syncFriends(self) -> None:
        friends = await self._request(rq.PullFriends(self.friendVersion))
        for friend in friends.friends:
            self.friendVersion = max(self.friendVersion, friend.updateDt)
            self._fire("friend", friend)

    def syncFriendRequests(self) -> Deferred:
        """
        Pull friend-request changes since L{friendRequestVersion} and tell
        L{onFriendRequest} observers (done automatically after FRN).
        """
        return self._coalesced("friendRequest", self._syncFriendRequests, "friend request")

    async def _syncFriendRequests(self) -> None:
        result = await self._request(rq.PullFriendRequests(self.friendRequestVersion))
        for request in result.requests:
            self.friendRequestVersion = max(self.friendRequestVersion, request.updateDt)
            self._fire("friendRequest", request)

    # -- requests ---------------------------------------------------------------

    async def _request(self, request: Any) -> Any:
        """
        Send one request once connected (waiting for a reconnect if need
        be); not retried after a drop (L{ConnectionLost}).
        """
        if self.connection is None:
            if not self._running:
                raise NotConnected("the client is not started")
            await self.whenConnected()
        return await self.connection.request(request, timeout=self.requestTimeout)

    async def recall(self, messageUid: int) -> None:
        """
        Recall one of this user's messages.

        @raise RequestFailed: not allowed (248) or unknown.
        """
        await self._request(rq.RecallMessage(messageUid))

    async def history(self, conversation: Conversation, beforeUid: int = 0,
                      count: int = 20) -> List[Message]:
        """
        One page of a conversation's stored messages, newest first, with
        uid < C{beforeUid} (0: the newest).  Page back with the last uid.
        """
        result = await self._request(rq.LoadHistory(conversation, beforeUid, count))
        return list(result.messages)

    async def users(self, userIds: Sequence[str]) -> List[User]:
        """
        The profiles of C{uids} (unknown ones left out).
        """
        if not userIds:
            return []
        result = await self._request(rq.PullUsers(tuple((u, 0) for u in userIds)))
        return [user for user, code in result.entries if code == 0]

    async def searchUsers(self, keyword: str, fuzzy: bool = True, page: int = 0) -> List[User]:
        """
        Users whose mobile is C{keyword} (or, fuzzy, whose name contains
        it); 20 a page.
        """
        return list((await self._request(rq.SearchUsers(keyword, 1 if fuzzy else 0, page))).users)

    async def setMyInfo(self, **fields: str) -> None:
        """
        Change this user's profile: C{setMyInfo(displayName="Ann",
        portrait=url, ...)} with the L{MyInfoType} names in camelCase.
        """
        names = {"displayName": MyInfoType.DISPLAY_NAME, "portrait": MyInfoType.PORTRAIT,
                 "gender": MyInfoType.GENDER, "mobile": MyInfoType.MOBILE,
                 "email": MyInfoType.EMAIL, "address": MyInfoType.ADDRESS,
                 "company": MyInfoType.COMPANY, "social": MyInfoType.SOCIAL,
                 "extra": MyInfoType.EXTRA}
        entries = tuple((int(names[k]), str(v)) for k, v in fields.items())
        await self._request(rq.ModifyMyInfo(entries))

    # friends

    async def friends(self, includeDeleted: bool = False) -> List[Friend]:
        """
        This user's friends (state normal, unless C{includeDeleted}).
        """
        result = await self._request(rq.PullFriends(0))
        return [f for f in result.friends if includeDeleted or f.state == FriendState.NORMAL]

    async def friendRequests(self) -> List[FriendRequest]:
        """
        Every friend request from or to this user.
        """
        return list((await self._request(rq.PullFriendRequests(0))).requests)

    async def addFriend(self, userId: str, reason: str = "") -> None:
        """
        Ask C{uid} to be friends.

        @raise RequestFailed: already friends (16), blocked (18), ...
        """
        await self._request(rq.AddFriend(userId, reason))

    async def acceptFriend(self, userId: str) -> None:
        """
        Accept C{uid}'s friend request.
        """
        await self._request(rq.HandleFriendRequest(userId, 1))

    async def rejectFriend(self, userId: str) -> None:
        """
        Reject C{uid}'s friend request.
        """
        await self._request(rq.HandleFriendRequest(userId, 2))

    async def setFriendAlias(self, userId: str, alias: str) -> None:
        """
        Name friend C{uid} C{alias} (for this user only).
        """
        await self._request(rq.SetFriendAlias(userId, alias))

    # groups

    async def createGroup(self, name: str, memberIds: Sequence[str] = (),
                          groupId: Optional[str] = None, type: int = 0,
                          portrait: str = "", extra: str = "") -> str:
        """
        Create a group owned by this user with C{memberIds}.  The id is
        C{groupId}, else a random one chosen here (the same on both
        transports: WebSocket acks carry no id).

        @return: the group id.
        """
        groupId = groupId or uuid.uuid4().hex[:16]
        members = [GroupMember(self.userId or "", type=2)] + [
            GroupMember(m) for m in memberIds if m != self.userId]
        info = GroupInfo(groupId, name, portrait=portrait, owner=self.userId or "", type=type,
                         extra=extra)
        await self._request(rq.CreateGroup(info, tuple(members)))
        return groupId

    async def groupInfo(self, groupIds: Sequence[str]) -> List[GroupInfo]:
        """
        The infos of existing groups among C{groupIds}.
        """
        if not groupIds:
            return []
        return list((await self._request(rq.PullGroupInfo(tuple(groupIds)))).groups)

    async def groupMembers(self, groupId: str) -> List[GroupMember]:
        """
        The members of C{groupId}.
        """
        return list((await self._request(rq.PullGroupMembers(groupId, 0))).members)

    async def addGroupMembers(self, groupId: str, memberIds: Sequence[str]) -> None:
        await self._request(rq.AddGroupMembers(groupId, tuple(GroupMember(m) for m in memberIds)))

    async def kickGroupMembers(self, groupId: str, memberIds: Sequence[str]) -> None:
        await self._request(rq.KickGroupMembers(groupId, tuple(memberIds)))

    async def quitGroup(self, groupId: str) -> None:
        await self._request(rq.QuitGroup(groupId))

    async def dismissGroup(self, groupId: str) -> None:
        await self._request(rq.DismissGroup(groupId))

    async def modifyGroup(self, groupId: str, name: Optional[str] = None,
                          portrait: Optional[str] = None, extra: Optional[str] = None) -> None:
        """
        Change a group's name, portrait and/or extra.
        """
        for type, value in ((0, name), (1, portrait), (2, extra)):
            if value is not None:
                await self._request(rq.ModifyGroupInfo(groupId, type, value))

    # media

    async def upload(self, data: bytes, filename: str = "file", mediaType: int = 1) -> str:
        """
        Upload C{data} (GMURL, then an HTTP PUT of the bytes) under a fresh
        key derived from C{filename}.

        @param mediaType: 0 general, 1 image, 2 voice, 3 video, 4 file,
            5 portrait, 6 favorite.
        @return: the media URL (C{domain/key}) to put in a message's
            C{remoteMediaUrl}.
        @raise UploadFailed: if the PUT is refused.
        """
        from twisted.web.client import Agent, FileBodyProducer, readBody
        from twisted.web.http_headers import Headers
        safe = _SAFE_KEY.sub("_", filename).lstrip(".")[:100] or "file"
        key = f"{mediaType}-{_SAFE_KEY.sub('_', self.userId or 'u')}-{self._nextLocalId()}-{safe}"
        target = await self._request(rq.GetUploadUrl(mediaType, key))
        agent = (Agent(self.reactor) if self.httpsTrust is None
                 else Agent(self.reactor, contextFactory=self.httpsTrust.httpPolicy()))
        response = await agent.request(
            b"PUT", target.url.encode("ascii"),
            Headers({b"Content-Type": [b"application/octet-stream"]}),
            FileBodyProducer(BytesIO(data)))
        await readBody(response)
        if response.code != 200:
            raise UploadFailed(response.code)
        return target.domain.rstrip("/") + "/" + key

    async def sendImage(self, target: str, data: bytes, filename: str = "image.jpg",
                        group: bool = False) -> SendResult:
        """
        Upload an image and send it as an image message.
        """
        url = await self.upload(data, filename, 1)
        content = MessageContent(type=ContentType.IMAGE, searchableContent="[image]",
                                 mediaType=1, remoteMediaUrl=url)
        return await self.send(_conversation(target, group), content)


def _conversation(target: str, group: bool) -> Conversation:
    return Conversation(ConversationType.GROUP if group else ConversationType.PRIVATE, target, 0)


def _failed(exception: Exception) -> Deferred:
    d: Deferred = Deferred()
    d.errback(exception)
    return d


def _abort(conn: Any) -> None:
    try:
        if hasattr(conn, "abort"):
            conn.abort()
        else:
            conn.close()
    except Exception:
        _log.failure("fxim client: closing a connection failed")


# Messages carry binary data as bytes; a caller printing one wants text.
def describe(message: Message) -> str:
    """
    A one-line human description of a message's content.
    """
    c = message.content
    if c.type == ContentType.TEXT:
        return c.searchableContent
    if c.type == ContentType.RECALL:
        return "[recalled a message]"
    if c.type == ContentType.TIP:
        return f"[{c.content or c.searchableContent}]"
    event = groupEvent(message)
    if event is not None:
        verbs = {104: "created the group", 105: "added", 106: "removed", 107: "left the group",
                 108: "dismissed the group", 110: "renamed the group to", 112: "changed the portrait"}
        verb = verbs.get(event.kind, f"group change {event.kind}")
        detail = event.name if event.kind in (104, 110) else " ".join(event.members)
        return f"[{event.operator} {verb}{(' ' + detail) if detail else ''}]"
    if c.remoteMediaUrl:
        return f"[{_typeName(c.type)}] {c.remoteMediaUrl}"
    if c.searchableContent:
        return c.searchableContent
    if c.data:
        return f"[{_typeName(c.type)}] {base64.b64encode(bytes(c.data)).decode()[:60]}"
    return f"[{_typeName(c.type)}]"


def _typeName(type: int) -> str:
    try:
        return ContentType(type).name.lower()
    except ValueError:
        return f"type {type}"
