# -*- test-case-name: fxim.test.e2e.test_limits -*-
"""
Builds a node's limits: counters in Redis with C{--redis} (shared by the
cluster), in memory otherwise; L{limitRoutes} wraps C{/send_code} and
C{/login}.
"""

from typing import Any

from fxim.limits.clientip import parseNetworks
from fxim.limits.counters import MemoryCounters, RedisCounters
from fxim.limits.service import LimitedResource, Limits


def buildLimits(config: Any, reactor: Any, redis: Any = None) -> Limits:
    """
    The node's L{Limits}.

    @param redis: the Redis connection of the cluster-wide counters, or
        None to count in memory.
    """
    if redis is not None:
        counters: Any = RedisCounters(reactor, redis, config.redisPrefix)
    else:
        counters = MemoryCounters(reactor)
    return Limits(counters, window=config.limitWindow,
                  sendCodePerIp=config.sendCodeIpLimit,
                  sendCodePerAccount=config.sendCodeAccountLimit,
                  loginPerIp=config.loginIpLimit, loginPerAccount=config.loginAccountLimit,
                  sendPerUser=config.userSendLimit, sendWindow=config.userSendWindow,
                  trusted=parseNetworks(config.trustedProxies or ""))


def limitRoutes(site: Any, limits: Limits) -> None:
    """
    Count C{/send_code} and C{/login} of C{site} against C{limits}.
    """
    root = site.resource
    for route in ("send_code", "login"):
        name = route.encode("ascii")
        root.putChild(name, LimitedResource(root.children[name], limits, route))
