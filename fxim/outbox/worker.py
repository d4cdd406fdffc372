# -*- test-case-name: fxim.test.unit.test_outbox -*-
"""
L{OutboxWorker}: drains one kind of job from an L{fxim.outbox.store.IOutbox}.

It polls (and is L{kicked <OutboxWorker.kick>} when this node queues
something), leases a batch, hands each job to C{deliver} and completes it
when that succeeds.  A failure is retried after an exponential backoff
(C{base * 2**attempts}, capped); after C{maxAttempts} failures the job is
dead-lettered.  A L{Permanent} failure dead-letters at once.
"""

from typing import Any, Callable, Optional

from twisted.internet.defer import Deferred, DeferredList, ensureDeferred, maybeDeferred
from twisted.logger import Logger

_log = Logger()


class Permanent(Exception):
    """
    Raised by a C{deliver} callable: retrying cannot help (dead-letter now).
    """


class OutboxWorker:
    """
    @param clock: an C{IReactorTime}.
    @param outbox: the L{fxim.outbox.store.IOutbox}.
    @param kind: the job kind this worker drains.
    @param deliver: C{deliver(job)} returning a L{Deferred} or coroutine;
        raising (or failing) counts as a failed attempt.
    @param nodeId: the lease owner name.
    @param ordered: jobs of one order key one after another.
    """

    def __init__(self, clock: Any, outbox: Any, kind: str, deliver: Callable, nodeId: str, *,
                 ordered: bool = False, batch: int = 16, pollInterval: float = 1.0,
                 leaseSeconds: float = 60.0, backoffBase: float = 1.0, backoffMax: float = 300.0,
                 maxAttempts: int = 10) -> None:
        self.clock = clock
        self.outbox = outbox
        self.kind = kind
        self.deliver = deliver
        self.nodeId = nodeId
        self.ordered = ordered
        self.batch = batch
        self.pollInterval = pollInterval
        self.leaseMs = int(leaseSeconds * 1000)
        self.backoffBase = backoffBase
        self.backoffMax = backoffMax
        self.maxAttempts = maxAttempts
        #: Jobs completed / failed attempts / dead-lettered, since start.
        self.delivered = self.failures = self.dead = 0
        self._running = False
        self._busy = False
        self._again = False
        self._timer: Any = None
        self._idle: Optional[Deferred] = None

    def now(self) -> int:
        return int(self.clock.seconds() * 1000)

    async def start(self) -> None:
        """
        Take back this node's leases (a restart after a crash) and start
        polling.
        """
        released = await self.outbox.release(self.nodeId)
        if released:
            _log.info("outbox {kind}: took back {n} job(s) leased before a restart",
                      kind=self.kind, n=released)
        self._running = True
        self.kick()

    def stop(self) -> Deferred:
        """
        Stop polling; fires when the batch in progress is finished.
        """
        self._running = False
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if not self._busy:
            return Deferred.fromCoroutine(_none())
        self._idle = Deferred()
        return self._idle

    def backoff(self, attempts: int) -> float:
        """
        @return: seconds to wait after the C{attempts}-th failure.
        """
        return min(self.backoffMax, self.backoffBase * (2 ** max(0, attempts - 1)))

    def kick(self) -> None:
        """
        Look for due jobs now (something was just queued).
        """
        if not self._running:
            return
        if self._busy:
            self._again = True
            return
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self._busy = True
        d = ensureDeferred(self._drain())
        d.addErrback(lambda f: _log.failure("outbox {kind}: draining failed", f, kind=self.kind))
        d.addBoth(self._drained)

    def _drained(self, _: Any) -> None:
        self._busy = False
        if self._idle is not None:
            idle, self._idle = self._idle, None
            idle.callback(None)
        if not self._running:
            return
        if self._again:
            self._again = False
            self.kick()
            return
        self._timer = self.clock.callLater(self.pollInterval, self.kick)

    async def _drain(self) -> None:
        while self._running:
            self._again = False
            jobs = await self.outbox.claim(self.kind, self.nodeId, self.now(), self.leaseMs,
                                           self.batch, self.ordered)
            if not jobs:
                return
            results = await DeferredList([ensureDeferred(self._one(job)) for job in jobs],
                                         consumeErrors=True)
            done = [job.id for job, (ok, value) in zip(jobs, results) if ok and value]
            if done:
                await self.outbox.complete(done)
                self.delivered += len(done)
            if len(jobs) < self.batch and not self._again:
                return

    async def _one(self, job) -> bool:
        try:
            await maybeDeferred(self.deliver, job)
            return True
        except Exception as e:
            attempts = job.attempts + 1
            dead = isinstance(e, Permanent) or attempts >= self.maxAttempts
            error = f"{type(e).__name__}: {e}"
            self.failures += 1
            if dead:
                self.dead += 1
                _log.warn("outbox {kind}: job {id} dead-lettered after {n} attempt(s): {error}",
                          kind=self.kind, id=job.id, n=attempts, error=error)
            else:
                _log.info("outbox {kind}: job {id} failed ({error}); retrying in {delay}s",
                          kind=self.kind, id=job.id, error=error, delay=self.backoff(attempts))
            nextAt = self.now() + int(self.backoff(attempts) * 1000)
            await self.outbox.retry(job.id, attempts, nextAt, error, dead)
            return False


async def _none() -> None:
    return None
