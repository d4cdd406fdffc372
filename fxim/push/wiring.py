# -*- test-case-name: fxim.test.test_e2e_push -*-
"""
Builds a node's push service from its config and hooks it into the
node: messages stored, devices connecting, sessions ending, C{/push}.
"""

from typing import Any, Callable, List

from twisted.logger import Logger

from fxim.outbox.store import openOutbox
from fxim.outbox.worker import OutboxWorker
from fxim.push.pushers import findPusher
from fxim.push.resource import pushResource
from fxim.push.service import KIND, PushService
from fxim.push.store import openPushStore

_log = Logger()


def pusherName(config) -> Any:
    """
    @return: the configured pusher's name, or None (push off).
    """
    if config.pusher:
        return config.pusher
    if config.pushGateway:
        return "matrix"
    if config.pushWebhook:
        return "webhook"
    return None


async def installPush(server: Any, config: Any, reactor: Any, closers: List[Callable]) -> dict:
    """
    Create C{server.push} (a L{PushService}) and, with a pusher configured,
    start its outbox worker.

    @return: the HTTP children to mount (C{{"push": resource}}).
    """
    pushStore = openPushStore(server.store)
    outbox = getattr(server, "outbox", None) or openOutbox(server.store)
    server.outbox = outbox
    name = pusherName(config)
    preferences: Any = pushStore
    settings = getattr(server, "settings", None)
    if settings is not None and hasattr(settings, "settings"):
        # The clients' synced settings (conversation / global silent) count too.
        from fxim.push.settingsprefs import SettingsPreferences
        preferences = SettingsPreferences(settings.settings, pushStore)
    push = PushService(reactor, pushStore, preferences, outbox, server.directory, server.store,
                       enabled=name is not None, preview=config.pushPreview,
                       collapseWindow=config.pushCollapseWindow)
    server.push = server.services["push"] = push
    if name is not None:
        push.pusher = findPusher(name).build(config, reactor)
        closers.append(push.pusher.close)
        push.worker = OutboxWorker(reactor, outbox, KIND, push.deliver, f"node-{config.nodeId}",
                                   pollInterval=config.outboxPoll,
                                   backoffBase=config.outboxBackoff,
                                   maxAttempts=config.outboxMaxAttempts)
        await push.worker.start()
        closers.append(push.worker.stop)
        _log.info("offline push on: pusher {name}, preview {preview}", name=name,
                  preview="on" if config.pushPreview else "off")
    server.messages.afterReach.append(push.messageStored)
    server.auth.sessionEnded.append(push.unregister)

    async def device(event, uid, cid):
        if event == "online":
            await push.deviceConnected(uid, cid)
    server.deviceHooks.append(device)
    return {"push": pushResource(server.auth, push)}
