#!/usr/bin/env python
"""
The load-generator worker of C{bench/fximbench.py}.

Run by the orchestrator (C{python bench/loadgen.py}), one JSON command per
stdin line, one JSON answer per stdout line.  Each worker is one Twisted
reactor driving hundreds or thousands of connections with a lean frame
client (L{Client}): pre-encoded MS bodies, no per-message logging, no
Deferred per message on the hot path.
"""

import json
import os
import random
import resource
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from collections import namedtuple  # noqa: E402

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol  # noqa: E402
from twisted.internet import reactor, stdio  # noqa: E402
from twisted.internet.defer import Deferred, ensureDeferred, gatherResults  # noqa: E402
from twisted.internet.endpoints import TCP4ClientEndpoint  # noqa: E402
from twisted.internet.protocol import Factory, Protocol  # noqa: E402
from twisted.internet.task import deferLater  # noqa: E402
from twisted.protocols.basic import LineReceiver  # noqa: E402

from fxim import crypto  # noqa: E402
from fxim.transport.nodelay import setNoDelay  # noqa: E402
from fxim.model import Conversation, GroupInfo, GroupMember, Message, MessageContent  # noqa: E402
from fxim.protocol.client import CLIENT as clientcodecs  # noqa: E402
from fxim.wire import im_pb2 as pb  # noqa: E402
from fxim.wire.frame import HEADER, FrameDecoder  # noqa: E402
from fxim.wire.requests import ConnectRequest, CreateGroup, SendMessage  # noqa: E402
from fxim.wire.signals import Signal, SubSignal  # noqa: E402

PUBLISH, PUB_ACK, CONNECT, CONNECT_ACK = 9, 10, 6, 7
MS, MP, MN, GC = int(SubSignal.MS), int(SubSignal.MP), int(SubSignal.MN), int(SubSignal.GC)
_ACK = struct.Struct(">qq")
MARK = "#" * 16
#: TCP_NODELAY on the workers' connections; FXIM_BENCH_NAGLE=1 leaves Nagle
#: on, to measure a "before" the way clients without it behave.
NODELAY = os.environ.get("FXIM_BENCH_NAGLE") != "1"
#: Total size of the MS frames sent (header + body).
FRAME_SIZE = 200


def raiseFdLimit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def sleep(seconds):
    return deferLater(reactor, seconds, lambda: None)


def frame(signal, sub, mid, body):
    return HEADER.pack(0xF8, 2, signal, len(body), sub, mid & 0xFFFF) + body


class MsTemplate:
    """
    A pre-encoded MS protobuf body whose searchable content starts with a
    16-character slot for the message key, sized so that the whole frame
    is L{FRAME_SIZE} bytes.
    """

    def __init__(self, convType, target, size=FRAME_SIZE):
        pad = 0
        while True:
            m = pb.Message()
            m.conversation.type = convType
            m.conversation.target = target
            m.conversation.line = 0
            m.from_user = ""
            m.content.type = 1
            m.content.searchable_content = MARK + "x" * pad
            body = m.SerializeToString()
            if len(body) + 10 >= size:
                break
            pad += size - 10 - len(body)
        #: the padding after the key (the WS template sends the same content)
        self.pad = pad
        self.size = len(body) + 10
        i = body.index(MARK.encode())
        self.head, self.tail = body[:i], body[i + 16:]

    def body(self, key):
        return self.head + key + self.tail


class WsMsTemplate:
    """
    A pre-encoded MS request text of the WS JSON protocol (as the SDK and
    the web client write it) with slots for the envelope's messageId and
    the 16-character message key; its message content is L{MsTemplate}'s
    (the same searchable content as the 200-byte TCP frames).
    """

    def __init__(self, convType, target):
        pad = MsTemplate(convType, target).pad
        request = SendMessage(Message(Conversation(convType, target, 0), "",
                                      MessageContent(type=1, searchableContent=MARK + "x" * pad)))
        text = clientcodecs.encodeRequestEnvelope(request, 0).encode()
        self.size = len(text)
        head, rest = text.split(b'"messageId":0,', 1)
        i = rest.index(MARK.encode())
        self.head, self.middle, self.tail = head + b'"messageId":', b"," + rest[:i], rest[i + 16:]

    def text(self, mid, key):
        return b"%s%d%s%s%s" % (self.head, mid, self.middle, key, self.tail)


