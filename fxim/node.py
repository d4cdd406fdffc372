# -*- test-case-name: fxim.test.e2e.test_spine,fxim.test.unit.test_tap -*-
"""
The composition root: L{Node}, one node's services as typed attributes;
L{buildNode}, which builds every object of a node from its
L{fxim.config.Config} in one place; and the services that open what it
needs (L{StoreService}, L{RedisService}, L{PresenceService}) and run it
(L{NodeService}), which L{fxim.tap.FximService} starts in that order
(docs/architecture.md, "Composition").

Handlers reach the node as C{context.node}.  The embedded default keeps
everything in process; C{--database} and C{--redis} switch to PostgreSQL
and Redis.
"""

import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import attr
from twisted.application.service import IService
from twisted.internet.task import deferLater
from twisted.logger import Logger

from fxim.agents.service import AgentService, buildAgent
from fxim.bus.catchup import CatchUp
from fxim.bus.local import LocalBus, LocalConnections
from fxim.config import Config
from fxim.health import OutageLog, Readiness, databaseCheck
from fxim.lifecycle import OrderedService, Running
from fxim.limits.service import Limits
from fxim.moderation.service import ModerationService
from fxim.push.service import PushService
from fxim.services.auth import AuthService
from fxim.services.groups import GroupService
from fxim.services.media import MediaService
from fxim.services.messaging import MessagingService
from fxim.services.receipts import ReportService
from fxim.services.settings import SettingService
from fxim.services.social import SocialService
from fxim.session import SessionService
from fxim.webhooks.service import WebhookService

if TYPE_CHECKING:
    from fxim.dispatch import Dispatcher, HandlerRegistry
    from fxim.protocol.registry import CommandRegistry

_log = Logger()


@attr.s(auto_attribs=True, kw_only=True)
class Node:
    """
    One node's services.  Built by L{buildNode}; tests build smaller ones
    (the optional services then stay L{None}).

    @ivar config: the L{fxim.config.Config}.
    @ivar reactor: the reactor (time, scheduling).
    @ivar store: the storage object (every store interface of
        L{fxim.interfaces}).
    @ivar directory: the L{fxim.interfaces.IDirectory}.
    @ivar connections: this node's L{LocalConnections}.
    @ivar bus: the L{fxim.interfaces.IDeliveryBus}.
    @ivar sessions: binds authenticated devices to connections.
    @ivar auth: logins, sessions and CONNECT verification.
    @ivar messages: storing and delivering messages.
    @ivar catchUp: MN catch-up after a Redis outage (Redis mode only).
    @ivar webhooks: event callbacks (with C{--webhook-url} only).
    """

    config: Config
    reactor: Any
    store: Any
    directory: Any
    connections: LocalConnections
    bus: Any
    sessions: SessionService
    auth: AuthService
    messages: MessagingService
    social: Optional[SocialService] = None
    groups: Optional[GroupService] = None
    media: Optional[MediaService] = None
    receipts: Optional[ReportService] = None
    settings: Optional[SettingService] = None
    agents: Optional[AgentService] = None
    push: Optional[PushService] = None
    outbox: Any = None
    webhooks: Optional[WebhookService] = None
    moderation: Optional[ModerationService] = None
    limits: Optional[Limits] = None
    outages: Optional[OutageLog] = None
    readiness: Optional[Readiness] = None
    catchUp: Optional[CatchUp] = None

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


@attr.s(auto_attribs=True, frozen=True)
class Presence:
    """
    Where devices are and how pushes reach them: in process, or over
    Redis (L{PresenceService}).
    """

    directory: Any
    connections: LocalConnections
    bus: Any
    redis: Any = None
    catchUp: Optional[CatchUp] = None


class StoreService(Running):
    """
    Opens (and migrates) the node's database when it starts, closes it
    when it stops.

    @ivar store: the open store, else None.
    """

    def __init__(self, config: Config, reactor: Any) -> None:
        Running.__init__(self, "store", self._open, self._close)
        self.config, self.reactor = config, reactor
        self.store: Any = None

    async def _open(self) -> None:
        from fxim.storage import openStore
        from fxim.storage.permissions import makeDataDir
        config = self.config
        makeDataDir(config.dataDir)  # i10b: 0700
        os.makedirs(config.dataDir, mode=0o700, exist_ok=True)
        self.store = await openStore(self.reactor, config.database, config.dataDir)

    def _close(self) -> Any:
        store, self.store = self.store, None
        return None if store is None else store.close()


