#!/usr/bin/env python
"""
Growth benchmark: do send, pull and history costs stay flat as the
embedded store fills up?

    python bench/growth.py                      # empty, 100k, 1M stored messages (~3-6 min)
    python bench/growth.py --big                # ... and 5M (+ ~10-20 min, ~3.5 GB of disk)
    python bench/growth.py --sizes 0,200000     # any sizes, ascending
    python bench/growth.py --python /var/tmp/fxim-pypy/bin/python   # the node on PyPy

At each size a real C{twistd fxim} node (CPU 0) serves one measured pair
(A, B) over TCP from this process (CPU 1), and the figures are printed
beside the empty store's, measured in the same run:

* send: A sends 200 MS to B one at a time; the ack latency (the MS is
  committed when acked) and send -> MN -> pulled by B.
* pull: 200 MP requests by B for its newest 10 messages.
* history: 200 LRM requests by B for 20 messages of its conversation with
  A, each before a random uid of that (deep) history.

Between sizes the node is stopped and the store is filled *through the
store's own SQL* (L{fxim.storage.messages.storeBatch_txn}, batches of
2,000 in one transaction, C{synchronous=OFF} for the fill only): 1:1 text
messages among 10,000 background users, one in 100 of them between A and B
so that their history is deep (10,000 at 1M).  The database size per
stored message is reported too.  Exactly-once: every message A sends at
each size is pulled by B once, under its acked uid.
"""

import argparse
import json
import os
import random
import sqlite3
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import fximbench  # noqa: E402
from fximbench import CLIENT_CPU, Node, latencyStats, loginMany, mobile, table  # noqa: E402

#: Background users of the fill; one fill message in PAIR_EVERY is A <-> B.
BACKGROUND_USERS = 10000
PAIR_EVERY = 100
BATCH = 2000
SAMPLES = 200
FIRST_UID = 10 ** 9  # below every live uid (those are time-based, ~2**51)


def fill(path, start, stop, a, b, rng):
    """
    Store messages C{start} .. C{stop - 1} of the fill directly in the
    SQLite file at C{path} through L{storeBatch_txn}.

    @return: seconds taken.
    """
    from fxim.model import Conversation, Message, MessageContent
    from fxim.storage.dialect import SQLITE
    from fxim.storage.messages import PendingStore, storeBatch_txn
    conn = sqlite3.connect(path, isolation_level=None)
    cur = conn.cursor()
    cur.execute("PRAGMA synchronous=OFF")  # the fill only; the node runs with FULL
    cur.fetchall()
    t0 = time.perf_counter()
    now = int(time.time() * 1000)
    for first in range(start, stop, BATCH):
        items = []
        for n in range(first, min(stop, first + BATCH)):
            if n % PAIR_EVERY == 0:
                sender, target = (a, b) if n % (2 * PAIR_EVERY) == 0 else (b, a)
            else:
                sender = "bg%06d" % rng.randrange(BACKGROUND_USERS)
                target = "bg%06d" % rng.randrange(BACKGROUND_USERS)
            m = Message(Conversation(0, target, 0), sender,
                        MessageContent(type=1, searchableContent="growth %d %s" % (n, "x" * 80)),
                        messageUid=FIRST_UID + n, timestamp=now - (stop - n))
            items.append(PendingStore(m, [sender, target], None, now))
        cur.execute(SQLITE.begin)
        storeBatch_txn(cur, SQLITE, items)
        conn.commit()
    cur.close()
    conn.close()
    return time.perf_counter() - t0


def dbBytes(path):
    return sum(os.path.getsize(path + suffix) for suffix in ("", "-wal", "-shm")
               if os.path.exists(path + suffix))


async def measure(reactor, node, creds, historyUids, rng):
    """
    The three figures against a running node.
    """
    from fxim.client import Inbox, connectTcp
    from fxim.model import Conversation, Message, MessageContent
    from fxim.wire.requests import LoadHistory, PullMessages, SendMessage
    a = await connectTcp(reactor, "127.0.0.1", node.tcpPort)
    b = await connectTcp(reactor, "127.0.0.1", node.tcpPort)
    try:
        await a.connect(creds[0]["uid"], creds[0]["token"], creds[0]["cid"])
        ackB = await b.connect(creds[1]["uid"], creds[1]["token"], creds[1]["cid"])
        inbox = Inbox(b, lastSeq=ackB.msgHead)
        perf = time.perf_counter
        ackLat, e2e, acked = [], [], []
        for i in range(SAMPLES):
            t0 = perf()
            ack = await a.request(SendMessage(Message(
                Conversation(0, b.userId, 0), "", MessageContent(type=1, searchableContent=f"m{i}"))))
            ackLat.append(round((perf() - t0) * 1e6))
            acked.append(ack.messageUid)
            await inbox.waitFor(i + 1)
            e2e.append(round((perf() - t0) * 1e6))
        got = [m.messageUid for m in inbox.messages]
        exactlyOnce = {"sent": len(acked), "pulled": len(got),
                       "duplicates": len(got) - len(set(got)),
                       "lost": len(set(acked) - set(got)), "ok": got == acked}
        head = inbox.lastSeq
        pullLat = []
        for _ in range(SAMPLES):
            t0 = perf()
            r = await b.request(PullMessages(max(0, head - 10), 0))
            pullLat.append(round((perf() - t0) * 1e6))
            assert len(r.messages) >= 10 or head < 10, len(r.messages)
        histLat = []
        conv = Conversation(0, a.userId, 0)
        for _ in range(SAMPLES):
            before = rng.choice(historyUids) if historyUids else 0
            t0 = perf()
            h = await b.request(LoadHistory(conv, before, 20))
            histLat.append(round((perf() - t0) * 1e6))
            if historyUids and before > FIRST_UID + 20 * PAIR_EVERY:
                assert len(h.messages) == 20, len(h.messages)
        return {"ms_ack": latencyStats(ackLat), "send_to_pulled": latencyStats(e2e),
                "mp_newest10": latencyStats(pullLat), "lrm_20_random_depth": latencyStats(histLat),
                "exactly_once": exactlyOnce}
    finally:
        for c in (a, b):
            c.close()
            await c.closed