#: What the worker reads of a pulled message, on either transport
#: (L{Client} hands over the C{pb.Message}s themselves).
PulledText = namedtuple("PulledText", "searchable_content")
Pulled = namedtuple("Pulled", "content message_id")
#: A WS CONNECT_ACK's message head.
WsAck = namedtuple("WsAck", "msgHead")


class Puller:
    """
    The client state shared by both transports: request ids, the seqs
    heard of and pulled, and the pull loop (one MP in flight; pull again
    while behind).

    @ivar lastSeq: the seq of the last pulled message.
    @ivar head: the highest seq heard of (CONNECT_ACK, MN, MP).
    """

    def __init__(self):
        self.mid = 0
        self.waiters = {}
        self.connectWaiter = None
        self.lastSeq = 0
        self.head = 0
        self.pulling = False
        self.again = False
        self.onMessages = None      # f(client, [pb.Message or Pulled])
        self.onMsAck = None         # f(client, messageId, uid or None when refused)
        self.onRelayed = None       # f(client, searchable content) -- relay mode
        self.onCurrent = None       # f(client) once lastSeq >= head after a pull
        self.closedD = Deferred()
        self.pulls = 0

    def nextId(self):
        self.mid = self.mid % 65535 + 1
        return self.mid

    def notified(self, head):
        """
        An MN: pull if it is ahead of what was pulled.
        """
        if head > self.head:
            self.head = head
        if head > self.lastSeq:
            self.pull()

    def pull(self):
        if self.pulling:
            self.again = True
            return
        self.pulling = True
        self.again = False
        self.pulls += 1
        self.writePull()

    def pulled(self, messages, current, head):
        """
        An MP result: hand the messages over, pull on while behind.
        """
        self.pulling = False
        if head > self.head:
            self.head = head
        if messages:
            self.lastSeq = current
            if self.onMessages is not None:
                self.onMessages(self, messages)
        if current < head or self.again or self.lastSeq < self.head:
            if messages or self.again:
                self.pull()
        elif self.onCurrent is not None:
            self.onCurrent(self)

    def password(self, token):
        return crypto.makePassword(token, int(time.time() * 1000))


class Client(Puller, Protocol):
    """
    One lean fxim (or relay) TCP connection.
    """

    Template = MsTemplate

    def __init__(self):
        Puller.__init__(self)
        self.decoder = FrameDecoder(1 << 30)

    def connectionMade(self):
        if NODELAY:
            setNoDelay(self.transport)

    def connectionLost(self, reason=None):
        if not self.closedD.called:
            self.closedD.callback(None)

    def dataReceived(self, data):
        for f in self.decoder.feed(data):
            signal, sub = f.signal, f.subsignal
            if signal == PUB_ACK:
                if sub == MS:
                    body = f.body
                    self.onMsAck(self, f.messageId,
                                 _ACK.unpack_from(body, 1)[0] if body[:1] == b"\x00" else None)
                elif sub == MP and f.messageId:
                    self._pulled(f.body)
                else:
                    d = self.waiters.pop(f.messageId, None)
                    if d is not None:
                        d.callback(f)
            elif signal == PUBLISH:
                if sub == MN:
                    n = pb.NotifyMessage()
                    n.ParseFromString(f.body)
                    self.notified(n.head)
                elif sub == MS and self.onRelayed is not None:
                    m = pb.Message()
                    m.ParseFromString(f.body)
                    self.onRelayed(self, m.content.searchable_content)
            elif signal == CONNECT_ACK:
                d, self.connectWaiter = self.connectWaiter, None
                if d is not None:
                    d.callback(f)

    def connect(self, userId, token, cid):
        body = clientcodecs.encodeRequestTcp(ConnectRequest(userId, self.password(token), cid))
        self.connectWaiter = d = Deferred()
        self.transport.write(frame(CONNECT, 0, 0, body))
        return d.addCallback(self._connected)

    def _connected(self, f):
        if f.subsignal != 1:
            raise RuntimeError(f"CONNECT refused: {f.subsignal}")
        ack = clientcodecs.decodeReplyTcp(f.subsignal, f.body, Signal.CONNECT_ACK)[1]
        self.head = max(self.head, ack.msgHead)
        return ack

    def request(self, sub, body):
        mid = self.nextId()
        d = self.waiters[mid] = Deferred()
        self.transport.write(frame(PUBLISH, sub, mid, body))
        return d

    def sendMs(self, tpl, key):
        """
        Send an MS of template C{tpl} (an L{MsTemplate}) with C{key}.

        @return: its messageId.
        """
        mid = self.nextId()
        self.transport.write(frame(PUBLISH, MS, mid, tpl.body(key)))
        return mid

    def writePull(self):
        body = pb.PullMessageRequest(id=self.lastSeq, type=0).SerializeToString()
        self.transport.write(frame(PUBLISH, MP, self.nextId(), body))

    def _pulled(self, body):
        if body[:1] != b"\x00":
            raise RuntimeError(f"MP failed with code {body[0]}")
        r = pb.PullMessageResult()
        r.ParseFromString(body[1:])
        self.pulled(r.message, r.current, r.head)


