# -*- test-case-name: fxim.test.e2e.test_webhooks -*-
"""
L{WebhookService}: turns node events into outbox jobs and delivers them
as signed POSTs, at least once, in order per conversation.

Each delivery carries C{{"id","event","timestamp","data"}}; C{id} is the
same on every retry, so a consumer drops duplicates by it.  Headers:
C{X-Fxim-Event}, C{X-Fxim-Delivery} (the id), C{X-Fxim-Timestamp} and
C{X-Fxim-Signature} (see L{fxim.outbox.http.signature}).
"""

import uuid
from typing import Any, Callable, FrozenSet, Iterable, Optional

from twisted.logger import Logger

from fxim.model import ConversationType, Message
from fxim.outbox.http import DeliveryError, JsonPoster, encodeJson, signedHeaders

_log = Logger()

#: The outbox kind of webhook jobs.
KIND = "webhook"

#: Every event a webhook may receive.
EVENTS = frozenset({
    "message.sent", "message.recalled", "friend.request", "friend.accepted",
    "friend.rejected", "group.changed", "user.login", "user.logout", "user.online",
    "user.offline",
})


def conversationOrderKey(conversation, sender: str) -> str:
    """
    The order key of a conversation: both sides of a private conversation
    share it.
    """
    if conversation.type == ConversationType.PRIVATE:
        a, b = sorted((sender, conversation.target))
        return f"0:{a}:{b}"
    return f"{int(conversation.type)}:{conversation.target}:{conversation.line}"


def messageJson(message: Message) -> dict:
    c = message.content
    return {
        "uid": message.messageUid, "from": message.fromUser, "timestamp": message.timestamp,
        "conversation": {"type": int(message.conversation.type),
                         "target": message.conversation.target,
                         "line": message.conversation.line},
        "content": {"type": int(c.type), "searchableContent": c.searchableContent,
                    "pushContent": c.pushContent, "content": c.content,
                    "mentionedType": c.mentionedType,
                    "mentionedTargets": list(c.mentionedTargets)},
    }


def parseEvents(text: Optional[str]) -> FrozenSet[str]:
    """
    @param text: comma-separated event names, C{"all"} or None (all).
    @raise ValueError: naming an unknown event.
    """
    if not text or text.strip() == "all":
        return EVENTS
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = names - EVENTS
    if unknown:
        raise ValueError(f"unknown webhook event(s): {', '.join(sorted(unknown))}"
                         f" (known: {', '.join(sorted(EVENTS))})")
    return names


class WebhookService:
    """
    @param clock: an C{IReactorTime}.
    @param outbox: the L{fxim.outbox.store.IOutbox}.
    @param url: where events are POSTed.
    @param secret: the HMAC key.
    """

    def __init__(self, clock: Any, outbox: Any, url: str, secret: bytes,
                 events: Iterable[str] = EVENTS, timeout: float = 10.0,
                 makeWorker: Optional[Callable[[Callable[[Any], Any]], Any]] = None) -> None:
        self.clock = clock
        self.outbox = outbox
        self.url = url
        self.secret = secret
        self.events = frozenset(events)
        self.http = JsonPoster(clock, timeout)
        #: The ordered outbox worker running L{deliver}, or None.
        self.worker: Any = None if makeWorker is None else makeWorker(self.deliver)

    def now(self) -> int:
        return int(self.clock.seconds() * 1000)

    async def emit(self, event: str, data: dict, orderKey: str) -> None:
        """
        Queue C{event} (durably) if it is subscribed.
        """
        if event not in self.events:
            return
        payload = {"id": uuid.uuid4().hex, "event": event, "timestamp": self.now(), "data": data}
        await self.outbox.enqueue(KIND, [(orderKey, payload)], self.now())
        if self.worker is not None:
            self.worker.kick()

    async def deliver(self, job) -> None:
        body = encodeJson(job.payload)
        headers = signedHeaders(self.secret, int(self.clock.seconds()), body,
                                job.payload.get("event", ""))
        headers["x-fxim-delivery"] = str(job.payload.get("id", job.id))
        status, _ = await self.http.post(self.url, body, headers)
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook answered HTTP {status}", status)

    def close(self):
        return self.http.close()

    # -- node hooks -----------------------------------------------------------

    async def messageStored(self, message: Message, receivers) -> None:
        if message.content.transparent:
            return
        await self.emit("message.sent", messageJson(message),
                        conversationOrderKey(message.conversation, message.fromUser))

    async def messagePublished(self, message: Message, receivers) -> None:
        if message.conversation.type == ConversationType.GROUP:
            data = messageJson(message)
            data["groupId"] = message.conversation.target
            data["operator"] = message.fromUser
            await self.emit("group.changed", data,
                            conversationOrderKey(message.conversation, message.fromUser))

    async def messageRecalled(self, message: Message, operator: str) -> None:
        await self.emit("message.recalled",
                        {"uid": message.messageUid, "operator": operator, "from": message.fromUser,
                         "conversation": messageJson(message)["conversation"]},
                        conversationOrderKey(message.conversation, message.fromUser))

    async def socialEvent(self, event: str, data: dict) -> None:
        a, b = sorted((data["from"], data["to"]))
        await self.emit(event, data, f"friend:{a}:{b}")

    async def deviceEvent(self, event: str, userId: str, cid: str) -> None:
        await self.emit("user." + event, {"uid": userId, "clientId": cid}, f"user:{userId}")

    async def loggedIn(self, userId: str, cid: str) -> None:
        await self.emit("user.login", {"uid": userId, "clientId": cid}, f"user:{userId}")

    async def sessionEnded(self, userId: str, cid: Optional[str]) -> None:
        await self.emit("user.logout", {"uid": userId, "clientId": cid}, f"user:{userId}")
