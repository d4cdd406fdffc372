"""
Tests for L{fxim.outbox}: the durable queue's contract on memory, SQLite
and PostgreSQL, the worker (retries, backoff, dead letters, order) on a
fake clock, and the signing helpers.
"""

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from fxim.outbox.http import signature, signedHeaders, verifySignature
from fxim.outbox.store import DEAD, IOutbox, MemoryOutbox, openOutbox
from fxim.outbox.worker import OutboxWorker, Permanent
from fxim.test.unit.test_storage import MemoryBackendMixin, PostgresBackendMixin, SqliteBackendMixin

NOW = 1_700_000_000_000


class OutboxContract:
    """
    L{IOutbox}; C{self.outbox} comes from a backend mixin's store.
    """

    def setUp(self):
        d = super().setUp()

        def made(_):
            self.outbox = openOutbox(self.store)
        if d is None:
            made(None)
            return None
        return d.addCallback(made)

    def test_interface(self):
        self.assertTrue(verifyObject(IOutbox, self.outbox))

    @inlineCallbacks
    def test_claimCompleteRetry(self):
        """
        Due jobs are claimed once (a second claim while leased gets none),
        in id order; a retried job comes back when due; a completed one is
        gone; a lease that ran out is claimable again.
        """
        added = yield self.outbox.enqueue("push", [("k1", {"n": 1}), ("k2", {"n": 2})], NOW)
        self.assertEqual(added, 2)
        jobs = yield self.outbox.claim("push", "a", NOW, 1000, 10)
        self.assertEqual([j.payload for j in jobs], [{"n": 1}, {"n": 2}])
        self.assertEqual((yield self.outbox.claim("push", "b", NOW, 1000, 10)), [])
        self.assertEqual((yield self.outbox.claim("webhook", "b", NOW, 1000, 10)), [])
        yield self.outbox.complete([jobs[0].id])
        yield self.outbox.retry(jobs[1].id, 1, NOW + 500, "boom")
        self.assertEqual((yield self.outbox.claim("push", "b", NOW + 100, 1000, 10)), [])
        [again] = yield self.outbox.claim("push", "b", NOW + 500, 1000, 10)
        self.assertEqual((again.id, again.attempts, again.lastError), (jobs[1].id, 1, "boom"))
        [expired] = yield self.outbox.claim("push", "c", NOW + 1500, 1000, 10)
        self.assertEqual(expired.id, jobs[1].id)
        self.assertEqual((yield self.outbox.pending("push")), 1)

    @inlineCallbacks
    def test_delayAndRelease(self):
        """
        A delayed job is not due before its delay; C{release} hands back a
        node's leases at once.
        """
        yield self.outbox.enqueue("push", [("k", {})], NOW, delayMs=200)
        self.assertEqual((yield self.outbox.claim("push", "a", NOW + 199, 60000, 10)), [])
        [job] = yield self.outbox.claim("push", "a", NOW + 200, 60000, 10)
        self.assertEqual((yield self.outbox.release("b")), 0)
        self.assertEqual((yield self.outbox.release("a")), 1)
        [back] = yield self.outbox.claim("push", "b", NOW + 201, 60000, 10)
        self.assertEqual(back.id, job.id)

    @inlineCallbacks
    def test_ordered(self):
        """
        Ordered claims give only the oldest pending job of each key; a
        dead-lettered head no longer holds its key back.
        """
        yield self.outbox.enqueue("webhook", [("a", {"n": 1}), ("a", {"n": 2}), ("b", {"n": 3})],
                                  NOW)
        jobs = yield self.outbox.claim("webhook", "x", NOW, 1000, 10, ordered=True)
        self.assertEqual([j.payload["n"] for j in jobs], [1, 3])
        yield self.outbox.retry(jobs[0].id, 1, NOW, "no")
        jobs2 = yield self.outbox.claim("webhook", "x", NOW, 1000, 10, ordered=True)
        self.assertEqual([j.payload["n"] for j in jobs2], [1])
        yield self.outbox.retry(jobs[0].id, 2, NOW, "no", dead=True)
        jobs3 = yield self.outbox.claim("webhook", "x", NOW, 1000, 10, ordered=True)
        self.assertEqual([j.payload["n"] for j in jobs3], [2])
        [dead] = yield self.outbox.deadLetters("webhook")
        self.assertEqual((dead.payload, dead.state, dead.attempts), ({"n": 1}, DEAD, 2))
        self.assertEqual((yield self.outbox.deadLetters("push")), [])
        self.assertTrue((yield self.outbox.requeue(dead.id, NOW)))
        self.assertFalse((yield self.outbox.requeue(dead.id, NOW)))
        self.assertEqual((yield self.outbox.deadLetters()), [])

    @inlineCallbacks
    def test_collapse(self):
        """
        A collapsing enqueue merges into the key's pending job unless a
        worker holds it.
        """
        yield self.outbox.enqueue("push", [("k", {"m": 1})], NOW, collapse=True)
        self.assertEqual((yield self.outbox.enqueue("push", [("k", {"m": 2})], NOW, collapse=True)), 0)
        [job] = yield self.outbox.claim("push", "a", NOW, 1000, 10)
        self.assertEqual(job.payload, {"m": 2, "collapsed": 2})
        self.assertEqual((yield self.outbox.enqueue("push", [("k", {"m": 3})], NOW, collapse=True)), 1)


