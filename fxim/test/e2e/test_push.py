"""
End-to-end tests of offline push against real C{twistd fxim} nodes, on the
embedded default and on PostgreSQL + Redis, with a real local HTTP server
standing in for a Matrix push gateway (Sygnal): registration on TCP, on
WebSocket and over HTTP; one push per message per offline device; mute,
mentions, transparent messages; rejected tokens; logout; and a node killed
with SIGKILL while pushes are queued.
"""

import signal

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fxim.client import login, registerPluginSubsignal
from fxim.client.http import postJson
from fxim.model import Conversation, Message, MessageContent
from fxim.push.handlers import PUSHREG, PUSHUNREG
from fxim.test.e2e import LOGIN_CODE, NodeTestMixin, ProductionBackend, sleep, withTimeout
from fxim.test.mixin import TestCaseMixin
from fxim.test.httpreceiver import HttpReceiver
from fxim.wire.requests import JsonRequest, SendMessage

registerPluginSubsignal("PUSHREG", PUSHREG)
registerPluginSubsignal("PUSHUNREG", PUSHUNREG)

#: Fast settings so the tests do not wait long.
FAST = ["--push-collapse-window", "0.2", "--outbox-poll", "0.2", "--outbox-backoff", "0.2"]


def text(target: str, body: str, **content) -> SendMessage:
    return SendMessage(Message(Conversation(0, target, 0), "",
                               MessageContent(type=1, searchableContent=body, **content)))


def notification(received) -> dict:
    return received.json["notification"]


def pushkeys(requests) -> list:
    return sorted(notification(r)["devices"][0]["pushkey"] for r in requests)


async def closeAndWait(*conns) -> None:
    for conn in conns:
        conn.close()
    for conn in conns:
        await conn.closed
    # The directory forgets the devices; Redis mode caches device lists 1 s.
    await sleep(1.5)


