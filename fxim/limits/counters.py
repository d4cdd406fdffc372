# -*- test-case-name: fxim.test.unit.test_limits -*-
"""
L{ICounters}: fixed-window hit counters.  L{RedisCounters} share them
between every node of a cluster; L{MemoryCounters} keep them per process.
"""

from typing import Any

from twisted.internet.defer import succeed
from zope.interface import Interface, implementer


class ICounters(Interface):

    def hit(name, key, window):
        """
        Count one hit of C{key} in the current C{window}-second window of
        the limit C{name}.  @return: L{Deferred} firing with the count so
        far in this window (this hit included).
        """


def windowIndex(now: float, window: float) -> int:
    return int(now // window)


@implementer(ICounters)
class MemoryCounters:
    """
    Counters in this process (single node).
    """

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self._counts: dict = {}

    def hit(self, name, key, window):
        index = windowIndex(self.clock.seconds(), window)
        slot = (name, key)
        current = self._counts.get(slot)
        if current is None or current[0] != index:
            current = [index, 0]
            self._counts[slot] = current
            if len(self._counts) > 100_000:
                self._sweep(window)
        current[1] += 1
        return succeed(current[1])

    def _sweep(self, window) -> None:
        index = windowIndex(self.clock.seconds(), window)
        for slot in [s for s, (i, _) in self._counts.items() if i < index]:
            del self._counts[slot]


#: INCR the window's key; a new key expires with its window.
_HIT = ("local n = redis.call('INCR', KEYS[1]) "
        "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
        "return n")


@implementer(ICounters)
class RedisCounters:
    """
    Counters in Redis, one key per (limit, key, window) expiring with its
    window, so every node sees the same counts.
    """

    def __init__(self, clock: Any, redis: Any, prefix: str = "fxim:") -> None:
        self.clock = clock
        self.redis = redis
        self.prefix = prefix

    async def hit(self, name, key, window):
        index = windowIndex(self.clock.seconds(), window)
        redisKey = f"{self.prefix}rl:{name}:{key}:{index}"
        count = await self.redis.eval(_HIT, [redisKey], [str(int(window * 1000) + 1000)])
        return int(count)
