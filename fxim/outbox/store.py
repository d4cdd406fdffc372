# -*- test-case-name: fxim.test.unit.test_outbox -*-
"""
L{IOutbox}: the durable queue, on SQL (L{SQLOutbox}, SQLite or
PostgreSQL through the node's L{fxim.storage.sqlstore.SQLStore}) and in
memory (L{MemoryOutbox}, for unit tests).

A job is pending (state 0) until a worker completes it (the row is
deleted) or gives up on it (state 2, dead-lettered).  A worker I{claims}
due jobs by leasing them until a time: a lease that runs out (the node
died) makes the job claimable again, so delivery is at least once.
"""

import json
from typing import Any, List, Optional

import attr
from twisted.internet.defer import succeed
from zope.interface import Interface, implementer

#: Job states.
PENDING = 0
DEAD = 2


@attr.s(frozen=True, auto_attribs=True)
class Job:
    """
    One queued job.

    @ivar payload: the decoded JSON payload.
    @ivar attempts: failed delivery attempts so far.
    """

    id: int
    kind: str
    orderKey: str
    payload: Any
    attempts: int = 0
    createdAt: int = 0
    state: int = PENDING
    lastError: str = ""
    nextAt: int = 0


class IOutbox(Interface):
    """
    The durable queue.  Every method returns a L{Deferred}.
    """

    def enqueue(kind, jobs, now, delayMs=0, collapse=False):
        """
        Queue C{jobs}, a list of C{(orderKey, payload)}; due after
        C{delayMs}.  With C{collapse}, a job whose key already has a
        pending job nobody holds replaces that job's payload (through
        C{payload["collapsed"]} counting the merged ones) instead of
        being added.  @return: the number of new rows.
        """

    def claim(kind, nodeId, now, leaseMs, limit, ordered=False):
        """
        Lease up to C{limit} due jobs of C{kind} to C{nodeId}.  With
        C{ordered}, only the oldest pending job of each key is eligible,
        so jobs of one key run one after another in id order.
        @return: a list of L{Job}.
        """

    def complete(ids):
        """
        Delete delivered jobs.
        """

    def retry(jobId, attempts, nextAt, error, dead=False):
        """
        Record a failed attempt: due again at C{nextAt}, or dead-lettered.
        """

    def release(nodeId):
        """
        Drop every lease C{nodeId} holds (at startup: a restarted node
        re-delivers what it held when it died, without waiting).
        """

    def deadLetters(kind=None, limit=100):
        """
        @return: dead-lettered L{Job}s, oldest first.
        """

    def requeue(jobId, now):
        """
        Make a dead-lettered job pending again.  @return: whether it was.
        """

    def pending(kind):
        """
        @return: the number of pending jobs of C{kind}.
        """


def _job(row) -> Job:
    id_, kind, key, payload, attempts, created, state, error, nextAt = row
    return Job(int(id_), kind, key, json.loads(payload), int(attempts), int(created), int(state),
               error, int(nextAt))


_COLUMNS = "id, kind, order_key, payload, attempts, created_at, state, last_error, next_at"


def _mergePayload(old: Any, new: Any) -> Any:
    if isinstance(new, dict):
        collapsed = (old.get("collapsed", 1) if isinstance(old, dict) else 1) + 1
        return dict(new, collapsed=collapsed)
    return new


def enqueue_txn(txn, d, kind, jobs, now, delayMs, collapse):
    fresh = []
    for key, payload in jobs:
        if collapse:
            txn.execute(d.q("SELECT id, payload FROM outbox WHERE kind = ? AND order_key = ?"
                            " AND state = 0 AND lease_until <= ? ORDER BY id LIMIT 1"),
                        (kind, key, now))
            row = txn.fetchone()
            if row is not None:
                merged = _mergePayload(json.loads(row[1]), payload)
                txn.execute(d.q("UPDATE outbox SET payload = ? WHERE id = ?"),
                            (json.dumps(merged), row[0]))
                continue
        fresh.append((key, payload))
    if not fresh:
        return 0
    txn.execute(d.q("UPDATE counters SET value = value + ? WHERE name = 'outbox'"
                    " RETURNING value"), (len(fresh),))
    last = txn.fetchone()[0]
    first = last - len(fresh) + 1
    rows = [(first + i, kind, key, json.dumps(payload), now + delayMs, now)
            for i, (key, payload) in enumerate(fresh)]
    from fxim.storage.database import insertMany_txn
    insertMany_txn(txn, d, "INSERT INTO outbox (id, kind, order_key, payload, next_at,"
                   " created_at)", 6, rows)
    return len(fresh)


