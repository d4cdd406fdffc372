#!/usr/bin/env python
"""
Baselines of the C{idle} benchmark: the barest Twisted TCP server (a
C{Protocol} that does nothing) and the barest Autobahn WebSocket server
(a C{WebSocketServerProtocol} that does nothing).

    python bench/bare.py tcp|ws PORT
"""

import os
import resource
import sys

from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol


def main():
    kind, port = sys.argv[1], int(sys.argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if kind == "tcp":
        factory = Factory.forProtocol(Protocol)
    else:
        from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
        factory = WebSocketServerFactory(f"ws://127.0.0.1:{port}")
        factory.protocol = WebSocketServerProtocol
    reactor.listenTCP(port, factory, backlog=4096, interface="127.0.0.1")
    print("ready", os.getpid(), flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
