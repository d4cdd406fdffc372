# -*- test-case-name: fxim.test.unit.test_bus -*-
"""
Delivery of pushes to connected devices (L{fxim.interfaces.IDeliveryBus}):
L{fxim.bus.local.LocalBus} in one process,
L{fxim.bus.redis.RedisBus} across the nodes of a cluster.
"""
