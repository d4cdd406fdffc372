# -*- test-case-name: fxim.test.unit.test_directory -*-
"""
The embedded directory: everything in this process.
"""

from typing import Dict, List, Optional

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from fxim.directory import Presence
from fxim.interfaces import IDirectory


@implementer(IDirectory)
class MemoryDirectory:
    """
    Presence kept in a dictionary.  Nodes are only names here: with a
    single process there is no node that could die on its own, so entries
    never expire.
    """

    def __init__(self) -> None:
        self._devices: Dict[str, Dict[str, Presence]] = {}

    def start(self) -> Deferred[None]:
        """
        Nothing to start.  @return: a fired L{Deferred}.
        """
        return succeed(None)

    def stop(self, forget: bool = False) -> Deferred[None]:
        """
        Nothing to stop.  @return: a fired L{Deferred}.
        """
        return succeed(None)

    def register(self, userId: str, cid: str, nodeId: str, transportName: str) -> Deferred[None]:
        self._devices.setdefault(userId, {})[cid] = Presence(
            userId, cid, nodeId, transportName)
        return succeed(None)

    def registerIfRoom(self, userId: str, cid: str, nodeId: str, transportName: str,
                       maxDevices: int) -> Deferred[bool]:
        # One process, no await between check and write: atomic.
        others = [c for c in self._devices.get(userId, {}) if c != cid]
        if len(others) >= maxDevices:
            return succeed(False)
        self._devices.setdefault(userId, {})[cid] = Presence(
            userId, cid, nodeId, transportName)
        return succeed(True)

    def unregister(self, userId: str, cid: str, nodeId: str) -> Deferred[bool]:
        devices = self._devices.get(userId, {})
        presence = devices.get(cid)
        if presence is None or presence.nodeId != nodeId:
            return succeed(False)
        del devices[cid]
        if not devices:
            del self._devices[userId]
        return succeed(True)

    def devicesOf(self, userId: str) -> Deferred[List[Presence]]:
        devices = self._devices.get(userId, {})
        return succeed([devices[cid] for cid in sorted(devices)])

    def lookup(self, userId: str, cid: str) -> Deferred[Optional[Presence]]:
        return succeed(self._devices.get(userId, {}).get(cid))
