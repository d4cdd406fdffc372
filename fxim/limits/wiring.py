# -*- test-case-name: fxim.test.test_e2e_limits -*-
"""
Builds a node's limits: counters in Redis with C{--redis} (shared by the
cluster), in memory otherwise; wraps C{/send_code} and C{/login}; adds the
per-user send limit to message sending.
"""

from typing import Any, Callable, List

from twisted.logger import Logger

from fxim.limits.clientip import parseNetworks
from fxim.limits.counters import MemoryCounters, RedisCounters
from fxim.limits.service import LimitedResource, Limits

_log = Logger()


async def installLimits(server: Any, config: Any, reactor: Any, closers: List[Callable],
                        site: Any) -> Limits:
    if config.redis:
        from fxim.redisconn import connectRedis
        redis = await connectRedis(reactor, config.redis, poolSize=2)
        closers.append(redis.disconnect)
        counters: Any = RedisCounters(reactor, redis, config.redisPrefix)
    else:
        counters = MemoryCounters(reactor)
    limits = Limits(counters, window=config.limitWindow,
                    sendCodePerIp=config.sendCodeIpLimit,
                    sendCodePerAccount=config.sendCodeAccountLimit,
                    loginPerIp=config.loginIpLimit, loginPerAccount=config.loginAccountLimit,
                    sendPerUser=config.userSendLimit, sendWindow=config.userSendWindow,
                    trusted=parseNetworks(config.trustedProxies or ""))
    server.limits = server.services["limits"] = limits
    root = site.resource
    for route in ("send_code", "login"):
        name = route.encode("ascii")
        root.putChild(name, LimitedResource(root.children[name], limits, route))
    if config.userSendLimit:
        # Counted first, before any filter or hook spends work on the message.
        server.messages.beforeSend.insert(0, limits.beforeSend)
    return limits
