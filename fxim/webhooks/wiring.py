# -*- test-case-name: fxim.test.e2e.test_webhooks -*-
"""
Builds a node's webhooks and before-send hook from its config;
L{fxim.node.buildNode} hooks them into the node's services.
"""

from typing import Any, Callable, Optional, Tuple

from twisted.logger import Logger

from fxim.outbox.worker import OutboxWorker
from fxim.push.pushers import readSecret
from fxim.webhooks.beforesend import BeforeSendHook
from fxim.webhooks.service import KIND, WebhookService, parseEvents

_log = Logger()


def buildWebhooks(config: Any, reactor: Any, outbox: Any
                  ) -> Tuple[Optional[WebhookService], Optional[BeforeSendHook]]:
    """
    @return: with C{--webhook-url}, a L{WebhookService} with its ordered
        outbox worker (which the node starts and stops); with
        C{--before-send-url}, a before-send hook (each None otherwise).
    """
    hooks = None
    if config.webhookUrl:
        def makeWorker(deliver: Callable[[Any], Any]) -> OutboxWorker:
            return OutboxWorker(reactor, outbox, KIND, deliver, f"node-{config.nodeId}",
                                ordered=True, pollInterval=config.outboxPoll,
                                backoffBase=config.outboxBackoff,
                                maxAttempts=config.outboxMaxAttempts)
        hooks = WebhookService(reactor, outbox, config.webhookUrl,
                               readSecret(config.webhookSecretFile),
                               parseEvents(config.webhookEvents), config.pushTimeout,
                               makeWorker=makeWorker)
        _log.info("webhooks on: {n} event type(s)", n=len(hooks.events))
    hook = None
    if config.beforeSendUrl:
        hook = BeforeSendHook(reactor, config.beforeSendUrl,
                              readSecret(config.webhookSecretFile),
                              config.beforeSendTimeout, config.beforeSendPolicy)
        _log.info("before-send hook on (fail-{policy})", policy=config.beforeSendPolicy)
    return hooks, hook