_loads = json.loads


class WsClient(Puller, WebSocketClientProtocol):
    """
    One lean fxim (or relay) WebSocket connection speaking the WS JSON
    protocol (docs/protocol.md section 3): the same interface as L{Client}.
    Client frames are masked, as browsers' are.
    """

    Template = WsMsTemplate

    def __init__(self):
        WebSocketClientProtocol.__init__(self)
        Puller.__init__(self)
        self.opened = Deferred()

    def connectionMade(self):
        WebSocketClientProtocol.connectionMade(self)
        # Autobahn's own tcpNoDelay is applied too early (see fxim.transport.websocket).
        if NODELAY:
            setNoDelay(self.transport)

    def onOpen(self):
        self.opened.callback(self)

    def onClose(self, wasClean, code, reason):
        if not self.opened.called:
            self.opened.errback(RuntimeError(f"WebSocket closed: {reason}"))
        if not self.closedD.called:
            self.closedD.callback(None)

    def onMessage(self, payload, isBinary):
        o = _loads(payload)
        signal, sub = o["signal"], o.get("subSignal")
        if signal == "PUB_ACK":
            content = o.get("content")
            if sub == "MS":
                self.onMsAck(self, o["messageId"], int(_loads(content)["messageId"]) if content else None)
            elif sub == "MP" and o["messageId"]:
                if not content:
                    raise RuntimeError("MP failed")
                r = _loads(content)
                self.pulled([Pulled(PulledText(m["content"].get("searchableContent", "")), m["messageId"])
                             for m in r.get("messageResponseList", ())],
                            int(r["current"]), int(r["head"]))
        elif signal == "PUBLISH":
            if sub == "MN":
                self.notified(int(_loads(o["content"])["messageHead"]))
            elif sub == "MS" and self.onRelayed is not None:
                # the relay forwards the sender's text: content is the object sent
                self.onRelayed(self, o["content"]["content"]["searchableContent"])
        elif signal == "CONNECT_ACK":
            d, self.connectWaiter = self.connectWaiter, None
            if d is None:
                return
            if sub != "CONNECTION_ACCEPTED":
                d.errback(RuntimeError(f"CONNECT refused: {sub}"))
                return
            ack = WsAck(int(_loads(o["content"])["messageHead"]))
            self.head = max(self.head, ack.msgHead)
            d.callback(ack)

    def connect(self, userId, token, cid):
        self.connectWaiter = d = Deferred()
        self.sendMessage(clientcodecs.encodeRequestEnvelope(
            ConnectRequest(userId, self.password(token), cid), 0).encode(), False)
        return d

    def sendMs(self, tpl, key):
        """
        Send an MS of template C{tpl} (a L{WsMsTemplate}) with C{key}.

        @return: its messageId.
        """
        mid = self.nextId()
        self.sendMessage(tpl.text(mid, key), False)
        return mid

    def writePull(self):
        self.sendMessage(b'{"signal":"PUBLISH","subSignal":"MP","messageId":%d,"content":'
                         b'{"messageId":"%d","type":0,"pullType":0,"sendMessageCount":0}}'
                         % (self.nextId(), self.lastSeq), False)


_factory = Factory.forProtocol(Client)
_wsFactories = {}


