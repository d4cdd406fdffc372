# -*- test-case-name: fxim.test.test_e2e_webhooks -*-
"""
Builds a node's webhooks and before-send hook from its config and hooks
them into the node's services.
"""

from typing import Any, Callable, List

from twisted.logger import Logger

from fxim.outbox.store import openOutbox
from fxim.outbox.worker import OutboxWorker
from fxim.push.pushers import readSecret
from fxim.webhooks.beforesend import BeforeSendHook
from fxim.webhooks.service import KIND, WebhookService, parseEvents

_log = Logger()


async def installWebhooks(server: Any, config: Any, reactor: Any, closers: List[Callable]) -> None:
    """
    With C{--webhook-url}: C{server.webhooks} (a L{WebhookService}) and its
    ordered outbox worker.  With C{--before-send-url}: a before-send hook.
    """
    outbox = getattr(server, "outbox", None) or openOutbox(server.store)
    server.outbox = outbox
    if config.webhookUrl:
        hooks = WebhookService(reactor, outbox, config.webhookUrl,
                               readSecret(config.webhookSecretFile),
                               parseEvents(config.webhookEvents), config.pushTimeout)
        closers.append(hooks.close)
        hooks.worker = OutboxWorker(reactor, outbox, KIND, hooks.deliver, f"node-{config.nodeId}",
                                    ordered=True, pollInterval=config.outboxPoll,
                                    backoffBase=config.outboxBackoff,
                                    maxAttempts=config.outboxMaxAttempts)
        await hooks.worker.start()
        closers.append(hooks.worker.stop)
        server.webhooks = server.services["webhooks"] = hooks
        server.messages.afterStore.append(hooks.messageStored)
        server.messages.afterPublish.append(hooks.messagePublished)
        server.messages.afterRecall.append(hooks.messageRecalled)
        server.social.eventHooks.append(hooks.socialEvent)
        server.auth.loggedIn.append(hooks.loggedIn)
        server.auth.sessionEnded.append(hooks.sessionEnded)
        server.deviceHooks.append(hooks.deviceEvent)
        _log.info("webhooks on: {n} event type(s)", n=len(hooks.events))
    if config.beforeSendUrl:
        hook = BeforeSendHook(reactor, config.beforeSendUrl,
                              readSecret(config.webhookSecretFile),
                              config.beforeSendTimeout, config.beforeSendPolicy)
        closers.append(hook.close)
        server.messages.beforeSend.append(hook)
        _log.info("before-send hook on (fail-{policy})", policy=config.beforeSendPolicy)