class RedisService(Running):
    """
    A pool of connections to Redis, connected when it starts.

    @ivar redis: the txredisapi connection handler once connected.
    """

    def __init__(self, name: str, reactor: Any, url: str, poolSize: int) -> None:
        Running.__init__(self, name, self._connect, self._disconnect)
        self.reactor, self.url, self.poolSize = reactor, url, poolSize
        self.redis: Any = None

    async def _connect(self) -> None:
        from fxim.redisconn import connectRedis
        self.redis = await connectRedis(self.reactor, self.url, poolSize=self.poolSize)

    def _disconnect(self) -> Any:
        redis, self.redis = self.redis, None
        return None if redis is None else redis.disconnect()


class PresenceService(Running):
    """
    The directory and the delivery bus: in process without C{--redis};
    else over the connection of C{redis}, with MN catch-up over the store
    of C{store} (both started before this one).

    @ivar presence: the L{Presence} once started.
    """

    def __init__(self, config: Config, reactor: Any, store: StoreService,
                 redis: Optional[RedisService], commands: "CommandRegistry") -> None:
        """
        @param commands: the node's commands (built-in and plugins'), whose
            push types the Redis bus carries between nodes.
        """
        Running.__init__(self, "presence", self._open, self._close)
        self.config, self.reactor, self.commands = config, reactor, commands
        self._store, self._redis = store, redis
        self.presence: Optional[Presence] = None

    async def _open(self) -> None:
        config, reactor = self.config, self.reactor
        connections = LocalConnections()
        if self._redis is None:
            from fxim.directory.memory import MemoryDirectory
            self.presence = Presence(MemoryDirectory(), connections, LocalBus(connections))
            return
        from fxim.bus.redis import RedisBus
        from fxim.directory.redis import RedisDirectory
        from fxim.protocol.neutral import NeutralPushes
        redis = self._redis.redis
        directory = RedisDirectory(reactor, redis, str(config.nodeId), prefix=config.redisPrefix,
                                   deviceCache=5.0)
        await directory.start()
        # i10b: MN catch-up after a Redis outage
        catchUp = CatchUp(self._store.store.getHead)
        bus = RedisBus(reactor, str(config.nodeId), directory, connections,
                       NeutralPushes(self.commands),
                       redis, self._redis.url, prefix=config.redisPrefix, catchUp=catchUp)
        self.presence = Presence(directory, connections, bus, redis, catchUp)
        await bus.start()

    async def _close(self) -> None:
        presence, self.presence = self.presence, None
        if presence is None or presence.redis is None:
            return
        try:
            await presence.bus.stop()
        finally:
            # A clean stop forgets this node's devices at once (no TTL wait).
            await presence.directory.stop(forget=True)


class NodeService(OrderedService):
    """
    Builds the L{Node} once the store and presence are up, then starts its
    timed services (purges, outbox workers, agents) as children.  Stopping
    lets requests in flight finish, closes every connection, then stops
    the children in reverse.

    @ivar node: the L{Node} once built.
    @ivar dispatcher: the L{fxim.dispatch.Dispatcher} of both transports.
    @ivar factories: the listening factories by port name (C{tcp}, C{ws},
        C{http}).
    """

    def __init__(self, config: Config, reactor: Any, registry: "HandlerRegistry",
                 store: StoreService, presence: PresenceService,
                 limitsRedis: Optional[RedisService]) -> None:
        OrderedService.__init__(self)
        self.setName("node")
        self.config, self.reactor, self.registry = config, reactor, registry
        self._store, self._presence, self._limitsRedis = store, presence, limitsRedis
        self.node: Optional[Node] = None
        self.dispatcher: "Optional[Dispatcher]" = None
        self.factories: Dict[str, Any] = {}

    async def _startChildren(self) -> None:
        from fxim.dispatch import Dispatcher
        from fxim.transport.tcp import FrameFactory
        from fxim.transport.websocket import EnvelopeFactory
        from fxim.web import attachWebSocket
        from fxim.wire import sanitize
        config, reactor = self.config, self.reactor
        assert self._presence.presence is not None
        node, services, site = buildNode(
            config, reactor, self._store.store, self._presence.presence,
            None if self._limitsRedis is None else self._limitsRedis.redis)
        for service in services:
            service.setServiceParent(self)
        self.node = node
        self.dispatcher = dispatcher = Dispatcher(self.registry, node, reactor,
                                                  config.requestRate, config.requestBurst)
        tcpFactory = FrameFactory(dispatcher, reactor, config.maxFrameSize, config.tcpIdle,
                                  onLost=node.sessions.connectionLost,
                                  preAuthMaxLength=config.preAuthMaxFrame,
                                  connectTimeout=config.connectTimeout)
        wsFactory = EnvelopeFactory(dispatcher, reactor, config.maxWsPayload, config.wsIdle,
                                    onLost=node.sessions.connectionLost,
                                    preAuthPayload=config.preAuthMaxFrame,
                                    connectTimeout=config.connectTimeout)
        # i15: the HTTP port accepts the same WebSocket protocol on /ws.
        attachWebSocket(site, wsFactory)
        self.factories = {"tcp": tcpFactory, "ws": wsFactory, "http": site}
        # i10a: id lists in TCP requests are capped while parsing.
        sanitize.requestItemCap = config.maxRequestIds
        await OrderedService._startChildren(self)

    async def _stopChildren(self) -> None:
        dispatcher = self.dispatcher
        if dispatcher is not None and dispatcher.inflight:
            # Requests already received (a send being stored) finish and
            # get their reply before the connections close.
            _log.info("fxim stopping: waiting for {n} requests in flight", n=dispatcher.inflight)
            await dispatcher.whenIdle()
            # whenIdle fires inside the last handler's callback chain; let
            # the chain write its reply before the connections close.
            await deferLater(self.reactor, 0, lambda: None)
        if self.node is not None:
            self.node.sessions.disconnectAll()
        await OrderedService._stopChildren(self)