async def openClient(port, host="127.0.0.1", transport="tcp"):
    """
    A connected L{Client} (C{transport} tcp) or L{WsClient} (ws: the
    WebSocket handshake done).
    """
    endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=60)
    if transport == "tcp":
        return await endpoint.connect(_factory)
    factory = _wsFactories.get((host, port))
    if factory is None:
        factory = _wsFactories[host, port] = WebSocketClientFactory(f"ws://{host}:{port}/ws",
                                                                    reactor=reactor)
        factory.protocol = WsClient
        # The worker trusts the server's UTF-8 (client CPU only: what the
        # server receives is unchanged, masked as browsers send it).
        factory.setProtocolOptions(utf8validateIncoming=False)
    return await (await endpoint.connect(factory)).opened


async def bounded(items, concurrency, fn):
    """
    Run C{fn(item)} for every item, at most C{concurrency} at a time.

    @return: (results in order, number failed, first error text).
    """
    results = [None] * len(items)
    it = iter(enumerate(items))
    failed = [0, None]

    async def lane():
        for i, item in it:
            try:
                results[i] = await fn(item)
            except Exception as e:
                failed[0] += 1
                failed[1] = failed[1] or repr(e)
    await gatherResults([ensureDeferred(lane()) for _ in range(concurrency)])
    return results, failed[0], failed[1]


def cpuSeconds():
    t = os.times()
    return t.user + t.system


