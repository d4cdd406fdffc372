"""
End-to-end tests of messaging against real C{twistd fxim} processes: send,
notify, pull, multi-device, idempotency, recall, history, transparent call
signalling, authorization -- on the embedded default and on PostgreSQL +
Redis -- plus two nodes and a SIGKILL crash.
"""

import signal

from twisted.internet.defer import gatherResults
from twisted.trial.unittest import TestCase

from fxim.client import Inbox, RequestFailed
from fxim.errors import ErrorCode
from fxim.model import Conversation, Message, MessageContent
from fxim.test.e2e import NodeTestMixin, ProductionBackend, sleep, withTimeout
from fxim.wire.requests import (
    LoadHistory, PullMessages, RecallMessage, SendMessage,
)


def text(target: str, body: str, localId=None, group: bool = False, **content) -> SendMessage:
    conversation = Conversation(1 if group else 0, target, 0)
    return SendMessage(Message(conversation, "", MessageContent(type=1, searchableContent=body, **content),
                               localId=localId))


def bodies(messages):
    return [m.content.searchableContent for m in messages]



class MessagingMixin:
    """
    Messaging flows; mixed into one class per backend.
    """

    async def pair(self, node, senderTransport="tcp", receiverTransport="ws"):
        a = await self.loginAndConnect(node, "13800000010", senderTransport)
        b = await self.loginAndConnect(node, "13800000011", receiverTransport)
        return a, b

    async def test_oneToOneBothDirections(self):
        """
        TCP -> WS and WS -> TCP text: the receiver gets MN, pulls the
        message with every field; the sender's ack carries the uid.
        """
        node = await self.startNode()
        a, b = await self.pair(node)
        inboxA, inboxB = Inbox(a), Inbox(b)
        ack = await a.request(text(b.userId, "你好 over tcp", mentionedType=1, mentionedTargets=(b.userId,)))
        self.assertTrue(0 < ack.messageUid < 2 ** 53)
        [got] = await withTimeout(inboxB.waitFor(1))
        self.assertEqual(got.messageUid, ack.messageUid)
        self.assertEqual(got.fromUser, a.userId)
        self.assertEqual(got.content.searchableContent, "你好 over tcp")
        self.assertEqual(got.content.mentionedTargets, (b.userId,))
        ack2 = await b.request(text(a.userId, "hi over ws"))
        # A's pull also returns its own first message (multi-device sync).
        mine, got2 = await withTimeout(inboxA.waitFor(2))
        self.assertEqual(mine.messageUid, ack.messageUid)
        self.assertEqual((got2.messageUid, got2.fromUser), (ack2.messageUid, b.userId))
        self.assertGreater(ack2.messageUid, ack.messageUid)

    async def test_offlineReceiverGetsEverything(self):
        """
        2,000 messages sent while the receiver is offline all arrive, in
        order, none twice, after it reconnects and pulls.
        """
        node = await self.startNode(["--request-rate", "100000", "--request-burst", "100000"])
        a = await self.loginAndConnect(node, "13800000012", "tcp")
        b = await self.loginAndConnect(node, "13800000013", "tcp", clientId="b-phone")
        bUid, creds = b.userId, b.credentials
        b.close()
        await b.closed
        total = 2000
        for start in range(0, total, 200):
            await gatherResults([a.request(text(bUid, f"m{i}")) for i in range(start, start + 200)])
        b2 = await self.openClient(node, "ws")
        ack = await b2.connect(creds.userId, creds.token, "b-phone")
        self.assertEqual(ack.msgHead, total)
        inbox = Inbox(b2)
        await withTimeout(inbox.sync(), 60)
        self.assertEqual(bodies(inbox.messages), [f"m{i}" for i in range(total)])
        self.assertEqual(len({m.messageUid for m in inbox.messages}), total)

    async def test_threeDevicesConverge(self):
        """
        A user's three devices and the peer all converge on the same
        messages; the sending device gets no MN for its own message.
        """
        node = await self.startNode()
        devices = [await self.loginAndConnect(node, "13800000014", t) for t in ("tcp", "ws", "tcp")]
        peer = await self.loginAndConnect(node, "13800000015", "ws")
        inboxes = [Inbox(d) for d in devices]
        peerInbox = Inbox(peer)
        await devices[0].request(text(peer.userId, "from device 0"))
        await peer.request(text(devices[0].userId, "from peer"))
        await devices[1].request(text(peer.userId, "from device 1"))
        # Devices that did not send the last message hear of all three.
        for inbox in (inboxes[0], inboxes[2], peerInbox):
            await withTimeout(inbox.waitFor(3))
        await withTimeout(inboxes[1].sync())
        expected = ["from device 0", "from peer", "from device 1"]
        for inbox in inboxes + [peerInbox]:
            self.assertEqual(bodies(inbox.messages), expected)

    async def test_resendSameLocalIdIsIdempotent(self):
        """
        The same local id from the same device yields one stored message
        and the original uid and timestamp.
        """
        node = await self.startNode()
        for transport in ("tcp", "ws"):
            a, b = await self.pair(node, transport, "tcp")
            first = await a.request(text(b.userId, "once " + transport, localId=1795878584209))
            again = await a.request(text(b.userId, "once " + transport, localId=1795878584209))
            self.assertEqual((again.messageUid, again.timestamp), (first.messageUid, first.timestamp))
            result = await b.request(PullMessages(0, 0))
            self.assertEqual(bodies(result.messages).count("once " + transport), 1)

    async def test_recall(self):
        """
        Recall: the peer gets RMN; a later pull shows type 80 with the
        operator and the uid; recalling someone else's message is 248.
        """
        node = await self.startNode()
        a, b = await self.pair(node)
        inboxB = Inbox(b)
        ack = await a.request(text(b.userId, "oops"))
        await withTimeout(inboxB.waitFor(1))
        with self.assertRaises(RequestFailed):
            await b.request(RecallMessage(ack.messageUid))
        await a.request(RecallMessage(ack.messageUid))
        [rmn] = await withTimeout(inboxB.waitFor(1, "recalls"))
        self.assertEqual((rmn.messageUid, rmn.fromUser), (ack.messageUid, a.userId))
        [pulled] = (await b.request(PullMessages(0, 0))).messages
        self.assertEqual(pulled.content.type, 80)
        self.assertEqual(pulled.content.content, a.userId)
        self.assertEqual(pulled.content.data, str(ack.messageUid).encode())

    async def test_historyPaging(self):
        """
        LRM pages back through 500 messages newest first, both
        directions, for each side.
        """
        node = await self.startNode()
        a, b = await self.pair(node)
        for start in range(0, 500, 100):
            await gatherResults([(a if i % 2 else b).request(
                text(b.userId if i % 2 else a.userId, f"h{i}")) for i in range(start, start + 100)])
        for viewer, peer in ((a, b), (b, a)):
            seen, before = [], 0
            while True:
                page = await viewer.request(LoadHistory(Conversation(0, peer.userId, 0), before, 50))
                if not page.messages:
                    break
                seen.extend(page.messages)
                before = page.messages[-1].messageUid
            self.assertEqual(len(seen), 500)
            messageUids = [m.messageUid for m in seen]
            self.assertEqual(messageUids, sorted(messageUids, reverse=True))

    async def test_transparentCallSignal(self):
        """
        A transparent 403 reaches the peer's devices only -- not the
        sender's other device, not a third user -- and is not stored.
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000016", "tcp")
        a2 = await self.loginAndConnect(node, "13800000016", "ws")
        b = await self.loginAndConnect(node, "13800000017", "ws")
        b2 = await self.loginAndConnect(node, "13800000017", "tcp")
        c = await self.loginAndConnect(node, "13800000018", "tcp")
        inboxes = {name: Inbox(conn) for name, conn in
                   (("a2", a2), ("b", b), ("b2", b2), ("c", c))}
        sdp = '{"type":"offer","sdp":"v=0"}'
        call = SendMessage(Message(Conversation(0, b.userId, 0), "", MessageContent(
            type=403, content="call-1", data=sdp.encode(), persistFlag=4)))
        await a.request(call)
        for name in ("b", "b2"):
            [m] = await withTimeout(inboxes[name].waitFor(1, "transparent"))
            await sleep(0.2)
            self.assertEqual(len(inboxes[name].transparent), 1, inboxes[name].transparent)
            self.assertEqual((m.content.type, m.content.data, m.fromUser), (403, sdp.encode(), a.userId))
        await sleep(0.3)
        self.assertEqual(inboxes["a2"].transparent, [])
        self.assertEqual(inboxes["c"].transparent, [])
        self.assertEqual((await b.request(PullMessages(0, 0))).messages, ())
        history = await b.request(LoadHistory(Conversation(0, a.userId, 0), 0, 20))
        self.assertEqual(history.messages, ())

    async def test_authorization(self):
        """
        A spoofed C{from} is ignored; a group one is not in gives 9; LRM of
        a group one is not in is refused.
        """
        node = await self.startNode()
        a, b = await self.pair(node, "ws", "tcp")
        spoof = SendMessage(Message(Conversation(0, b.userId, 0), b.userId,
                                    MessageContent(type=1, searchableContent="spoof")))
        await a.request(spoof)
        [got] = (await b.request(PullMessages(0, 0))).messages
        self.assertEqual(got.fromUser, a.userId)
        with self.assertRaises(RequestFailed) as caught:
            await b.request(text("no-such-group", "x", group=True))
        self.assertEqual(caught.exception.code, ErrorCode.NOT_IN_GROUP)
        with self.assertRaises(RequestFailed):
            await b.request(LoadHistory(Conversation(1, "no-such-group", 0), 0, 20))


class EmbeddedMessagingTests(MessagingMixin, NodeTestMixin, TestCase):
    """
    Messaging on the embedded default.
    """


class ProductionMessagingTests(MessagingMixin, ProductionBackend, TestCase):
    """
    Messaging on PostgreSQL + Redis.
    """


class ClusterTests(ProductionBackend, TestCase):
    """
    Two nodes sharing PostgreSQL and Redis.
    """

    async def test_twoNodes(self):
        """
        A user on node A and one on node B exchange messages both ways;
        a user with a device on each node sees everything on both.
        """
        nodeA = await self.startNode(["--node-id", "1"])
        nodeB = await self.startNode(["--node-id", "2"])
        a = await self.loginAndConnect(nodeA, "13800000020", "tcp")
        b = await self.loginAndConnect(nodeB, "13800000021", "ws")
        bOnA = await self.loginAndConnect(nodeA, "13800000021", "tcp")
        inboxB, inboxBOnA, inboxA = Inbox(b), Inbox(bOnA), Inbox(a)
        ack1 = await a.request(text(b.userId, "A to B"))
        ack2 = await b.request(text(a.userId, "B to A"))
        await withTimeout(inboxB.waitFor(1))
        await withTimeout(inboxA.waitFor(2))
        await withTimeout(inboxBOnA.waitFor(2))
        self.assertEqual(bodies((await b.request(PullMessages(0, 0))).messages), ["A to B", "B to A"])
        self.assertEqual(bodies(inboxBOnA.messages), ["A to B", "B to A"])
        self.assertEqual([m.messageUid for m in inboxA.messages], [ack1.messageUid, ack2.messageUid])
        self.assertNotEqual(ack1.messageUid & 0x1F80, ack2.messageUid & 0x1F80)  # different node bits


class CrashTests(NodeTestMixin, TestCase):
    """
    SIGKILL under load loses no acknowledged message.
    """

    def backendArgs(self):
        return []

    async def test_sigkillUnderLoad(self):
        """
        Senders keep sending while the node is SIGKILLed; after a restart
        on the same data, every acknowledged message is pullable, once.
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000030", "tcp")
        b = await self.loginAndConnect(node, "13800000031", "tcp", clientId="b-crash")
        acked = []

        async def sendMany():
            i = 0
            while True:
                try:
                    ack = await a.request(text(b.userId, f"c{i}", localId=i + 1), timeout=5)
                except Exception:
                    return
                acked.append((i, ack.messageUid))
                i += 1

        senders = sendMany()
        from twisted.internet.defer import ensureDeferred
        running = ensureDeferred(senders)
        await sleep(1.5)
        await node.stop(signal.SIGKILL)
        await running
        self.assertGreater(len(acked), 10)
        restarted = await self.startNode(dataDir=node.dataDir)
        b2 = await self.loginAndConnect(restarted, "13800000031", "tcp", clientId="b-crash")
        inbox = Inbox(b2)
        await withTimeout(inbox.sync(), 60)
        pulled = [m.messageUid for m in inbox.messages]
        self.assertEqual(len(pulled), len(set(pulled)))
        self.assertTrue({userId for _, userId in acked} <= set(pulled))
