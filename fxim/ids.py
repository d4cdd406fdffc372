# -*- test-case-name: fxim.test.unit.test_ids,fxim.test.unit.test_storage -*-
"""
The ids fxim makes: short user and group ids, and message uids.

User and group ids are upstream's C{IDUtils} ids (docs/protocol.md).  A
counter value C{n} (below 2 ** 30) becomes 8 characters over
C{A-Z a-z 0-9 _ -}: positions 0, 3 and 6 hold random values r0, r3, r6;
positions 1, 2, 4, 5 and 7 hold the 6-bit digits of C{n}, least significant
first, shifted (mod 64) by r0, r0, r0, r3 and r6.  The mapping is
injective, so distinct counter values give distinct ids whatever the
random values.  The first character is never C{-} (an id that reads as a
command-line option is a trap).  Larger values fall back to a 32-character
hex id.

Message uids are unique across nodes, time-ordered, and always below
2**53 so JavaScript clients read them exactly.  Layout (53 bits): 40 bits
of milliseconds since 2018-01-01 00:00 +08:00 (good until 2052), 6 bits of
node id, 7 bits of counter.  When the counter runs out within a
millisecond, or the clock steps back, the generator moves its logical
millisecond forward instead of repeating an id.
"""

import random as _random
import uuid
from typing import Callable, Optional

from twisted.internet.interfaces import IReactorTime

# -- user and group ids ------------------------------------------------------

ALPHABET = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
)
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_DIGIT_POSITIONS = ((1, 0), (2, 0), (4, 0), (5, 3), (7, 6))
_LIMIT = 64 ** len(_DIGIT_POSITIONS)
_sysRandom = _random.SystemRandom()


def toUid(n: int, randint: Callable[[int], int] = _sysRandom.randrange) -> str:
    """
    Encode counter value C{n}.

    @param n: a non-negative L{int}.
    @param randint: C{randrange}-like source of the random shifts.
    @return: an 8-character L{str} (32 hex characters if C{n >= 2 ** 30}).
    """
    if n < 0:
        raise ValueError("negative id counter %r" % (n,))
    if n >= _LIMIT:
        return uuid.uuid4().hex
    out = [0] * 8
    for pos in (0, 3, 6):
        out[pos] = randint(64)
    # Never start with "-": such an id reads as an option on command lines.
    if out[0] == _INDEX["-"]:
        out[0] = randint(63)
    for pos, shiftPos in _DIGIT_POSITIONS:
        out[pos] = (n % 64 + out[shiftPos]) % 64
        n //= 64
    return "".join(ALPHABET[v] for v in out)


def fromUid(userId: str) -> Optional[int]:
    """
    Decode an id made by L{toUid}.

    @return: the counter value, or L{None} if C{uid} is not such an id.
    """
    if len(userId) != 8 or any(c not in _INDEX for c in userId):
        return None
    values = [_INDEX[c] for c in userId]
    n = 0
    for pos, shiftPos in reversed(_DIGIT_POSITIONS):
        n = n * 64 + (values[pos] - values[shiftPos]) % 64
    return n


# -- message uids --------------------------------------------------------------

EPOCH_MS = 1514736000000
NODE_BITS = 6
COUNTER_BITS = 7


class MessageUidGenerator:
    """
    @param nodeId: this node's id (0-63).
    @param clock: the clock the uids' milliseconds come from.
    """

    def __init__(self, nodeId: int, clock: IReactorTime) -> None:
        if not 0 <= nodeId < 2 ** NODE_BITS:
            raise ValueError("node id must be 0-63")
        self._node = nodeId << COUNTER_BITS
        self._clock = clock
        self._lastMs = 0
        self._counter = 0

    def next(self) -> int:
        """
        @return: a new uid, greater than every uid this generator returned.
        """
        now = int(self._clock.seconds() * 1000) - EPOCH_MS
        if now > self._lastMs:
            self._lastMs, self._counter = now, 0
        else:
            self._counter += 1
            if self._counter >> COUNTER_BITS:
                self._lastMs += 1
                self._counter = 0
        return (self._lastMs << (NODE_BITS + COUNTER_BITS)) | self._node | self._counter

