# -*- test-case-name: fxim.test.e2e.test_admin -*-
"""
The retention policy (C{--retention-days N}): a background purge of
messages older than N days.

It never breaks a pull cursor: messages are deleted in small
transactions, and every inbox that lost messages keeps, at the highest seq
it lost, an entry pointing at a tombstone message (type 90, from
C{SystemNotification}, with an empty target) saying that older messages
were removed.  Seqs and heads never move, so a client pulling from before
the purged range meets the tombstone first: the gap is reported, never
skipped silently.
"""

from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

_log = Logger()

_DAY_MS = 86400 * 1000


class RetentionPolicy:
    """
    @param admin: the L{fxim.admin.service.AdminService}.
    @param days: keep messages this many days (may be fractional).
    @param interval: seconds between runs.
    """

    def __init__(self, clock: Any, admin: Any, days: float, interval: float = 3600.0) -> None:
        self.clock = clock
        self.admin = admin
        self.days = days
        self.interval = interval
        self._loop: Optional[LoopingCall] = None
        self._running: Optional[Deferred] = None

    @property
    def text(self) -> str:
        days = int(self.days) if self.days == int(self.days) else self.days
        return "Messages older than %s days were removed (retention policy)." % (days,)

    def runOnce(self) -> Deferred:
        """
        Purge once now (a run already going is joined, not doubled).

        @return: L{Deferred} firing with the number of messages deleted.
        """
        if self._running is not None:
            joined: Deferred = Deferred()

            def passOn(result: object) -> object:
                joined.callback(result)
                return result
            self._running.addBoth(passOn)
            return joined
        cutoff = int(self.clock.seconds() * 1000 - self.days * _DAY_MS)
        d = Deferred.fromCoroutine(self.admin.purge(("before", cutoff), self.text))

        def done(result):
            self._running = None
            if isinstance(result, int) and result:
                _log.info("Retention: purged {n} messages older than {days} days",
                          n=result, days=self.days)
            return result
        d.addBoth(done)
        self._running = d
        return d

    def start(self) -> None:
        def tick():
            return self.runOnce().addErrback(
                lambda f: _log.warn("Retention purge failed: {error}", error=f.value))
        self._loop = LoopingCall(tick)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=False)

    def stop(self) -> Optional[Deferred]:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        return self._running
