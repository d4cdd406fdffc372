# -*- test-case-name: fxim.test.unit.test_replysize -*-
"""
Reply sizes per transport: how many bytes a pull result takes once a
transport has encoded it, and how to cap one so that it fits.

The pull cap of storage counts stored bytes; what goes on the wire is
bigger (protobuf framing on TCP; on WebSocket the JSON of every message,
escaped once more because the envelope carries C{content} as a string).
L{fitCount} counts exactly what each transport produces, so a capped
result fits, and always keeps at least one message so a client makes
progress even past a message bigger than the limit alone.
"""

import json
from typing import Any, Callable, Dict, Sequence

from fxim.wire import im_pb2 as pb
from fxim.wire.codecs_convert import dumps, messageToJson, messageToPb, pullResultJson
from fxim.wire.envelope import Envelope, encodeEnvelope
from fxim.wire.frame import HEADER_LENGTH
from fxim.wire.signals import Signal, SubSignal


def _varintLength(n: int) -> int:
    length = 1
    while n >= 0x80:
        n >>= 7
        length += 1
    return length


def tcpMessageSize(message: Any) -> int:
    """
    The bytes one message adds to a TCP C{PullMessageResult}: its tag, its
    length prefix and its body.
    """
    m = pb.Message()
    messageToPb(message, m)
    size = m.ByteSize()
    return 1 + _varintLength(size) + size


def wsMessageSize(message: Any) -> int:
    """
    The UTF-8 bytes one message adds to a WebSocket MP reply: its JSON
    text as escaped inside the envelope's C{content} string, plus a comma.
    """
    text = json.dumps(dumps(messageToJson(message)), ensure_ascii=False)
    return len(text.encode("utf-8")) - 2 + 1


def tcpOverhead(current: int, head: int) -> int:
    """
    The PUB_ACK bytes of a TCP pull reply besides its messages: frame
    header, code byte and the cursor fields.
    """
    return HEADER_LENGTH + 1 + len(pb.PullMessageResult(current=current, head=head)
                                   .SerializeToString())


def wsOverhead(current: int, head: int) -> int:
    """
    The bytes of a WebSocket pull reply with no message (an upper bound
    for any C{current} not above C{head}).
    """
    envelope = Envelope(Signal.PUB_ACK, SubSignal.MP, 0xFFFF, pullResultJson((), head, head))
    return len(encodeEnvelope(envelope).encode("utf-8"))


_SIZERS: Dict[str, Callable[[Any], int]] = {"tcp": tcpMessageSize, "ws": wsMessageSize}
_OVERHEADS: Dict[str, Callable[[int, int], int]] = {"tcp": tcpOverhead, "ws": wsOverhead}


def fitCount(messages: Sequence[Any], head: int, transport: str, limit: int) -> int:
    """
    How many of the oldest C{messages} fit in C{limit} bytes once
    C{transport} has encoded them as a pull reply (at least one when there
    is one, so a client always makes progress).

    @param head: the reply's head (bounds the size of the cursor fields).
    @param transport: C{"tcp"} or C{"ws"}; for others every message fits.
    @return: the number of messages to send.
    """
    sizer = _SIZERS.get(transport)
    if sizer is None or not messages:
        return len(messages)
    used = _OVERHEADS[transport](head, head)
    for count, message in enumerate(messages):
        used += sizer(message)
        if used > limit:
            return max(count, 1)
    return len(messages)