def claim_txn(txn, d, kind, nodeId, now, leaseMs, limit, ordered):
    sql = ("SELECT " + _COLUMNS + " FROM outbox o WHERE kind = ? AND state = 0"
           " AND next_at <= ? AND lease_until <= ?")
    if ordered:
        sql += (" AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.kind = o.kind"
                " AND p.order_key = o.order_key AND p.state = 0 AND p.id < o.id)")
    sql += " ORDER BY id LIMIT ?"
    txn.execute(d.q(sql), (kind, now, now, limit))
    candidates = [_job(row) for row in txn.fetchall()]
    if not candidates:
        return []
    # The conditional UPDATE is the claim: of two nodes racing for a row,
    # the second re-reads it after the first commits and finds it leased.
    txn.execute(d.q("UPDATE outbox SET lease_until = ?, lease_node = ? WHERE id IN (%s)"
                    " AND state = 0 AND lease_until <= ? RETURNING id"
                    % ", ".join("?" * len(candidates))),
                [now + leaseMs, nodeId] + [j.id for j in candidates] + [now])
    won = {row[0] for row in txn.fetchall()}
    return [j for j in candidates if j.id in won]


def complete_txn(txn, d, ids):
    ids = list(ids)
    if ids:
        txn.execute(d.q("DELETE FROM outbox WHERE id IN (%s)" % ", ".join("?" * len(ids))), ids)


def retry_txn(txn, d, jobId, attempts, nextAt, error, dead):
    txn.execute(d.q("UPDATE outbox SET attempts = ?, next_at = ?, last_error = ?, state = ?,"
                    " lease_until = 0, lease_node = '' WHERE id = ?"),
                (attempts, nextAt, error[:1000], DEAD if dead else PENDING, jobId))


def release_txn(txn, d, nodeId):
    txn.execute(d.q("UPDATE outbox SET lease_until = 0, lease_node = ''"
                    " WHERE lease_node = ? AND state = 0"), (nodeId,))
    return txn.rowcount


def deadLetters_txn(txn, d, kind, limit):
    if kind is None:
        txn.execute(d.q("SELECT " + _COLUMNS + " FROM outbox WHERE state = 2 ORDER BY id LIMIT ?"),
                    (limit,))
    else:
        txn.execute(d.q("SELECT " + _COLUMNS + " FROM outbox WHERE state = 2 AND kind = ?"
                        " ORDER BY id LIMIT ?"), (kind, limit))
    return [_job(row) for row in txn.fetchall()]


def requeue_txn(txn, d, jobId, now):
    txn.execute(d.q("UPDATE outbox SET state = 0, attempts = 0, next_at = ?, lease_until = 0"
                    " WHERE id = ? AND state = 2"), (now, jobId))
    return txn.rowcount == 1


def pending_txn(txn, d, kind):
    txn.execute(d.q("SELECT COUNT(*) FROM outbox WHERE kind = ? AND state = 0"), (kind,))
    return int(txn.fetchone()[0])


