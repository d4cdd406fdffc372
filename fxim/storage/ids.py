# -*- test-case-name: fxim.test.test_storage -*-
"""
Short user and group ids, as upstream's C{IDUtils} builds them
(docs/protocol.md).

A counter value C{n} (below 2 ** 30) becomes 8 characters over
C{A-Z a-z 0-9 _ -}: positions 0, 3 and 6 hold random values r0, r3, r6;
positions 1, 2, 4, 5 and 7 hold the 6-bit digits of C{n}, least significant
first, shifted (mod 64) by r0, r0, r0, r3 and r6.  The mapping is
injective, so distinct counter values give distinct ids whatever the
random values.  The first character is never C{-} (an id that reads as a
command-line option is a trap).  Larger values fall back to a 32-character
hex id.
"""

from __future__ import annotations

import random as _random
import uuid
from typing import Callable, Optional

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


def fromUid(uid: str) -> Optional[int]:
    """
    Decode an id made by L{toUid}.

    @return: the counter value, or L{None} if C{uid} is not such an id.
    """
    if len(uid) != 8 or any(c not in _INDEX for c in uid):
        return None
    values = [_INDEX[c] for c in uid]
    n = 0
    for pos, shiftPos in reversed(_DIGIT_POSITIONS):
        n = n * 64 + (values[pos] - values[shiftPos]) % 64
    return n
