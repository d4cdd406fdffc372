# -*- test-case-name: fxim.test.unit.test_server_bind,fxim.test.unit.test_tcp -*-
"""
Sessions: which authenticated device is on which connection of this node.

L{SessionService} binds a connection to its (uid, cid) after CONNECT,
forgets it when it closes and closes devices on request (logout, block);
L{ConnectionState} is what the dispatcher keeps per connection meanwhile.
"""

import weakref
from typing import Any, Callable, Coroutine, Dict, Iterable, List, Optional, Tuple

import attr
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

_log = Logger()

#: C{async hook(event, uid, cid)}, event C{"online"} or C{"offline"}.
DeviceHook = Callable[[str, str, str], Coroutine[Any, Any, None]]


class TooManyDevices(Exception):
    """
    L{SessionService.bind} refused: the user already has the most devices
    online.
    """


class ConnectionGone(Exception):
    """
    L{SessionService.bind} gave up: the connection closed while it was
    being bound.
    """


@attr.s(auto_attribs=True)
class ConnectionState:
    """
    What the dispatcher keeps about one connection besides its (uid, cid).

    @ivar pendingConnect: fires once the CONNECT being verified is
        answered; requests arriving meanwhile wait for it.  L{None} when
        no CONNECT is in flight.
    @ivar bucket: the request-rate token bucket, C{(tokens, lastSeconds)},
        or L{None} before the first rated request.
    """

    pendingConnect: "Optional[Deferred[None]]" = None
    bucket: Optional[Tuple[float, float]] = None


