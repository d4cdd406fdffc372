"""
End-to-end tests of webhooks and the before-send hook against real
C{twistd fxim} nodes, on the embedded default and on PostgreSQL + Redis,
with a real local HTTP server standing in for the webhook consumer:
signed events for logins, friends, messages, recalls, groups and
presence, in order per conversation through failures; the dead-letter
view; a SIGKILL while events and pushes are queued; and the before-send
hook's accept, reject, rewrite, drop, fail-open and fail-closed.
"""

import os
import signal
import tempfile

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fxim.client import RequestFailed
from fxim.errors import ErrorCode
from fxim.model import GroupInfo, GroupMember
from fxim.outbox.http import verifySignature
from fxim.test.e2e import NodeTestMixin, ProductionBackend, sleep, withTimeout
from fxim.test.mixin import TestCaseMixin
from fxim.test.httpreceiver import HttpReceiver
from fxim.test.e2e.test_push import text
from fxim.wire.requests import (
    AddFriend, CreateGroup, HandleFriendRequest, PullMessages, RecallMessage,
)

SECRET = b"webhook-test-secret"
ADMIN = "admin-test-secret"
FAST = ["--outbox-poll", "0.2", "--outbox-backoff", "0.1"]


def secretFiles() -> list:
    folder = tempfile.mkdtemp(prefix="fxim-webhook-")
    hookPath, adminPath = os.path.join(folder, "hook"), os.path.join(folder, "admin")
    with open(hookPath, "wb") as f:
        f.write(SECRET + b"\n")
    with open(adminPath, "w") as f:
        f.write(ADMIN)
    return ["--webhook-secret-file", hookPath, "--admin-secret-file", adminPath]


async def getJson(url: str, method: bytes = b"GET", secret: str = ADMIN):
    import json
    from twisted.web.client import Agent, readBody
    from twisted.web.http_headers import Headers
    response = await Agent(reactor).request(
        method, url.encode(), Headers({b"authorization": [f"Bearer {secret}".encode()]}))
    return response.code, json.loads(await readBody(response))


def events(receiver, name=None) -> list:
    """
    The distinct deliveries (by id, first copy), in arrival order.
    """
    seen, out = set(), []
    for r in receiver.requests:
        payload = r.json
        if payload["id"] in seen:
            continue
        seen.add(payload["id"])
        if name is None or payload["event"] == name:
            out.append(payload)
    return out


