# -*- test-case-name: fxim.test.e2e.test_messages -*-
"""
L{Inbox}: the notify-then-pull loop of a device.  It keeps the last seq,
pulls after every MN (and once at start), and hands each message to its
observers exactly once, in order.
"""

from typing import Any, Callable, List

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from fxim.client.connection import ConnectionLost
from fxim.wire.requests import MessageNotify, PullMessages, RecallNotify, TransparentMessage

_log = Logger()


class Inbox:
    """
    @ivar lastSeq: the seq of the last message received.
    @ivar messages: every message received, in order.
    @ivar transparent: transparent messages (typing, call signalling).
    @ivar recalls: L{RecallNotify} pushes received.
    """

    def __init__(self, connection: Any, lastSeq: int = 0) -> None:
        self.connection = connection
        self.lastSeq = lastSeq
        self.messages: List[Any] = []
        self.transparent: List[Any] = []
        self.recalls: List[RecallNotify] = []
        self.notifies = 0
        self._observers: List[Callable[[Any], None]] = []
        self._waiters: List[tuple] = []
        self._pulling = False
        self._again = False
        self._syncWaiters: List[Deferred] = []
        connection.onPush(self._push)

    def onMessage(self, observer: Callable[[Any], None]) -> None:
        self._observers.append(observer)

    def _push(self, push: Any) -> None:
        if isinstance(push, MessageNotify):
            self.notifies += 1
            if push.head > self.lastSeq:
                self.sync()
        elif isinstance(push, TransparentMessage):
            self.transparent.append(push.message)
            self._check()
        elif isinstance(push, RecallNotify):
            self.recalls.append(push)
            self._check()

    def sync(self) -> Deferred:
        """
        Pull until current; @return: a L{Deferred} firing when done.
        """
        from twisted.internet.defer import ensureDeferred
        d: Deferred = Deferred()
        self._syncWaiters.append(d)
        if self._pulling:
            self._again = True
        else:
            ensureDeferred(self._pullLoop())
        return d

    async def _pullLoop(self) -> None:
        self._pulling = True
        try:
            while True:
                self._again = False
                result = await self.connection.request(PullMessages(self.lastSeq, 0))
                for message in result.messages:
                    self.messages.append(message)
                    for observer in self._observers:
                        observer(message)
                if result.messages:
                    self.lastSeq = result.current
                self._check()
                if result.current >= result.head and not self._again:
                    break
        except ConnectionLost:
            # The connection went away mid-pull: the next connection's
            # pull starts again from lastSeq, so nothing is lost.
            _log.info("pull interrupted: connection lost")
        except Exception:
            _log.failure("pull failed")
        finally:
            self._pulling = False
            waiters, self._syncWaiters = self._syncWaiters, []
            for d in waiters:
                d.callback(None)

    def waitFor(self, count: int, kind: str = "messages") -> Deferred:
        """
        @return: a L{Deferred} firing once C{count} items of C{kind}
            (C{messages}, C{transparent} or C{recalls}) were received.
        """
        d: Deferred = Deferred()
        self._waiters.append((kind, count, d))
        self._check()
        return d

    def _check(self) -> None:
        for waiter in list(self._waiters):
            kind, count, d = waiter
            if len(getattr(self, kind)) >= count:
                self._waiters.remove(waiter)
                d.callback(getattr(self, kind))