class SessionService:
    """
    This node's bound connections and the directory entries naming them.

    @ivar stopping: set when the node shuts down: connections then close
        without unregistering one by one (the directory forgets the whole
        node at once).
    """

    def __init__(self, nodeId: str, store: Any, directory: Any, connections: Any, bus: Any,
                 *, settings: Any = None, outages: Any = None,
                 deviceHooks: Iterable[DeviceHook] = ()) -> None:
        """
        @param nodeId: this node's id as the directory and bus name it.
        @param store: the node's store (message and friend heads).
        @param directory: the L{fxim.interfaces.IDirectory}.
        @param connections: this node's L{fxim.bus.local.LocalConnections}.
        @param bus: the L{fxim.interfaces.IDeliveryBus}.
        @param settings: the L{fxim.services.settings.SettingService}, whose
            head CONNECT_ACK carries too, or L{None}.
        @param outages: the L{fxim.health.OutageLog}, or L{None}.
        @param deviceHooks: called when a device comes online or goes
            offline (push badges, webhooks).
        """
        self.nodeId = nodeId
        self.store = store
        self.directory = directory
        self.connections = connections
        self.bus = bus
        self.settings = settings
        self.outages = outages
        self.deviceHooks: List[DeviceHook] = list(deviceHooks)
        self.stopping = False
        # Connections whose connectionLost already ran: a bind still in
        # flight for one of them must not leave it registered.
        self._lost: "weakref.WeakSet[Any]" = weakref.WeakSet()

    async def heads(self, userId: str) -> Dict[str, int]:
        """
        The heads a CONNECT_ACK carries for C{uid}: its message seq head and
        its friend and friend-request update times (and its settings head).
        """
        msgHead = await self.store.getHead(userId)
        friendHead, friendRqHead = await self.store.getFriendHeads(userId)
        heads = dict(msgHead=msgHead, friendHead=friendHead, friendRqHead=friendRqHead)
        if self.settings is not None:
            heads["settingHead"] = await self.settings.head(userId)
        return heads

    async def bind(self, connection: Any, userId: str, cid: str,
                   maxDevices: Optional[int] = None) -> None:
        """
        Attach an authenticated device to C{connection}: any other
        connection of the same (uid, cid), on any node and transport, is
        closed, and the directory learns where the device is.

        @param maxDevices: if given, refuse when that many other devices of
            C{uid} are online (checked atomically with the registration).
        @raise TooManyDevices: refused by C{maxDevices}.
        @raise ConnectionGone: C{connection} closed, or was replaced by a
            newer connection of the device, meanwhile; it is left
            unregistered (the directory names the newer one, if any).
        """
        connection.userId, connection.cid = userId, cid
        await self.bus.kick(userId, cid, keep=connection)
        if connection in self._lost:
            raise ConnectionGone()
        self.connections.add(connection)
        refused = False
        try:
            if maxDevices is None:
                await self.directory.register(userId, cid, self.nodeId, connection.transportName)
            else:
                refused = not await self.directory.registerIfRoom(
                    userId, cid, self.nodeId, connection.transportName, maxDevices)
        finally:
            # Closed, or replaced by a newer connection of the device (which
            # kicked it out of self.connections), while registering.
            gone = connection in self._lost or not any(
                c is connection for c in self.connections.getAll(userId, cid))
            if refused or gone:
                self.connections.remove(connection)
            if gone and not refused:
                await self._repairEntry(userId, cid)
        if refused:
            raise TooManyDevices()
        if gone:
            raise ConnectionGone()
        await self.bus.presenceChanged(userId)
        _log.info("{peer}: {uid}/{cid} connected", peer=connection.peer, uid=userId, cid=cid)
        self._deviceEvent("online", userId, cid)

    def _deviceEvent(self, event: str, userId: str, cid: str) -> None:
        for hook in self.deviceHooks:
            d: "Deferred[None]" = ensureDeferred(hook(event, userId, cid))
            d.addErrback(lambda f: _log.failure("a device hook failed", f))

    async def _repairEntry(self, userId: str, cid: str) -> None:
        """
        A connection of (uid, cid) was lost or replaced while its
        registration was in flight, so its entry may have been written
        after the unregistration (or the newer connection's registration)
        it should have followed: write what is true now -- the newest
        connection of the device on this node, or nothing.
        """
        newer = self.connections.get(userId, cid)
        if newer is None:
            await self._unregister(userId, cid)
        else:
            await self.directory.register(userId, cid, self.nodeId, newer.transportName)

    async def _unregister(self, userId: str, cid: str) -> None:
        # perf-cache: announced like a CONNECT, so that every node's cached
        # device list of uid is dropped (not served for up to its TTL).
        await self.directory.unregister(userId, cid, self.nodeId)
        await self.bus.presenceChanged(userId)

    async def disconnectDevices(self, userId: str, cid: Optional[str] = None) -> None:
        """
        Close the connections of (uid, cid) -- of every device of C{uid}
        when C{cid} is None -- on whichever node holds them.
        """
        if cid is not None:
            await self.bus.kick(userId, cid)
            return
        for presence in await self.directory.devicesOf(userId):
            await self.bus.kick(userId, presence.cid)

    def connectionLost(self, connection: Any) -> None:
        """
        Forget a closed connection (called by the transports).
        """
        self._lost.add(connection)
        if connection.userId is None:
            return
        if self.connections.get(connection.userId, connection.cid) is connection:
            self.connections.remove(connection)
            if not self.stopping:
                # (Stopping forgets all of this node's devices at once, and
                # Redis may already be closed: no unregister per device.)
                d = ensureDeferred(self._unregister(connection.userId, connection.cid))
                d.addErrback(self._unregisterFailed)
            self._deviceEvent("offline", connection.userId, connection.cid)

    def disconnectAll(self) -> None:
        """
        Close every connection of this node (a clean stop): from now on
        closed connections are not unregistered one by one.
        """
        self.stopping = True
        for connection in list(self.connections):
            connection.disconnect()

    def _unregisterFailed(self, failure: Failure) -> None:
        from fxim.health import outageKind
        kind = outageKind(failure.value)
        if kind is not None and self.outages is not None:
            self.outages.failed(kind, failure.value, "unregister")
        else:
            _log.failure("unregister failed", failure)
