# -*- test-case-name: fxim.test.test_server -*-
"""
L{Server}: the facade handlers (built-in and third-party) reach the node
through as C{context.server} -- stores, services, presence and delivery.
"""

from typing import Any

from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger

_log = Logger()


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

    async def bind(self, connection: Any, uid: str, cid: str) -> None:
        """
        Attach an authenticated device to C{connection}: any other
        connection of the same (uid, cid), on any node and transport, is
        closed, and the directory learns where the device is.
        """
        connection.uid, connection.cid = uid, cid
        await self.bus.kick(uid, cid, keep=connection)
        self.connections.add(connection)
        await self.directory.register(uid, cid, self.nodeId, connection.transportName)
        await self.bus.presenceChanged(uid)
        _log.info("{peer}: {uid}/{cid} connected", peer=connection.peer, uid=uid, cid=cid)
        self._deviceEvent("online", uid, cid)

    def _deviceEvent(self, event: str, uid: str, cid: str) -> None:
        for hook in self.deviceHooks:
            d = ensureDeferred(hook(event, uid, cid))
            d.addErrback(lambda f: _log.failure("a device hook failed", f))

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
        if connection.uid is None:
            return
        if self.connections.get(connection.uid, connection.cid) is connection:
            self.connections.remove(connection)
            d = ensureDeferred(self.directory.unregister(connection.uid, connection.cid, self.nodeId))
            d.addErrback(lambda f: _log.failure("unregister failed", f))
            self._deviceEvent("offline", connection.uid, connection.cid)

