# -*- test-case-name: fxim.test.unit.test_bus -*-
"""
This node's live connections, and the embedded delivery bus.
"""

from typing import Dict, List, Tuple

from twisted.internet.defer import succeed
from twisted.logger import Logger
from zope.interface import implementer

from fxim import metrics
from fxim.interfaces import IDeliveryBus

_log = Logger()


class LocalConnections:
    """
    The live L{fxim.interfaces.IConnection}s of this node, by (uid, cid).

    Several connections of the same device may coexist for a moment (a
    reconnection before the old one is kicked); they are kept in the order
    they were added.
    """

    def __init__(self):
        self._byUser: Dict[str, Dict[str, List[object]]] = {}

    def add(self, conn):
        """
        Add C{conn}, whose C{uid} and C{cid} must be set.
        """
        conns = self._byUser.setdefault(conn.userId, {}).setdefault(conn.cid, [])
        if not any(c is conn for c in conns):
            conns.append(conn)

    def remove(self, conn):
        """
        Remove C{conn} if present.

        @return: C{True} if it was present.
        """
        devices = self._byUser.get(conn.userId, {})
        conns = devices.get(conn.cid, [])
        for i, c in enumerate(conns):
            if c is conn:
                del conns[i]
                if not conns:
                    del devices[conn.cid]
                    if not devices:
                        del self._byUser[conn.userId]
                return True
        return False

    def get(self, userId, cid):
        """
        @return: the newest connection of (uid, cid), or L{None}.
        """
        conns = self._byUser.get(userId, {}).get(cid)
        return conns[-1] if conns else None

    def getAll(self, userId, cid) -> List[object]:
        """
        @return: every connection of (uid, cid), oldest first.
        """
        return list(self._byUser.get(userId, {}).get(cid, ()))

    def byUser(self, userId) -> List[object]:
        """
        @return: every connection of C{uid}, ordered by cid.
        """
        devices = self._byUser.get(userId)
        if not devices:
            return []
        if len(devices) == 1:
            # The usual case, once per receiver of every message.
            for conns in devices.values():
                return list(conns)
        return [c for cid in sorted(devices) for c in devices[cid]]

    def receiving(self, userId, excludeCid=None) -> List[object]:
        """
        @return: every connection of C{uid} but those of C{excludeCid},
            ordered by cid.
        """
        devices = self._byUser.get(userId)
        if not devices:
            return []
        if len(devices) == 1:
            # The usual case, twice per 1:1 message: the receiver's one
            # device, and the sender's, which sent it (so none).
            for cid, conns in devices.items():
                return [] if cid == excludeCid else list(conns)
        return [c for cid in sorted(devices) if cid != excludeCid for c in devices[cid]]

    def __iter__(self):
        """
        Every connection.
        """
        return iter([c for devices in self._byUser.values()
                     for conns in devices.values() for c in conns])

    def __len__(self):
        return sum(len(conns) for devices in self._byUser.values()
                   for conns in devices.values())

    def devices(self) -> List[Tuple[str, str]]:
        """
        @return: the (uid, cid) pairs with a connection here.
        """
        return [(userId, cid) for userId, devices in self._byUser.items()
                for cid in devices]


def deliverLocally(local, userId, push, excludeCid=None):
    """
    C{sendPush(push)} on every connection of C{uid} in C{local} except
    those of C{excludeCid}.

    @return: the number of connections it was sent to.
    """
    count = 0
    for conn in local.receiving(userId, excludeCid):
        try:
            conn.sendPush(push)
        except Exception:
            _log.failure("Push to {uid}/{cid}", uid=userId, cid=conn.cid)
        else:
            count += 1
            metrics.PUSHES.labels(type(push).__name__).inc()
    return count


def kickLocally(local, userId, cid, keep=None):
    """
    Disconnect every connection of (uid, cid) in C{local} but C{keep}, and
    remove them from C{local} at once: nothing more is pushed to them, and
    their later C{connectionLost} finds them gone (so it must not
    unregister the device, which now belongs to the new connection).

    @return: the number of connections closed.
    """
    count = 0
    for conn in local.getAll(userId, cid):
        if conn is keep:
            continue
        local.remove(conn)
        try:
            conn.disconnect()
        except Exception:
            _log.failure("Kicking {uid}/{cid}", uid=userId, cid=cid)
        else:
            count += 1
    return count


@implementer(IDeliveryBus)
class LocalBus:
    """
    The embedded delivery bus: every connection is in this process.

    @ivar local: the L{LocalConnections}.
    """

    def __init__(self, local: LocalConnections):
        self.local = local

    def start(self):
        """
        Nothing to start.  @return: a fired L{Deferred}.
        """
        return succeed(None)

    def stop(self):
        """
        Nothing to stop.  @return: a fired L{Deferred}.
        """
        return succeed(None)

    def deliver(self, userId, push, excludeCid=None):
        return succeed(self.deliverNow(userId, push, excludeCid))

    def deliverNow(self, userId, push, excludeCid=None):
        """
        L{deliver}, synchronously (what the messaging service calls when
        a bus has it: one node needs no L{Deferred} per receiver).

        @return: the number of connections it was sent to.
        """
        return deliverLocally(self.local, userId, push, excludeCid)

    def presenceChanged(self, userId):
        """
        Nothing to tell: one node.  @return: a fired L{Deferred}.
        """
        return succeed(None)

    def kick(self, userId, cid, keep=None):
        kickLocally(self.local, userId, cid, keep)
        return succeed(None)
