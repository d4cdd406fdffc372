# -*- test-case-name: fxim.test.unit.test_frame -*-
"""
Tests for L{fxim.wire.frame} and L{fxim.wire.signals}.
"""

import struct

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fxim.errors import WireError
from fxim.wire.frame import (
    DEFAULT_MAX_LENGTH, HEADER_LENGTH, Frame, FrameDecoder, encodeFrame,
)
from fxim.wire.signals import PLUGIN_SUBSIGNALS, Signal, SubSignal

frames = st.builds(
    Frame,
    signal=st.integers(1, len(Signal) - 1),
    subsignal=st.integers(0, 127),
    messageId=st.integers(0, 0xFFFF),
    body=st.binary(max_size=300),
)


def _chunks(data, cuts):
    """
    Split C{data} at the sorted offsets C{cuts}.
    """
    out, start = [], 0
    for cut in sorted(set(cuts)):
        out.append(data[start:cut])
        start = cut
    out.append(data[start:])
    return out


class SignalTests(SynchronousTestCase):
    """
    The ordinals are the wire contract.
    """

    def test_signalOrdinals(self):
        """
        Signal ordinals are the Java enum's.
        """
        self.assertEqual([s.name for s in Signal], [
            "NONE", "SUB", "AUTH", "PING", "PUSH", "CONTACT", "CONNECT",
            "CONNECT_ACK", "DISCONNECT", "PUBLISH", "PUB_ACK"])

    def test_subSignalOrdinals(self):
        """
        A few SubSignal ordinals from the spec's table, and the plugin range.
        """
        self.assertEqual(
            (SubSignal.CONNECTION_ACCEPTED, SubSignal.US, SubSignal.MN, SubSignal.MS,
             SubSignal.MP, SubSignal.GD, SubSignal.GMURL, SubSignal.FALS, SubSignal.SAI),
            (1, 9, 17, 18, 19, 33, 34, 35, 40))
        self.assertEqual((PLUGIN_SUBSIGNALS.start, PLUGIN_SUBSIGNALS.stop), (64, 128))


class EncodeFrameTests(SynchronousTestCase):
    """
    Tests for L{encodeFrame}.
    """

    def test_workedExampleMS(self):
        """
        PUBLISH/MS, messageId 81, 100-byte body has the spec's header.
        """
        data = encodeFrame(Frame(Signal.PUBLISH, SubSignal.MS, 81, b"x" * 100))
        self.assertEqual(data[:HEADER_LENGTH], bytes.fromhex("f802090000006412" "0051"))
        self.assertEqual(len(data), 110)

    def test_workedExamplePing(self):
        """
        The Android PING with C{{"interval":120000}}, messageId 1.
        """
        body = b'{"interval":120000}'
        data = encodeFrame(Frame(Signal.PING, 0, 1, body))
        self.assertEqual(data, bytes.fromhex("f8020300000013000001") + body)

    def test_messageIdTruncated(self):
        """
        A messageId over 16 bits is truncated, as the Java server does.
        """
        data = encodeFrame(Frame(Signal.PUB_ACK, SubSignal.MS, 65536, b""))
        self.assertEqual(data[8:10], b"\x00\x00")

    def test_capturedHeaders(self):
        """
        Headers of captured TCP client frames re-encode identically.
        """
        self.assertEqual(
            encodeFrame(Frame(Signal.PUBLISH, SubSignal.FP, 2, b"\x08\x00")),
            bytes.fromhex("f8020900000002100002" "0800"))
        self.assertEqual(
            encodeFrame(Frame(Signal.CONNECT, 0, 0, b"x" * 121))[:10],
            bytes.fromhex("f8020600000079000000"))

    @given(frames)
    def test_roundTrip(self, frame):
        """
        Decoding an encoded frame gives it back.
        """
        self.assertEqual(FrameDecoder().feed(encodeFrame(frame)), [frame])


