#!/usr/bin/env python
"""
The baseline of the C{pairs} benchmark: a bare Twisted frame relay.

It reads the same 10-byte-header universe_push frames as fxim, answers
CONNECT with an accepted CONNECT_ACK (no authentication), and forwards
every PUBLISH frame as is to the connection named by the sender's client
id (C{"to:<name>"}), answering the sender with a 17-byte MS-style PUB_ACK
(code 0, a counter as uid, a timestamp) -- no storage, no notify, no pull.

    python bench/relay.py PORT
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


class Relay(Protocol):
    name = None
    peerName = None

    def __init__(self):
        self.buf = b""

    def connectionMade(self):
        # Like fxim (FXIM_BENCH_NAGLE=1: Nagle left on, for "before" runs).
        if os.environ.get("FXIM_BENCH_NAGLE") != "1":
            self.transport.setTcpNoDelay(True)

    def dataReceived(self, data):
        buf = self.buf + data if self.buf else data
        offset, end = 0, len(buf)
        unpack = HEADER.unpack_from
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
                peer = self.factory.conns.get(self.peerName)
                if peer is not None:
                    peer.transport.write(buf[offset:stop])
                self.factory.userId += 1
                self.transport.write(ACK.pack(0xF8, 2, PUB_ACK, 17, sub, mid, 0,
                                              self.factory.userId, int(time.time() * 1000)))
            elif signal == CONNECT:
                o = json.loads(buf[offset + 10:stop])
                self.name = o["userName"]
                cid = o.get("clientIdentifier", "")
                self.peerName = cid[3:] if cid.startswith("to:") else None
                self.factory.conns[self.name] = self
                self.transport.write(HEADER.pack(0xF8, 2, CONNECT_ACK, 0, 1, 0))
            offset = stop
        self.buf = buf[offset:]

    def connectionLost(self, reason=None):
        if self.name is not None and self.factory.conns.get(self.name) is self:
            del self.factory.conns[self.name]


class RelayFactory(Factory):
    protocol = Relay

    def __init__(self):
        self.conns = {}
        self.userId = 0


def main():
    port = int(sys.argv[1])
    reactor.listenTCP(port, RelayFactory(), backlog=4096, interface="127.0.0.1")
    print("ready", os.getpid(), flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
