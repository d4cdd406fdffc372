"""
Tests for L{fxim.client.session.ChatClient}: backoff, heartbeat, outbox and
pull logic against fake connections and a L{task.Clock}, then end to end
against real C{twistd fxim} nodes over both transports.
"""

import random
import uuid
from typing import Any, List, Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fxim.client import (
    Backoff, ChatClient, ConnectionLost, ConnectionState, Credentials, NotConnected,
    RequestFailed, Unauthorized,
)
from fxim.errors import ErrorCode
from fxim.model import Conversation, Message, MessageContent
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, ProductionBackend, sleep, withTimeout
from fxim.testing import ServerProcess
from fxim.wire import requests as rq

CREDS = Credentials("me", "token", "device-1")


class FakeConnection:
    """
    A L{fxim.client.connection.ClientConnection} stand-in that records
    requests and lets the test answer them.
    """

    def __init__(self, transportName: str = "tcp", ack: Any = None, refuse: Any = None) -> None:
        self.transportName = transportName
        self.ack = ack or rq.ConnectAck(1)
        self.refuse = refuse
        self.requests: List[Any] = []
        self.pings: List[Any] = []
        self.heartbeats = 0
        self.observers: List[Any] = []
        self.closed: Deferred = Deferred()
        self.disconnected: Optional[bool] = None
        self.closing = False

    def onPush(self, observer: Any) -> None:
        self.observers.append(observer)

    def push(self, push: Any) -> None:
        for observer in self.observers:
            observer(push)

    async def connect(self, userId: str, token: str, clientId: str, timeout: float = 10.0) -> Any:
        if self.refuse is not None:
            raise RequestFailed(self.refuse)
        return self.ack

    def request(self, request: Any, timeout: float = 10.0) -> Deferred:
        d: Deferred = Deferred()
        self.requests.append((request, d))
        return d

    async def ping(self, interval: int, timeout: float = 10.0) -> str:
        d: Deferred = Deferred()
        self.pings.append((interval, d))
        return await d

    def heartbeat(self) -> None:
        self.heartbeats += 1

    def disconnect(self, clearSession: bool = False) -> None:
        self.disconnected = clearSession
        self.abort()

    def close(self) -> Deferred:
        return self.abort()

    def abort(self) -> Deferred:
        if not self.closing:
            self.closing = True
            pending = [d for _, d in self.requests if not d.called]
            pending += [d for _, d in self.pings if not d.called]
            for d in pending:
                d.errback(ConnectionLost())
            self.closed.callback(None)
        return self.closed

    def pending(self, kind: type) -> List[Any]:
        return [(r, d) for r, d in self.requests if isinstance(r, kind) and not d.called]


def message(messageUid: int, text: str = "", sender: str = "peer") -> Message:
    return Message(Conversation(0, "me", 0), sender,
                   MessageContent(type=1, searchableContent=text or f"m{messageUid}"), messageUid=messageUid)


class Harness:
    """
    A L{ChatClient} on a L{Clock} whose connector hands out
    L{FakeConnection}s (or failures) from a script.
    """

    def __init__(self, transport: str = "tcp", **kwargs: Any) -> None:
        self.clock = Clock()
        self.connections: List[FakeConnection] = []
        self.script: List[Any] = []
        self.client = ChatClient(None, transport, credentials=CREDS, clock=self.clock,
                                 backoff=Backoff(random=random.Random(7)),
                                 connector=self._connect, **kwargs)
        self.states: List[ConnectionState] = []
        self.client.onState(self.states.append)

    def _connect(self) -> Deferred:
        item = self.script.pop(0) if self.script else FakeConnection(self.client.transport)
        if isinstance(item, Exception):
            d: Deferred = Deferred()
            d.errback(item)
            return d
        self.connections.append(item)
        return succeed(item)

    @property
    def conn(self) -> FakeConnection:
        return self.connections[-1]

    def reconnect(self) -> None:
        """
        Run the pending reconnect timer.
        """
        assert self.client.nextRetryDelay is not None, "no reconnect pending"
        self.clock.advance(self.client.nextRetryDelay)


