# -*- test-case-name: fxim.test.unit.test_push -*-
"""
Pushers: what turns a queued push job into a notification on a phone.

L{IPusher} is the plugin interface; L{IPusherFactory} plugins (found with
C{getPlugins} in C{twisted.plugins}) build one from the node's config,
chosen with C{--pusher NAME}.  Built in: C{matrix} (L{MatrixGatewayPusher},
a client of the Matrix push gateway API, e.g. Sygnal for APNs/FCM/WebPush)
and C{webhook} (L{WebhookPusher}, signed JSON to any URL).
"""

import json
from typing import Any, List

from twisted.plugin import IPlugin
from zope.interface import Attribute, Interface, implementer

from fxim.outbox.http import DeliveryError, JsonPoster, encodeJson, signedHeaders
from fxim.outbox.worker import Permanent


class IPusher(Interface):
    """
    Delivers one push (the job payload; see docs/push.md for its fields).
    """

    def push(notification):
        """
        @return: L{Deferred} (or coroutine) firing with the list of push
            tokens the far side rejected (their targets are dropped);
            failing means "retry later" (L{fxim.outbox.worker.Permanent}:
            never).
        """

    def close():
        """
        Release connections.
        """


class IPusherFactory(IPlugin):
    """
    A pusher plugin.
    """

    name = Attribute("The C{--pusher} name.")

    def build(config, reactor):
        """
        @return: an L{IPusher}, or raise C{ValueError} naming what the
            config lacks.
        """


def gatewayNotification(n: dict) -> dict:
    """
    The body of C{POST /_matrix/push/v1/notify} for one push job.
    """
    conv = n["conversation"]
    notification = {
        "event_id": str(n["messageUid"]),
        "room_id": f"{conv['type']}:{conv['target']}:{conv.get('line', 0)}",
        "type": "m.room.message",
        "sender": n["sender"],
        "sender_display_name": n.get("senderName", ""),
        "prio": "high" if n.get("priority") == "high" else "low",
        "counts": {"unread": int(n.get("badge", 0))},
        "devices": [{"app_id": n.get("appId", ""), "pushkey": n["pushToken"],
                     "pushkey_ts": int(n.get("registeredAt", 0)) // 1000,
                     "data": {"platform": n.get("platform", "")}}],
    }
    if n.get("conversationName"):
        notification["room_name"] = n["conversationName"]
    if n.get("preview") is not None:
        notification["content"] = {"msgtype": "m.text", "body": n["preview"]}
    if n.get("collapsed", 1) > 1:
        notification["content"] = dict(notification.get("content", {}),
                                       collapsed=int(n["collapsed"]))
    return {"notification": notification}


@implementer(IPusher)
class MatrixGatewayPusher:
    """
    Pushes through a Matrix push gateway.

    @param url: the gateway's base URL (C{http://sygnal:5000}) or the full
        notify URL.
    """

    PATH = "/_matrix/push/v1/notify"

    def __init__(self, reactor: Any, url: str, timeout: float = 10.0) -> None:
        url = url.rstrip("/")
        self.url = url if url.endswith(self.PATH) else url + self.PATH
        self.http = JsonPoster(reactor, timeout)

    async def push(self, notification: dict) -> List[str]:
        status, data = await self.http.post(self.url, encodeJson(gatewayNotification(notification)))
        if 400 <= status < 500 and status != 429:
            raise Permanent(f"push gateway refused the notification: HTTP {status}")
        if status != 200:
            raise DeliveryError(f"push gateway answered HTTP {status}", status)
        try:
            rejected = json.loads(data.decode("utf-8")).get("rejected", [])
        except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
            raise DeliveryError("push gateway answered malformed JSON") from None
        return [str(r) for r in rejected] if isinstance(rejected, list) else []

    def close(self):
        return self.http.close()


@implementer(IPusher)
class WebhookPusher:
    """
    POSTs each push job as signed JSON (see docs/push.md); a 2xx answer
    delivers it, C{{"rejected": [tokens]}} in it drops those targets.
    """

    def __init__(self, reactor: Any, url: str, secret: bytes, timeout: float = 10.0) -> None:
        self.reactor = reactor
        self.url = url
        self.secret = secret
        self.http = JsonPoster(reactor, timeout)

    async def push(self, notification: dict) -> List[str]:
        body = encodeJson(notification)
        headers = signedHeaders(self.secret, int(self.reactor.seconds()), body, "push")
        status, data = await self.http.post(self.url, body, headers)
        if not 200 <= status < 300:
            raise DeliveryError(f"push webhook answered HTTP {status}", status)
        try:
            rejected = json.loads(data.decode("utf-8")).get("rejected", []) if data.strip() else []
        except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
            rejected = []
        return [str(r) for r in rejected] if isinstance(rejected, list) else []

    def close(self):
        return self.http.close()


@implementer(IPusherFactory)
class MatrixPusherFactory:
    """
    Plugin C{matrix}: L{MatrixGatewayPusher} to C{--push-gateway}.
    """

    name = "matrix"

    def build(self, config, reactor):
        if not config.pushGateway:
            raise ValueError("--pusher matrix needs --push-gateway URL")
        return MatrixGatewayPusher(reactor, config.pushGateway, config.pushTimeout)


@implementer(IPusherFactory)
class WebhookPusherFactory:
    """
    Plugin C{webhook}: L{WebhookPusher} to C{--push-webhook}.
    """

    name = "webhook"

    def build(self, config, reactor):
        if not config.pushWebhook:
            raise ValueError("--pusher webhook needs --push-webhook URL")
        return WebhookPusher(reactor, config.pushWebhook, readSecret(config.pushWebhookSecretFile),
                             config.pushTimeout)


def readSecret(path) -> bytes:
    """
    @return: the stripped contents of a secret file (empty: no file).
    @raise ValueError: if the file cannot be read or is empty.
    """
    if not path:
        return b""
    try:
        with open(path, "rb") as f:
            secret = f.read().strip()
    except OSError as e:
        raise ValueError(f"cannot read the secret file {path}: {e.strerror}") from None
    if not secret:
        raise ValueError(f"the secret file {path} is empty")
    return secret


def findPusher(name: str):
    """
    @return: the L{IPusherFactory} plugin called C{name}.
    @raise ValueError: if there is none.
    """
    from twisted.plugin import getPlugins
    import twisted.plugins
    found = {p.name: p for p in getPlugins(IPusherFactory, twisted.plugins)}
    for builtin in (MatrixPusherFactory(), WebhookPusherFactory()):
        found.setdefault(builtin.name, builtin)
    if name not in found:
        raise ValueError(f"no pusher plugin named {name!r} (known: {', '.join(sorted(found))})")
    return found[name]
