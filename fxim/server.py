# -*- test-case-name: fxim.test.test_server_bind -*-
"""
L{Server}: the facade handlers (built-in and third-party) reach the node
through as C{context.server} -- stores, services, presence and delivery.
"""

import weakref
from typing import Any, Optional

from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger

_log = Logger()


class TooManyDevices(Exception):
    """
    L{Server.bind} refused: the user already has the most devices online.
    """


class ConnectionGone(Exception):
    """
    L{Server.bind} gave up: the connection closed while it was being bound.
    """


class Server:
    """
    One node's services.

    @ivar config: the L{fxim.config.Config}.
    @ivar reactor: the reactor (time, scheduling).
    @ivar store: the storage object (every store interface of
        L{fxim.interfaces}).
    @ivar directory: the L{fxim.interfaces.IDirectory}.
    @ivar connections: this node's L{fxim.bus.local.LocalConnections}.
    @ivar bus: the L{fxim.interfaces.IDeliveryBus}.
    @ivar auth: the L{fxim.services.auth.AuthService}.
    @ivar services: further domain services by name (messages, social,
        groups, media), also reachable as attributes.
    """

    def __init__(self, config: Any, reactor: Any, store: Any, directory: Any,
                 connections: Any, bus: Any, auth: Any, **services: Any) -> None:
        self.config = config
        self.reactor = reactor
        self.store = store
        self.directory = directory
        self.connections = connections
        self.bus = bus
        self.auth = auth
        self.services = services
        # Connections whose connectionLost already ran: a bind still in
        # flight for one of them must not leave it registered.
        self._lost: "weakref.WeakSet[Any]" = weakref.WeakSet()
        for name, service in services.items():
            setattr(self, name, service)
        # i14: push badges and online/offline webhooks.
        #: C{async f(event, uid, cid)}, event C{"online"} or C{"offline"}.
        self.deviceHooks: list = []

    @property
    def nodeId(self) -> str:
        """
        This node's id as the directory and bus name it (a string).
        """
        return str(self.config.nodeId)

    def now(self) -> int:
        """
        @return: the current time in milliseconds.
        """
        return int(self.reactor.seconds() * 1000)


    async def heads(self, uid: str) -> dict:
        """
        The heads a CONNECT_ACK carries for C{uid}: its message seq head and
        its friend and friend-request update times.
        """
        msgHead = await self.store.getHead(uid)
        friendHead, friendRqHead = await self.store.getFriendHeads(uid)
        heads = dict(msgHead=msgHead, friendHead=friendHead, friendRqHead=friendRqHead)
        # i13: settings sync
        settings = self.services.get("settings")
        if settings is not None:
            heads["settingHead"] = await settings.head(uid)
        return heads

    async def bind(self, connection: Any, uid: str, cid: str,
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
        connection.uid, connection.cid = uid, cid
        await self.bus.kick(uid, cid, keep=connection)
        if connection in self._lost:
            raise ConnectionGone()
        self.connections.add(connection)
        refused = False
        try:
            if maxDevices is None:
                await self.directory.register(uid, cid, self.nodeId, connection.transportName)
            else:
                refused = not await self.directory.registerIfRoom(
                    uid, cid, self.nodeId, connection.transportName, maxDevices)
        finally:
            # Closed, or replaced by a newer connection of the device (which
            # kicked it out of self.connections), while registering.
            gone = connection in self._lost or not any(
                c is connection for c in self.connections.getAll(uid, cid))
            if refused or gone:
                self.connections.remove(connection)
            if gone and not refused:
                await self._repairEntry(uid, cid)
        if refused:
            raise TooManyDevices()
        if gone:
            raise ConnectionGone()
        await self.bus.presenceChanged(uid)
        _log.info("{peer}: {uid}/{cid} connected", peer=connection.peer, uid=uid, cid=cid)
        self._deviceEvent("online", uid, cid)

    def _deviceEvent(self, event: str, uid: str, cid: str) -> None:
        for hook in self.deviceHooks:
            d = ensureDeferred(hook(event, uid, cid))
            d.addErrback(lambda f: _log.failure("a device hook failed", f))

    async def _repairEntry(self, uid: str, cid: str) -> None:
        """
        A connection of (uid, cid) was lost or replaced while its
        registration was in flight, so its entry may have been written
        after the unregistration (or the newer connection's registration)
        it should have followed: write what is true now -- the newest
        connection of the device on this node, or nothing.
        """
        newer = self.connections.get(uid, cid)
        if newer is None:
            await self.directory.unregister(uid, cid, self.nodeId)
        else:
            await self.directory.register(uid, cid, self.nodeId, newer.transportName)

    async def disconnectDevices(self, uid: str, cid: Any = None) -> None:
        """
        Close the connections of (uid, cid) -- of every device of C{uid}
        when C{cid} is None -- on whichever node holds them.
        """
        if cid is not None:
            await self.bus.kick(uid, cid)
            return
        for presence in await self.directory.devicesOf(uid):
            await self.bus.kick(uid, presence.cid)

    def connectionLost(self, connection: Any) -> None:
        """
        Forget a closed connection (called by the transports).
        """
        self._lost.add(connection)
        if connection.uid is None:
            return
        if self.connections.get(connection.uid, connection.cid) is connection:
            self.connections.remove(connection)
            if not self.stopping:
                # (Stopping forgets all of this node's devices at once, and
                # Redis may already be closed: no unregister per device.)
                d = ensureDeferred(self.directory.unregister(connection.uid, connection.cid,
                                                             self.nodeId))
                d.addErrback(self._unregisterFailed)
            self._deviceEvent("offline", connection.uid, connection.cid)

    #: Set when the node shuts down (see L{fxim.tap.FximService}).
    stopping = False
    #: The node's L{fxim.health.OutageLog} (set by L{fxim.build}).
    outages: Any = None

    def _unregisterFailed(self, failure: Any) -> None:
        from fxim.health import outageKind
        kind = outageKind(failure.value)
        if kind is not None and self.outages is not None:
            self.outages.failed(kind, failure.value, "unregister")
        else:
            _log.failure("unregister failed", failure)