class BackoffTests(SynchronousTestCase):
    """
    L{Backoff}: exponential, capped, jittered.
    """

    def test_bounds(self):
        """
        Attempt n waits within [base * (1 - jitter), base] where base =
        min(maximum, initial * factor ** n).
        """
        for jitter in (0.0, 0.5, 1.0):
            backoff = Backoff(initial=0.5, maximum=30.0, factor=2.0, jitter=jitter,
                              random=random.Random(1))
            for attempt in range(200):
                base = min(30.0, 0.5 * 2 ** attempt)
                for _ in range(20):
                    delay = backoff.delay(attempt)
                    self.assertTrue(base * (1 - jitter) <= delay <= base, (attempt, delay))
        self.assertEqual(Backoff(jitter=0).delay(3), 8.0)
        self.assertEqual(Backoff(maximum=60).base(10 ** 6), 60)

    def test_spread(self):
        """
        10,000 clients dropped at once do not come back together: with full
        jitter their first delays spread evenly over [0, initial].
        """
        backoff = Backoff(initial=10.0, random=random.Random(3))
        delays = [backoff.delay(0) for _ in range(10000)]
        buckets = [0] * 10
        for d in delays:
            buckets[min(9, int(d))] += 1
        self.assertTrue(all(800 < b < 1200 for b in buckets), buckets)

    def test_badJitter(self):
        """
        A jitter outside [0, 1] is refused.
        """
        self.assertRaises(ValueError, Backoff, jitter=1.5)


class ReconnectTests(SynchronousTestCase):
    """
    Reconnecting with L{Backoff} after refused connects and drops.
    """

    def test_backoffGrowsAndResets(self):
        """
        Failed connects are retried after growing jittered delays; a
        successful CONNECT resets the attempt count; a later drop starts
        again from the first delay.
        """
        h = Harness()
        h.script = [ConnectionRefusedError() for _ in range(5)]
        started = h.client.start()
        delays = []
        for attempt in range(5):
            self.assertEqual(h.client.state, ConnectionState.DISCONNECTED)
            delay = h.client.nextRetryDelay
            self.assertTrue(0 <= delay <= min(60, 2 ** attempt), (attempt, delay))
            [call] = h.clock.getDelayedCalls()
            self.assertAlmostEqual(call.getTime() - h.clock.seconds(), delay)
            delays.append(delay)
            h.reconnect()
        self.assertEqual(h.client.state, ConnectionState.CONNECTED)
        self.assertIsNone(self.successResultOf(started))
        self.assertEqual(h.client.attempt, 0)
        h.conn.abort()
        self.assertEqual(h.client.state, ConnectionState.DISCONNECTED)
        self.assertTrue(0 <= h.client.nextRetryDelay <= 1.0)
        h.reconnect()
        self.assertEqual(len(h.connections), 2)
        self.assertEqual(h.states[-1], ConnectionState.CONNECTED)

    def test_unauthorizedStops(self):
        """
        A CONNECT refused for bad credentials fails L{ChatClient.start} with
        L{Unauthorized} and schedules no retry.
        """
        h = Harness()
        h.script = [FakeConnection(refuse=5)]
        started = h.client.start()
        self.failureResultOf(started, Unauthorized)
        self.assertEqual(h.client.state, ConnectionState.UNAUTHORIZED)
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_serverUnavailableRetries(self):
        """
        CONNECT_ACK 4 (server unavailable) is retried.
        """
        h = Harness()
        h.script = [FakeConnection(refuse=4)]
        h.client.start()
        self.assertEqual(h.client.state, ConnectionState.DISCONNECTED)
        self.assertTrue(h.connections[0].closed.called)
        h.reconnect()
        self.assertEqual(h.client.state, ConnectionState.CONNECTED)

    def test_stop(self):
        """
        L{ChatClient.stop} sends DISCONNECT (clearSession on logout) and
        leaves no timer behind; a stopped client does not reconnect.
        """
        h = Harness()
        h.client.start()
        conn = h.conn
        self.successResultOf(h.client.stop(logout=True))
        self.assertTrue(conn.disconnected)
        self.assertEqual(h.clock.getDelayedCalls(), [])
        self.assertEqual(h.client.state, ConnectionState.STOPPED)
        h.script = [ConnectionRefusedError()]
        again = h.client.start()
        h.client.stop()
        self.failureResultOf(again, NotConnected)
        self.assertEqual(h.clock.getDelayedCalls(), [])


