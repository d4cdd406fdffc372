#!/usr/bin/env python
"""
The disk's part of a durable message: what one commit costs the disk
alone, at the steady scenario's rate.

At 1,000 msgs/s an embedded node commits about once per message: SQLite
appends the pages the message changed to its WAL and calls
C{fdatasync}.  This does the same with no database at all: every
C{1/rate} s it writes C{--pages} 4 KiB pages at the end of a file that
wraps at 4 MiB (as a WAL does after a checkpoint), then calls
C{fdatasync}, and times that.  A message cannot be acked before its
commit is on disk, so the tail printed here is a floor under the node's
latency tail on the same disk.

    python bench/diskfloor.py [--rate 1000] [--seconds 10] [--pages 10] [--dir DIR]

It prints one JSON line: C{n}, C{p50_ms}, C{p99_ms}, C{p999_ms},
C{max_ms}, C{over_1_5ms} (the share of commits slower than 1.5 ms, goal
1's p99) and C{over_10ms}.
"""

import argparse
import json
import os
import tempfile
import time

PAGE = 4096
WRAP = 4 << 20


def measure(directory, rate, seconds, pages):
    """
    @return: the commit times, in seconds.
    """
    fd, path = tempfile.mkstemp(prefix="diskfloor-", dir=directory)
    try:
        data = b"\x5a" * (PAGE * pages)
        times = []
        offset = 0
        start = time.perf_counter()
        count = int(rate * seconds)
        for i in range(count):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            os.pwrite(fd, data, offset)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
            offset = (offset + len(data)) % WRAP
        return times
    finally:
        os.close(fd)
        os.unlink(path)


def summary(times):
    s = sorted(times)
    n = len(s)

    def at(q):
        return s[min(n - 1, int(n * q))] * 1000 if s else float("nan")
    return {"n": n, "p50_ms": at(0.5), "p99_ms": at(0.99), "p999_ms": at(0.999),
            "max_ms": s[-1] * 1000 if s else float("nan"),
            "over_1_5ms": sum(1 for t in s if t > 0.0015) / max(n, 1),
            "over_10ms": sum(1 for t in s if t > 0.010) / max(n, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--dir", default=None, help="where (default: the temp dir)")
    opts = parser.parse_args()
    print(json.dumps(summary(measure(opts.dir, opts.rate, opts.seconds, opts.pages))))


if __name__ == "__main__":
    main()
