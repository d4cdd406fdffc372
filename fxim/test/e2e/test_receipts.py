"""
End-to-end tests of the newer clients' message model and receipts against
real C{twistd fxim} processes, on the embedded default and on PostgreSQL +
Redis, driven the way the newer web client drives the server: local
message ids as strings, delivery and read reports (MDR/MRR), MRN and MRP
on both transports, group read reports, a login backlog's MDR burst, and
a capped pull followed by another MN.
"""

from typing import Any, List

from twisted.internet.defer import gatherResults
from twisted.trial.unittest import TestCase

from fxim.model import Conversation, Message, MessageContent
from fxim.test.e2e import NodeTestMixin, ProductionBackend, SettleMixin, settle, sleep
from fxim.test.newerweb import NewerWebClient
from fxim.wire.extensions import PullReports, ReportNotify
from fxim.wire.requests import CreateGroup, PullMessages, SendMessage
from fxim.model import GroupInfo, GroupMember

LOCAL_ID = "590093806636892161"  # above 2^53, as the web client generates them


class TcpReports:
    """
    A TCP device that answers MRN with MRP, as an SDK client would.
    """

    def __init__(self, conn) -> None:
        self.conn = conn
        self.mrn: List[Any] = []
        self.reports: List[Any] = []
        conn.onPush(self._push)

    def _push(self, push) -> None:
        if isinstance(push, ReportNotify):
            self.mrn.append(push)
            self.conn.request(PullReports(push.head, push.type)).addCallback(
                lambda r: self.reports.extend(r.reports))


def reportKeys(reports):
    return sorted({(r["reportType"], r["uid"], r["target"]) for r in reports})