class HeartbeatTests(SynchronousTestCase):
    """
    Heartbeats on the injected clock.
    """

    def test_tcpPing(self):
        """
        Over TCP a PING carrying the interval in ms goes out every interval;
        an answered PING keeps the connection.
        """
        h = Harness(heartbeatInterval=30)
        h.client.start()
        h.clock.advance(29.9)
        self.assertEqual(h.conn.pings, [])
        h.clock.advance(0.1)
        [(interval, d)] = h.conn.pings
        self.assertEqual(interval, 30000)
        d.callback("ping back next interval 30000")
        h.clock.advance(30)
        self.assertEqual(len(h.conn.pings), 2)
        h.conn.pings[1][1].callback("ping back next interval 30000")
        h.clock.advance(25)
        self.assertEqual(h.client.state, ConnectionState.CONNECTED)

    def test_tcpPingUnanswered(self):
        """
        A PING unanswered within the heartbeat timeout drops the connection,
        and the client reconnects.
        """
        h = Harness(heartbeatInterval=30, heartbeatTimeout=10)
        h.client.start()
        h.clock.advance(30)
        first = h.conn
        h.clock.advance(9.9)
        self.assertFalse(first.closed.called)
        h.clock.advance(0.1)
        self.assertTrue(first.closed.called)
        self.assertEqual(h.client.state, ConnectionState.DISCONNECTED)
        h.reconnect()
        self.assertIsNot(h.conn, first)
        self.assertEqual(h.client.state, ConnectionState.CONNECTED)

    def test_wsText(self):
        """
        Over WebSocket the heartbeat is the text frame, every 25 s by
        default; it stops when the connection drops.
        """
        h = Harness("ws")
        h.client.start()
        h.clock.advance(24)
        self.assertEqual(h.conn.heartbeats, 0)
        h.clock.advance(1)
        self.assertEqual(h.conn.heartbeats, 1)
        h.clock.advance(25)
        h.clock.advance(25)
        self.assertEqual(h.conn.heartbeats, 3)
        conn = h.conn
        conn.abort()
        h.clock.advance(100)
        self.assertEqual(conn.heartbeats, 3)


