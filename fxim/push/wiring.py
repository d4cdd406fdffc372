# -*- test-case-name: fxim.test.e2e.test_push -*-
"""
Builds a node's push service from its config; L{fxim.node.buildNode} hooks
it into messages stored, devices connecting, sessions ending and C{/push}.
"""

from typing import Any, Callable, Optional

from twisted.logger import Logger

from fxim.outbox.worker import OutboxWorker
from fxim.push.pushers import findPusher
from fxim.push.service import KIND, PushService
from fxim.push.store import openPushStore
from fxim.session import DeviceHook

_log = Logger()


def pusherName(config: Any) -> Optional[str]:
    """
    @return: the configured pusher's name, or None (push off).
    """
    if config.pusher:
        return str(config.pusher)
    if config.pushGateway:
        return "matrix"
    if config.pushWebhook:
        return "webhook"
    return None


def buildPush(config: Any, reactor: Any, store: Any, directory: Any, outbox: Any,
              settings: Any) -> PushService:
    """
    The node's L{PushService}; with a pusher configured, with its pusher
    and outbox worker (which the node starts and stops).

    @param settings: the L{fxim.services.settings.SettingService}, whose
        synced settings (conversation / global silent) count too, or None.
    """
    pushStore = openPushStore(store)
    name = pusherName(config)
    preferences: Any = pushStore
    if settings is not None and hasattr(settings, "settings"):
        from fxim.push.settingsprefs import SettingsPreferences
        preferences = SettingsPreferences(settings.settings, pushStore)
    pusher = makeWorker = None
    if name is not None:
        pusher = findPusher(name).build(config, reactor)

        def makeWorker(deliver: Callable[[Any], Any]) -> OutboxWorker:
            return OutboxWorker(reactor, outbox, KIND, deliver, f"node-{config.nodeId}",
                                pollInterval=config.outboxPoll,
                                backoffBase=config.outboxBackoff,
                                maxAttempts=config.outboxMaxAttempts)
    push = PushService(reactor, pushStore, preferences, outbox, directory, store,
                       enabled=name is not None, preview=config.pushPreview,
                       collapseWindow=config.pushCollapseWindow, pusher=pusher,
                       makeWorker=makeWorker)
    if name is not None:
        _log.info("offline push on: pusher {name}, preview {preview}", name=name,
                  preview="on" if config.pushPreview else "off")
    return push


def deviceHook(push: PushService) -> DeviceHook:
    """
    @return: the session hook telling C{push} a device came online.
    """
    async def device(event: str, userId: str, cid: str) -> None:
        if event == "online":
            await push.deviceConnected(userId, cid)
    return device
