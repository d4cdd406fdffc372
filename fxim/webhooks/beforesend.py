# -*- test-case-name: fxim.test.e2e.test_webhooks -*-
"""
L{BeforeSendHook}: asks an HTTP endpoint about every message before it is
stored (a L{fxim.services.messaging.MessagingService.beforeSend} hook).

The request is a signed POST (as webhooks) of
C{{"event":"message.before_send","timestamp","data":{"from","clientId",
"conversation","content"}}}; the answer is one of::

    {"action": "accept"}
    {"action": "reject", "code": 247}        # the ErrorCode the sender gets (FORBIDDEN_SEND_MSG)
    {"action": "rewrite", "content": {"searchableContent": "...", ...}}
    {"action": "drop"}                       # acked, never stored

No answer within the timeout, a non-2xx status or an unreadable answer
follows the policy: C{open} accepts the message (and logs), C{closed}
refuses it with C{TIMEOUT} or C{SERVER_ERROR}.
"""

import json
from typing import Any

import attr
from twisted.logger import Logger

from fxim.errors import ErrorCode, SignalError
from fxim.model import Message
from fxim.outbox.http import DeliveryError, JsonPoster, TimedOut, encodeJson, signedHeaders
from fxim.webhooks.service import messageJson

_log = Logger()

#: Content fields a rewrite may set.
REWRITABLE = {"searchableContent": str, "pushContent": str, "content": str,
              "mentionedType": int}


class BeforeSendHook:
    """
    @param policy: C{"open"} or C{"closed"}.
    """

    def __init__(self, reactor: Any, url: str, secret: bytes, timeout: float = 2.0,
                 policy: str = "open") -> None:
        if policy not in ("open", "closed"):
            raise ValueError("the before-send policy is open or closed")
        self.reactor = reactor
        self.url = url
        self.secret = secret
        self.policy = policy
        self.http = JsonPoster(reactor, timeout)

    async def __call__(self, userId: str, cid: str, message: Message):
        data = messageJson(message)
        data.update({"from": userId, "clientId": cid})
        del data["uid"], data["timestamp"]
        body = encodeJson({"event": "message.before_send",
                           "timestamp": int(self.reactor.seconds() * 1000), "data": data})
        headers = signedHeaders(self.secret, int(self.reactor.seconds()), body,
                                "message.before_send")
        try:
            status, answer = await self.http.post(self.url, body, headers)
            if not 200 <= status < 300:
                raise DeliveryError(f"HTTP {status}", status)
            decision = json.loads(answer.decode("utf-8"))
            if not isinstance(decision, dict):
                raise ValueError("the answer is not a JSON object")
        except (DeliveryError, ValueError, UnicodeDecodeError, RecursionError) as e:
            timedOut = isinstance(e, TimedOut)
            if self.policy == "open":
                _log.warn("before-send hook failed ({error}): accepting (fail-open)", error=e)
                return message
            _log.warn("before-send hook failed ({error}): refusing (fail-closed)", error=e)
            raise SignalError(ErrorCode.TIMEOUT if timedOut else ErrorCode.SERVER_ERROR,
                              "before-send hook unavailable")
        return self._apply(decision, message)

    def _apply(self, decision: dict, message: Message):
        action = decision.get("action", "accept")
        if action == "accept":
            return message
        if action == "drop":
            return None
        if action == "reject":
            code = decision.get("code", ErrorCode.FORBIDDEN_SEND_MSG)
            try:
                code = ErrorCode(code)
            except (ValueError, TypeError):
                code = ErrorCode.FORBIDDEN_SEND_MSG
            if code == ErrorCode.SUCCESS:
                code = ErrorCode.FORBIDDEN_SEND_MSG
            raise SignalError(code, "refused by the before-send hook")
        if action == "rewrite":
            changes = {}
            content = decision.get("content")
            if isinstance(content, dict):
                for name, kind in REWRITABLE.items():
                    if isinstance(content.get(name), kind) and not isinstance(content.get(name), bool):
                        changes[name] = content[name]
            return attr.evolve(message, content=attr.evolve(message.content, **changes))
        _log.warn("before-send hook answered an unknown action {action!r}: accepting",
                  action=action)
        return message

    def close(self):
        return self.http.close()
