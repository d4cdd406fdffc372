# -*- test-case-name: fxim.test.unit.test_nocycles -*-
"""
The message path builds no reference cycles: what a 1:1 message allocates
(MS, its checks and store, PUB_ACK, MN, the receiver's MP and its reply)
is freed by reference counting, so a busy node never waits for the cyclic
garbage collector (docs/performance.md).  The SQL store's write path is
checked in L{fxim.test.unit.test_threadpool}.
"""

import gc
import struct

from twisted.internet.address import IPv4Address
from twisted.internet.defer import ensureDeferred
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from fxim.config import Config
from fxim.testing import memoryNode
from fxim.wire import im_pb2 as pb
from fxim.wire.frame import FrameDecoder
from fxim.wire.signals import Signal, SubSignal

_HEADER = struct.Struct(">BBBiBH")


def _frame(signal, sub, mid, body):
    return _HEADER.pack(0xF8, 2, signal, len(body), sub, mid & 0xFFFF) + body


class MessagePathTests(SynchronousTestCase):

    def setUp(self):
        self.node = memoryNode(Config(loginCode="556677", requestRate=0))
        self.addCleanup(lambda: self.successResultOf(ensureDeferred(self.node.close())))

    def _connect(self, mobile, cid):
        userId = self.successResultOf(ensureDeferred(self.node.login(mobile, cid)))[0]
        protocol = self.node.tcpFactory().buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.successResultOf(ensureDeferred(self.node.bind(protocol, userId, cid)))
        return userId, protocol, transport

    def test_privateMessages(self):
        """
        Twenty 1:1 messages sent, notified, pulled and answered leave
        nothing for the cyclic collector.
        """
        _, sp, st = self._connect("13800000001", "pa")
        receiver, rp, rt = self._connect("13800000002", "pb")
        body = pb.Message(conversation=pb.Conversation(type=0, target=receiver, line=0), from_user="",
                          content=pb.MessageContent(type=1, searchable_content="hello"))
        ms = _frame(Signal.PUBLISH, SubSignal.MS, 1, body.SerializeToString())
        self.addCleanup(gc.set_debug, gc.get_debug())
        self.addCleanup(gc.garbage.clear)
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        for seq in range(20):
            sp.dataReceived(ms)
            rp.dataReceived(_frame(Signal.PUBLISH, SubSignal.MP, 2, pb.PullMessageRequest(
                id=seq, type=0).SerializeToString()))
        gc.collect()
        left = list(gc.garbage)
        gc.set_debug(0)
        gc.garbage.clear()
        self.assertEqual([type(o).__name__ for o in left], [])
        acks = FrameDecoder(1 << 20).feed(st.value())
        self.assertEqual(len(acks), 20)
        pulled = [f for f in FrameDecoder(1 << 20).feed(rt.value())
                  if (f.signal, f.subsignal) == (Signal.PUB_ACK, SubSignal.MP)]
        self.assertEqual(len(pulled), 20)
