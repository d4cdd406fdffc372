# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
Periodic store housekeeping.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from fxim.interfaces import IMessageStore

_log = Logger()

#: Dedup keys are kept at least this long (ms): docs/decisions.md.
DEDUP_KEEP_MS = 24 * 3600 * 1000


def startDedupPurge(clock: IReactorTime, store: IMessageStore, keepMs: int = DEDUP_KEEP_MS,
                    interval: float = 3600.0) -> LoopingCall:
    """
    Every C{interval} seconds, forget dedup keys older than C{keepMs}.

    @param clock: an L{IReactorTime} (the reactor).
    @param store: an L{fxim.interfaces.IMessageStore}.
    @return: the running L{LoopingCall}; C{stop()} it at shutdown.
    """
    def purged(n: int) -> None:
        if n:
            _log.info("purged {n} dedup keys", n=n)

    def purge() -> Deferred[None]:
        olderThan = int(clock.seconds() * 1000) - keepMs
        d = store.purgeDedupKeys(olderThan)
        d.addCallback(purged)
        d.addErrback(lambda f: _log.failure("purging dedup keys", f))
        return d
    call = LoopingCall(purge)
    call.clock = clock
    call.start(interval, now=False)
    return call
