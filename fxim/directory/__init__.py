# -*- test-case-name: fxim.test.unit.test_directory -*-
"""
Presence: which devices of a user are connected, on which node.

Implementations of L{fxim.interfaces.IDirectory}:
L{fxim.directory.memory.MemoryDirectory} (embedded, one process) and
L{fxim.directory.redis.RedisDirectory} (shared by the nodes of a cluster).
"""

import attr


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Presence:
    """
    One connected device.

    @ivar userId: the user id.
    @ivar cid: the device's clientIdentifier.
    @ivar nodeId: the id of the node holding its connection.
    @ivar transportName: C{'tcp'} or C{'ws'}.
    """

    userId: str
    cid: str
    nodeId: str
    transportName: str
