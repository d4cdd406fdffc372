#!/usr/bin/env python
"""
The baselines of the C{pairs}, C{pairs-ws}, C{steady}, C{single} and
C{fanout} benchmarks: a bare Twisted relay -- no storage, no notify, no
pull.

    python bench/relay.py [tcp|ws] PORT

C{tcp} (the default) reads the same 10-byte-header universe_push frames as
fxim, answers CONNECT with an accepted CONNECT_ACK (no authentication),
forwards every PUBLISH frame as is and answers the sender with a 17-byte
MS-style PUB_ACK (code 0, a counter as uid, a timestamp).

C{ws} is the same over Autobahn with fxim's WS JSON envelopes: every text
message is parsed (C{json.loads}), a PUBLISH is forwarded as is and acked
with a PUB_ACK envelope written by C{json.dumps}, shaped like fxim's
(C{{"content":"{\\"messageId\\":\\"<n>\\",\\"timestamp\\":ms}",...}}).

Where a PUBLISH goes is named by the sender's client id at CONNECT:
C{"to:<name>"} forwards to the connection of user C{<name>} (pairs);
C{"togroup:<name>"} forwards to every connection that connected with
C{"group:<name>"} (the fan-out baseline: one frame in, one out per member).
"""

import json
import os
import struct
import sys
import time

from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol

HEADER = struct.Struct(">BBBiBH")
ACK = struct.Struct(">BBBiBHBqq")
CONNECT, CONNECT_ACK, PUBLISH, PUB_ACK = 6, 7, 9, 10
#: Like fxim (FXIM_BENCH_NAGLE=1: Nagle left on, for "before" runs).
NODELAY = os.environ.get("FXIM_BENCH_NAGLE") != "1"
WS_CONNECT_ACK = (b'{"content":"{\\"friendHead\\":0,\\"messageHead\\":\\"0\\"}","messageId":0,'
                  b'"signal":"CONNECT_ACK","subSignal":"CONNECTION_ACCEPTED"}')


class Routes:
    """
    The connections by user name and by group, shared by every connection
    of one relay.
    """

    def __init__(self):
        self.conns = {}
        self.groups = {}
        self.userId = 0

    def join(self, conn, name, cid):
        """
        A CONNECT: remember C{conn} as C{name} and what its PUBLISHes go to.
        """
        conn.name = name
        self.conns[name] = conn
        if cid.startswith("to:"):
            conn.peerName = cid[3:]
        elif cid.startswith("togroup:"):
            conn.members = self.groups.setdefault(cid[8:], [])
        elif cid.startswith("group:"):
            conn.group = self.groups.setdefault(cid[6:], [])
            conn.group.append(conn)

    def targets(self, conn):
        if conn.members is not None:
            return conn.members
        peer = self.conns.get(conn.peerName)
        return () if peer is None else (peer,)

    def nextUid(self):
        self.userId += 1
        return self.userId

    def leave(self, conn):
        if conn.name is not None and self.conns.get(conn.name) is conn:
            del self.conns[conn.name]
        if conn.group is not None:
            conn.group.remove(conn)


class Relay(Protocol):
    name = peerName = members = group = None

    def __init__(self):
        self.buf = b""

    def connectionMade(self):
        if NODELAY:
            self.transport.setTcpNoDelay(True)

    def dataReceived(self, data):
        buf = self.buf + data if self.buf else data
        offset, end = 0, len(buf)
        unpack = HEADER.unpack_from
        routes = self.factory.routes
        while end - offset >= 10:
            magic, _v, signal, length, sub, mid = unpack(buf, offset)
            stop = offset + 10 + length
            if magic != 0xF8 or length < 0:
                self.transport.loseConnection()
                return
            if stop > end:
                break
            signal &= 0x7F
            if signal == PUBLISH:
                data = buf[offset:stop]
                for peer in routes.targets(self):
                    peer.transport.write(data)
                self.transport.write(ACK.pack(0xF8, 2, PUB_ACK, 17, sub, mid, 0,
                                              routes.nextUid(), int(time.time() * 1000)))
            elif signal == CONNECT:
                o = json.loads(buf[offset + 10:stop])
                routes.join(self, o["userName"], o.get("clientIdentifier", ""))
                self.transport.write(HEADER.pack(0xF8, 2, CONNECT_ACK, 0, 1, 0))
            offset = stop
        self.buf = buf[offset:]

    def connectionLost(self, reason=None):
        self.factory.routes.leave(self)


def wsFactory(port, routes):
    from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol

    class WsRelay(WebSocketServerProtocol):
        name = peerName = members = group = None

        def connectionMade(self):
            WebSocketServerProtocol.connectionMade(self)
            # Autobahn applies its own tcpNoDelay too early (see fxim.transport.websocket).
            if NODELAY:
                self.transport.setTcpNoDelay(True)

        def onMessage(self, payload, isBinary):
            o = json.loads(payload)
            signal = o.get("signal")
            if signal == "PUBLISH":
                for peer in routes.targets(self):
                    peer.sendMessage(payload, False)
                content = '{"messageId":"%d","timestamp":%d}' % (routes.nextUid(), time.time() * 1000)
                self.sendMessage(json.dumps({"content": content, "messageId": o.get("messageId", 0),
                                             "signal": "PUB_ACK", "subSignal": o.get("subSignal")},
                                            ensure_ascii=False, separators=(",", ":")).encode(), False)
            elif signal == "CONNECT":
                c = o["content"]
                routes.join(self, c["userName"], c.get("clientIdentifier", ""))
                self.sendMessage(WS_CONNECT_ACK, False)

        def onClose(self, wasClean, code, reason):
            routes.leave(self)

    factory = WebSocketServerFactory(f"ws://127.0.0.1:{port}")
    factory.protocol = WsRelay
    return factory


def main():
    args = sys.argv[1:]
    kind = args.pop(0) if len(args) > 1 else "tcp"
    port = int(args[0])
    routes = Routes()
    if kind == "ws":
        factory = wsFactory(port, routes)
    else:
        factory = Factory.forProtocol(Relay)
        factory.routes = routes
    reactor.listenTCP(port, factory, backlog=4096, interface="127.0.0.1")
    print("ready", os.getpid(), flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
