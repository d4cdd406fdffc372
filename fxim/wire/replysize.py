# -*- test-case-name: fxim.test.unit.test_replysize -*-
"""
Reply sizes per transport: how many bytes a pull result takes once a
transport has encoded it, and how to cap one so that it fits.

The pull cap of storage counts stored bytes; what goes on the wire is
bigger (protobuf framing on TCP; on WebSocket the JSON of every message,
escaped once more because the envelope carries C{content} as a string).
L{fitPull} counts exactly what each transport produces, so a capped
result fits, and always keeps at least one message so a client makes
progress even past a message bigger than the limit alone.
"""

import json
from typing import Any, Callable, Dict, List, Sequence, Tuple

from fxim.wire import im_pb2 as pb
from fxim.wire.codecs_convert import messagePieceJson, messagePiecePb, pullResultJson
from fxim.wire.envelope import Envelope, encodeEnvelope
from fxim.wire.frame import HEADER_LENGTH
from fxim.wire.signals import Signal, SubSignal


def wsPieceSize(piece: str) -> int:
    """
    The UTF-8 bytes one message's JSON text adds to a WebSocket MP reply:
    the text as escaped inside the envelope's C{content} string, plus a
    comma.
    """
    return len(json.dumps(piece, ensure_ascii=False).encode("utf-8")) - 2 + 1


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


_PIECES: Dict[str, Callable[[Any], Any]] = {"tcp": messagePiecePb, "ws": messagePieceJson}
_OVERHEADS: Dict[str, Callable[[int, int], int]] = {"tcp": tcpOverhead, "ws": wsOverhead}


def fitPull(messages: Sequence[Any], head: int, transport: str,
            limit: int) -> Tuple[int, Tuple[Any, ...]]:
    """
    How many of the oldest C{messages} fit in C{limit} bytes once
    C{transport} has encoded them as a pull reply (at least one when there
    is one, so a client always makes progress), and their encodings.

    @param head: the reply's head (bounds the size of the cursor fields).
    @param transport: C{"tcp"} or C{"ws"}; for others every message fits.
    @return: C{(count, pieces)}: the number of messages to send and the
        first C{count} messages encoded for L{pullResultPb} (TCP, bytes)
        or L{pullResultJson} (WebSocket, texts), so the reply does not
        encode them again; no pieces for other transports.
    """
    encode = _PIECES.get(transport)
    if encode is None or not messages:
        return len(messages), ()
    # A TCP piece's size is its length (tag, length prefix and body).
    tcp = transport == "tcp"
    used = _OVERHEADS[transport](head, head)
    pieces: List[Any] = []
    for message in messages:
        piece = encode(message)
        used += len(piece) if tcp else wsPieceSize(piece)
        if used > limit:
            if not pieces:
                pieces.append(piece)
            break
        pieces.append(piece)
    return len(pieces), tuple(pieces)
