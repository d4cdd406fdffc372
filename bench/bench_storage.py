#!/usr/bin/env python
# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
Micro-benchmark of L{fxim.storage} message storing (group commit).

Stores C{--messages} 1:1 messages (two receivers each, with dedup keys)
from C{--callers} concurrent callers, then C{--hot} messages into one inbox
and times pulling that whole inbox with 1 MiB pulls, on SQLite
(a temporary file) and, if a DSN is given (C{--postgres} or
C{FXIM_TEST_POSTGRES_DSN}), on PostgreSQL in a throwaway schema.

    python bench/bench_storage.py [--messages 20000] [--callers 100]
        [--synchronous FULL|NORMAL] [--postgres DSN]
"""

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet.defer import gatherResults, inlineCallbacks  # noqa
from twisted.internet.task import react  # noqa

from fxim.model import Conversation, Message, MessageContent  # noqa
from fxim.storage import openStore  # noqa


def makeMessage(userId, sender, target):
    return Message(
        conversation=Conversation(0, target), fromUser=sender,
        content=MessageContent(type=1, searchableContent="hello %d" % userId),
        messageUid=userId, timestamp=1700000000000 + userId, localId=userId)


@inlineCallbacks
def run(store, label, messages, callers, hotMessages, users=1000):
    rng = random.Random(1)
    nextUid = [1 << 40]
    left = [messages]

    @inlineCallbacks
    def caller(n):
        while left[0] > 0:
            left[0] -= 1
            nextUid[0] += 1
            sender = "u%d" % rng.randrange(users)
            target = "u%d" % rng.randrange(users)
            yield store.storeMessage(makeMessage(nextUid[0], sender, target),
                                     [sender, target],
                                     (sender, "c%d" % n, nextUid[0]), 0)

    batches0, batched0 = store.batches, store.batchedMessages
    start = time.perf_counter()
    yield gatherResults([caller(n) for n in range(callers)])
    elapsed = time.perf_counter() - start
    batches = store.batches - batches0
    batched = store.batchedMessages - batched0
    print("%-28s %6d msgs in %6.2f s: %8.0f msgs/s"
          " (%d transactions, %.1f msgs each)" % (
              label, messages, elapsed, messages / elapsed, batches,
              batched / max(batches, 1)))
    yield gatherResults([
        store.storeMessage(makeMessage((1 << 41) + i, "u1", "hot"), ["hot"],
                           None, 0) for i in range(hotMessages)])
    start = time.perf_counter()
    after, pulled, pulls = 0, 0, 0
    while True:
        batch = yield store.pullMessages("hot", after, 1 << 20)
        if not batch.entries:
            break
        pulls += 1
        pulled += len(batch.entries)
        after = batch.entries[-1][0]
    elapsed = time.perf_counter() - start
    print("%-28s %6d entries of one inbox pulled in %.3f s (%d pulls of"
          " <= 1 MiB)" % (label, pulled, elapsed, pulls))


@inlineCallbacks
def main(reactor, *argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--callers", type=int, default=100)
    parser.add_argument("--hot", type=int, default=10000,
                        help="messages then pulled from one inbox")
    parser.add_argument("--synchronous", default="FULL")
    parser.add_argument("--inflight", type=int, default=1,
                        help="PostgreSQL group-commit transactions at once")
    parser.add_argument("--postgres",
                        default=os.environ.get("FXIM_TEST_POSTGRES_DSN"))
    args = parser.parse_args(argv)

    dataDir = tempfile.mkdtemp(prefix="fxim-bench-")
    try:
        store = yield openStore(reactor, dataDir=dataDir,
                                synchronous=args.synchronous)
        yield run(store, "sqlite synchronous=%s" % (args.synchronous,),
                  args.messages, args.callers, args.hot)
        yield store.close()
    finally:
        shutil.rmtree(dataDir)

    if args.postgres:
        import psycopg2
        schema = "fxim_bench_" + uuid.uuid4().hex[:8]
        store = yield openStore(reactor, args.postgres, schema=schema,
                                maxInflight=args.inflight)
        try:
            yield run(store, "postgresql inflight=%d" % (args.inflight,),
                      args.messages, args.callers,
                      args.hot)
        finally:
            yield store.close()
            conn = psycopg2.connect(args.postgres)
            with conn.cursor() as cursor:
                cursor.execute("DROP SCHEMA %s CASCADE" % (schema,))
            conn.commit()
            conn.close()
    else:
        print("postgresql: skipped (no --postgres DSN)")


if __name__ == "__main__":
    react(main, sys.argv[1:])