class Worker:
    def __init__(self, out):
        self.out = out
        self.clients = []
        self.pairs = []
        self.ws = []

    # -- pairs and steady ---------------------------------------------------

    async def cmd_pairs_setup(self, c):
        """
        Connect sender/receiver pairs.  C{mode} fxim: log in with the given
        credentials; relay: CONNECT with the peer's name as the client id.
        """
        port, mode, transport = c["port"], c["mode"], c.get("transport", "tcp")
        self.mode = mode
        self.pairs = []

        async def setup(p):
            # per-pair ports: sender and receiver on different nodes (--nodes)
            s = await openClient(p.get("sport", port), transport=transport)
            r = await openClient(p.get("rport", port), transport=transport)
            if mode == "fxim":
                await s.connect(p["s"]["uid"], p["s"]["token"], p["s"]["cid"])
                ack = await r.connect(p["r"]["uid"], p["r"]["token"], p["r"]["cid"])
                r.lastSeq = ack.msgHead  # skip earlier runs' messages
            else:
                await r.connect(p["r"]["uid"], p["r"]["token"], "recv")
                await s.connect(p["s"]["uid"], p["s"]["token"], "to:" + p["r"]["uid"])
            return (s, r, s.Template(0, p["r"]["uid"]))
        t0 = time.time()
        self.pairs, failed, err = await bounded(c["pairs"], 20, setup)
        return {"pairs": len(self.pairs), "failed": failed, "error": err, "seconds": time.time() - t0,
                "msBytes": max((tpl.size for _, _, tpl in filter(None, self.pairs)), default=0)}

    def _arm(self, count):
        """
        Install the per-pair state and callbacks; @return: the state.
        """
        st = {"lat": [], "delivered": 0, "dups": 0, "bad": 0, "acked": 0, "done": Deferred(),
              "total": count * len(self.pairs), "last": 0.0, "mismatch": 0,
              "onDelivered": None}
        perf = time.perf_counter
        for idx, (s, r, tpl) in enumerate(self.pairs):
            s.pairIdx = idx
            s.sentAt = {}        # seq -> perf time
            s.inflight = {}      # mid -> seq
            s.messageUids = {}          # seq -> uid (from the ack)
            s.next = 0
            s.tpl = tpl
            r.got = {}           # seq -> uid (as pulled)
            r.sender = s

            def received(client, seq, messageUid, st=st):
                s = client.sender
                t = s.sentAt.pop(seq, None)
                if seq in client.got:
                    st["dups"] += 1
                    return
                if t is None:
                    st["bad"] += 1
                    return
                now = perf()
                client.got[seq] = messageUid
                st["lat"].append(now - t)
                st["delivered"] += 1
                st["last"] = now
                if st["delivered"] + st["bad"] >= st["total"] and not st["done"].called:
                    st["done"].callback(None)
                elif st["onDelivered"] is not None:
                    st["onDelivered"](s)

            def onMessages(client, messages, received=received):
                for m in messages:
                    key = m.content.searchable_content[:16]
                    seq = int(key[6:])
                    received(client, seq, m.message_id)

            def onRelayed(client, text, received=received):
                received(client, int(text[6:16]), 0)
            r.onMessages = onMessages
            r.onRelayed = onRelayed
        return st

    def _sendNext(self, s, st):
        seq = s.next
        s.next += 1
        key = b"%06d%010d" % (s.pairIdx, seq)
        s.sentAt[seq] = time.perf_counter()
        s.inflight[s.sendMs(s.tpl, key)] = seq

    async def cmd_pairs_go(self, c):
        """
        Closed loop: C{window} MS in flight per sender, the next sent on each
        ack; with C{afterPull}, the next sent only once the receiver pulled
        the previous one (one message at a time end to end).
        """
        count, window, limit = c["count"], c["window"], c["timeLimit"]
        afterPull = c.get("afterPull", False)
        st = self._arm(count)
        relay = self.mode == "relay"
        if afterPull:
            def onDelivered(s, st=st):
                if s.next < count:
                    self._sendNext(s, st)
            st["onDelivered"] = onDelivered

        def onAck(s, mid, messageUid, st=st):
            seq = s.inflight.pop(mid, None)
            if seq is None:
                return
            if messageUid is None:
                st["bad"] += 1
            else:
                st["acked"] += 1
                s.messageUids[seq] = 0 if relay else messageUid
            if s.next < count and not afterPull:
                self._sendNext(s, st)
        cpu0, t0 = cpuSeconds(), time.perf_counter()
        for s, _r, _ in self.pairs:
            s.onMsAck = onAck
            for _ in range(min(window, count)):
                self._sendNext(s, st)
        timer = reactor.callLater(limit, lambda: st["done"].called or st["done"].callback(None))
        await st["done"]
        if timer.active():
            timer.cancel()
        elapsed = (st["last"] or time.perf_counter()) - t0
        missing, mismatch = self._exactlyOnce(relay)
        return {"delivered": st["delivered"], "acked": st["acked"], "dups": st["dups"],
                "bad": st["bad"], "missing": missing, "uidMismatch": mismatch,
                "expected": st["total"], "elapsed": elapsed, "cpu": cpuSeconds() - cpu0,
                "lat": [round(x * 1e6) for x in st["lat"]],
                "pulls": sum(r.pulls for _, r, _ in self.pairs)}

    def _exactlyOnce(self, relay):
        """
        Every acked uid pulled once, under the same uid (duplicates are
        counted as they arrive).

        @return: (acked but never pulled, pulled under another uid).
        """
        missing = mismatch = 0
        for s, r, _ in self.pairs:
            for seq, messageUid in s.messageUids.items():
                got = r.got.get(seq)
                if got is None:
                    missing += 1
                elif not relay and got != messageUid:
                    mismatch += 1
        return missing, mismatch

    async def cmd_steady_go(self, c):
        """
        Send at C{rate} msgs/s for C{duration} s round-robin over the pairs
        (no window: open loop, every message on its schedule).
        """
        rate, duration = c["rate"], c["duration"]
        count = int(rate * duration)
        st = self._arm(count)  # total = count * pairs, fixed below
        st["total"] = count
        n = len(self.pairs)
        relay = self.mode == "relay"

        def onAck(s, mid, messageUid, st=st):
            seq = s.inflight.pop(mid, None)
            if seq is None:
                return
            if messageUid is None:
                st["bad"] += 1
            else:
                st["acked"] += 1
                s.messageUids[seq] = 0 if relay else messageUid
        for s, _r, _ in self.pairs:
            s.onMsAck = onAck
        perf = time.perf_counter
        t0 = perf()
        cpu0 = cpuSeconds()
        sent = [0]
        lateness = []

        def tick():
            now = perf()
            due = min(count, int((now - t0) * rate) + 1)
            while sent[0] < due:
                i = sent[0]
                lateness.append(now - (t0 + i / rate))
                s = self.pairs[i % n][0]
                self._sendNext(s, st)
                sent[0] += 1
            if sent[0] < count:
                reactor.callLater(max(0.0, t0 + sent[0] / rate - perf()), tick)
        tick()
        timer = reactor.callLater(duration + 15, lambda: st["done"].called or st["done"].callback(None))
        await st["done"]
        if timer.active():
            timer.cancel()
        lateness.sort()
        missing, mismatch = self._exactlyOnce(relay)
        return {"delivered": st["delivered"], "dups": st["dups"], "bad": st["bad"],
                "acked": st["acked"], "missing": missing, "uidMismatch": mismatch,
                "expected": count, "elapsed": perf() - t0, "cpu": cpuSeconds() - cpu0,
                "lat": [round(x * 1e6) for x in st["lat"]],
                "sendLatenessP99us": round(lateness[int(len(lateness) * 0.99)] * 1e6) if lateness else 0}

    async def cmd_pairs_close(self, c):
        for s, r, _ in self.pairs:
            s.transport.loseConnection()
            r.transport.loseConnection()
        self.pairs = []
        await sleep(0.5)
        return {}

    # -- idle -----------------------------------------------------------------

    async def cmd_idle_connect(self, c):
        """
        Open one connection per credential (C{kind} fxim: authenticated;
        bare: just the TCP connection or the WebSocket handshake).
        """
        port, transport, kind = c["port"], c["transport"], c["kind"]
        creds = c["creds"]

        async def one(cr):
            if transport == "tcp":
                cl = await openClient(port)
                if kind == "fxim":
                    await cl.connect(cr["uid"], cr["token"], cr["cid"])
                return cl
            if kind == "fxim":
                from fxim.client import openConnection
                conn = await openConnection(reactor, "ws", "127.0.0.1", port)
                await conn.connect(cr["uid"], cr["token"], cr["cid"], timeout=60)
                return conn
            return await bareWs(port)
        t0 = time.time()
        got, failed, err = await bounded(creds, c.get("concurrency", 50), one)
        elapsed = time.time() - t0
        self.clients = [g for g in got if g is not None]
        return {"connected": len(self.clients), "failed": failed, "error": err, "seconds": elapsed}

    async def cmd_close_all(self, c):
        ds = []
        for cl in self.clients:
            try:
                if hasattr(cl, "closedD"):
                    ds.append(cl.closedD)
                    cl.transport.loseConnection()
                else:
                    cl.transport.abortConnection()
            except Exception:
                pass
        self.clients = []
        if ds:
            timer = reactor.callLater(20, lambda: None)
            await gatherResults(ds)
            if timer.active():
                timer.cancel()
        return {}

    # -- fanout -----------------------------------------------------------------

    async def cmd_fanout_setup(self, c):
        """
        Connect one device per credential (C{mode} fxim: log in; relay:
        join the relay's group, the sender -- the first credential of the
        worker with C{hasSender} -- as the group's sender) and count every
        fan-out message each device gets, exactly once by seq.
        """
        port, relay = c["port"], c.get("mode", "fxim") == "relay"
        hasSender = c.get("hasSender", False)

        async def one(item):
            i, cr = item
            cl = await openClient(port)
            cid = cr["cid"] if not relay else ("togroup:fan" if hasSender and i == 0 else "group:fan")
            await cl.connect(cr["uid"], cr["token"], cid)
            cl.fan = {}
            return cl
        t0 = time.time()
        self.clients, failed, err = await bounded(list(enumerate(c["creds"])), 50, one)
        self.clients = [x for x in self.clients if x is not None]
        st = self.fan = {"done": Deferred(), "deliveries": 0, "dups": 0, "complete": 0, "expect": 0,
                         "last": 0.0, "uids": {}}
        # The sender's own device is not notified of its own messages.
        st["members"] = len(self.clients) - (1 if hasSender else 0)

        def got(cl, text, messageUid):
            if not text.startswith("F"):
                return
            seq = int(text[1:16])
            if seq in cl.fan:
                st["dups"] += 1
                return
            now = time.time()
            cl.fan[seq] = now
            st["deliveries"] += 1
            st["uids"].setdefault(seq, set()).add(messageUid)
            if len(cl.fan) == st["expect"]:
                st["complete"] += 1
                st["last"] = now
                if st["complete"] >= st["members"] and not st["done"].called:
                    st["done"].callback(None)

        def onMessages(cl, messages):
            for m in messages:
                got(cl, m.content.searchable_content, m.message_id)
        for cl in self.clients:
            if relay:
                cl.onRelayed = lambda cl, text: got(cl, text, 0)
            else:
                cl.onMessages = onMessages
                cl.pull()
        return {"connected": len(self.clients), "failed": failed, "error": err,
                "seconds": time.time() - t0}

    async def cmd_fanout_group(self, c):
        """
        The first client creates the group of C{members} uids.
        """
        owner = self.clients[0]
        req = CreateGroup(GroupInfo("", "bench fanout"), tuple(GroupMember(u) for u in c["members"]))
        f = await owner.request(GC, clientcodecs.encodeRequestTcp(req))
        code, created = clientcodecs.decodeReplyTcp(f.subsignal, f.body)
        if code:
            raise RuntimeError(f"GC failed: {code}")
        return {"group": created.groupId}

    async def cmd_fanout_settle(self, c):
        """
        Wait until every device has pulled all it heard of (the group's
        creation notices), at most C{timeLimit} s.
        """
        t0 = time.time()
        while time.time() - t0 < c["timeLimit"]:
            if all(not cl.pulling and cl.lastSeq >= cl.head for cl in self.clients):
                break
            await sleep(0.1)
        return {"seconds": time.time() - t0}

    async def cmd_fanout_expect(self, c):
        self.fan["expect"] = c["messages"]
        self.fan["cpu0"] = cpuSeconds()
        self.fanSend = None
        return {}

    async def cmd_fanout_wait(self, c):
        """
        Wait until every member device has every message (or the time
        limit): deliveries, duplicates and the uids each seq was pulled
        under (exactly one per seq when all is well).
        """
        st, sending = self.fan, self.fanSend
        timer = reactor.callLater(c["timeLimit"], lambda: st["done"].called or st["done"].callback(None))
        await st["done"]
        if timer.active():
            timer.cancel()
        out = {"complete": st["complete"], "members": len(self.clients), "last": st["last"],
               "deliveries": st["deliveries"], "dups": st["dups"],
               "uids": {seq: sorted(u) for seq, u in st["uids"].items()},
               "cpu": cpuSeconds() - st["cpu0"], "pulls": sum(cl.pulls for cl in self.clients)}
        if sending is not None:
            await sending["done"]
            out["sent"] = {"t0": sending["t0"], "uids": sending["uids"], "ackedAt": sending["ackedAt"]}
        return out

    async def cmd_fanout_close(self, c):
        for cl in self.clients:
            cl.transport.loseConnection()
        self.clients = []
        await sleep(0.5)
        return {}

    async def cmd_fanout_send(self, c):
        """
        Start sending: the first client sends C{messages} MS to C{group},
        C{window} in flight.  L{cmd_fanout_wait} waits for the acks too and
        reports the first send's time and the uid of every seq (answering
        here at the end could come after that worker's fanout_wait answer).
        """
        owner = self.clients[0]
        tpl = owner.Template(1, c["group"])
        count, window = c["messages"], c["window"]
        done = Deferred()
        state = {"next": 0, "acked": 0}
        inflight = {}
        uids = {}
        self.fanSend = sending = {"done": done, "uids": uids, "ackedAt": None}

        def send():
            seq = state["next"]
            state["next"] += 1
            inflight[owner.sendMs(tpl, b"F%015d" % seq)] = seq

        def onAck(cl, mid, messageUid):
            seq = inflight.pop(mid, None)
            if seq is None:
                return
            if messageUid is None:
                done.errback(RuntimeError("MS to group refused"))
                return
            uids[seq] = messageUid
            state["acked"] += 1
            if state["next"] < count:
                send()
            elif state["acked"] == count and not done.called:
                sending["ackedAt"] = time.time()
                done.callback(None)
        owner.onMsAck = onAck
        sending["t0"] = time.time()
        for _ in range(min(window, count)):
            send()
        return {"t0": sending["t0"]}

    # -- storm ------------------------------------------------------------------

    async def cmd_storm_setup(self, c):
        self.port = c["port"]
        self.creds = c["creds"]

        async def one(cr):
            cl = await openClient(self.port)
            await cl.connect(cr["uid"], cr["token"], cr["cid"])
            return cl
        t0 = time.time()
        self.clients, failed, err = await bounded(self.creds, 50, one)
        return {"connected": sum(1 for x in self.clients if x), "failed": failed, "error": err,
                "seconds": time.time() - t0}

    async def cmd_backlog(self, c):
        """
        Senders (C{senders} credentials) send C{perTarget} messages to
        every uid of C{targets}, each sender with a window of C{window}.
        """
        port, per, window = c["port"], c["perTarget"], c["window"]
        targets = [u for u in c["targets"] for _ in range(per)]
        senders = []
        for cr in c["senders"]:
            cl = await openClient(port)
            await cl.connect(cr["uid"], cr["token"], cr["cid"])
            senders.append(cl)
        queue = iter(targets)
        done = Deferred()
        st = {"acked": 0, "failed": 0, "inflight": 0}
        tpls = {}

        def send(cl):
            t = next(queue, None)
            if t is None:
                if st["inflight"] == 0 and not done.called:
                    done.callback(None)
                return
            tpl = tpls.get(t) or tpls.setdefault(t, MsTemplate(0, t))
            cl.sendMs(tpl, b"B%015d" % st["acked"])
            st["inflight"] += 1

        def onAck(cl, mid, messageUid):
            st["inflight"] -= 1
            if messageUid is not None:
                st["acked"] += 1
            else:
                st["failed"] += 1
            send(cl)
        t0 = time.time()
        for cl in senders:
            cl.onMsAck = onAck
            for _ in range(window):
                send(cl)
        await done
        elapsed = time.time() - t0
        for cl in senders:
            cl.transport.loseConnection()
        return {"sent": st["acked"], "failed": st["failed"], "seconds": elapsed}

    async def cmd_storm_drop(self, c):
        for cl in self.clients:
            if cl is not None:
                cl.transport.abortConnection()
        self.old = {cr["uid"] + cr["cid"]: cl.lastSeq for cr, cl in zip(self.creds, self.clients) if cl}
        self.clients = []
        return {}

    async def cmd_storm_reconnect(self, c):
        """
        Every device reconnects after a random delay in [0, jitter] s,
        CONNECTs and pulls until current.
        """
        jitter, expect = c["jitter"], c["expectPer"]
        results = {"current": 0, "failed": 0, "err": None, "connectLat": [], "currentAt": [],
                   "messages": 0}
        done = Deferred()
        n = len(self.creds)
        t0 = time.time()

        def finished():
            if results["current"] + results["failed"] >= n and not done.called:
                done.callback(None)

        async def one(cr):
            await sleep(random.uniform(0, jitter))
            try:
                ts = time.time()
                cl = await openClient(self.port)
                cl.lastSeq = self.old.get(cr["uid"] + cr["cid"], 0)
                ack = await cl.connect(cr["uid"], cr["token"], cr["cid"])
                results["connectLat"].append(time.time() - ts)
                got = Deferred()
                cl.got = 0

                def onMessages(cl, messages):
                    cl.got += len(messages)
                    results["messages"] += len(messages)
                cl.onMessages = onMessages
                cl.onCurrent = lambda cl: got.called or got.callback(None)
                if ack.msgHead > cl.lastSeq:
                    cl.pull()
                    await got
                results["currentAt"].append(time.time())
                if cl.got < expect:
                    results["short"] = results.get("short", 0) + 1
                results["current"] += 1
                self.clients.append(cl)
            except Exception as e:
                results["failed"] += 1
                results["err"] = results["err"] or repr(e)
            finished()
        for cr in self.creds:
            ensureDeferred(one(cr))
        timer = reactor.callLater(c["timeLimit"], lambda: done.called or done.callback(None))
        await done
        if timer.active():
            timer.cancel()
        results["t0"] = t0
        results["end"] = max(results["currentAt"]) if results["currentAt"] else time.time()
        return results