async def run(reactor, opts):
    sizes = [int(s) for s in opts.sizes.split(",")]
    if opts.big and 5000000 not in sizes:
        sizes.append(5000000)
    if sizes != sorted(sizes):
        raise SystemExit("--sizes must be ascending")
    if opts.python:
        fximbench.NODE_PYTHON = opts.python
    dataDir = tempfile.mkdtemp(prefix="fxim-growth-", dir=opts.dir)
    path = os.path.join(dataDir, "fxim.sqlite3")
    rng = random.Random(17)
    node = Node("embedded", dataDir=dataDir).start()
    try:
        creds, _ = loginMany(node.httpBase, [(mobile(1), "growth-a"), (mobile(2), "growth-b")])
    finally:
        node.stop()
    a, b = creds[0]["uid"], creds[1]["uid"]
    rows, out, stored = [], {"sizes": {}, "load_avg": {}}, 0
    for size in sizes:
        if size > stored:
            seconds = fill(path, stored, size, a, b, rng)
            print(f"filled {stored:,} -> {size:,} messages in {seconds:.0f} s "
                  f"({(size - stored) / seconds:,.0f}/s)", flush=True)
            stored = size
        historyUids = [FIRST_UID + n for n in range(0, stored, PAIR_EVERY)]
        load0 = os.getloadavg()[0]
        others = fximbench.Contention([os.getpid()])
        node = Node("embedded", dataDir=dataDir).start()
        try:
            r = await measure(reactor, node, creds, historyUids, rng)
        finally:
            node.stop()
        share = others.stop()
        r["db_bytes"] = dbBytes(path)
        r["db_bytes_per_message"] = r["db_bytes"] / stored if stored else None
        r["load_avg_1min"] = [load0, os.getloadavg()[0]]
        r["other_cpu_share"] = share
        r["contended"] = share > fximbench.CONTENDED_SHARE
        out["sizes"][str(size)] = r
        rows.append((f"{size:,}", r["ms_ack"]["p50_ms"], r["ms_ack"]["p99_ms"],
                     r["send_to_pulled"]["p50_ms"], r["mp_newest10"]["p50_ms"],
                     r["mp_newest10"]["p99_ms"], r["lrm_20_random_depth"]["p50_ms"],
                     r["lrm_20_random_depth"]["p99_ms"],
                     "ok" if r["exactly_once"]["ok"] else f"FAILED {r['exactly_once']}",
                     f"{r['db_bytes_per_message']:.0f}" if stored else "-",
                     f"{load0:.1f}, others {100 * share:.0f}%"
                     f"{' contended' if r['contended'] else ''}"))
    base = out["sizes"][str(sizes[0])]
    last = out["sizes"][str(sizes[-1])]
    rows.append((f"{sizes[-1]:,} / {sizes[0]:,}",
                 last["ms_ack"]["p50_ms"] / base["ms_ack"]["p50_ms"],
                 last["ms_ack"]["p99_ms"] / base["ms_ack"]["p99_ms"],
                 last["send_to_pulled"]["p50_ms"] / base["send_to_pulled"]["p50_ms"],
                 last["mp_newest10"]["p50_ms"] / base["mp_newest10"]["p50_ms"],
                 last["mp_newest10"]["p99_ms"] / base["mp_newest10"]["p99_ms"],
                 last["lrm_20_random_depth"]["p50_ms"] / base["lrm_20_random_depth"]["p50_ms"],
                 last["lrm_20_random_depth"]["p99_ms"] / base["lrm_20_random_depth"]["p99_ms"],
                 "", "", ""))
    table(f"growth: embedded store, {SAMPLES} samples per figure, one request at a time "
          f"(node {fximbench.interpreterName(fximbench.NODE_PYTHON)} on CPU 0)",
          ["stored msgs", "MS ack p50", "MS ack p99", "send->pulled p50", "MP p50", "MP p99",
           "LRM p50", "LRM p99", "exactly-once", "DB B/msg", "load avg, others' CPU"], rows)
    out["meta"] = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "node_python": fximbench.NODE_PYTHON,
                   "command": " ".join(sys.argv)}
    os.makedirs(os.path.dirname(os.path.abspath(opts.json)), exist_ok=True)
    with open(opts.json, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
    print(f"figures written to {opts.json}")
    if not opts.keep:
        import shutil
        shutil.rmtree(dataDir, ignore_errors=True)
    if not all(r["exactly_once"]["ok"] for r in out["sizes"].values()):
        raise SystemExit("exactly-once check failed")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0,100000,1000000",
                        help="stored-message counts to measure at, ascending (default 0,100000,1000000)")
    parser.add_argument("--big", action="store_true", help="also 5,000,000")
    parser.add_argument("--python", metavar="PATH", help="the node's interpreter")
    parser.add_argument("--dir", help="where the temporary data dir goes (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the filled data dir")
    parser.add_argument("--json", default=os.path.join(HERE, "results", "growth.json"))
    opts = parser.parse_args()
    try:
        os.sched_setaffinity(0, CLIENT_CPU)
    except OSError:
        pass
    from twisted.internet import task
    from twisted.internet.defer import ensureDeferred
    task.react(lambda reactor: ensureDeferred(run(reactor, opts)))


if __name__ == "__main__":
    main()
