# -*- test-case-name: fxim.test.unit.test_turnwrite -*-
"""
Sending a connection's output at the end of the reactor turn, without
registering it with the poller when the socket takes it all.

A Twisted TCP transport answers the first C{write()} of a burst with
C{reactor.addWriter()} (an C{epoll_ctl}).  It then waits for the next
poll to report the socket writable, sends, and calls C{removeWriter()}
(another C{epoll_ctl}).  A socket with room, the usual case, is writable
at once, so each burst costs two system calls and one more trip through
the poller and its logging context.  At 1,000 msgs/s every message makes
three such bursts: the sender's ack, the receiver's MN and the reply to
its pull.

L{TurnWrittenServer} keeps Twisted's buffering and flow control and
changes only when a burst is first sent.  C{startWriting()} queues the
connection.  Once the reactor has handled what it read this turn
(C{callLater(0)}), each queued connection sends what it has.  Only what
the socket did not take waits for the poller, as before.  Closing,
half-closing and a failed send always take Twisted's own path.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from twisted.internet import tcp
from twisted.internet.abstract import FileDescriptor


class _TurnWriter:
    """
    The connections of one reactor with output queued this turn.
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self._queued: Dict[TurnWrittenServer, None] = {}
        self._call: Optional[Any] = None

    def flush(self) -> None:
        """
        Send each queued connection's buffer; hand the ones with output
        left (or closing) to the poller.
        """
        queued, self._queued, self._call = self._queued, {}, None
        for connection in queued:
            if not connection.connected:
                continue
            if connection.disconnecting or connection._writeDisconnecting:
                FileDescriptor.startWriting(connection)
                continue
            failed = connection.doWrite()
            if failed or connection.offset < len(connection.dataBuffer) \
                    or connection._tempDataLen:
                # The poller resumes it (or, failed, repeats and reports it).
                FileDescriptor.startWriting(connection)


_writers: Dict[Any, _TurnWriter] = {}


def _writerFor(reactor: Any) -> _TurnWriter:
    writer = _writers.get(reactor)
    if writer is None:
        writer = _writers[reactor] = _TurnWriter(reactor)
    return writer


class TurnWrittenServer(tcp.Server):
    """
    A TCP server connection whose bursts are first sent at the end of the
    reactor turn instead of when the poller says so (see the module
    docstring).
    """

    def startWriting(self) -> None:
        if self.disconnecting or self._writeDisconnecting:
            FileDescriptor.startWriting(self)
            return
        writer = _writers.get(self.reactor) or _writerFor(self.reactor)
        writer._queued[self] = None
        if writer._call is None:
            writer._call = writer._reactor.callLater(0, writer.flush)


def writeAtTurnEnd(port: Any) -> Any:
    """
    Make the connections C{port} accepts from now on
    L{TurnWrittenServer}s, if it is a plain Twisted TCP port (its
    transport is Twisted's own L{tcp.Server}); leave other ports alone.

    @return: C{port}.
    """
    if isinstance(port, tcp.Port) and port.transport is tcp.Server:
        port.transport = TurnWrittenServer
    return port