@implementer(IOutbox)
class SQLOutbox:
    """
    The outbox in the node's SQL database.

    @param store: the L{fxim.storage.sqlstore.SQLStore} (its pools and
        dialect are shared, so the queue needs no connection of its own).
    """

    def __init__(self, store) -> None:
        self._store = store

    def _write(self, func, *args):
        return self._store._runWrite(func, *args)

    def _read(self, func, *args):
        return self._store._runRead(func, *args)

    def enqueue(self, kind, jobs, now, delayMs=0, collapse=False):
        jobs = list(jobs)
        if not jobs:
            return succeed(0)
        return self._write(enqueue_txn, kind, jobs, now, delayMs, collapse)

    def claim(self, kind, nodeId, now, leaseMs, limit, ordered=False):
        return self._write(claim_txn, kind, nodeId, now, leaseMs, limit, ordered)

    def complete(self, ids):
        return self._write(complete_txn, list(ids))

    def retry(self, jobId, attempts, nextAt, error, dead=False):
        return self._write(retry_txn, jobId, attempts, nextAt, error, dead)

    def release(self, nodeId):
        return self._write(release_txn, nodeId)

    def deadLetters(self, kind=None, limit=100):
        return self._read(deadLetters_txn, kind, limit)

    def requeue(self, jobId, now):
        return self._write(requeue_txn, jobId, now)

    def pending(self, kind):
        return self._read(pending_txn, kind)


@attr.s(auto_attribs=True)
class _Row:
    job: Job
    leaseUntil: int = 0
    leaseNode: str = ""


@implementer(IOutbox)
class MemoryOutbox:
    """
    The outbox in memory (unit tests; lost on restart).
    """

    def __init__(self) -> None:
        self.rows: dict = {}
        self._next = 0

    def enqueue(self, kind, jobs, now, delayMs=0, collapse=False):
        added = 0
        for key, payload in jobs:
            if collapse:
                row = self._head(kind, key, lambda r: r.leaseUntil <= now)
                if row is not None:
                    row.job = attr.evolve(row.job, payload=_mergePayload(row.job.payload, payload))
                    continue
            self._next += 1
            # A JSON round trip, as the table does.
            self.rows[self._next] = _Row(Job(self._next, kind, key, json.loads(json.dumps(payload)),
                                             createdAt=now, nextAt=now + delayMs))
            added += 1
        return succeed(added)

    def _head(self, kind, key, extra=lambda r: True) -> Optional[_Row]:
        for jobId in sorted(self.rows):
            row = self.rows[jobId]
            if (row.job.kind == kind and row.job.orderKey == key and row.job.state == PENDING
                    and extra(row)):
                return row
        return None

    def claim(self, kind, nodeId, now, leaseMs, limit, ordered=False):
        out: List[Job] = []
        for jobId in sorted(self.rows):
            row = self.rows[jobId]
            job = row.job
            if len(out) >= limit:
                break
            if job.kind != kind or job.state != PENDING or job.nextAt > now or row.leaseUntil > now:
                continue
            if ordered and self._head(kind, job.orderKey) is not row:
                continue
            row.leaseUntil, row.leaseNode = now + leaseMs, nodeId
            out.append(job)
        return succeed(out)

    def complete(self, ids):
        for jobId in ids:
            self.rows.pop(jobId, None)
        return succeed(None)

    def retry(self, jobId, attempts, nextAt, error, dead=False):
        row = self.rows.get(jobId)
        if row is not None:
            row.job = attr.evolve(row.job, attempts=attempts, nextAt=nextAt, lastError=error[:1000],
                                  state=DEAD if dead else PENDING)
            row.leaseUntil, row.leaseNode = 0, ""
        return succeed(None)

    def release(self, nodeId):
        count = 0
        for row in self.rows.values():
            if row.leaseNode == nodeId and row.job.state == PENDING:
                row.leaseUntil, row.leaseNode = 0, ""
                count += 1
        return succeed(count)

    def deadLetters(self, kind=None, limit=100):
        return succeed([r.job for _, r in sorted(self.rows.items())
                        if r.job.state == DEAD and kind in (None, r.job.kind)][:limit])

    def requeue(self, jobId, now):
        row = self.rows.get(jobId)
        if row is None or row.job.state != DEAD:
            return succeed(False)
        row.job = attr.evolve(row.job, state=PENDING, attempts=0, nextAt=now)
        return succeed(True)

    def pending(self, kind):
        return succeed(sum(1 for r in self.rows.values()
                           if r.job.kind == kind and r.job.state == PENDING))


def openOutbox(store):
    """
    @return: the L{IOutbox} kept in C{store}'s database (a
        L{MemoryOutbox} for a store without one).
    """
    if hasattr(store, "_runWrite") and hasattr(store, "dialect"):
        return SQLOutbox(store)
    return MemoryOutbox()