class MemoryOutboxTests(OutboxContract, MemoryBackendMixin, TestCase):
    """
    On L{MemoryOutbox}.
    """


class SqliteOutboxTests(OutboxContract, SqliteBackendMixin, TestCase):
    """
    On SQLite.
    """


class PostgresOutboxTests(OutboxContract, PostgresBackendMixin, TestCase):
    """
    On PostgreSQL.
    """


class WorkerTests(TestCase):
    """
    L{OutboxWorker} on a fake clock and a memory outbox.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(NOW / 1000)
        self.outbox = MemoryOutbox()
        self.outcomes = []
        self.seen = []

        def deliver(job):
            self.seen.append(job.payload["n"])
            outcome = self.outcomes.pop(0) if self.outcomes else None
            if outcome is not None:
                raise outcome
        self.worker = OutboxWorker(self.clock, self.outbox, "push", deliver, "n1",
                                   pollInterval=1.0, backoffBase=2.0, maxAttempts=3)

    def test_backoff(self):
        """
        The delay doubles from the base and is capped.
        """
        self.assertEqual([self.worker.backoff(n) for n in (1, 2, 3)], [2.0, 4.0, 8.0])
        self.assertEqual(self.worker.backoff(100), 300.0)

    @inlineCallbacks
    def test_retryThenDeliver(self):
        """
        A failed delivery is retried after the backoff and then completed.
        """
        yield self.outbox.enqueue("push", [("k", {"n": 1})], self.worker.now())
        self.outcomes = [RuntimeError("down")]
        yield self.worker.start()
        self.assertEqual(self.seen, [1])
        self.assertEqual((yield self.outbox.pending("push")), 1)
        self.clock.advance(1.0)
        self.assertEqual(self.seen, [1])  # not due yet
        self.clock.advance(1.0)
        self.assertEqual(self.seen, [1, 1])
        self.assertEqual((yield self.outbox.pending("push")), 0)
        self.assertEqual((self.worker.delivered, self.worker.failures), (1, 1))
        yield self.worker.stop()

    @inlineCallbacks
    def test_deadLetter(self):
        """
        After C{maxAttempts} failures, or one L{Permanent} one, a job is
        dead-lettered.
        """
        yield self.outbox.enqueue("push", [("k", {"n": 1}), ("k2", {"n": 2})], self.worker.now())
        self.outcomes = [RuntimeError("a"), Permanent("bad"), RuntimeError("b"), RuntimeError("c")]
        yield self.worker.start()
        for _ in range(20):
            self.clock.advance(1.0)
        dead = yield self.outbox.deadLetters()
        self.assertEqual(sorted(j.payload["n"] for j in dead), [1, 2])
        self.assertEqual({j.payload["n"]: j.attempts for j in dead}, {1: 3, 2: 1})
        yield self.worker.stop()

    @inlineCallbacks
    def test_kickAndStop(self):
        """
        A kick delivers at once; after stop nothing more is claimed.
        """
        yield self.worker.start()
        yield self.outbox.enqueue("push", [("k", {"n": 1})], self.worker.now())
        self.worker.kick()
        self.assertEqual(self.seen, [1])
        yield self.worker.stop()
        yield self.outbox.enqueue("push", [("k", {"n": 2})], self.worker.now())
        self.worker.kick()
        self.clock.advance(5)
        self.assertEqual(self.seen, [1])


class SigningTests(TestCase):
    """
    The callback signature.
    """

    def test_signature(self):
        """
        C{sha256=} + hex HMAC of C{"<ts>." + body}; a receiver checks it and
        the timestamp's age.
        """
        import hashlib
        import hmac
        expected = hmac.new(b"k", b"100.{}", hashlib.sha256).hexdigest()
        self.assertEqual(signature(b"k", 100, b"{}"), "sha256=" + expected)
        headers = signedHeaders(b"k", 100, b"{}", "message.sent")
        self.assertEqual(headers["x-fxim-event"], "message.sent")
        self.assertTrue(verifySignature(b"k", headers, b"{}", 150))
        self.assertFalse(verifySignature(b"k", headers, b"{} ", 150))
        self.assertFalse(verifySignature(b"k", headers, b"{}", 1000))
        self.assertFalse(verifySignature(b"k", {}, b"{}", 100))
