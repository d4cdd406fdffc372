# -*- test-case-name: fxim.test.unit.test_catchup -*-
"""
MN catch-up: which message seqs each local connection was told about
(MN), and the MNs it missed while the cluster bus was broken.

Pub/sub loses what is published while a node is unsubscribed (a Redis
restart, a lost connection).  Messages stay stored, but a device only
pulls when it gets an MN, and the web client pulls from C{seq - 1} on
each MN: it needs one MN per missed message, not just the newest.

So the node remembers, per connection, the head it was given at CONNECT
and every MN seq it was sent since; L{CatchUp.run} reads the current heads
and sends an MN for each seq above the CONNECT head that the connection
was never notified of (at most L{CatchUp.maxPerConnection}, the newest).
Triggers: this node's bus subscription coming back, and another node's
announcement that it failed to notify some users (see
L{fxim.bus.redis.RedisBus}).
"""

import weakref
from typing import Awaitable, Callable, Dict, Iterable, List, Set

from twisted.logger import Logger

from fxim.interfaces import IConnection
from fxim.wire.requests import MessageNotify

_log = Logger()

#: PullType of an ordinary MN.
PULL_NORMAL = 0

#: Most seqs above the contiguous floor remembered per connection.
MAX_TRACKED = 4096


class NotifiedSeqs:
    """
    The message seqs one connection knows about: every seq up to
    C{floor}, plus those in C{above}.
    """

    def __init__(self, floor: int) -> None:
        self.floor = floor
        self.above: Set[int] = set()

    def add(self, seq: int) -> None:
        if seq <= self.floor:
            return
        self.above.add(seq)
        while self.floor + 1 in self.above:
            self.floor += 1
            self.above.discard(self.floor)
        if len(self.above) > MAX_TRACKED:
            # Bounded memory: forget the oldest gaps (they stay missed).
            self.floor = sorted(self.above)[len(self.above) - MAX_TRACKED]
            self.above = {s for s in self.above if s > self.floor}

    def missing(self, head: int, limit: int) -> List[int]:
        """
        @return: the newest C{limit} seqs up to C{head} this connection was
            not told of, oldest first.
        """
        found: List[int] = []
        seq = head
        while seq > self.floor and len(found) < limit:
            if seq not in self.above:
                found.append(seq)
            seq -= 1
        return found[::-1]


class CatchUp:
    """
    Tracks MNs per connection and re-sends the missed ones.

    @param getHead: C{getHead(uid)} returns an awaitable of the user's
        current message head (L{fxim.interfaces.IMessageStore.getHead}).
    @ivar maxPerConnection: most MNs one run sends to one connection.
    """

    def __init__(self, getHead: Callable[[str], Awaitable[int]],
                 maxPerConnection: int = 200) -> None:
        self._getHead = getHead
        self.maxPerConnection = maxPerConnection
        self._seqs: "weakref.WeakKeyDictionary[IConnection, NotifiedSeqs]" = weakref.WeakKeyDictionary()

    def connected(self, conn: IConnection, head: int) -> None:
        """
        C{conn} was accepted and told C{head} in its CONNECT_ACK.
        """
        seqs = NotifiedSeqs(head)
        earlier = self._seqs.get(conn)
        if earlier is not None:
            # MNs it got between being bound and this call.
            for seq in [earlier.floor, *earlier.above]:
                seqs.add(seq)
        self._seqs[conn] = seqs

    def notified(self, conn: IConnection, push: object) -> None:
        """
        C{push} was sent (or is known) to C{conn}; MNs are remembered.
        """
        if isinstance(push, MessageNotify):
            self.notifiedSeq(conn, push.head)

    def notifiedSeq(self, conn: IConnection, seq: int) -> None:
        seqs = self._seqs.get(conn)
        if seqs is None:
            # Connected before tracking started: nothing older is owed.
            self._seqs[conn] = NotifiedSeqs(seq)
        else:
            seqs.add(seq)

    async def run(self, conns: Iterable[IConnection]) -> int:
        """
        Send every connection in C{conns} the MNs it missed.

        @return: the number of MNs sent.
        """
        heads: Dict[str, int] = {}
        sent = 0
        for conn in list(conns):
            userId = getattr(conn, "userId", None)
            if userId is None:
                continue
            if userId not in heads:
                try:
                    heads[userId] = await self._getHead(userId)
                except Exception as e:
                    _log.warn("Catch-up: head of {uid} unavailable: {error}", uid=userId, error=e)
                    continue
            head = heads[userId]
            seqs = self._seqs.get(conn)
            if seqs is None:
                seqs = self._seqs[conn] = NotifiedSeqs(head - 1 if head else 0)
            missing = seqs.missing(head, self.maxPerConnection)
            for seq in missing:
                try:
                    conn.sendPush(MessageNotify(PULL_NORMAL, seq))
                except Exception:
                    _log.failure("Catch-up MN to {uid}/{cid}", uid=userId, cid=conn.cid)
                    break
                seqs.add(seq)
                sent += 1
        return sent
