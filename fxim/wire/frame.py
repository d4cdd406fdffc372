# -*- test-case-name: fxim.test.unit.test_frame -*-
"""
The universe_push TCP frame: a 10-byte big-endian header
C{f8 | version | signal | int32 length | subsignal | uint16 messageId}
followed by C{length} body bytes.
"""

import struct
from typing import List

import attr

from fxim.errors import WireError
from fxim.wire.signals import Signal

MAGIC = 0xF8
VERSION = 2
HEADER = struct.Struct(">BBBiBH")
HEADER_LENGTH = HEADER.size  # 10

#: Default largest body accepted (configurable with C{--max-frame-size}).
DEFAULT_MAX_LENGTH = 4 * 1024 * 1024

_SIGNAL_LIMIT = len(Signal)


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Frame:
    """
    One frame, transport-neutral.

    @ivar signal: the L{Signal} ordinal (an C{int}).
    @ivar subsignal: the SubSignal ordinal as received (an C{int}, so that
        unknown and plugin ordinals survive).
    @ivar messageId: the unsigned 16-bit correlation id.
    @ivar body: the body bytes.
    """

    signal: int
    subsignal: int = 0
    messageId: int = 0
    body: bytes = b""


def encodeFrame(frame: Frame) -> bytes:
    """
    Serialise C{frame} with a version-2 header.  The messageId is truncated
    to 16 bits as the Java server does.
    """
    return HEADER.pack(
        MAGIC, VERSION, frame.signal & 0x7F, len(frame.body),
        frame.subsignal & 0x7F, frame.messageId & 0xFFFF,
    ) + frame.body


class FrameDecoder:
    """
    Incremental decoder: feed it bytes as they arrive, get whole frames back.

    An invalid header (wrong magic, a NONE or unknown signal, a negative
    length, or a length over C{maxLength}) raises L{WireError}; after that
    the decoder is unusable and the connection should be closed.
    """

    def __init__(self, maxLength: int = DEFAULT_MAX_LENGTH) -> None:
        self.maxLength = maxLength
        self._buffer = b""

    def feed(self, data: bytes) -> List[Frame]:
        """
        Add C{data} and return every frame now complete, in order.

        @raise WireError: on an invalid header.
        """
        buf = self._buffer + data if self._buffer else data
        frames = []
        offset = 0
        end = len(buf)
        unpack = HEADER.unpack_from
        while end - offset >= HEADER_LENGTH:
            magic, _version, signal, length, subsignal, messageId = unpack(buf, offset)
            signal &= 0x7F
            if magic != MAGIC:
                raise WireError(f"bad magic 0x{magic:02x}")
            if signal == 0 or signal >= _SIGNAL_LIMIT:
                raise WireError(f"invalid signal {signal}")
            if length < 0:
                raise WireError(f"negative length {length}")
            if length > self.maxLength:
                raise WireError(f"length {length} over limit {self.maxLength}")
            stop = offset + HEADER_LENGTH + length
            if stop > end:
                break
            frames.append(Frame(signal, subsignal & 0x7F, messageId,
                                buf[offset + HEADER_LENGTH:stop]))
            offset = stop
        self._buffer = buf[offset:] if offset else buf
        return frames

    @property
    def pending(self) -> int:
        """
        Number of buffered bytes that do not yet form a whole frame.
        """
        return len(self._buffer)