class OutboxTests(SynchronousTestCase):
    """
    Sends survive drops and are resent with the same local id.
    """

    def test_resendAfterDrop(self):
        """
        Messages unacknowledged when the connection drops (and those sent
        while disconnected) are resent after the reconnect with their
        original local ids, in order; their L{Deferred}s fire with the
        server's answer.
        """
        h = Harness()
        h.client.start()
        sent = [h.client.sendText("peer", f"t{i}") for i in range(3)]
        requests = h.conn.pending(rq.SendMessage)
        localIds = [r.message.localId for r, _ in requests]
        self.assertEqual(len(set(localIds)), 3)
        self.assertEqual(localIds, sorted(localIds))
        requests[0][1].callback(rq.SendResult(101, 5))
        h.conn.abort()
        late = h.client.sendText("peer", "t3")
        self.assertEqual([m.content.searchableContent for m in h.client.unacked()],
                         ["t1", "t2", "t3"])
        h.reconnect()
        resent = h.conn.pending(rq.SendMessage)
        self.assertEqual([r.message.localId for r, _ in resent][:2], localIds[1:])
        self.assertEqual([r.message.content.searchableContent for r, _ in resent],
                         ["t1", "t2", "t3"])
        for i, (_, d) in enumerate(resent):
            d.callback(rq.SendResult(102 + i, 6))
        results = [self.successResultOf(d) for d in sent + [late]]
        self.assertEqual([r.messageUid for r in results], [101, 102, 103, 104])
        self.assertEqual(results[1].localId, localIds[1])
        self.assertEqual(h.client.unacked(), [])

    def test_timeoutRetransmits(self):
        """
        A send that times out is sent again on the same connection with
        the same local id.
        """
        h = Harness()
        h.client.start()
        d = h.client.sendText("peer", "slow")
        [(first, fd)] = h.conn.pending(rq.SendMessage)
        fd.errback(RequestFailed(ErrorCode.TIMEOUT))
        [(again, ad)] = h.conn.pending(rq.SendMessage)
        self.assertEqual(again.message.localId, first.message.localId)
        ad.callback(rq.SendResult(7, 8))
        self.assertEqual(self.successResultOf(d).messageUid, 7)

    def test_rateLimitedRetried(self):
        """
        A send refused by the server's rate limit (250) is retried a moment
        later with the same local id.
        """
        h = Harness()
        h.client.start()
        d = h.client.sendText("peer", "busy")
        [(first, fd)] = h.conn.pending(rq.SendMessage)
        fd.errback(RequestFailed(ErrorCode.OVER_FREQUENCY))
        self.assertEqual(h.conn.pending(rq.SendMessage), [])
        h.clock.advance(1.5)
        [(again, ad)] = h.conn.pending(rq.SendMessage)
        self.assertEqual(again.message.localId, first.message.localId)
        ad.callback(rq.SendResult(7, 8))
        self.assertEqual(self.successResultOf(d).messageUid, 7)

    def test_refusedFails(self):
        """
        A send the server refuses fails with its code and leaves the
        outbox.
        """
        h = Harness()
        h.client.start()
        d = h.client.sendText("g1", "x", group=True)
        h.conn.pending(rq.SendMessage)[0][1].errback(RequestFailed(ErrorCode.NOT_IN_GROUP))
        self.assertEqual(self.failureResultOf(d, RequestFailed).value.code, ErrorCode.NOT_IN_GROUP)
        self.assertEqual(h.client.unacked(), [])

    def test_localIdsUniqueAcrossRuns(self):
        """
        Local ids are at least the clock in ms and always increase, also
        when a client restarts with the last one it saved.
        """
        h = Harness()
        h.clock.advance(1700000000)
        a, b = h.client._nextLocalId(), h.client._nextLocalId()
        self.assertEqual(a, 1700000000000)
        self.assertEqual(b, a + 1)
        restarted = ChatClient(None, credentials=CREDS, clock=h.clock, lastLocalId=b + 100)
        self.assertEqual(restarted._nextLocalId(), b + 101)

    def test_transparentNotQueued(self):
        """
        Typing while disconnected fails at once instead of being queued.
        """
        h = Harness()
        self.failureResultOf(h.client.sendTyping("peer"), NotConnected)
        self.assertEqual(h.client.unacked(), [])


