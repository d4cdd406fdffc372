"""
End-to-end tests of moderation against real C{twistd fxim} nodes, on the
embedded default and on PostgreSQL + Redis: the word filter's four actions
on messages, nicknames and group names, reloading the word list through
the admin API, and message reports listed by the admin API.
"""

import os
import tempfile

from twisted.trial.unittest import TestCase

from fxim.client import RequestFailed, registerPluginSubsignal
from fxim.errors import ErrorCode
from fxim.model import ContentType, GroupInfo, GroupMember
from fxim.moderation.handlers import REPORT
from fxim.test.e2e import NodeTestMixin, ProductionBackend, withTimeout
from fxim.test.e2e.test_push import text
from fxim.test.e2e.test_webhooks import ADMIN, getJson
from fxim.wire.requests import (
    CreateGroup, JsonRequest, ModifyMyInfo, PullMessages, PullUsers,
)

registerPluginSubsignal("REPORT", REPORT)

BAD = "this has BadWord and 坏词 inside"


def writeFiles(words) -> tuple:
    folder = tempfile.mkdtemp(prefix="fxim-moderation-")
    wordsPath, adminPath = os.path.join(folder, "words.txt"), os.path.join(folder, "admin")
    with open(wordsPath, "w", encoding="utf-8") as f:
        f.write("# sensitive words\n\n" + "\n".join(words) + "\n")
    with open(adminPath, "w") as f:
        f.write(ADMIN)
    return wordsPath, adminPath


class ModerationContract:

    async def node(self, messageAction, nameAction="reject", words=("badword", "坏词")):
        wordsPath, adminPath = writeFiles(words)
        node = await self.startNode(["--word-list-file", wordsPath, "--admin-secret-file", adminPath,
                                     "--word-action-message", messageAction,
                                     "--word-action-name", nameAction])
        node.wordsPath = wordsPath
        return node

    async def pulled(self, conn) -> list:
        result = await conn.request(PullMessages(0, 0))
        return [m.content.searchableContent for m in result.messages
                if m.content.type == ContentType.TEXT]

    async def _fourActions(self):
        expected = {"reject": [], "drop": [], "mask": ["this has ******* and ** inside"],
                    "pass": [BAD]}
        for i, action in enumerate(("reject", "drop", "mask", "pass")):
            # Fresh users each time: the production backend keeps one database.
            node = await self.node(action)
            alice = await self.loginAndConnect(node, f"1380000001{i}", "tcp")
            bob = await self.loginAndConnect(node, f"1380000002{i}", "ws")
            if action == "reject":
                with self.assertRaises(RequestFailed) as caught:
                    await alice.request(text(bob.credentials.userId, BAD))
                self.assertEqual(caught.exception.code, ErrorCode.SENSITIVE_MATCHED)
            else:
                await alice.request(text(bob.credentials.userId, BAD))
            await alice.request(text(bob.credentials.userId, "clean"))
            self.assertEqual(await self.pulled(bob), expected[action] + ["clean"], action)
            await node.stop()

    def test_fourActions(self):
        """
        A message with sensitive words (any case) is refused with C{SENSITIVE_MATCHED},
        silently dropped, masked with C{*}, or passed, as configured; a
        clean one is always delivered.
        """
        return withTimeout(self._fourActions(), 120)

    async def _namesReloadReports(self):
        node = await self.node("mask", "mask")
        alice = await self.loginAndConnect(node, "13800000001", "tcp")
        bob = await self.loginAndConnect(node, "13800000002", "tcp")
        a, b = alice.credentials.userId, bob.credentials.userId
        await alice.request(ModifyMyInfo(((0, "i am 坏词"),)))
        [(user, code)] = (await bob.request(PullUsers(((a, 0),)))).entries
        self.assertEqual(user.displayName, "i am **")
        await alice.request(CreateGroup(GroupInfo("", "BADWORD club"), (GroupMember(b),)))
        result = await bob.request(PullMessages(0, 0))
        created = [m for m in result.messages if m.content.type == ContentType.CREATE_GROUP]
        self.assertIn("******* club", created[0].content.data.decode("utf-8"))

        # Reload the list through the admin API.
        with open(node.wordsPath, "w", encoding="utf-8") as f:
            f.write("newword\n")
        status, body = await getJson(node.httpBase + "/admin/moderation/words/reload", b"POST")
        self.assertEqual((status, body["result"]), (200, {"words": 1}))
        self.assertEqual((await getJson(node.httpBase + "/admin/moderation/words/reload", b"POST",
                                        secret="nope"))[0], 401)
        ack = await alice.request(text(b, "a newword and a badword"))
        self.assertEqual((await self.pulled(bob))[-1], "a ******* and a badword")

        # Reports: only of a message one received; the admin API lists them.
        answer = await bob.request(JsonRequest({"messageUid": ack.messageUid, "reason": "spam"}),
                                   subsignal=REPORT)
        self.assertIsInstance(answer["reportId"], int)
        carol = await self.loginAndConnect(node, "13800000003", "ws")
        for bad in ({"messageUid": ack.messageUid}, {"messageUid": "x"}):
            with self.assertRaises(RequestFailed):
                await carol.request(JsonRequest(bad), subsignal=REPORT)
        status, body = await getJson(node.httpBase + "/admin/moderation/reports")
        self.assertEqual(status, 200)
        [report] = body["result"]
        self.assertEqual((report["reporter"], report["messageUid"], report["reason"]),
                         (b, ack.messageUid, "spam"))

    def test_namesReloadReports(self):
        """
        Nicknames and group names are masked; the word list reloads through
        the admin API; a user reports a message it received and the admin
        API lists the report.
        """
        return withTimeout(self._namesReloadReports(), 90)

    async def _nameReject(self):
        node = await self.node("pass", "reject")
        alice = await self.loginAndConnect(node, "13800000001", "tcp")
        with self.assertRaises(RequestFailed) as caught:
            await alice.request(ModifyMyInfo(((0, "Badword"),)))
        self.assertEqual(caught.exception.code, ErrorCode.SENSITIVE_MATCHED)
        with self.assertRaises(RequestFailed) as caught:
            await alice.request(CreateGroup(GroupInfo("", "坏词"), ()))
        self.assertEqual(caught.exception.code, ErrorCode.SENSITIVE_MATCHED)

    def test_nameReject(self):
        """
        With C{--word-action-name reject} a nickname or group name with a
        sensitive word is refused with C{SENSITIVE_MATCHED}.
        """
        return withTimeout(self._nameReject(), 60)


class EmbeddedModerationTests(NodeTestMixin, ModerationContract, TestCase):
    """
    On the embedded default.
    """


class ProductionModerationTests(ProductionBackend, ModerationContract, TestCase):
    """
    On PostgreSQL + Redis.
    """