def buildNode(config: Config, reactor: Any, store: Any, presence: Presence,
              limitsRedis: Any = None) -> Tuple[Node, List[IService], Any]:
    """
    Build every service of a node over an open store and presence, in
    dependency order (so that no object is patched after construction).

    @param limitsRedis: the Redis connection of the cluster-wide limits
        (None: counted in memory).
    @return: C{(node, services, site)}: the L{Node}; its timed services
        (workers, purges, HTTP clients to close), to start in this order
        and stop in reverse; and the HTTP site to listen with.
    """
    from fxim.admin.build import installAdmin
    from fxim.limits.wiring import buildLimits, limitRoutes
    from fxim.moderation.admin import ModerationAdmin
    from fxim.moderation.wiring import buildModeration
    from fxim.outbox.admin import OutboxAdmin, mountAdmin
    from fxim.outbox.store import openOutbox
    from fxim.push.resource import pushResource
    from fxim.push.wiring import buildPush, deviceHook
    from fxim.senders.select import buildCodeSenders
    from fxim.services.auth import loadAdminSecret, loadOrCreateKey
    from fxim.services.contactchange import ContactVerifier
    from fxim.storage.adminstore import adminStoreFor
    from fxim.storage.maintenance import startDedupPurge
    from fxim.storage.receipts import reportStoreFor
    from fxim.storage.settings import settingStoreFor
    from fxim.transport.http import buildSite
    from fxim.web import installWeb
    from fxim.webhooks.wiring import buildWebhooks

    directory, connections, bus = presence.directory, presence.connections, presence.bus
    # perf-cache: send-check cache (before adminStoreFor: its admin store is watched too)
    if config.sendCheckCache > 0:
        from fxim.services.sendchecks import SendCheckCache, announceTo, watchStore
        announceTo(watchStore(store, SendCheckCache(
            reactor, config.sendCheckCache, config.sendCheckTtl)), bus)

    purges: List[Any] = []

    def startPurge() -> None:
        purges.append(startDedupPurge(reactor, store, keepMs=int(config.dedupTtl * 1000)))

    def stopPurge() -> None:
        while purges:
            call = purges.pop()
            if call.running:
                call.stop()
    services: List[IService] = [Running("dedup-purge", startPurge, stopPurge)]
    outages = OutageLog(reactor)
    readiness = Readiness(reactor, outages)
    readiness.add("database", databaseCheck(store))
    if presence.redis is not None:
        readiness.add("redis", presence.redis.ping)
        bus.outages = outages

    settings = SettingService(settingStoreFor(store), bus, reactor)
    outbox = openOutbox(store)
    moderation = buildModeration(config, reactor, store)
    # i14: push, webhooks, cluster-wide limits
    push = buildPush(config, reactor, store, directory, outbox, settings)
    webhooks, beforeSendHook = buildWebhooks(config, reactor, outbox)
    limits = buildLimits(config, reactor, limitsRedis)
    deviceHooks = [deviceHook(push)] + ([webhooks.deviceEvent] if webhooks else [])
    sessions = SessionService(str(config.nodeId), store, directory, connections, bus,
                              settings=settings, outages=outages, deviceHooks=deviceHooks)

    keyPath = config.hmacKeyFile or os.path.join(config.dataDir, "hmac.key")
    adminStore = adminStoreFor(store)
    auth = AuthService(
        store, reactor, loadOrCreateKey(keyPath), buildCodeSenders(config, reactor),
        emails=adminStore,
        loginCode=config.loginCode, codeLength=config.codeLength,
        maxAttempts=config.loginMaxAttempts, tokenTtl=config.tokenTtl,
        maxSessionsPerUser=config.maxSessionsPerUser,
        onRevoked=sessions.disconnectDevices)
    messages = MessagingService(store, bus, reactor, config)
    nameFilter = moderation.filterName if config.wordListFile else None
    social = SocialService(store, bus, reactor, config, messages,
                           contactVerifier=ContactVerifier(auth), nameFilter=nameFilter)
    groups = GroupService(store, bus, reactor, config, messages, nameFilter=nameFilter)

    # Message hooks, in the order they run: the per-user send limit is
    # counted first, before any filter or hook spends work on a message;
    # the word filter runs before an external before-send hook.
    if config.userSendLimit:
        messages.beforeSend.append(limits.beforeSend)
    if config.wordListFile:
        messages.beforeSend.append(moderation.beforeSend)
    if beforeSendHook is not None:
        messages.beforeSend.append(beforeSendHook)
    if push.enabled:  # fixed at start: no pusher, no hook on every message
        messages.afterReach.append(push.messageStored)
    auth.sessionEnded.append(push.unregister)
    if webhooks is not None:
        messages.afterStore.append(webhooks.messageStored)
        messages.afterPublish.append(webhooks.messagePublished)
        messages.afterRecall.append(webhooks.messageRecalled)
        social.eventHooks.append(webhooks.socialEvent)
        auth.loggedIn.append(webhooks.loggedIn)
        auth.sessionEnded.append(webhooks.sessionEnded)

    # i13: agents answer messages (which need agents to tell them).
    agents = AgentService(
        {userId: buildAgent(reactor, url, config.agentConnectTimeout) for userId, url in config.agents},
        messages, store, bus, reactor, maxConcurrent=config.agentConcurrency,
        perUser=config.agentUserConcurrency, readTimeout=config.agentReadTimeout)
    if agents.agents:
        messages.onStored.append(agents.onStored)
    services.append(Running("agents", agents.start if agents.agents else None, agents.stop))
    if push.pusher is not None:
        services.append(Running("pusher", None, push.pusher.close))
    if push.worker is not None:
        services.append(Running("push-worker", push.worker.start, push.worker.stop))
    if webhooks is not None:
        services.append(Running("webhooks", None, webhooks.close))
        services.append(Running("webhook-worker", webhooks.worker.start, webhooks.worker.stop))
    if beforeSendHook is not None:
        services.append(Running("before-send", None, beforeSendHook.close))

    node = Node(
        config=config, reactor=reactor, store=store, directory=directory,
        connections=connections, bus=bus, sessions=sessions, auth=auth, messages=messages,
        social=social, groups=groups, media=MediaService(config, reactor),
        receipts=ReportService(reportStoreFor(store), store, bus, reactor),
        settings=settings, agents=agents, push=push, outbox=outbox, webhooks=webhooks,
        moderation=moderation, limits=limits, outages=outages, readiness=readiness,
        catchUp=presence.catchUp)

    adminSecret = loadAdminSecret(config.adminSecretFile) if config.adminSecretFile else None
    children = _httpChildren(node, adminSecret)
    children["push"] = pushResource(auth, push)
    site = buildSite(auth, extraChildren=children)
    admin = installAdmin(node, adminStore, site, adminSecret, config)
    if admin.retention is not None:
        services.append(Running("retention", admin.retention.start, admin.retention.stop))
    # i14: outbox and moderation admin routes beside i12's, then the limits.
    mountAdmin(site, "outbox", OutboxAdmin(adminSecret, outbox, reactor))
    mountAdmin(site, "moderation", ModerationAdmin(adminSecret, moderation))
    limitRoutes(site, limits)
    # i10a: HTTP read deadlines.
    site.setReadLimits(config.httpHeaderTimeout, config.httpBodyTimeout, config.httpBodyMinRate)
    # i15: the web chat at / (and /config.json)
    installWeb(site, config)
    return node, services, site


def _httpChildren(node: Node, adminSecret: Optional[str] = None) -> dict:
    from fxim.health import ReadyResource
    from fxim.metrics import ProtectedMetricsResource, parseAllowList, watchConnections
    assert node.media is not None and node.readiness is not None
    children = dict(node.media.resources())
    # i11: readiness and metrics
    children[b"ready"] = ReadyResource(node.readiness)
    watchConnections(node.connections)
    children[b"metrics"] = ProtectedMetricsResource(
        parseAllowList(node.config.metricsAllow or ""), adminSecret)
    return children
