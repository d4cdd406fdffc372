"""
End-to-end tests of the admin API against real C{twistd fxim} processes
on both backends: every route, the broadcast reaching a TCP and a WS
client as an ordinary notify-then-pull message, recall and purge,
retention while a client pulls, the audit log, CORS, and bad input that
gets a clear error and changes nothing.
"""

import os
import tempfile

from twisted.internet import reactor
from twisted.internet.defer import ensureDeferred, gatherResults
from twisted.trial.unittest import TestCase

from fxim.admin.client import AdminApiError, AdminClient, path
from fxim.client import Inbox, RequestFailed, login
from fxim.errors import ErrorCode
from fxim.model import ContentType, GroupInfo, GroupMember
from fxim.test.e2e import NodeTestMixin, ProductionBackend, sleep, withTimeout
from fxim.test.e2e.test_messages import bodies, text
from fxim.wire.requests import CreateGroup, GroupCreated, PullMessages
from fxim.wire.signals import SubSignal

SECRET = "admin-secret-for-e2e-tests-0123"


class AdminMixin:
    """
    The admin API; mixed into one class per backend.
    """

    async def adminNode(self, args=()):
        secretPath = os.path.join(tempfile.mkdtemp(), "admin.secret")
        with open(secretPath, "w") as f:
            f.write(SECRET + "\n")
        node = await self.startNode(["--admin-secret-file", secretPath] + list(args))
        return node, AdminClient(reactor, node.httpBase, SECRET)

    async def assertRefused(self, status, call, *args, **kwargs):
        with self.assertRaises(AdminApiError) as caught:
            await call(*args, **kwargs)
        self.assertEqual(caught.exception.status, status, str(caught.exception))
        return caught.exception

    async def test_users(self):
        """
        Create (mobile, E.164, e-mail), list with pages, search, get,
        update the profile, block/unblock, mute/unmute (sends refused with
        247), delete with erased messages.
        """
        node, admin = await self.adminNode()
        a = await admin.call("POST", "/users", {"mobile": "13800000100", "displayName": "Ann",
                                                "uid": "ann"})
        self.assertEqual((a["uid"], a["mobile"], a["displayName"]), ("ann", "13800000100", "Ann"))
        de = await admin.call("POST", "/users", {"mobile": "+49 151 12345678"})
        self.assertEqual(de["mobile"], "+4915112345678")
        mail = await admin.call("POST", "/users", {"mobile": "Eve@Example.com"})
        self.assertEqual((mail["loginEmail"], mail["email"]), ("eve@example.com", "eve@example.com"))
        await self.assertRefused(409, admin.call, "POST", "/users", {"mobile": "eve@EXAMPLE.com"})
        await self.assertRefused(409, admin.call, "POST", "/users", {"mobile": "+8613800000100"})
        e = await self.assertRefused(400, admin.call, "POST", "/users", {"mobile": "+1234"})
        self.assertEqual(e.code, 1)
        # The e-mail account logs in as the user the admin created.
        creds = await login(reactor, node.httpBase, "eve@example.com", "556677", "eve-dev")
        self.assertEqual(creds.userId, mail["uid"])
        page = await admin.call("GET", "/users", query={"limit": 2})
        self.assertEqual([u["uid"] for u in page["items"]], ["ann", de["uid"]])
        self.assertEqual(page["next"], 2)
        page = await admin.call("GET", "/users", query={"offset": 2, "limit": 2})
        self.assertEqual([u["uid"] for u in page["items"]], [mail["uid"]])
        self.assertIsNone(page["next"])
        found = await admin.call("GET", "/users", query={"q": "0049 151 1234 5678"})
        self.assertEqual([u["uid"] for u in found["items"]], [de["uid"]])
        found = await admin.call("GET", "/users", query={"q": "An"})
        self.assertEqual([u["uid"] for u in found["items"]], ["ann"])
        got = await admin.call("GET", "/users/ann")
        self.assertEqual((got["groups"], got["sessions"]), ([], []))
        await self.assertRefused(404, admin.call, "GET", "/users/nobody")
        updated = await admin.call("PATCH", "/users/ann", {"displayName": "Ann Lee",
                                                           "searchable": False, "gender": 2})
        self.assertEqual((updated["displayName"], updated["searchable"], updated["gender"]),
                         ("Ann Lee", False, 2))
        await self.assertRefused(400, admin.call, "PATCH", "/users/ann", {"uid": "x"})
        await self.assertRefused(400, admin.call, "PATCH", "/users/ann", {"displayName": ""})
        await self.assertRefused(404, admin.call, "PATCH", "/users/nobody", {"displayName": "x"})
        # Mute: connected, but sends are refused with FORBIDDEN_SEND_MSG; unmute: allowed.
        ann = await self.loginAndConnect(node, "13800000100", "tcp")
        peer = await self.loginAndConnect(node, "13800000101", "ws")
        muted = await admin.call("POST", "/users/ann/mute")
        self.assertEqual(muted["status"], 1)
        with self.assertRaises(RequestFailed) as caught:
            await ann.request(text(peer.userId, "while muted"))
        self.assertEqual(caught.exception.code, ErrorCode.FORBIDDEN_SEND_MSG)
        await admin.call("POST", "/users/ann/unmute")
        await ann.request(text(peer.userId, "secret words"))
        blocked = await admin.call("POST", "/users/ann/block")
        self.assertEqual(blocked["status"], 2)
        await ann.closed
        await self.assertRefused(409, admin.call, "POST", "/users/ann/mute")
        await admin.call("POST", "/users/ann/unblock")
        # Delete with erasure: the peer's copy loses its content, the
        # account and its sessions are gone, the mobile is free again.
        inbox = Inbox(peer)
        inbox.sync()  # the MN may have come before the inbox existed
        [kept] = await withTimeout(inbox.waitFor(1))
        self.assertEqual(kept.content.searchableContent, "secret words")
        result = await admin.call("DELETE", "/users/ann", query={"eraseMessages": "true"})
        self.assertEqual(result["erasedMessages"], 1)
        await self.assertRefused(404, admin.call, "GET", "/users/ann")
        pulled = await peer.request(PullMessages(0, 0))
        self.assertEqual([m.content.type for m in pulled.messages], [ContentType.RECALL])
        self.assertEqual(pulled.messages[0].content.searchableContent, "")
        again = await self.openClient(node, "tcp")
        with self.assertRaises(RequestFailed) as caught:
            await again.connect("ann", ann.credentials.token, ann.clientId)
        self.assertEqual(caught.exception.code, SubSignal.CONNECTION_REFUSED_SESSION_NOT_EXIST)
        fresh = await login(reactor, node.httpBase, "13800000100", "556677", "new")
        self.assertTrue(fresh.register)
        self.assertNotEqual(fresh.userId, "ann")

    async def test_sessions(self):
        """
        List sessions (no secrets), revoke one (its connection closes),
        revoke all; mint a token that connects.
        """
        node, admin = await self.adminNode()
        one = await self.loginAndConnect(node, "13800000200", "tcp", clientId="phone")
        two = await self.loginAndConnect(node, "13800000200", "ws", clientId="web")
        sessions = await admin.call("GET", path("users", one.userId, "sessions"))
        self.assertEqual([s["clientId"] for s in sessions], ["phone", "web"])
        self.assertNotIn("secret", sessions[0])
        self.assertEqual(await admin.call("DELETE", path("users", one.userId, "sessions", "phone")),
                         {"revoked": 1})
        await withTimeout(one.closed)
        self.assertFalse(two.closed.called)
        minted = await admin.call("POST", "/tokens", {"uid": one.userId, "clientId": "bot"})
        bot = await self.openClient(node, "tcp")
        await bot.connect(one.userId, minted["token"], "bot")
        self.assertEqual(await admin.call("DELETE", path("users", one.userId, "sessions")),
                         {"revoked": 2})
        await withTimeout(gatherResults([two.closed, bot.closed]))
        await self.assertRefused(404, admin.call, "GET", "/users/nobody/sessions")
        await self.assertRefused(404, admin.call, "POST", "/tokens",
                                 {"uid": "nobody", "clientId": "x"})

    async def test_groups(self):
        """
        List/search, get with members, add and remove members, managers,
        mute a member (group sends refused with C{NOT_RIGHT}), set the owner,
        dismiss -- each change reaching the members as the usual
        notification.
        """
        node, admin = await self.adminNode()
        owner = await self.loginAndConnect(node, "13800000300", "tcp")
        m1 = await self.loginAndConnect(node, "13800000301", "ws")
        m2 = await self.loginAndConnect(node, "13800000302", "tcp")
        created = await owner.request(CreateGroup(GroupInfo("", "Chess club"),
                                                  (GroupMember(owner.userId), GroupMember(m1.userId))))
        gid = created.groupId if isinstance(created, GroupCreated) else created
        listed = await admin.call("GET", "/groups", query={"q": "Chess"})
        self.assertEqual([g["targetId"] for g in listed["items"]], [gid])
        group = await admin.call("GET", path("groups", gid))
        self.assertEqual(sorted(m["memberId"] for m in group["members"]),
                         sorted([owner.userId, m1.userId]))
        await self.assertRefused(404, admin.call, "GET", "/groups/nope")
        group = await admin.call("POST", path("groups", gid, "members"), {"members": [m2.userId]})
        self.assertIn(m2.userId, [m["memberId"] for m in group["members"]])
        await self.assertRefused(404, admin.call, "POST", path("groups", gid, "members"),
                                 {"members": ["nobody"]})
        await self.assertRefused(400, admin.call, "POST", path("groups", gid, "members"),
                                 {"members": "x"})
        group = await admin.call("POST", path("groups", gid, "managers", m1.userId))
        types = {m["memberId"]: m["type"] for m in group["members"]}
        self.assertEqual(types[m1.userId], 1)
        await admin.call("DELETE", path("groups", gid, "managers", m1.userId))
        await admin.call("POST", path("groups", gid, "muted", m2.userId))
        with self.assertRaises(RequestFailed) as caught:
            await m2.request(text(gid, "muted?", group=True))
        self.assertEqual(caught.exception.code, ErrorCode.NOT_RIGHT)
        await admin.call("DELETE", path("groups", gid, "muted", m2.userId))
        await m2.request(text(gid, "free again", group=True))
        group = await admin.call("POST", path("groups", gid, "owner"), {"uid": m1.userId})
        self.assertEqual(group["owner"], m1.userId)
        await self.assertRefused(409, admin.call, "DELETE", path("groups", gid, "members", m1.userId))
        group = await admin.call("DELETE", path("groups", gid, "members", m2.userId))
        self.assertNotIn(m2.userId, [m["memberId"] for m in group["members"]])
        await admin.call("DELETE", path("groups", gid))
        await self.assertRefused(404, admin.call, "GET", path("groups", gid))
        types = [m.content.type for m in (await owner.request(PullMessages(0, 0))).messages]
        for expected in (ContentType.CREATE_GROUP, ContentType.ADD_GROUP_MEMBER,
                         ContentType.TRANSFER_GROUP_OWNER, ContentType.KICKOFF_GROUP_MEMBER,
                         ContentType.DISMISS_GROUP):
            self.assertIn(expected, types)

    async def test_broadcastReachesTcpAndWs(self):
        """
        A system message to everyone reaches a TCP and a WS client as MN
        then a pulled message from SystemNotification with an empty
        target; to users and to a group too; and upstream's
        /imopenapi/pushNotificationByMobile by mobile and e-mail.
        """
        node, admin = await self.adminNode()
        tcp = await self.loginAndConnect(node, "13800000400", "tcp")
        ws = await self.loginAndConnect(node, "dora@example.com", "ws")
        inboxes = [Inbox(tcp), Inbox(ws)]
        result = await admin.call("POST", "/messages", {"everyone": True,
                                                        "text": "maintenance at 22:00"})
        self.assertEqual(result["receivers"], 2)
        for inbox in inboxes:
            [notice] = await withTimeout(inbox.waitFor(1))
            self.assertEqual(inbox.notifies, 1)
            self.assertEqual((notice.fromUser, notice.conversation.target,
                              notice.content.searchableContent),
                             ("SystemNotification", "", "maintenance at 22:00"))
            self.assertIn(notice.messageUid, result["messageUids"])
        await admin.call("POST", "/messages", {"users": [ws.userId], "content": {
            "type": 1, "searchableContent": "just for you"}})
        self.assertEqual(bodies(await withTimeout(inboxes[1].waitFor(2)))[1], "just for you")
        pushed = await admin.call("POST", "/pushNotificationByMobile", {
            "mobiles": ["13800000400", "Dora@Example.com", "13999999999"],
            "content": {"content": {"type": 1, "searchableContent": "from the push api",
                                    "binaryContent": "", "mediaType": 0, "remoteMediaUrl": "",
                                    "content": ""}, "messageId": 0, "timestamp": 0}},
            prefix="/imopenapi")
        self.assertEqual((pushed["receivers"], pushed["unknown"]), (2, ["13999999999"]))
        self.assertEqual(bodies(await withTimeout(inboxes[0].waitFor(2)))[1], "from the push api")
        self.assertEqual(bodies(await withTimeout(inboxes[1].waitFor(3)))[2], "from the push api")
        created = await tcp.request(CreateGroup(GroupInfo("", "ops"),
                                                (GroupMember(tcp.userId), GroupMember(ws.userId))))
        await admin.call("POST", "/messages", {"group": created.groupId, "text": "group notice"})
        got = await withTimeout(inboxes[1].waitFor(5))
        self.assertEqual((got[4].conversation.target, got[4].fromUser,
                          got[4].content.searchableContent),
                         (created.groupId, "SystemNotification", "group notice"))
        await self.assertRefused(404, admin.call, "POST", "/messages",
                                 {"users": ["nobody"], "text": "x"})
        await self.assertRefused(400, admin.call, "POST", "/messages",
                                 {"users": [ws.userId], "everyone": True, "text": "x"})
        await self.assertRefused(400, admin.call, "POST", "/messages", {"everyone": True})
        await self.assertRefused(400, admin.call, "POST", "/messages",
                                 {"everyone": True, "content": {"type": 91, "content": "x"}})

    async def test_recallAndPurge(self):
        """
        Recall any message (receivers get RMN and pull type 80); purge a
        conversation: a pull from before it meets the tombstone, never a
        silent gap; other conversations are untouched.
        """
        node, admin = await self.adminNode()
        a = await self.loginAndConnect(node, "13800000500", "tcp")
        b = await self.loginAndConnect(node, "13800000501", "ws")
        c = await self.loginAndConnect(node, "13800000502", "tcp")
        inbox = Inbox(b)
        first = await a.request(text(b.userId, "one"))
        await c.request(text(b.userId, "from c"))
        await a.request(text(b.userId, "two"))
        await withTimeout(inbox.waitFor(3))
        got = await admin.call("GET", path("messages", first.messageUid))
        self.assertEqual(got["content"]["searchableContent"], "one")
        await admin.call("DELETE", path("messages", first.messageUid))
        [recall] = await withTimeout(inbox.waitFor(1, "recalls"))
        self.assertEqual((recall.messageUid, recall.fromUser), (first.messageUid, "SystemNotification"))
        await self.assertRefused(404, admin.call, "DELETE", path("messages", 12345))
        await self.assertRefused(400, admin.call, "DELETE", path("messages", "abc"))
        purged = await admin.call("POST", "/conversations/purge", {"type": 0,
                                                                   "users": [a.userId, b.userId]})
        self.assertEqual(purged, {"purged": 2})
        pulled = await b.request(PullMessages(0, 0))
        self.assertEqual(pulled.head, 3)
        self.assertEqual([(m.fromUser, m.content.type) for m in pulled.messages],
                         [(c.userId, ContentType.TEXT), ("SystemNotification", ContentType.TIP)])
        self.assertEqual(pulled.current, 3)
        await self.assertRefused(400, admin.call, "POST", "/conversations/purge", {"type": 7})

    async def test_retentionWhileAClientPulls(self):
        """
        With --retention-days, old messages are purged in the background
        while the receiver pulls in small pages: it receives every newer
        message, and every old one it did not get is covered by the
        tombstone it meets -- nothing is skipped silently.
        """
        node, admin = await self.adminNode(["--retention-days", "0.00003",
                                            "--retention-interval", "3600",
                                            "--pull-max-bytes", "1024",
                                            "--request-rate", "100000",
                                            "--request-burst", "100000"])
        sender = await self.loginAndConnect(node, "13800000600", "tcp")
        receiver = await self.loginAndConnect(node, "13800000601", "ws", clientId="r")
        rUid, creds = receiver.userId, receiver.credentials
        receiver.close()
        await receiver.closed
        old = [f"old-{i}" for i in range(120)]
        for start in range(0, len(old), 40):
            await gatherResults([sender.request(text(rUid, body))
                                 for body in old[start:start + 40]])
        await sleep(3.0)  # 0.00003 days = 2.6 s: these are now expired
        new = [f"new-{i}" for i in range(40)]
        await gatherResults([sender.request(text(rUid, body)) for body in new])
        again = await self.openClient(node, "ws")
        await again.connect(rUid, creds.token, "r")
        inbox = Inbox(again)
        pulling = inbox.sync()
        purging = ensureDeferred(admin.call("POST", "/retention/run"))
        result, _ = await withTimeout(gatherResults([purging, pulling]), 60)
        self.assertEqual(result["purged"], 120)
        await inbox.sync()
        got = bodies(inbox.messages)
        tombstones = [m for m in inbox.messages if m.fromUser == "SystemNotification"]
        self.assertEqual(got[-40:], new)
        missed = [b for b in old if b not in got]
        if missed:
            self.assertEqual(len(tombstones), 1)
            self.assertIn("retention", tombstones[0].content.searchableContent)
            self.assertLess(got.index(tombstones[0].content.searchableContent), len(got) - 40)
        head = (await again.request(PullMessages(0, 0))).head
        self.assertEqual(inbox.lastSeq, head)
        self.assertEqual(head, 160)
        # A fresh pull from 0 shows the tombstone then the new messages.
        fresh = await again.request(PullMessages(0, 0))
        self.assertEqual(fresh.messages[0].fromUser, "SystemNotification")
        # The sender's own copies went too.
        senderPull = await sender.request(PullMessages(0, 0))
        self.assertEqual(senderPull.messages[0].content.type, ContentType.TIP)
        # Without --retention-days the route says so (409); audit has it.
        audit = await admin.call("GET", "/audit")
        self.assertEqual(audit["items"][0]["action"], "retention.run")
        self.assertEqual(audit["items"][0]["detail"], {"purged": 120})

    async def test_badInputChangesNothing(self):
        """
        Wrong or missing secret 401, bad JSON and nested JSON 400, oversize
        413, unknown route 404, wrong method 405, unknown users 404 -- and
        nothing changed (no user, no audit entry).  No CORS on the admin
        API; the login API keeps its CORS.
        """
        node, admin = await self.adminNode()
        await admin.call("POST", "/users", {"uid": "keep", "mobile": "13800000700"})
        before = await admin.call("GET", "/audit")
        for secret in (None, "wrong"):
            status, answer, headers = await AdminClient(reactor, node.httpBase, secret).raw(
                "POST", "/users", {"uid": "intruder"})
            self.assertEqual((status, answer["code"]), (401, 401))
        status, answer, _ = await admin.raw("POST", "/users", b"{not json")
        self.assertEqual((status, answer["code"]), (400, 400))
        status, answer, _ = await admin.raw("POST", "/users", b"[" * 60000)
        self.assertEqual((status, answer["code"]), (400, 400))
        status, answer, _ = await admin.raw("POST", "/messages",
                                            {"everyone": True, "text": "x" * 300000})
        self.assertEqual((status, answer["code"]), (413, 413))
        status, answer, _ = await admin.raw("GET", "/nowhere")
        self.assertEqual(status, 404)
        status, answer, _ = await admin.raw("DELETE", "/tokens")
        self.assertEqual(status, 405)
        status, answer, _ = await admin.raw("GET", "/users", query={"limit": "100000"})
        self.assertEqual((status, answer["code"]), (400, 1))
        for route in ("/users/nobody/block", "/users/nobody/mute"):
            status, answer, _ = await admin.raw("POST", route)
            self.assertEqual(status, 404)
        status, answer, _ = await admin.raw("DELETE", "/users/nobody")
        self.assertEqual(status, 404)
        users = await admin.call("GET", "/users")
        self.assertEqual([u["uid"] for u in users["items"]], ["keep"])
        self.assertEqual(await admin.call("GET", "/audit"), before)
        self.assertNotIn("Traceback", node.log())
        status, _, headers = await admin.raw("GET", "/users",
                                             headers={"Origin": "https://evil.example"})
        self.assertEqual(status, 200)
        self.assertFalse(headers.hasHeader(b"access-control-allow-origin"))
        status, _, headers = await admin.raw("OPTIONS", "/users",
                                             headers={"Origin": "https://evil.example"})
        self.assertFalse(headers.hasHeader(b"access-control-allow-origin"))
        status, _, headers = await admin.raw("POST", "/send_code", {"mobile": "13800000701"},
                                             prefix="")
        self.assertEqual(headers.getRawHeaders(b"access-control-allow-origin"), [b"*"])

    async def test_corsOnlyForConfiguredOrigin(self):
        """
        --admin-cors-origin allows exactly that origin.
        """
        node, admin = await self.adminNode(["--admin-cors-origin", "https://ops.example"])
        _, _, headers = await admin.raw("GET", "/users", headers={"Origin": "https://ops.example"})
        self.assertEqual(headers.getRawHeaders(b"access-control-allow-origin"),
                         [b"https://ops.example"])
        _, _, headers = await admin.raw("GET", "/users", headers={"Origin": "https://evil.example"})
        self.assertFalse(headers.hasHeader(b"access-control-allow-origin"))


class EmbeddedAdminTests(AdminMixin, NodeTestMixin, TestCase):
    """
    On the embedded default.
    """


class ProductionAdminTests(AdminMixin, ProductionBackend, TestCase):
    """
    On PostgreSQL + Redis.
    """