class ReceiptsMixin(SettleMixin):

    async def web(self, node, mobile, clientId=None, **kw):
        self._node = node
        conn = await self.loginAndConnect(node, mobile, "ws", clientId=clientId)
        client = NewerWebClient(conn, **kw)
        client.mobile = mobile
        return client

    async def test_localMessageIdRoundTrip(self):
        """
        The local id the web client sends as a string comes back as the same
        string in the receiver's pull, the sender's other device's pull and
        history, on WS; on TCP as field 8; a resend returns the original uid.
        """
        node = await self.startNode()
        a = await self.web(node, "13800000100", "a-web")
        aPhone = await self.loginAndConnect(node, "13800000100", "tcp", clientId="a-phone")
        b = await self.web(node, "13800000101")
        ack = await a.sendText(b.userId, "hello B", LOCAL_ID)
        again = await a.sendText(b.userId, "hello B", LOCAL_ID)
        self.assertEqual(again, ack)
        await b.waitFor(lambda: b.messages, what="B's pull")
        [got] = b.messages
        self.assertEqual(got["localMessageId"], LOCAL_ID)
        self.assertEqual(str(got["messageId"]), ack["messageId"])
        pulled = await aPhone.request(PullMessages(0, 0))
        self.assertEqual([m.localId for m in pulled.messages], [int(LOCAL_ID)])
        history = await a.send("LRM", {"beforeUid": 0, "count": 20, "conversation": {
            "type": 0, "conversationType": 0, "target": b.userId, "line": 0}})
        self.assertEqual([m["localMessageId"] for m in history["messageResponseList"]],
                         [LOCAL_ID])
        # A server-generated or id-less message carries none.
        await aPhone.request(SendMessage(Message(Conversation(0, b.userId, 0), "",
                                                 MessageContent(1, "no id"))))
        await b.waitFor(lambda: len(b.messages) == 2, what="second message")
        self.assertNotIn("localMessageId", b.messages[1])

    async def test_deliveredThenRead(self):
        """
        A sends; B's web client reports delivered (MDR, on pulling) then
        read (MRR); both of A's devices (WS and TCP) get MRN and pull the
        reports with target = B, uid = B, reportType 1 then 2.  B never
        gets its own reports.
        """
        node = await self.startNode()
        a = await self.web(node, "13800000110", "a-web")
        aPhone = TcpReports(await self.loginAndConnect(node, "13800000110", "tcp",
                                                       clientId="a-phone"))
        b = await self.web(node, "13800000111")
        await a.sendText(b.userId, "hello B", LOCAL_ID)
        await b.waitFor(lambda: b.messages, what="B's pull")
        expectDelivered = [(1, b.userId, b.userId)]
        await a.waitFor(lambda: reportKeys(a.reports) == expectDelivered, what="A web MDR")
        await a.waitFor(lambda: sorted({(r.reportType, r.userId, r.target)
                                        for r in aPhone.reports}) == expectDelivered,
                        what="A phone MDR")
        await b.readReport(a.userId)
        both = [(1, b.userId, b.userId), (2, b.userId, b.userId)]
        await a.waitFor(lambda: reportKeys(a.reports) == both, what="A web MRR")
        await a.waitFor(lambda: sorted({(r.reportType, r.userId, r.target)
                                        for r in aPhone.reports}) == both, what="phone MRR")
        # Reports arrive in ascending order and dates are B's numbers.
        self.assertEqual([r["reportType"] for r in a.reports], [1, 2])
        self.assertIsInstance(a.reports[0]["date"], int)
        self.assertEqual(a.mrn[0]["type"], 1)
        self.assertIsInstance(a.mrn[0]["messageHead"], str)
        self.assertEqual(b.mrn, [])
        self.assertEqual(b.reports, [])

    async def test_offlineUserPullsMissedReports(self):
        """
        Reports made while A's device was offline are pulled by its next
        MRP, even though that MRP starts from the newest head.
        """
        node = await self.startNode()
        a = await self.web(node, "13800000120", "a-web")
        b = await self.web(node, "13800000121", autoDeliveryReport=False)
        c = await self.web(node, "13800000122", autoDeliveryReport=False)
        await b.readReport(a.userId)
        await a.waitFor(lambda: len(a.reports) == 1, what="first report")
        creds = a.conn.credentials
        a.conn.close()
        await a.conn.closed
        await b.send("MDR", {"date": 5, "target": a.userId})
        await c.readReport(a.userId)
        d = await self.web(node, "13800000123", autoDeliveryReport=False)
        again = NewerWebClient(await self._reconnect(node, creds, "a-web"))
        await d.readReport(a.userId)  # this MRN names only the newest head
        await again.waitFor(lambda: len(again.reports) == 3, what="missed reports")
        self.assertEqual(reportKeys(again.reports),
                         sorted([(1, b.userId, b.userId), (2, c.userId, c.userId), (2, d.userId, d.userId)]))

    async def _reconnect(self, node, creds, clientId):
        conn = await self.openClient(node, "ws")
        await conn.connect(creds.userId, creds.token, clientId)
        conn.credentials = creds
        return conn

    async def test_groupReadReportToTosOnly(self):
        """
        A group read report reaches exactly the members in C{tos} (the
        senders the reader saw), never the reader, with target = group,
        uid = reader, reportType 2; a member outside tos gets nothing.
        """
        node = await self.startNode()
        owner = await self.web(node, "13800000130", autoDeliveryReport=False)
        b = await self.web(node, "13800000131", autoDeliveryReport=False)
        c = await self.web(node, "13800000132", autoDeliveryReport=False)
        reader = await self.web(node, "13800000133", autoDeliveryReport=False)
        outsider = await self.web(node, "13800000134", autoDeliveryReport=False)
        groupId = await self._group(owner, [b, c, reader])
        ack = await reader.readReport(groupId, 1, [b.userId, c.userId, reader.userId, outsider.userId])
        self.assertEqual(ack, {"code": 200, "message": "success"})
        for member in (b, c):
            await member.waitFor(lambda m=member: m.reports, what="tos member report")
            self.assertEqual(reportKeys(member.reports), [(2, reader.userId, groupId)])
        await sleep(0.5)
        for other in (owner, reader, outsider):
            self.assertEqual((other.mrn, other.reports), ([], []))

    async def _group(self, owner, members):
        # The group id comes back in the TCP GC ack (on WS only in the 104).
        conn = await self.loginAndConnect(self._node, owner.mobile, "tcp")
        ack = await conn.request(CreateGroup(
            GroupInfo("", "g"), tuple(GroupMember(m.userId) for m in [owner] + members), (), None))
        return ack.groupId

    async def test_groupMessageWithTosGoesToTosOnly(self):
        """
        A group message carrying tos (a call invitation) is stored for the
        sender and the listed members only; tos survives the pull.
        """
        node = await self.startNode()
        owner = await self.web(node, "13800000140", autoDeliveryReport=False)
        b = await self.web(node, "13800000141", autoDeliveryReport=False)
        c = await self.web(node, "13800000142", autoDeliveryReport=False)
        groupId = await self._group(owner, [b, c])
        await b.waitFor(lambda: b.messages, what="group notification")
        await c.waitFor(lambda: c.messages, what="group notification")
        before = len(c.messages)
        await owner.sendText(groupId, "ring", "17", conversationType=1, tos=[b.userId])
        await b.waitFor(lambda: any(m["content"]["searchableContent"] == "ring"
                                    for m in b.messages), what="invitation")
        ring = [m for m in b.messages if m["content"]["searchableContent"] == "ring"][0]
        self.assertEqual(ring["tos"], [b.userId])
        await sleep(0.5)
        self.assertEqual(len(c.messages), before)

    async def test_loginBacklogMdrBurst(self):
        """
        A backlog of 280 messages pulled at login produces 280 MDRs at once;
        over the rate limit they are answered C{OVER_FREQUENCY} but not lost: A sees B's
        delivery report with the date of B's last MDR, and B's connection
        stays open.
        """
        node = await self.startNode(["--request-rate", "40", "--request-burst", "80"])
        a = await self.web(node, "13800000150", "a-web", autoDeliveryReport=False)
        sender = await self.loginAndConnect(node, "13800000150", "tcp", clientId="a-tcp")
        b = await self.web(node, "13800000151", "b-web")
        creds = b.conn.credentials
        b.conn.close()
        await b.conn.closed
        for start in range(0, 280, 40):
            await gatherResults([sender.request(SendMessage(Message(
                Conversation(0, b.userId, 0), "", MessageContent(1, f"m{i}"))))
                for i in range(start, start + 40)])
            await sleep(1.0)
        b = NewerWebClient(await self._reconnect(node, creds, "b-web"))
        # As the web client does right after CONNECT_ACK.
        pulled = await b.send("MP", {"messageId": "0", "type": 0, "pullType": 0,
                                     "sendMessageCount": 0})
        b._pulled(pulled)
        self.assertEqual(len(b.messages), 280)
        await b.waitFor(lambda: len(b._waiting) == 0, 60, what="MDR acks")
        acks = [e for e in b.raw if e.get("signal") == "PUB_ACK" and e.get("subSignal") == "MDR"]
        self.assertEqual(len(acks), 280)
        self.assertIn({"code": 400, "message": "error"}, [e["content"] for e in acks])
        self.assertFalse(b.conn.closed.called)
        await a.waitFor(lambda: a.reports and max(r["date"] for r in a.reports) == b.lastMdrDate,
                        what="A's report of the last MDR")
        self.assertEqual(reportKeys(a.reports), [(1, b.userId, b.userId)])

    async def test_cappedPullFollowedByMn(self):
        """
        A 5 MiB backlog with a 1 MiB pull cap: the web-like client, which
        jumps its cursor to head, still gets every message because each
        capped pull is followed by another MN.
        """
        node = await self.startNode(["--request-rate", "100000", "--request-burst", "100000"])
        sender = await self.loginAndConnect(node, "13800000160", "tcp")
        b = await self.web(node, "13800000161", "b-web", autoDeliveryReport=False)
        creds = b.conn.credentials
        b.conn.close()
        await b.conn.closed
        body = "x" * (100 * 1024)
        for start in range(0, 52, 13):
            await gatherResults([sender.request(SendMessage(Message(
                Conversation(0, b.userId, 0), "", MessageContent(1, f"{i:03d}" + body))))
                for i in range(start, start + 13)])
        conn = await self._reconnect(node, creds, "b-web")
        b = NewerWebClient(conn)
        first = await b.send("MP", {"messageId": "0", "type": 0, "pullType": 0,
                                    "sendMessageCount": 0})
        self.assertLess(int(first["current"]), int(first["head"]))
        b._pulled(first)
        await b.waitFor(lambda: len(b.messages) >= 52, 60, what="whole backlog")
        self.assertEqual(sorted({m["content"]["searchableContent"][:3] for m in b.messages}),
                         [f"{i:03d}" for i in range(52)])

    async def test_wsPullFitsThePayloadLimit(self):
        """
        On WebSocket a pull is also cut to what the node's WebSocket payload
        limit allows once encoded as JSON (escaped inside the envelope), and
        the rest follows another MN.
        """
        node = await self.startNode(["--max-ws-payload", "65536"])
        sender = await self.loginAndConnect(node, "13800000170", "tcp")
        b = await self.web(node, "13800000171", "b-web", autoDeliveryReport=False)
        body = '"quoted" ' * 1500  # 13.5 KB that JSON escaping inflates
        for i in range(12):
            await sender.request(SendMessage(Message(
                Conversation(0, b.userId, 0), "", MessageContent(1, f"{i:02d}" + body))))
        await b.waitFor(lambda: len(b.messages) >= 12, 60, what="every message")
        self.assertEqual(sorted(m["content"]["searchableContent"][:2] for m in b.messages),
                         [f"{i:02d}" for i in range(12)])
        first = await b.send("MP", {"messageId": "0", "type": 0, "pullType": 0,
                                    "sendMessageCount": 0})
        self.assertLess(int(first["current"]), int(first["head"]))
        self.assertGreater(int(first["current"]), 0)
        for envelope in b.rawTexts:
            self.assertLessEqual(len(envelope.encode("utf-8")), 65536)


