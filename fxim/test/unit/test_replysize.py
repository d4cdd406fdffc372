"""
Tests for L{fxim.protocol.messages.fitPull}: the pull cap counts what each
transport produces.
"""

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fxim.model import Conversation, Message, MessageContent
from fxim.protocol.messages import fitPull
from fxim.wire.codecs_convert import pullResultJson, pullResultPb
from fxim.wire.envelope import Envelope, encodeEnvelope
from fxim.wire.frame import HEADER_LENGTH
from fxim.wire.signals import Signal, SubSignal


def _message(i: int, text: str, data: bytes = b"") -> Message:
    return Message(Conversation(0, "target", 0), "sender",
                   MessageContent(type=1, searchableContent=text, data=data),
                   messageUid=1000 + i, timestamp=1700000000000 + i)


def _wsSize(messages, head) -> int:
    content = pullResultJson(messages, head, head)
    return len(encodeEnvelope(Envelope(Signal.PUB_ACK, SubSignal.MP, 65535, content))
               .encode("utf-8"))


def _tcpSize(messages, head) -> int:
    return HEADER_LENGTH + 1 + len(pullResultPb(messages, head, head))


class FitCountTests(SynchronousTestCase):
    """
    L{fitPull} keeps the oldest messages that fit.
    """

    @given(st.lists(st.text(max_size=60), min_size=1, max_size=60),
           st.integers(200, 6000), st.sampled_from(["ws", "tcp"]))
    def test_fitsAndIsMaximal(self, texts, limit, transport):
        """
        What is kept fits the limit as the transport encodes it (unless a
        lone message is over it), and one more would not.
        """
        messages = [_message(i, t + '"\\\n') for i, t in enumerate(texts)]
        size = _wsSize if transport == "ws" else _tcpSize
        head = 10 ** 6
        n = fitPull(messages, head, transport, limit)[0]
        self.assertGreaterEqual(n, 1)
        if n > 1 or size(messages[:1], head) <= limit:
            self.assertLessEqual(size(messages[:n], head), limit)
        if n < len(messages):
            self.assertGreater(size(messages[:n + 1], head), limit)

    def test_loneHugeMessage(self):
        """
        A message bigger than the limit on its own is still returned alone.
        """
        messages = [_message(0, "big", b"x" * 5000), _message(1, "small")]
        self.assertEqual(fitPull(messages, 5, "ws", 1000)[0], 1)
        self.assertEqual(fitPull(messages, 5, "tcp", 1000)[0], 1)

    def test_otherTransports(self):
        """
        A transport without a sizer keeps everything.
        """
        self.assertEqual(fitPull([_message(0, "a")] * 3, 1, "agent", 1)[0], 3)
        self.assertEqual(fitPull([], 1, "ws", 1)[0], 0)

    @given(st.lists(st.text(max_size=60), min_size=1, max_size=20),
           st.integers(200, 3000), st.sampled_from(["ws", "tcp"]))
    def test_piecesAreTheReply(self, texts, limit, transport):
        """
        The encodings L{fitPull} returns make the very reply the encoder
        writes without them.
        """
        messages = [_message(i, t + '"\\\n') for i, t in enumerate(texts)]
        n, pieces = fitPull(messages, 10 ** 6, transport, limit)
        self.assertEqual(len(pieces), n)
        encode = pullResultJson if transport == "ws" else pullResultPb
        self.assertEqual(encode(messages[:n], 7, 10 ** 6, pieces),
                         encode(messages[:n], 7, 10 ** 6))
