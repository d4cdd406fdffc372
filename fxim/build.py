# -*- test-case-name: fxim.test.test_e2e_spine -*-
"""
Builds a node's objects from its L{fxim.config.Config}: storage, presence,
delivery, services and the HTTP site.  The embedded default keeps
everything in process; C{--database} and C{--redis} switch to PostgreSQL
and Redis.
"""

import os
from typing import Any, Callable, List, Tuple

from twisted.logger import Logger

from fxim.config import Config

_log = Logger()


async def buildServer(config: Config, reactor: Any) -> Tuple[Any, List[Callable], Any]:
    """
    @return: C{(server, closers, site)}: the L{fxim.server.Server}, the
        callables that release what was opened (in opening order), and the
        HTTP site to listen with.
    """
    from fxim.server import Server
    from fxim.services.auth import AuthService, loadAdminSecret, loadOrCreateKey
    from fxim.services.groups import GroupService
    from fxim.services.media import MediaService
    from fxim.services.messaging import MessagingService
    from fxim.services.social import SocialService
    from fxim.storage import openStore
    from fxim.storage.maintenance import startDedupPurge
    from fxim.transport.http import buildSite

    closers: List[Callable] = []
    store = await openStore(reactor, config.database, config.dataDir)
    closers.append(store.close)
    purge = startDedupPurge(reactor, store, keepMs=int(config.dedupTtl * 1000))
    closers.append(lambda: purge.stop() if purge.running else None)
    directory, connections, bus, redis = await _presence(config, reactor, closers)

    keyPath = config.hmacKeyFile or os.path.join(config.dataDir, "hmac.key")
    # i12: code senders per identity kind, e-mail logins, admin API
    from fxim.senders.select import buildCodeSenders
    from fxim.storage.adminstore import adminStoreFor
    adminStore = adminStoreFor(store)
    auth = AuthService(
        store, reactor, loadOrCreateKey(keyPath), buildCodeSenders(config, reactor),
        emails=adminStore,
        loginCode=config.loginCode, codeLength=config.codeLength,
        maxAttempts=config.loginMaxAttempts, tokenTtl=config.tokenTtl)
    messages = MessagingService(store, bus, reactor, config)
    services = dict(
        messages=messages,
        social=SocialService(store, bus, reactor, config, messages),
        groups=GroupService(store, bus, reactor, config, messages),
        media=MediaService(config, reactor),
    )
    # i13: newer clients (reports, settings)
    services.update(await _newerServices(config, reactor, store, bus, messages, closers))
    server = Server(config, reactor, store, directory, connections, bus, auth, **services)
    # i11: readiness and outage logging
    from fxim.health import OutageLog, Readiness, databaseCheck
    server.outages = OutageLog(reactor)
    server.readiness = Readiness(reactor, server.outages)
    server.readiness.add("database", databaseCheck(store))
    if redis is not None:
        server.readiness.add("redis", redis.ping)
    auth.onRevoked = server.disconnectDevices
    auth.maxSessionsPerUser = config.maxSessionsPerUser  # i10b: per-user caps
    from fxim.services.contactchange import ContactVerifier  # i10b: proven contact changes
    services["social"].contactVerifier = ContactVerifier(auth)
    if hasattr(bus, "catchUp"):  # i10b: MN catch-up after a Redis outage
        from fxim.bus.catchup import CatchUp
        bus.catchUp = CatchUp(store.getHead)
    adminSecret = loadAdminSecret(config.adminSecretFile) if config.adminSecretFile else None
    # i14: push, webhooks, moderation, cluster-wide limits
    from fxim.push.wiring import installPush
    children = dict(_httpChildren(server, adminSecret))
    children.update(await installPush(server, config, reactor, closers))
    from fxim.webhooks.wiring import installWebhooks
    await installWebhooks(server, config, reactor, closers)
    from fxim.moderation.wiring import installModeration
    await installModeration(server, config, reactor, closers)
    site = buildSite(auth, extraChildren=children)
    from fxim.admin.build import installAdmin
    installAdmin(server, adminStore, site, adminSecret, config, reactor, closers)
    # i14: outbox and moderation admin routes beside i12's, then the limits.
    from fxim.outbox.admin import OutboxAdmin, mountAdmin
    mountAdmin(site, "outbox", OutboxAdmin(adminSecret, server.outbox, reactor))
    from fxim.moderation.admin import ModerationAdmin
    mountAdmin(site, "moderation", ModerationAdmin(adminSecret, server.moderation))
    from fxim.limits.wiring import installLimits
    await installLimits(server, config, reactor, closers, site)
    # i10a: HTTP read deadlines.
    site.setReadLimits(config.httpHeaderTimeout, config.httpBodyTimeout, config.httpBodyMinRate)
    # i15: the web chat at / (and /config.json)
    from fxim.web import installWeb
    installWeb(site, config)
    return server, closers, site


async def _presence(config: Config, reactor: Any, closers: List[Callable]):
    from fxim.bus.local import LocalBus, LocalConnections
    connections = LocalConnections()
    if not config.redis:
        from fxim.directory.memory import MemoryDirectory
        directory = MemoryDirectory()
        return directory, connections, LocalBus(connections), None
    from fxim.bus.redis import RedisBus
    from fxim.directory.redis import RedisDirectory
    from fxim.redisconn import connectRedis
    from fxim.protocol.neutral import NeutralPushes
    from fxim.protocol.registry import BUILTIN
    redis = await connectRedis(reactor, config.redis, poolSize=8)
    closers.append(redis.disconnect)
    directory = RedisDirectory(reactor, redis, str(config.nodeId), prefix=config.redisPrefix,
                               deviceCache=1.0)
    await directory.start()
    # A clean stop forgets this node's devices at once (no TTL wait).
    closers.append(lambda: directory.stop(forget=True))
    bus = RedisBus(reactor, str(config.nodeId), directory, connections, NeutralPushes(BUILTIN),
                   redis, config.redis, prefix=config.redisPrefix)
    await bus.start()
    closers.append(bus.stop)
    return directory, connections, bus, redis


async def _newerServices(config: Config, reactor: Any, store: Any, bus: Any, messages: Any,
                   closers: List[Callable]) -> dict:
    """
    The services of the newer clients' subsignals (i13).
    """
    from fxim.services.receipts import ReportService
    from fxim.services.settings import SettingService
    from fxim.storage.receipts import reportStoreFor
    from fxim.storage.settings import settingStoreFor
    from fxim.agents.service import AgentService, buildAgent
    agents = AgentService(
        {uid: buildAgent(reactor, url, config.agentConnectTimeout) for uid, url in config.agents},
        messages, store, bus, reactor, maxConcurrent=config.agentConcurrency,
        perUser=config.agentUserConcurrency, readTimeout=config.agentReadTimeout)
    if agents.agents:
        await agents.start()
        messages.onStored.append(agents.onStored)
    # Stopped before the store closes (closers run in reverse).
    closers.append(agents.stop)
    return dict(
        receipts=ReportService(reportStoreFor(store), store, bus, reactor),
        settings=SettingService(settingStoreFor(store), bus, reactor),
        agents=agents,
    )


def _httpChildren(server, adminSecret=None) -> dict:
    from fxim.health import ReadyResource
    from fxim.metrics import ProtectedMetricsResource, parseAllowList, watchConnections
    children = dict(server.media.resources())
    # i11: readiness and metrics
    children[b"ready"] = ReadyResource(server.readiness)
    watchConnections(server.connections)
    children[b"metrics"] = ProtectedMetricsResource(
        parseAllowList(server.config.metricsAllow or ""), adminSecret)
    return children