class WebhookContract(TestCaseMixin):

    def receiver(self, answer=None) -> HttpReceiver:
        r = HttpReceiver(answer or (lambda item: (200, {}))).start()
        self.addCleanup(r.stop)
        return r

    async def _events(self):
        calls = [0]

        def flaky(item):
            # Every third delivery fails: retries must keep the order.
            calls[0] += 1
            return (500, {}) if calls[0] % 3 == 0 else (200, {})
        hooks = self.receiver(flaky)
        node = await self.startNode(["--webhook-url", hooks.url] + secretFiles() + FAST)
        alice = await self.loginAndConnect(node, "13800000001", "tcp")
        bob = await self.loginAndConnect(node, "13800000002", "ws")
        a, b = alice.credentials.userId, bob.credentials.userId
        await alice.request(AddFriend(b, "hi"))
        await bob.request(HandleFriendRequest(a, 1))
        acks = []
        for i in range(6):
            acks.append(await alice.request(text(b, f"m{i}")))
        await alice.request(RecallMessage(acks[2].messageUid))
        await alice.request(CreateGroup(GroupInfo("", "team"), (GroupMember(b),)))
        bob.close()
        await bob.closed
        alice.disconnect(clearSession=True)
        await alice.closed

        async def complete():
            while not (events(hooks, "user.logout") and len(events(hooks, "user.offline")) >= 2
                       and events(hooks, "group.changed") and events(hooks, "message.recalled")):
                await sleep(0.1)
        await withTimeout(complete(), 30)
        for r in hooks.requests:
            self.assertTrue(verifySignature(SECRET, r.headers, r.body, reactor.seconds()))
            self.assertEqual(r.headers["x-fxim-event"], r.json["event"])
            self.assertEqual(r.headers["x-fxim-delivery"], r.json["id"])
        self.assertFalse(verifySignature(b"wrong", hooks.requests[0].headers,
                                         hooks.requests[0].body, reactor.seconds()))
        logins = events(hooks, "user.login")
        self.assertEqual(sorted(e["data"]["uid"] for e in logins), sorted([a, b]))
        [request] = events(hooks, "friend.request")
        self.assertEqual(request["data"], {"from": a, "to": b, "reason": "hi"})
        [accepted] = events(hooks, "friend.accepted")
        self.assertEqual(accepted["data"], {"from": a, "to": b})
        sent = [e["data"] for e in events(hooks, "message.sent")]
        # In order per conversation, each once, despite the failures.
        self.assertEqual([m["uid"] for m in sent], [ack.messageUid for ack in acks])
        self.assertEqual([m["content"]["searchableContent"] for m in sent],
                         [f"m{i}" for i in range(6)])
        self.assertEqual(sent[0]["from"], a)
        self.assertEqual(sent[0]["conversation"], {"type": 0, "target": b, "line": 0})
        [recalled] = events(hooks, "message.recalled")
        self.assertEqual((recalled["data"]["uid"], recalled["data"]["operator"]), (acks[2].messageUid, a))
        order = [e["event"] for e in events(hooks) if e["event"].startswith("message.")]
        self.assertEqual(order, ["message.sent"] * 6 + ["message.recalled"])
        [group] = events(hooks, "group.changed")
        self.assertEqual((group["data"]["operator"], group["data"]["content"]["type"]), (a, 104))
        self.assertEqual(sorted(e["data"]["uid"] for e in events(hooks, "user.online")),
                         sorted([a, b]))
        self.assertEqual(events(hooks, "user.logout")[0]["data"]["uid"], a)
        self.assertIn("retrying", node.log())

    def test_events(self):
        """
        Signed callbacks for login, friend request and acceptance, messages
        (in order, each once, through failed deliveries), recall, group
        creation, online/offline and logout.
        """
        return withTimeout(self._events(), 90)

    async def _deadLetters(self):
        up = [False]
        hooks = self.receiver(lambda item: (200, {}) if up[0] else (500, {}))
        node = await self.startNode(["--webhook-url", hooks.url, "--webhook-events", "message.sent",
                                     "--outbox-max-attempts", "2"] + secretFiles() + FAST)
        alice = await self.loginAndConnect(node, "13800000001", "tcp")
        ack = await alice.request(text(alice.credentials.userId, "to myself"))
        base = node.httpBase + "/admin/outbox"

        async def dead():
            while True:
                status, body = await getJson(base + "/dead?kind=webhook")
                if body["result"]:
                    return body["result"]
                await sleep(0.2)
        [letter] = await withTimeout(dead(), 20)
        self.assertEqual(letter["payload"]["data"]["uid"], ack.messageUid)
        self.assertEqual(letter["attempts"], 2)
        self.assertIn("HTTP 500", letter["lastError"])
        status, body = await getJson(base)
        self.assertEqual(body["result"]["webhook"], {"pending": 0, "dead": 1})
        self.assertEqual((await getJson(base, secret="wrong"))[0], 401)
        # The rest of the admin API still answers beside the new route.
        status, _ = await getJson(node.httpBase + f"/admin/users/{alice.credentials.userId}")
        self.assertEqual(status, 200)
        up[0] = True
        status, body = await getJson(base + f"/dead/{letter['id']}/retry", b"POST")
        self.assertEqual(status, 200, body)
        await hooks.waitFor(1)
        self.assertEqual(events(hooks)[0]["data"]["uid"], ack.messageUid)
        self.assertEqual((await getJson(base + "/dead/999999/retry", b"POST"))[0], 404)

    def test_deadLetters(self):
        """
        A webhook that keeps failing is dead-lettered after the configured
        attempts; C{GET /admin/outbox/dead} lists it, C{POST .../retry}
        delivers it.
        """
        return withTimeout(self._deadLetters(), 90)

    async def _killed(self):
        up = [False]
        hooks = self.receiver(lambda item: (200, {}) if up[0] else (503, {}))
        gateway = self.receiver(lambda item: (200, {"rejected": []}) if up[0] else (503, {}))
        args = (["--webhook-url", hooks.url, "--webhook-events", "message.sent",
                 "--push-gateway", gateway.url, "--push-collapse-window", "0",
                 "--outbox-max-attempts", "1000"] + secretFiles() + FAST)
        node = await self.startNode(args)
        alice, phone = await self.senderAndPhone(node)
        messageUids = [(await alice.request(text(phone.userId, f"m{i}"))).messageUid for i in range(8)]
        await sleep(1.0)
        await node.stop(signal.SIGKILL)
        self.assertEqual((hooks.requests, gateway.requests), ([], []))
        up[0] = True
        await self.startNode(args, dataDir=node.dataDir)
        await hooks.waitFor(8)
        await gateway.waitFor(8)
        await sleep(1.0)
        self.assertEqual([e["data"]["uid"] for e in events(hooks)], messageUids)
        self.assertEqual(sorted(int(r.json["notification"]["event_id"]) for r in gateway.requests),
                         messageUids)

    def test_killedNodeDeliversAfterRestart(self):
        """
        Webhooks and pushes queued when a node is killed with SIGKILL are all
        delivered after it restarts, webhooks in order.
        """
        return withTimeout(self._killed(), 90)

    async def _beforeSend(self):
        def decide(item):
            body = item.json["data"]["content"]["searchableContent"]
            if body == "reject me":
                return 200, {"action": "reject", "code": int(ErrorCode.SENSITIVE_MATCHED)}
            if body == "rewrite me":
                return 200, {"action": "rewrite", "content": {"searchableContent": "rewritten"}}
            if body == "drop me":
                return 200, {"action": "drop"}
            if body == "hang":
                return None, None
            if body == "break":
                return 500, {}
            return 200, {"action": "accept"}
        hook = self.receiver(decide)
        common = ["--before-send-url", hook.url, "--before-send-timeout", "0.5"] + secretFiles()
        node = await self.startNode(common)
        alice = await self.loginAndConnect(node, "13800000001", "tcp")
        bob = await self.loginAndConnect(node, "13800000002", "ws")
        b = bob.credentials.userId
        with self.assertRaises(RequestFailed) as caught:
            await alice.request(text(b, "reject me"))
        self.assertEqual(caught.exception.code, ErrorCode.SENSITIVE_MATCHED)
        await alice.request(text(b, "rewrite me"))
        await alice.request(text(b, "drop me"))
        await alice.request(text(b, "hang"))       # fail-open: accepted
        await alice.request(text(b, "break"))      # fail-open: accepted
        await alice.request(text(b, "fine"))
        result = await bob.request(PullMessages(0, 0))
        self.assertEqual([m.content.searchableContent for m in result.messages],
                         ["rewritten", "hang", "break", "fine"])
        signed = hook.requests[0]
        self.assertTrue(verifySignature(SECRET, signed.headers, signed.body, reactor.seconds()))
        self.assertEqual(signed.json["data"]["from"], alice.credentials.userId)
        self.assertIn("fail-open", node.log())

        closed = await self.startNode(common + ["--before-send-policy", "closed"])
        carol = await self.loginAndConnect(closed, "13800000003", "tcp")
        dave = await self.loginAndConnect(closed, "13800000004", "tcp")
        with self.assertRaises(RequestFailed) as caught:
            await carol.request(text(dave.credentials.userId, "hang"))
        self.assertEqual(caught.exception.code, ErrorCode.TIMEOUT)
        with self.assertRaises(RequestFailed) as caught:
            await carol.request(text(dave.credentials.userId, "break"))
        self.assertEqual(caught.exception.code, ErrorCode.SERVER_ERROR)
        await carol.request(text(dave.credentials.userId, "fine"))
        result = await dave.request(PullMessages(0, 0))
        self.assertEqual([m.content.searchableContent for m in result.messages], ["fine"])

    def test_beforeSend(self):
        """
        The before-send hook rejects (the sender sees its code), rewrites and
        drops; when it hangs or fails, fail-open accepts and fail-closed
        refuses with 249 or 4.
        """
        return withTimeout(self._beforeSend(), 90)


class EmbeddedWebhookTests(NodeTestMixin, WebhookContract, TestCase):
    """
    On the embedded default.
    """


class ProductionWebhookTests(ProductionBackend, WebhookContract, TestCase):
    """
    On PostgreSQL + Redis.
    """
