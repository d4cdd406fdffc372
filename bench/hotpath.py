#!/usr/bin/env python
# -*- test-case-name: fxim.test.unit.test_dispatch -*-
"""
The reactor-side cost of one 1:1 message, in process: the sender's MS
(decode, checks, store, PUB_ACK, the receiver's MN) and the receiver's MP
(pull, reply), through a memory node's real TCP protocol objects on
C{StringTransport}s -- no sockets, no threads, no database.

    python bench/hotpath.py [ROOT]            # ROOT: the tree to import fxim from
    python bench/hotpath.py [ROOT] --profile  # and the cProfile table

It prints three figures:

  - function calls per message (cProfile's count over 5,000 messages):
    exact and unaffected by other load, so a change can be compared on a
    busy machine (run it on both trees);
  - process CPU microseconds per message (20,000 messages): indicative
    only, and only on a quiet machine;
  - objects per message left to the cyclic garbage collector (0 when the
    path builds no reference cycles).

It is the part of a message's cost that fxim's own Python code decides
(the storage and the sockets excluded); C{bench/fximbench.py} measures the
whole.  Run it beside an older tree for the baseline:
C{python bench/hotpath.py /tmp/old-tree}.
"""

import cProfile
import io
import os
import pstats
import struct
import sys
import time

ROOT = next((a for a in sys.argv[1:] if not a.startswith("-")),
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from twisted.internet.address import IPv4Address  # noqa: E402
from twisted.internet.defer import ensureDeferred  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402

from fxim.config import Config  # noqa: E402
from fxim.testing import memoryNode  # noqa: E402
from fxim.wire import im_pb2 as pb  # noqa: E402
from fxim.wire.frame import FrameDecoder  # noqa: E402
from fxim.wire.signals import Signal, SubSignal  # noqa: E402

HEADER = struct.Struct(">BBBiBH")


def frame(signal, sub, mid, body):
    return HEADER.pack(0xF8, 2, signal, len(body), sub, mid & 0xFFFF) + body


def fired(d):
    result = []
    ensureDeferred(d).addBoth(result.append)
    return result[0]


def main():
    node = memoryNode(Config(loginCode="556677", requestRate=0))
    sender, _ = fired(node.login("13800000001", "pa"))
    receiver, _ = fired(node.login("13800000002", "pb"))
    factory = node.tcpFactory()

    def connect(userId, cid):
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = StringTransport()
        protocol.makeConnection(transport)
        fired(node.bind(protocol, userId, cid))
        return protocol, transport

    sp, st = connect(sender, "pa")
    rp, rt = connect(receiver, "pb")
    body = pb.Message(conversation=pb.Conversation(type=0, target=receiver, line=0),
                      from_user="", content=pb.MessageContent(type=1, searchable_content="x" * 120))
    ms = frame(Signal.PUBLISH, SubSignal.MS, 1, body.SerializeToString())

    def pull(after):
        return frame(Signal.PUBLISH, SubSignal.MP, 2,
                     pb.PullMessageRequest(id=after, type=0).SerializeToString())

    # One message, checked: the ack, then the MN and the pulled message.
    sp.dataReceived(ms)
    rp.dataReceived(pull(0))
    acks = FrameDecoder(1 << 20).feed(st.value())
    got = FrameDecoder(1 << 20).feed(rt.value())
    assert [(f.signal, f.subsignal) for f in acks] == [(Signal.PUB_ACK, SubSignal.MS)], acks
    assert [(f.signal, f.subsignal) for f in got] == [
        (Signal.PUBLISH, SubSignal.MN), (Signal.PUB_ACK, SubSignal.MP)], got
    result = pb.PullMessageResult()
    result.ParseFromString(got[1].body[1:])
    assert len(result.message) == 1 and result.current == 1, result
    seq = [1]

    def run(n):
        for _ in range(n):
            sp.dataReceived(ms)
            rp.dataReceived(pull(seq[0]))
            seq[0] += 1
            st.clear()
            rt.clear()

    run(2000)  # warm-up
    # What the messages leave for the cyclic collector (0: all freed by
    # reference counting, no young-generation pauses from the hot path).
    import gc
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    run(1000)
    gc.collect()
    cyclic = len(gc.garbage) / 1000
    gc.set_debug(0)
    del gc.garbage[:]
    profile = cProfile.Profile()
    profile.enable()
    run(5000)
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    n = 20000
    t0 = time.process_time()
    run(n)
    t1 = time.process_time()
    print(f"{ROOT}: {stats.total_calls / 5000:.0f} function calls per message; "
          f"{(t1 - t0) / n * 1e6:.1f} us CPU per message (MS + PUB_ACK + MN + MP + reply, "
          f"memory store); {cyclic:.1f} objects per message left to the cyclic GC")
    if "--profile" in sys.argv:
        stats.sort_stats("tottime").print_stats(35)
        print(out.getvalue())


if __name__ == "__main__":
    main()
