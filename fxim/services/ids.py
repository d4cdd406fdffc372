# -*- test-case-name: fxim.test.test_messaging -*-
"""
Message uids: unique across nodes, time-ordered, always below 2**53 so
JavaScript clients read them exactly.

Layout (53 bits): 40 bits of milliseconds since 2018-01-01 00:00 +08:00
(good until 2052), 6 bits of node id, 7 bits of counter.  When the counter
runs out within a millisecond, or the clock steps back, the generator moves
its logical millisecond forward instead of repeating an id.
"""

EPOCH_MS = 1514736000000
NODE_BITS = 6
COUNTER_BITS = 7
MAX_UID = 2 ** 53 - 1


class MessageUidGenerator:
    """
    @param nodeId: this node's id (0-63).
    @param clock: an C{IReactorTime} (C{seconds()}).
    """

    def __init__(self, nodeId: int, clock) -> None:
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

    @staticmethod
    def timestampOf(uid: int) -> int:
        """
        @return: the (logical) creation time of C{uid} in ms since the epoch.
        """
        return (uid >> (NODE_BITS + COUNTER_BITS)) + EPOCH_MS