class PullTests(SynchronousTestCase):
    """
    MN-driven pulls continue from the last seq across reconnects.
    """

    def test_pullNeverSkipsOrRepeats(self):
        """
        The connect pull and MN pulls continue from C{current}; a pull cut
        by a drop is redone from the saved seq after the reconnect; a uid
        seen twice is delivered once.
        """
        h = Harness(lastSeq=0)
        got, cursors = [], []
        h.client.onMessage(got.append)
        h.client.onCursor(cursors.append)
        h.client.start()
        [(pull, d)] = h.conn.pending(rq.PullMessages)
        self.assertEqual(pull.afterSeq, 0)
        # a capped result: continue at once
        d.callback(rq.PullResult((message(1), message(2)), 2, 3))
        [(pull, d)] = h.conn.pending(rq.PullMessages)
        self.assertEqual(pull.afterSeq, 2)
        d.callback(rq.PullResult((message(3),), 3, 3))
        self.assertEqual(cursors, [2, 3])
        # MN for seq 5; the pull is cut by a drop
        h.conn.push(rq.MessageNotify(0, 5))
        [(pull, d)] = h.conn.pending(rq.PullMessages)
        self.assertEqual(pull.afterSeq, 3)
        h.conn.abort()
        h.reconnect()
        [(pull, d)] = h.conn.pending(rq.PullMessages)
        self.assertEqual(pull.afterSeq, 3)
        # the server repeats uid 3 (e.g. a multi-device echo): delivered once
        d.callback(rq.PullResult((message(3), message(4), message(5)), 5, 5))
        self.assertEqual([m.messageUid for m in got], [1, 2, 3, 4, 5])
        self.assertEqual(h.client.lastSeq, 5)
        # an MN at or below the seq pulls nothing
        h.conn.push(rq.MessageNotify(0, 5))
        self.assertEqual(h.conn.pending(rq.PullMessages), [])

    def test_mnDuringPull(self):
        """
        An MN that arrives while pulling makes the pull go on afterwards.
        """
        h = Harness()
        got = []
        h.client.onMessage(got.append)
        h.client.start()
        [(pull, d)] = h.conn.pending(rq.PullMessages)
        h.conn.push(rq.MessageNotify(0, 2))
        self.assertEqual(len(h.conn.pending(rq.PullMessages)), 1)
        d.callback(rq.PullResult((message(1),), 1, 1))
        [(pull, d)] = h.conn.pending(rq.PullMessages)
        self.assertEqual(pull.afterSeq, 1)
        d.callback(rq.PullResult((message(2),), 2, 2))
        self.assertEqual([m.messageUid for m in got], [1, 2])

    def test_pushesTyped(self):
        """
        Recalls, transparent messages, and FN/FRN (which trigger pulls)
        reach their observers as typed objects.
        """
        from fxim.client import Recall
        from fxim.model import Friend, FriendRequest
        h = Harness()
        recalls, transparent, friends, requests = [], [], [], []
        h.client.onRecall(recalls.append)
        h.client.onTransparent(transparent.append)
        h.client.onFriend(friends.append)
        h.client.onFriendRequest(requests.append)
        h.client.start()
        h.conn.push(rq.RecallNotify(9, "peer"))
        typing = message(0)
        h.conn.push(rq.TransparentMessage(typing))
        h.conn.push(rq.FriendNotify(50))
        [(fp, d)] = h.conn.pending(rq.PullFriends)
        self.assertEqual(fp.version, 0)
        d.callback(rq.FriendList((Friend("peer", 0, 50),)))
        h.conn.push(rq.FriendRequestNotify(60))
        [(frp, d)] = h.conn.pending(rq.PullFriendRequests)
        d.callback(rq.FriendRequestList((FriendRequest("x", "me", "hi", 0, 60),)))
        self.assertEqual(recalls, [Recall(9, "peer")])
        self.assertEqual(transparent, [typing])
        self.assertEqual([f.userId for f in friends], ["peer"])
        self.assertEqual([r.fromUid for r in requests], ["x"])
        self.assertEqual((h.client.friendVersion, h.client.friendRequestVersion), (50, 60))

    def test_noticeDuringPull(self):
        """
        An FRN (or FN) arriving while the pull it triggers is in flight
        pulls once more after it: that pull may predate the new change.
        """
        from fxim.model import Friend, FriendRequest
        h = Harness()
        requests, friends = [], []
        h.client.onFriendRequest(requests.append)
        h.client.onFriend(friends.append)
        h.client.start()
        h.conn.push(rq.FriendRequestNotify(60))
        [(frp, d)] = h.conn.pending(rq.PullFriendRequests)
        h.conn.push(rq.FriendRequestNotify(70))
        h.conn.push(rq.FriendRequestNotify(71))
        d.callback(rq.FriendRequestList((FriendRequest("x", "me", "hi", 0, 60),)))
        [(frp, d)] = h.conn.pending(rq.PullFriendRequests)
        self.assertEqual(frp.version, 60)
        d.callback(rq.FriendRequestList((FriendRequest("y", "me", "yo", 0, 70),)))
        self.assertEqual(h.conn.pending(rq.PullFriendRequests), [])
        self.assertEqual([r.fromUid for r in requests], ["x", "y"])
        self.assertEqual(h.client.friendRequestVersion, 70)
        h.conn.push(rq.FriendNotify(50))
        [(fp, d)] = h.conn.pending(rq.PullFriends)
        h.conn.push(rq.FriendNotify(55))
        d.callback(rq.FriendList((Friend("peer", 0, 50),)))
        [(fp, d)] = h.conn.pending(rq.PullFriends)
        self.assertEqual(fp.version, 50)
        d.callback(rq.FriendList((Friend("other", 0, 55),)))
        self.assertEqual(h.conn.pending(rq.PullFriends), [])
        self.assertEqual([f.userId for f in friends], ["peer", "other"])

    def test_groupsTracked(self):
        """
        Group notifications maintain L{ChatClient.groups}.
        """
        import json
        h = Harness()
        h.client.start()
        [(_, d)] = h.conn.pending(rq.PullMessages)

        def note(userId, kind, **data):
            return Message(Conversation(1, data["g"], 0), "boss", MessageContent(
                type=kind, data=json.dumps(data).encode()), messageUid=userId)
        d.callback(rq.PullResult((
            note(1, 104, g="g1", o="boss", n="one"), note(2, 104, g="g2", o="boss", n="two"),
            note(3, 110, g="g1", o="boss", n="uno"), note(4, 106, g="g2", o="boss", ms=["me"]),
            Message(Conversation(1, "g3", 0), "x", MessageContent(1, "hi"), messageUid=5)), 5, 5))
        self.assertEqual(h.client.groups, {"g1": "uno", "g3": ""})


