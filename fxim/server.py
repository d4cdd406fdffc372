# -*- test-case-name: fxim.test.test_server -*-
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
        @raise ConnectionGone: C{connection} closed meanwhile; it is left
            unregistered.
        """
        connection.uid, connection.cid = uid, cid
        await self.bus.kick(uid, cid, keep=connection)
        if connection in self._lost:
            raise ConnectionGone()
        self.connections.add(connection)
        try:
            if maxDevices is None:
                await self.directory.register(uid, cid, self.nodeId, connection.transportName)
            elif not await self.directory.registerIfRoom(
                    uid, cid, self.nodeId, connection.transportName, maxDevices):
                self.connections.remove(connection)
                raise TooManyDevices()
        finally:
            if connection in self._lost:
                await self._unbindLost(connection)
        await self.bus.presenceChanged(uid)
        _log.info("{peer}: {uid}/{cid} connected", peer=connection.peer, uid=uid, cid=cid)

    async def _unbindLost(self, connection: Any) -> None:
        """
        C{connection} was lost while its registration was in flight: its
        own C{connectionLost} may have unregistered before the entry was
        written, so remove the entry now unless a newer connection of the
        device on this node holds it.
        """
        uid, cid = connection.uid, connection.cid
        self.connections.remove(connection)
        if self.connections.get(uid, cid) is None:
            await self.directory.unregister(uid, cid, self.nodeId)
        raise ConnectionGone()

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
            d = ensureDeferred(self.directory.unregister(connection.uid, connection.cid, self.nodeId))
            d.addErrback(lambda f: _log.failure("unregister failed", f))