class FrameDecoderTests(SynchronousTestCase):
    """
    Tests for L{FrameDecoder}.
    """

    def test_splitAtEveryOffset(self):
        """
        A frame fed in two pieces, split at any offset, decodes once.
        """
        frame = Frame(Signal.PUBLISH, SubSignal.MS, 4, b"hello world")
        data = encodeFrame(frame)
        for cut in range(len(data) + 1):
            decoder = FrameDecoder()
            got = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
            self.assertEqual(got, [frame], cut)
            self.assertEqual(decoder.pending, 0)

    def test_byteByByte(self):
        """
        A frame fed one byte at a time decodes when its last byte arrives.
        """
        frame = Frame(Signal.PING, 0, 1, b'{"interval":1}')
        decoder = FrameDecoder()
        data = encodeFrame(frame)
        got = []
        for i in range(len(data)):
            got.extend(decoder.feed(data[i:i + 1]))
            if i < len(data) - 1:
                self.assertEqual(got, [])
        self.assertEqual(got, [frame])

    def test_manyFramesInOneRead(self):
        """
        Several frames in one read all come out, in order; a trailing
        partial frame stays pending.
        """
        frames = [Frame(Signal.PUBLISH, SubSignal.MP, i, bytes([i]) * i) for i in range(20)]
        data = b"".join(encodeFrame(f) for f in frames)
        decoder = FrameDecoder()
        self.assertEqual(decoder.feed(data + data[:5]), frames)
        self.assertEqual(decoder.pending, 5)

    def test_emptyBody(self):
        """
        A zero-length body is a frame.
        """
        self.assertEqual(FrameDecoder().feed(bytes.fromhex("f8020a00000000100002")),
                         [Frame(Signal.PUB_ACK, SubSignal.FP, 2, b"")])

    def test_versionIgnored(self):
        """
        The version byte is not checked.
        """
        self.assertEqual(FrameDecoder().feed(bytes.fromhex("f8070300000000000001")),
                         [Frame(Signal.PING, 0, 1, b"")])

    def test_reservedBitsMasked(self):
        """
        Bit 7 of the signal and subsignal bytes is masked off.
        """
        self.assertEqual(FrameDecoder().feed(bytes.fromhex("f8028900000000920003")),
                         [Frame(Signal.PUBLISH, SubSignal.MS, 3, b"")])

    def test_wrongMagic(self):
        """
        A header without 0xf8 is a L{WireError}.
        """
        self.assertRaises(WireError, FrameDecoder().feed, bytes.fromhex("f7020300000000000001"))

    def test_noneSignal(self):
        """
        Signal NONE (0) is a L{WireError}.
        """
        self.assertRaises(WireError, FrameDecoder().feed, bytes.fromhex("f8020000000000000001"))

    def test_unknownSignal(self):
        """
        A signal beyond the enum is a L{WireError}.
        """
        self.assertRaises(WireError, FrameDecoder().feed, bytes.fromhex("f8020b00000000000001"))
        self.assertRaises(WireError, FrameDecoder().feed, bytes.fromhex("f8027f00000000000001"))

    def test_negativeLength(self):
        """
        A negative length is a L{WireError}.
        """
        self.assertRaises(WireError, FrameDecoder().feed,
                          bytes.fromhex("f80209") + struct.pack(">i", -1) + b"\x12\x00\x01")

    def test_lengthOverMax(self):
        """
        A length over the limit is refused from the header alone.
        """
        self.assertRaises(WireError, FrameDecoder(maxLength=10).feed,
                          bytes.fromhex("f802090000000b120001"))
        self.assertRaises(WireError, FrameDecoder().feed,
                          bytes.fromhex("f80209") + struct.pack(">i", DEFAULT_MAX_LENGTH + 1)
                          + b"\x12\x00\x01")

    def test_lengthAtMax(self):
        """
        A length equal to the limit is accepted.
        """
        decoder = FrameDecoder(maxLength=3)
        self.assertEqual(decoder.feed(bytes.fromhex("f80209000000031200010102")), [])
        self.assertEqual(decoder.feed(b"\x03"),
                         [Frame(Signal.PUBLISH, SubSignal.MS, 1, b"\x01\x02\x03")])

    def test_errorAfterGoodFrames(self):
        """
        Garbage after a good frame raises (the connection is closed).
        """
        good = encodeFrame(Frame(Signal.PING, 0, 1, b""))
        self.assertRaises(WireError, FrameDecoder().feed, good + b"\x00" * 10)

    @given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=6))
    def test_anyBytesAnyChunking(self, data, cuts):
        """
        Any bytes in any chunking either yield frames or raise L{WireError}.
        """
        decoder = FrameDecoder(maxLength=1000)
        try:
            for chunk in _chunks(data, [c for c in cuts if c <= len(data)]):
                for frame in decoder.feed(chunk):
                    self.assertIsInstance(frame, Frame)
        except WireError:
            pass

    @given(st.lists(frames, max_size=5), st.lists(st.integers(0, 2000), max_size=8))
    def test_chunkingIrrelevant(self, frames, cuts):
        """
        A stream of frames decodes the same whatever the chunking.
        """
        data = b"".join(encodeFrame(f) for f in frames)
        decoder = FrameDecoder()
        got = []
        for chunk in _chunks(data, [c for c in cuts if c <= len(data)]):
            got.extend(decoder.feed(chunk))
        self.assertEqual(got, frames)
        self.assertEqual(decoder.pending, 0)