class PushContract(TestCaseMixin):
    """
    Offline push, on either backend.
    """

    def gateway(self, answer=None) -> HttpReceiver:
        receiver = HttpReceiver(answer).start()
        self.addCleanup(receiver.stop)
        return receiver

    async def _offlineDevices(self):
        gateway = self.gateway()
        node = await self.startNode(["--push-gateway", gateway.url] + FAST)
        alice = await self.loginAndConnect(node, "13800000001", "tcp")
        bobTcp = await self.loginAndConnect(node, "13800000002", "tcp", clientId="bob-tcp")
        bobWs = await self.loginAndConnect(node, "13800000002", "ws", clientId="bob-ws")
        answer = await bobTcp.request(JsonRequest(
            {"platform": "android", "pushToken": "tok-tcp", "appId": "im.fxim.android"}),
            subsignal=PUSHREG)
        self.assertEqual(answer, {"platform": "android", "appId": "im.fxim.android"})
        await bobWs.request(JsonRequest(
            {"platform": "web", "pushToken": "tok-ws", "appId": "im.fxim.web"}), subsignal=PUSHREG)
        bob = bobTcp.credentials
        # Online devices get no push.
        await alice.request(text(bob.userId, "while online"))
        await sleep(1.0)
        self.assertEqual(gateway.requests, [])
        await closeAndWait(bobTcp, bobWs)

        # One push per message per offline device.
        ack = await alice.request(text(bob.userId, "hello bob"))
        await gateway.waitFor(2)
        await sleep(1.0)
        self.assertEqual(len(gateway.requests), 2)
        self.assertEqual(pushkeys(gateway.requests), ["tok-tcp", "tok-ws"])
        for r in gateway.requests:
            self.assertEqual(r.path, "/_matrix/push/v1/notify")
            n = notification(r)
            self.assertEqual(n["event_id"], str(ack.messageUid))
            self.assertEqual(n["sender"], alice.credentials.userId)
            self.assertEqual(n["sender_display_name"], "13800000001")
            self.assertEqual(n["content"]["body"], "hello bob")
            self.assertEqual(n["counts"], {"unread": 1})
            self.assertEqual(n["room_id"], f"0:{alice.credentials.userId}:0")
            self.assertEqual(n["prio"], "low")

        # A typing indicator (transparent) never pushes.
        await alice.request(SendMessage(Message(Conversation(0, bob.userId, 0), "",
                                                MessageContent(type=91))))
        # Mute the conversation over HTTP: no push...
        answer = await postJson(reactor, node.httpBase + "/push/preferences", {
            "token": bob.token, "clientId": "bob-tcp",
            "conversation": {"type": 0, "target": alice.credentials.userId}, "muted": True})
        self.assertEqual(answer["code"], 0, answer)
        await alice.request(text(bob.userId, "muted"))
        await sleep(1.5)
        self.assertEqual(len(gateway.requests), 2)
        # ... but a mention still does, once per device.
        ack = await alice.request(text(bob.userId, "@bob look", mentionedType=1,
                                       mentionedTargets=(bob.userId,)))
        await gateway.waitFor(4)
        await sleep(1.0)
        self.assertEqual(len(gateway.requests), 4)
        self.assertEqual(pushkeys(gateway.requests[2:]), ["tok-tcp", "tok-ws"])
        for r in gateway.requests[2:]:
            self.assertEqual(notification(r)["event_id"], str(ack.messageUid))
            self.assertEqual(notification(r)["counts"], {"unread": 2})
        # A call invitation is high priority (and passes the mute).
        await alice.request(SendMessage(Message(Conversation(0, bob.userId, 0), "",
                                                MessageContent(type=400, pushContent="call"))))
        await gateway.waitFor(6)
        self.assertEqual({notification(r)["prio"] for r in gateway.requests[4:]}, {"high"})

    def test_offlineDevices(self):
        """
        An offline TCP device and an offline WS device each get exactly one
        push per message; none while online, none for a typing message, none
        in a muted conversation, one for a mention there.
        """
        return withTimeout(self._offlineDevices(), 90)

    async def _httpRegistration(self):
        rejectTokens = set()

        def answer(item):
            key = item.json["notification"]["devices"][0]["pushkey"]
            return 200, {"rejected": [key] if key in rejectTokens else []}
        gateway = self.gateway(answer)
        node = await self.startNode(["--push-gateway", gateway.url] + FAST)
        alice = await self.loginAndConnect(node, "13800000001", "tcp")
        phone = await login(reactor, node.httpBase, "13800000002", LOGIN_CODE, "bob-phone")
        url = node.httpBase + "/push/register"
        # Malformed registrations are refused with a clear message.
        bad = await postJson(reactor, url, {"token": phone.token, "clientId": "bob-phone"})
        self.assertEqual((bad["code"], bad["message"]), (1, "pushToken must be a non-empty string"))
        bad = await postJson(reactor, url, {"token": "garbage", "pushToken": "x"})
        self.assertEqual(bad["code"], 1)
        bad = await postJson(reactor, url, {"token": phone.token, "clientId": "other",
                                            "pushToken": "x"})
        self.assertEqual(bad["code"], 8)
        ok = await postJson(reactor, url, {"token": phone.token, "clientId": "bob-phone",
                                           "platform": "ios", "pushToken": "tok-phone",
                                           "appId": "im.fxim.ios"})
        self.assertEqual(ok["code"], 0, ok)
        self.assertEqual(ok["result"], {"userId": phone.userId, "clientId": "bob-phone",
                                        "platform": "ios"})
        # Re-registering replaces the target.
        ok = await postJson(reactor, url, {"token": phone.token, "clientId": "bob-phone",
                                           "platform": "ios", "pushToken": "tok-phone2",
                                           "appId": "im.fxim.ios"})
        self.assertEqual(ok["code"], 0, ok)
        await alice.request(text(phone.userId, "one"))
        await gateway.waitFor(1)
        self.assertEqual(pushkeys(gateway.requests), ["tok-phone2"])
        self.assertEqual(notification(gateway.requests[0])["devices"][0]["app_id"], "im.fxim.ios")

        # The gateway rejects the token: the target is dropped.
        rejectTokens.add("tok-phone2")
        await alice.request(text(phone.userId, "two"))
        await gateway.waitFor(2)
        await alice.request(text(phone.userId, "three"))
        await sleep(1.5)
        self.assertEqual(len(gateway.requests), 2)

        # A logged-out device's target is dropped and its token refused.
        tablet = await self.loginAndConnect(node, "13800000002", "ws", clientId="bob-tablet")
        await tablet.request(JsonRequest({"platform": "android", "pushToken": "tok-tablet"}),
                             subsignal=PUSHREG)
        tablet.disconnect(clearSession=True)
        await tablet.closed
        await sleep(1.5)
        await alice.request(text(phone.userId, "four"))
        await sleep(1.5)
        self.assertEqual(len(gateway.requests), 2)
        refused = await postJson(reactor, url, {"token": tablet.credentials.token,
                                                "pushToken": "tok-tablet"})
        self.assertEqual(refused["code"], 8)

    def test_httpRegistration(self):
        """
        C{POST /push/register} registers a device by its login token (a
        device that never connected gets pushes); re-registering replaces the
        target; a token the gateway rejects is dropped; logout drops the
        target and the old token is refused.
        """
        return withTimeout(self._httpRegistration(), 90)

    async def _killed(self):
        up = [False]
        gateway = self.gateway(lambda item: (200, {"rejected": []}) if up[0] else (503, {}))
        args = ["--push-gateway", gateway.url, "--push-collapse-window", "0",
                "--outbox-poll", "0.2", "--outbox-backoff", "0.2", "--outbox-max-attempts", "1000"]
        node = await self.startNode(args)
        alice, phone = await self.senderAndPhone(node)
        messageUids = []
        for i in range(5):
            messageUids.append((await alice.request(text(phone.userId, f"queued {i}"))).messageUid)
        await sleep(1.0)  # the gateway answers 503: every push stays queued
        self.assertEqual(gateway.requests, [])
        self.assertIn("retrying", node.log())
        await node.stop(signal.SIGKILL)
        up[0] = True
        await self.startNode(args, dataDir=node.dataDir)
        await gateway.waitFor(5)
        await sleep(1.0)
        self.assertEqual(sorted(int(notification(r)["event_id"]) for r in gateway.requests),
                         sorted(messageUids))

    def test_killedNodeDeliversAfterRestart(self):
        """
        Pushes queued when a node is killed with SIGKILL are all delivered
        after it restarts (the gateway was down before).
        """
        return withTimeout(self._killed(), 90)


    async def _settings(self):
        from fxim.wire.extensions import PutSetting
        gateway = self.gateway()
        node = await self.startNode(["--push-gateway", gateway.url] + FAST)
        alice = await self.loginAndConnect(node, "13800000001", "tcp")
        bob = await self.loginAndConnect(node, "13800000002", "tcp", clientId="bob-phone")
        await bob.request(JsonRequest({"platform": "ios", "pushToken": "tok"}), subsignal=PUSHREG)
        # The client marks the conversation with Alice silent (UP, scope 1).
        await bob.request(PutSetting(1, f"0-0-{alice.credentials.userId}", "1"))
        await closeAndWait(bob)
        await alice.request(text(bob.credentials.userId, "silenced"))
        await sleep(1.5)
        self.assertEqual(gateway.requests, [])
        await alice.request(text(bob.credentials.userId, "@bob", mentionedType=2))
        await gateway.waitFor(1)
        # Un-silenced from another device: pushes again; global silent: none.
        laptop = await self.loginAndConnect(node, "13800000002", "tcp", clientId="bob-laptop")
        await laptop.request(PutSetting(1, f"0-0-{alice.credentials.userId}", "0"))
        await closeAndWait(laptop)
        await alice.request(text(bob.credentials.userId, "loud"))
        await gateway.waitFor(2)
        self.assertEqual(notification(gateway.requests[1])["content"]["body"], "loud")
        laptop = await self.loginAndConnect(node, "13800000002", "tcp", clientId="bob-laptop")
        await laptop.request(PutSetting(2, "", "1"))
        await closeAndWait(laptop)
        await alice.request(text(bob.credentials.userId, "dnd"))
        await sleep(1.5)
        self.assertEqual(len(gateway.requests), 2)

    def test_clientSettingsMute(self):
        """
        The clients' synced settings mute pushes: conversation silent (scope
        1; a mention still pushes), un-silenced again, global silent (scope 2).
        """
        return withTimeout(self._settings(), 90)


class EmbeddedPushTests(NodeTestMixin, PushContract, TestCase):
    """
    On the embedded default (SQLite, in-process presence).
    """


class ProductionPushTests(ProductionBackend, PushContract, TestCase):
    """
    On PostgreSQL + Redis.
    """