class ReceiptsEmbeddedTests(ReceiptsMixin, NodeTestMixin, TestCase):
    pass


class ReceiptsProductionTests(ReceiptsMixin, ProductionBackend, TestCase):
    pass


class ReceiptsClusterTests(ProductionBackend, TestCase):
    """
    Two nodes sharing PostgreSQL and Redis: reports, settings and SAI
    pushes reach devices on the other node.
    """

    async def test_reportsAcrossNodes(self):
        """
        B on node 2 reports on A's message; A's devices on node 1 and node 2
        both get MRN and the report; a setting changed on node 1 reaches
        A's device on node 2 via UN/UG.
        """
        nodeA = await self.startNode(["--node-id", "1"])
        nodeB = await self.startNode(["--node-id", "2"])
        self.addCleanup(settle)
        a1 = NewerWebClient(await self.loginAndConnect(nodeA, "13800000180", "ws", "a-1"))
        a2 = NewerWebClient(await self.loginAndConnect(nodeB, "13800000180", "ws", "a-2"))
        b = NewerWebClient(await self.loginAndConnect(nodeB, "13800000181", "ws"))
        await a1.sendText(b.userId, "hi", LOCAL_ID)
        await b.waitFor(lambda: b.messages, what="B pulled")
        self.assertEqual(b.messages[0]["localMessageId"], LOCAL_ID)
        await b.readReport(a1.userId)
        both = [(1, b.userId, b.userId), (2, b.userId, b.userId)]
        for device in (a1, a2):
            await device.waitFor(lambda d=device: reportKeys(d.reports) == both,
                                 what="reports on both nodes")
        version = await a1.send("UP", {"scope": 3, "key": f"0-0-{b.userId}", "value": "1"})
        await a2.waitFor(lambda: a2.settingNotices, what="UN across nodes")
        self.assertEqual(a2.settingNotices[0]["version"], version["version"])
        got = await a2.send("UG", {"version": 0})
        self.assertEqual([(s["scope"], s["value"]) for s in got], [(3, "1")])
