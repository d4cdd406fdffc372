# -*- test-case-name: fxim.test.unit.test_nodelay -*-
"""
C{TCP_NODELAY} for every TCP connection fxim opens or accepts.

fxim's replies and pushes are small frames written one at a time.  With
Nagle's algorithm on, a small write waits while an earlier one is still
unacknowledged, and the peer delays its ACK by up to ~40 ms: one
request/reply round trip then costs the delayed-ACK timer instead of
microseconds.  Every write fxim makes is a whole frame, so nothing is gained
by coalescing in the kernel.
"""

from typing import Any


def setNoDelay(transport: Any) -> bool:
    """
    Turn Nagle's algorithm off on C{transport} if it is a TCP transport.

    Transports without C{setTcpNoDelay} (UNIX sockets, TLS wrappers over
    in-memory transports, test twins) and sockets that refuse the option
    are left alone: latency is an optimisation, never a reason to fail a
    connection.

    @param transport: a Twisted transport, or L{None}.
    @return: whether C{TCP_NODELAY} is now on.
    """
    setter = getattr(transport, "setTcpNoDelay", None)
    if setter is None:
        return False
    try:
        setter(True)
    except (OSError, AttributeError, NotImplementedError):
        # AF_UNIX sockets raise OSError (EOPNOTSUPP); TLSMemoryBIOProtocol
        # forwards to the wrapped transport, which may lack the method.
        return False
    return True
