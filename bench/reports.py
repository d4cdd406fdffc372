"""
The `reports` benchmark: delivery/read report throughput beside the MS
figure, in the same run, on one fxim node.

    python bench/reports.py [--backend embedded|postgres] [--pairs 20] [--count 200]

Phase 1 (MS): each of N senders sends COUNT messages to its receiver (8 in
flight): msgs/s from the first send to the last receiver having pulled
everything (stored + MN + MP).
Phase 2 (MDR) and 3 (MRR): each receiver reports COUNT times to its sender
(8 in flight, increasing dates): reports/s acked (stored), and reports/s
until every sender has been notified (MRN) and pulled its latest report.
Prints a table and one JSON line (the figures) last.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from twisted.internet import reactor  # noqa: E402
from twisted.internet.defer import Deferred, ensureDeferred, gatherResults  # noqa: E402
from twisted.internet.task import deferLater  # noqa: E402

from fxim.client import Inbox, login, openConnection  # noqa: E402
from fxim.model import Conversation, Message, MessageContent  # noqa: E402
from fxim.testing import ServerProcess  # noqa: E402
from fxim.wire.extensions import (  # noqa: E402
    DeliveryReportRequest, PullReports, ReadReportRequest, ReportNotify,
)
from fxim.wire.requests import SendMessage  # noqa: E402

CODE = "556677"


async def window(n, size, make):
    """
    Run C{make(i)} for i in range(n), C{size} at a time.
    """
    nextIndex = [0]

    async def lane():
        while nextIndex[0] < n:
            i = nextIndex[0]
            nextIndex[0] += 1
            await make(i)
    await gatherResults([ensureDeferred(lane()) for _ in range(size)])


class Owner:
    """
    A sender that pulls its reports on every MRN.
    """

    def __init__(self, conn):
        self.conn = conn
        self.latest = {}
        self.waiter = None
        self.target = None
        conn.onPush(self._push)

    def _push(self, push):
        if isinstance(push, ReportNotify):
            self.conn.request(PullReports(push.head, push.type)).addCallback(self._pulled)

    def _pulled(self, result):
        for r in result.reports:
            self.latest[r.reportType] = max(self.latest.get(r.reportType, 0), r.date)
        if self.waiter is not None and self.latest.get(self.target[0], 0) >= self.target[1]:
            waiter, self.waiter = self.waiter, None
            waiter.callback(None)

    def waitFor(self, kind, date):
        self.target = (kind, date)
        self.waiter = Deferred()
        if self.latest.get(kind, 0) >= date:
            self.waiter, waiter = None, self.waiter
            waiter.callback(None)
            return waiter
        return self.waiter


async def run(opts):
    args = ["--request-rate", "10000000", "--request-burst", "10000000"]
    if opts.backend == "postgres":
        from fxim.test.e2e import REDIS, createDatabase, dropDatabase
        dsn = createDatabase()
        args += ["--database", dsn, "--redis", REDIS, "--redis-prefix", f"bench{os.getpid()}:"]
    node = ServerProcess(reactor, args)
    await node.start()
    try:
        senders, receivers = [], []
        for i in range(opts.pairs):
            for group, mobile in ((senders, 13700000000 + 2 * i), (receivers, 13700000001 + 2 * i)):
                creds = await login(reactor, node.httpBase, str(mobile), CODE, f"b{mobile}")
                conn = await openConnection(reactor, "tcp", "127.0.0.1", node.tcpPort)
                await conn.connect(creds.userId, creds.token, creds.clientId)
                group.append(conn)
        owners = [Owner(s) for s in senders]
        inboxes = [Inbox(r) for r in receivers]
        n = opts.count

        # -- MS
        start = time.perf_counter()

        async def sendAll(p):
            s, r = senders[p], receivers[p]
            await window(n, 8, lambda i: s.request(SendMessage(Message(
                Conversation(0, r.userId, 0), "", MessageContent(1, f"m{i}")))))
        await gatherResults([ensureDeferred(sendAll(p)) for p in range(opts.pairs)])
        acked = time.perf_counter() - start
        await gatherResults([inbox.waitFor(n) for inbox in inboxes])
        msSeconds = time.perf_counter() - start
        out = {"pairs": opts.pairs, "count": n, "backend": opts.backend,
               "ms_acked_per_s": opts.pairs * n / acked,
               "ms_pulled_per_s": opts.pairs * n / msSeconds}

        # -- reports
        for kind, name in ((1, "mdr"), (2, "mrr")):
            base = int(time.time() * 1000) + kind * 10_000_000
            start = time.perf_counter()

            async def reportAll(p, kind=kind, base=base):
                s, r = senders[p], receivers[p]

                def one(i):
                    if kind == 1:
                        return r.request(DeliveryReportRequest(s.userId, base + i))
                    return r.request(ReadReportRequest(s.userId, base + i))
                await window(n, 8, one)
            await gatherResults([ensureDeferred(reportAll(p)) for p in range(opts.pairs)])
            acked = time.perf_counter() - start
            await gatherResults([o.waitFor(kind, base + n - 1) for o in owners])
            seconds = time.perf_counter() - start
            out[f"{name}_stored_per_s"] = opts.pairs * n / acked
            out[f"{name}_notified_per_s"] = opts.pairs * n / seconds
        for c in senders + receivers:
            c.close()
        await deferLater(reactor, 0.5, lambda: None)
        return out
    finally:
        await node.stop()
        if opts.backend == "postgres":
            dropDatabase(dsn)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["embedded", "postgres"], default="embedded")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--count", type=int, default=200)
    opts = parser.parse_args()
    result = {}

    def go():
        d = ensureDeferred(run(opts))
        d.addCallback(result.update)
        d.addErrback(lambda f: (f.printTraceback(), result.update(error=str(f.value))))
        d.addBoth(lambda _: reactor.stop())
    reactor.callWhenRunning(go)
    reactor.run()
    if "error" in result:
        sys.exit(1)
    print(f"reports ({opts.backend}): {opts.pairs} pairs x {opts.count}, window 8, TCP")
    for key in ("ms_acked_per_s", "ms_pulled_per_s", "mdr_stored_per_s", "mdr_notified_per_s",
                "mrr_stored_per_s", "mrr_notified_per_s"):
        print(f"  {key:22s} {result[key]:10.0f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
