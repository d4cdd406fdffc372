# -*- test-case-name: fxim.test.unit.test_bus -*-
"""
Start and stop the Redis side of a test cluster node: one command
connection, the L{RedisDirectory} (with its heartbeat) and the L{RedisBus}
(with its subscriber connection), for the bus and catch-up tests.  A real
node builds the same objects in its composition root.
"""

from typing import Any

import attr
from twisted.internet.defer import inlineCallbacks

from fxim.bus.redis import RedisBus
from fxim.directory.redis import RedisDirectory
from fxim.redisconn import connectRedis


@attr.s(auto_attribs=True)
class RedisNode:
    """
    The Redis side of one node.

    @ivar redis: the txredisapi command connection.
    @ivar directory: the L{RedisDirectory}.
    @ivar bus: the L{RedisBus}.
    """

    redis: Any
    directory: RedisDirectory
    bus: RedisBus

    @inlineCallbacks
    def stop(self, forget: bool = True):
        """
        Stop the bus and the heartbeat and close the connections.

        @param forget: make this node's remaining directory entries vanish
            at once (a clean shutdown) instead of after the TTL.
        @return: L{Deferred}.
        """
        try:
            yield self.bus.stop()
            yield self.directory.stop(forget=forget)
        finally:
            yield self.redis.disconnect()


@inlineCallbacks
def startRedisNode(reactor, url, nodeId, local, pushes,
                   prefix="fxim:", ttl=15.0, heartbeatInterval=5.0,
                   poolSize=1):
    """
    Connect to Redis and start this node's directory and bus.

    @param local: this node's L{fxim.bus.local.LocalConnections}.
    @param pushes: see L{RedisBus}.
    @return: L{Deferred} firing with a L{RedisNode}.
    """
    redis = yield connectRedis(reactor, url, poolSize=poolSize)
    directory = RedisDirectory(reactor, redis, nodeId, prefix=prefix, ttl=ttl,
                               heartbeatInterval=heartbeatInterval)
    bus = RedisBus(reactor, nodeId, directory, local, pushes, redis, url,
                   prefix=prefix)
    try:
        yield directory.start()
        try:
            yield bus.start()
        except BaseException:
            yield directory.stop(forget=True)
            raise
    except BaseException:
        yield redis.disconnect()
        raise
    return RedisNode(redis, directory, bus)
