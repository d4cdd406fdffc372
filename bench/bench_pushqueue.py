#!/usr/bin/env python
"""
Throughput of the durable push queue (L{fxim.outbox}) end to end.

Queues C{--jobs} push jobs (as L{fxim.push.service.PushService} does, in
batches of C{--batch}) into the outbox on SQLite (a temporary file) and,
if a DSN is given (C{--postgres} or C{FXIM_TEST_POSTGRES_DSN}), on
PostgreSQL in a throwaway schema; an L{fxim.outbox.worker.OutboxWorker}
(16 deliveries in flight, the default, and 100) drains it through L{fxim.push.pushers.MatrixGatewayPusher} to a local
HTTP server standing in for Sygnal.  Baseline in the same run: the same
number of notify POSTs sent directly by the pusher, no queue.

    python bench/bench_pushqueue.py [--jobs 5000] [--batch 10] [--postgres DSN] [--json PATH]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet.defer import DeferredSemaphore, ensureDeferred, gatherResults  # noqa
from twisted.internet.task import react  # noqa
from twisted.web.resource import Resource  # noqa
from twisted.web.server import Site  # noqa

from fxim.outbox.store import openOutbox  # noqa
from fxim.outbox.worker import OutboxWorker  # noqa
from fxim.push.pushers import MatrixGatewayPusher  # noqa
from fxim.storage import openStore  # noqa


class Gateway(Resource):
    isLeaf = True

    def __init__(self):
        Resource.__init__(self)
        self.count = 0

    def render_POST(self, request):
        request.content.read()
        self.count += 1
        request.setHeader(b"content-type", b"application/json")
        return b'{"rejected":[]}'


def payload(i):
    return {"uid": f"u{i % 1000}", "cid": "phone", "platform": "android",
            "pushToken": f"token-{i % 1000}", "appId": "im.fxim", "messageUid": 1 << 40 | i,
            "sender": "alice", "senderName": "Alice", "conversation":
            {"type": 0, "target": "alice", "line": 0}, "conversationName": "Alice",
            "preview": "hello there, this is a preview", "badge": 1, "priority": "normal"}


async def waitUntil(reactor, predicate):
    from twisted.internet.task import deferLater
    while not predicate():
        await deferLater(reactor, 0.01, lambda: None)


async def measure(reactor, store, label, jobs, batch, gateway, url, workerBatch=100):
    outbox = openOutbox(store)
    pusher = MatrixGatewayPusher(reactor, url)
    start = time.perf_counter()
    for first in range(0, jobs, batch):
        await outbox.enqueue("push", [(f"k{i}", payload(i))
                                      for i in range(first, min(jobs, first + batch))],
                             int(reactor.seconds() * 1000))
    enqueued = time.perf_counter() - start

    async def deliver(job):
        await pusher.push(job.payload)
    worker = OutboxWorker(reactor, outbox, "push", deliver, "bench", batch=workerBatch,
                          pollInterval=0.05)
    before = gateway.count
    start = time.perf_counter()
    await worker.start()
    await waitUntil(reactor, lambda: gateway.count - before >= jobs)
    from twisted.internet.task import deferLater
    while await outbox.pending("push"):
        # SQLite reads may answer inline: give the reactor a turn.
        await deferLater(reactor, 0.01, lambda: None)
    drained = time.perf_counter() - start
    await worker.stop()
    await pusher.close()
    return {"label": label, "jobs": jobs, "enqueue_per_s": round(jobs / enqueued),
            "delivered_per_s": round(jobs / drained)}


async def direct(reactor, jobs, gateway, url, concurrency=100):
    pusher = MatrixGatewayPusher(reactor, url)
    sem = DeferredSemaphore(concurrency)
    before = gateway.count
    start = time.perf_counter()
    await gatherResults([sem.run(lambda i=i: ensureDeferred(pusher.push(payload(i))))
                         for i in range(jobs)])
    elapsed = time.perf_counter() - start
    assert gateway.count - before == jobs
    await pusher.close()
    return {"label": f"baseline: direct POSTs (no queue), {concurrency} in flight", "jobs": jobs,
            "delivered_per_s": round(jobs / elapsed)}


async def run(reactor, args):
    gateway = Gateway()
    port = reactor.listenTCP(0, Site(gateway), interface="127.0.0.1")
    url = f"http://127.0.0.1:{port.getHost().port}"
    results = [await direct(reactor, args.jobs, gateway, url, c) for c in (16, 100)]
    folder = tempfile.mkdtemp(prefix="fxim-bench-push-")
    try:
        store = await openStore(reactor, dataDir=folder)
        for workerBatch in (16, 100):
            results.append(await measure(reactor, store, f"outbox on SQLite, {workerBatch} in flight",
                                         args.jobs, args.batch, gateway, url, workerBatch))
        await store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    dsn = args.postgres or os.environ.get("FXIM_TEST_POSTGRES_DSN")
    if dsn:
        import psycopg2
        schema = "fxim_bench_" + uuid.uuid4().hex[:8]
        store = await openStore(reactor, dsn, schema=schema)
        try:
            for workerBatch in (16, 100):
                results.append(await measure(reactor, store,
                                             f"outbox on PostgreSQL, {workerBatch} in flight",
                                             args.jobs, args.batch, gateway, url, workerBatch))
        finally:
            await store.close()
            conn = psycopg2.connect(dsn)
            with conn.cursor() as cur:
                cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.commit()
            conn.close()
    await port.stopListening()
    print(f"push queue: {args.jobs} jobs, enqueued in batches of {args.batch}")
    print(f"{'variant':52} {'enqueue/s':>10} {'delivered/s':>12}")
    for r in results:
        print(f"{r['label']:52} {r.get('enqueue_per_s', ''):>10} {r['delivered_per_s']:>12}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    react(lambda reactor: ensureDeferred(run(reactor, args)))


if __name__ == "__main__":
    main()