async def bareWs(port):
    from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol

    class P(WebSocketClientProtocol):
        def onOpen(self):
            d = self.factory.opened.setdefault(id(self), Deferred())
            if not d.called:
                d.callback(self)

    f = WebSocketClientFactory(f"ws://127.0.0.1:{port}/ws", reactor=reactor)
    f.protocol = P
    f.opened = {}
    proto = await TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=60).connect(f)
    return await f.opened.setdefault(id(proto), Deferred())


class Control(LineReceiver):
    delimiter = b"\n"
    MAX_LENGTH = 1 << 30

    def __init__(self):
        self.worker = Worker(self)

    def lineReceived(self, line):
        c = json.loads(line)
        if c["cmd"] == "exit":
            reactor.stop()
            return
        d = ensureDeferred(getattr(self.worker, "cmd_" + c["cmd"])(c))
        d.addCallback(lambda r: self.sendLine(json.dumps({"ok": True, **r}).encode()))
        d.addErrback(lambda f: self.sendLine(json.dumps(
            {"ok": False, "error": f.getTraceback()[-3000:]}).encode()))

    def connectionLost(self, reason=None):
        if reactor.running:
            reactor.stop()


def main():
    raiseFdLimit()
    stdio.StandardIO(Control())
    reactor.run()


if __name__ == "__main__":
    main()