# -- end to end -----------------------------------------------------------------


async def waitUntil(predicate, seconds: float = 30.0, step: float = 0.05):
    deadline = reactor.seconds() + seconds
    while not predicate():
        if reactor.seconds() > deadline:
            raise AssertionError("condition not reached in time")
        await sleep(step)


class ClientE2EMixin(NodeTestMixin):
    """
    L{ChatClient} against real nodes; C{transport} set per class.
    """

    transport = "tcp"

    def client(self, node: ServerProcess, **kwargs: Any) -> ChatClient:
        port = node.tcpPort if self.transport == "tcp" else node.wsPort
        kwargs.setdefault("backoff", Backoff(initial=0.2, maximum=1.0))
        client = ChatClient(reactor, self.transport, "127.0.0.1", port, httpBase=node.httpBase,
                            **kwargs)
        self.addCleanup(client.stop)
        return client

    async def started(self, node: ServerProcess, mobile: str, **kwargs: Any) -> ChatClient:
        client = self.client(node, **kwargs)
        await client.login(mobile, LOGIN_CODE, f"dev-{uuid.uuid4().hex[:8]}")
        await withTimeout(client.start())
        return client

    async def nodeWith(self, *mobiles: str) -> Any:
        """
        A new node and one started client per mobile on it, one after the
        other.

        @return: C{(node, client, ...)}.
        """
        node = await self.startNode()
        return (node,) + tuple([await self.started(node, mobile) for mobile in mobiles])

    async def test_sendReceive(self):
        """
        Two clients exchange messages; each side's observer gets them once,
        with the acked uid; the sender's own message also arrives with its
        next pull (multi-device sync; a sender gets no MN for its own).
        """
        node, a, b = await self.nodeWith("13800000101", "13800000102")
        gotA, gotB = [], []
        a.onMessage(gotA.append)
        b.onMessage(gotB.append)
        sent = await a.sendText(b.userId, "hello b")
        await waitUntil(lambda: gotB)
        self.assertEqual([(m.messageUid, m.fromUser, m.content.searchableContent) for m in gotB],
                         [(sent.messageUid, a.userId, "hello b")])
        reply = await b.sendText(a.userId, "hello a")
        await waitUntil(lambda: len(gotA) == 2)
        self.assertEqual([m.messageUid for m in gotA], [sent.messageUid, reply.messageUid])

    async def test_restartWhileSending(self):
        """
        The node is stopped while a client keeps sending, and restarted on
        the same data and ports: the client reconnects by itself, resends
        the unacked messages with their local ids, and the receiver gets
        every message exactly once, each under the uid its sender's
        L{Deferred} reported.
        """
        node, a, b = await self.nodeWith("13800000103", "13800000104")
        received = []
        b.onMessage(received.append)
        total = 60
        sends = []
        for i in range(total):
            sends.append(a.sendText(b.userId, f"r{i}"))
            if i == 20:
                await sleep(0.05)
                await node.stop()
                self.assertEqual(a.state != ConnectionState.CONNECTED, True)
            elif i == 40:
                restarted = ServerProcess(reactor, list(self.backendArgs()), dataDir=node.dataDir)
                restarted.tcpPort, restarted.wsPort, restarted.httpPort = (
                    node.tcpPort, node.wsPort, node.httpPort)
                self.addCleanup(restarted.stop)
                await restarted.start()
        results = await withTimeout(gatherResults(sends), 60)
        self.assertEqual(len({r.messageUid for r in results}), total)
        await waitUntil(lambda: len(received) >= total, 60)
        await sleep(0.5)
        self.assertEqual([m.content.searchableContent for m in received],
                         [f"r{i}" for i in range(total)])
        self.assertEqual([m.messageUid for m in received], [r.messageUid for r in results])

    async def test_dropInFlightIsIdempotent(self):
        """
        The client's connection is cut right after messages are written:
        the server may have stored some, the client resends all with the
        same local ids, and every message is stored once with the uid the
        first store gave it.
        """
        node, a, b = await self.nodeWith("13800000105", "13800000106")
        received = []
        b.onMessage(received.append)
        for round in range(5):
            sends = [a.sendText(b.userId, f"d{round}-{i}") for i in range(20)]
            await sleep(0.01 * round)
            a.dropConnection()
            results = await withTimeout(gatherResults(sends))
            self.assertEqual(len({r.messageUid for r in results}), 20)
        self.assertGreater(a.resent, 0)
        await waitUntil(lambda: len(received) >= 100)
        await sleep(0.5)
        self.assertEqual([m.content.searchableContent for m in received],
                         [f"d{r}-{i}" for r in range(5) for i in range(20)])
        self.assertEqual(len({m.messageUid for m in received}), 100)
        # A fresh device of b pulls the same 100, no duplicates stored.
        b2 = await self.started(node, "13800000106")
        await withTimeout(b2.sync())
        history = await b2.history(Conversation(0, a.userId, 0), count=200)
        self.assertEqual(len(history), 100)

    async def test_receiverReconnectsFromSavedSeq(self):
        """
        A receiver whose connection drops, and a new process continuing
        from the saved seq, miss nothing and repeat nothing.
        """
        node, a, b = await self.nodeWith("13800000107", "13800000108")
        got = []
        b.onMessage(got.append)
        for i in range(30):
            await a.sendText(b.userId, f"s{i}")
            if i % 10 == 5:
                b.dropConnection()
        await waitUntil(lambda: len(got) >= 30)
        creds, seq = b.credentials, b.lastSeq
        await b.stop()
        for i in range(30, 40):
            await a.sendText(b.userId, f"s{i}")
        b2 = self.client(node, credentials=creds, lastSeq=seq)
        b2.onMessage(got.append)
        await withTimeout(b2.start())
        await waitUntil(lambda: len(got) >= 40)
        await sleep(0.3)
        self.assertEqual([m.content.searchableContent for m in got], [f"s{i}" for i in range(40)])

    async def test_friends(self):
        """
        Search, request, FRN to the target, accept, FN to both, alias, list.
        """
        node, a, b = await self.nodeWith("13800000111", "13800000112")
        requests, friendsA = [], []
        b.onFriendRequest(requests.append)
        a.onFriend(friendsA.append)
        [found] = await a.searchUsers("13800000112")
        self.assertEqual(found.userId, b.userId)
        await a.addFriend(b.userId, "hi, it's a")
        await waitUntil(lambda: requests)
        self.assertEqual((requests[-1].fromUid, requests[-1].reason), (a.userId, "hi, it's a"))
        self.assertEqual([r.fromUid for r in await b.friendRequests()], [a.userId])
        await b.acceptFriend(a.userId)
        await waitUntil(lambda: friendsA)
        self.assertEqual(friendsA[-1].userId, b.userId)
        await a.setFriendAlias(b.userId, "bee")
        [friend] = await a.friends()
        self.assertEqual((friend.userId, friend.alias), (b.userId, "bee"))
        self.assertEqual([f.userId for f in await b.friends()], [a.userId])
        [user] = await a.users([b.userId])
        self.assertEqual(user.mobile, "13800000112")

    async def test_groups(self):
        """
        Create, info, members, add, modify, kick, quit, dismiss; the
        members' clients track the groups from the notifications.
        """
        node, a, b, c = await self.nodeWith("13800000121", "13800000122", "13800000123")
        events = []
        b.onGroup(events.append)
        gid = await a.createGroup("team", [b.userId])
        [info] = await a.groupInfo([gid])
        self.assertEqual((info.name, info.owner), ("team", a.userId))
        await a.addGroupMembers(gid, [c.userId])
        self.assertEqual(sorted(m.memberId for m in await b.groupMembers(gid)),
                         sorted([a.userId, b.userId, c.userId]))
        await a.modifyGroup(gid, name="team 2")
        await waitUntil(lambda: b.groups.get(gid) == "team 2")
        got = []
        c.onMessage(got.append)
        await b.sendText(gid, "hi all", group=True)
        await waitUntil(lambda: any(m.content.searchableContent == "hi all" for m in got))
        await a.kickGroupMembers(gid, [c.userId])
        await waitUntil(lambda: gid not in c.groups)
        await b.quitGroup(gid)
        await waitUntil(lambda: gid not in b.groups)
        await a.dismissGroup(gid)
        self.assertEqual(await a.groupInfo([gid]), [])
        self.assertEqual([e.kind for e in events][:3], [104, 105, 110])

    async def test_recallHistoryUpload(self):
        """
        Recall reaches the peer as a L{Recall}; history pages back; an
        uploaded file is served at the returned URL; typing and call
        signalling reach the transparent observer and are not stored.
        """
        from twisted.web.client import Agent, readBody
        node, a, b = await self.nodeWith("13800000131", "13800000132")
        recalls, transparent = [], []
        b.onRecall(recalls.append)
        b.onTransparent(transparent.append)
        sent = [await a.sendText(b.userId, f"h{i}") for i in range(25)]
        await a.recall(sent[-1].messageUid)
        await waitUntil(lambda: recalls)
        self.assertEqual((recalls[0].messageUid, recalls[0].fromUser), (sent[-1].messageUid, a.userId))
        page1 = await b.history(Conversation(0, a.userId, 0), count=10)
        page2 = await b.history(Conversation(0, a.userId, 0), page1[-1].messageUid, 20)
        messageUids = [m.messageUid for m in page1 + page2]
        self.assertEqual(messageUids, sorted((r.messageUid for r in sent), reverse=True))
        self.assertEqual(page1[0].content.type, 80)
        data = bytes(range(256)) * 40
        url = await a.upload(data, "photo 1.jpg")
        response = await Agent(reactor).request(b"GET", url.encode())
        self.assertEqual(await readBody(response), data)
        image = await a.sendImage(b.userId, b"\x89PNG...", "x.png")
        self.assertTrue(image.messageUid)
        await a.sendTyping(b.userId)
        await a.sendCallSignal(b.userId, 403, "call-1", b'{"sdp":"v=0"}')
        await waitUntil(lambda: len(transparent) == 2)
        self.assertEqual([m.content.type for m in transparent], [91, 403])
        self.assertEqual(transparent[1].content.data, b'{"sdp":"v=0"}')
        history = await b.history(Conversation(0, a.userId, 0), count=3)
        self.assertNotIn(403, [m.content.type for m in history])

    async def test_logout(self):
        """
        stop(logout=True) ends the session: the same credentials are then
        refused with L{Unauthorized}.
        """
        node = await self.startNode()
        a = await self.started(node, "13800000141")
        creds = a.credentials
        await a.stop(logout=True)
        again = self.client(node, credentials=creds)
        with self.assertRaises(Unauthorized):
            await withTimeout(again.start())


class TcpClientTests(ClientE2EMixin, TestCase):
    """
    L{ChatClient} over TCP.
    """

    transport = "tcp"


class WsClientTests(ClientE2EMixin, TestCase):
    """
    L{ChatClient} over WebSocket.
    """

    transport = "ws"


class ProductionWsClientTests(ClientE2EMixin, ProductionBackend, TestCase):
    """
    L{ChatClient} over WebSocket on PostgreSQL + Redis.
    """

    transport = "ws"
