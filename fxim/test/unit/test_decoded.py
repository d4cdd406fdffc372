# -*- test-case-name: fxim.test.unit.test_decoded -*-
"""
Tests for L{fxim.storage.messages.DecodedMessages} and the encodings
L{fxim.protocol.messages.fitPull} shares: the members of a group pulling
one message share one decoded message and one encoding of it, and a
change of the stored message -- made by this store or by another node --
is pulled at once.
"""


from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

import attr

from fxim.model import ContentType, MessageContent
from fxim.protocol import messages as protocolMessages
from fxim.protocol.messages import SendMessageCommand, fitPull
from fxim.storage import openStore
from fxim.storage.messages import DecodedMessages, messageValues
from fxim.test.unit.test_storage import NOW, makeMessage, openSharedPostgres

GROUP = 1
MEMBERS = ["alice", "bob", "carol"]


class DecodedMessagesTests(SynchronousTestCase):

    def test_sameRowSameObject(self):
        """
        A row decoded again while its type and size are the same gives the
        message decoded the first time.
        """
        decoded = DecodedMessages()
        row = messageValues(makeMessage(7))
        first = decoded.decode(row)
        self.assertEqual(first, makeMessage(7))
        self.assertIs(decoded.decode(list(row)), first)

    def test_changedRowDecodedAgain(self):
        """
        A row whose content type or size changed is decoded again.
        """
        decoded = DecodedMessages()
        message = makeMessage(7)
        first = decoded.decode(messageValues(message))
        recalled = message.__class__(
            message.conversation, message.fromUser,
            MessageContent(type=ContentType.RECALL, content="alice", data=b"7"),
            message.messageUid, message.timestamp)
        again = decoded.decode(messageValues(recalled))
        self.assertIsNot(again, first)
        self.assertEqual(again.content.type, ContentType.RECALL)

    def test_cached(self):
        """
        C{cached} gives a remembered message only for its uid, type and
        size.
        """
        decoded = DecodedMessages()
        message = makeMessage(5)
        decoded.remember(5, 1, 100, message)
        self.assertIs(decoded.cached(5, 1, 100), message)
        self.assertIsNone(decoded.cached(5, 80, 100))
        self.assertIsNone(decoded.cached(5, 1, 101))
        self.assertIsNone(decoded.cached(6, 1, 100))

    def test_bounded(self):
        """
        It keeps at most C{maxEntries} messages.
        """
        decoded = DecodedMessages(maxEntries=3)
        for uid in range(10):
            decoded.decode(messageValues(makeMessage(uid + 1)))
        self.assertLessEqual(len(decoded._entries), 3)


class SharedEncodingTests(SynchronousTestCase):

    def test_encodedOnce(self):
        """
        L{fitPull} encodes one message object once per transport, and
        gives every pull of it the same bytes.
        """
        calls = []
        original = protocolMessages._PIECES["tcp"]

        def counting(message):
            calls.append(message.messageUid)
            return original(message)
        self.patch(protocolMessages, "_PIECES", {"tcp": counting, "ws": protocolMessages._PIECES["ws"]})
        self.patch(protocolMessages, "_ENCODED", {"tcp": {}, "ws": {}})
        message = makeMessage(3)
        pulls = [fitPull([message], 5, "tcp", 1 << 20) for _ in range(3)]
        self.assertEqual(calls, [3])
        self.assertEqual({p[1] for p in pulls}, {(original(message),)})
        # An equal but distinct object (another decoding) is encoded anew.
        fitPull([makeMessage(3)], 5, "tcp", 1 << 20)
        self.assertEqual(calls, [3, 3])


class SharedPullContract:
    """
    Pulls of one group message, on a store of either backend.
    """

    def openStore(self):
        raise NotImplementedError()

    @inlineCallbacks
    def setUp(self):
        self.store = yield self.openStore()
        self.addCleanup(self.store.close)

    @inlineCallbacks
    def _pullAll(self, store):
        out = {}
        for member in MEMBERS:
            batch = yield store.pullMessages(member, 0, 1 << 20)
            out[member] = [m for _, m in batch.entries]
        return out

    @inlineCallbacks
    def test_membersShareOneMessage(self):
        """
        Every member pulling a group message gets the same decoded object,
        equal to the message stored.
        """
        message = makeMessage(11, target="g1", ctype=GROUP)
        yield self.store.storeMessage(message, MEMBERS, None, NOW)
        pulled = yield self._pullAll(self.store)
        first = pulled["alice"][0]
        self.assertEqual(first, message)
        for member in MEMBERS:
            self.assertIs(pulled[member][0], first)

    def _wireMessages(self):
        """
        Messages as the TCP and WebSocket decoders build them from a client's
        MS, with every kind of field set, then given a uid and time as the
        messaging service does.
        """
        rich = makeMessage(0, target="g1", ctype=GROUP, text="hi \u4f60\u597d",
                           data=b"\x00\xffbytes", localId=77, pushContent="push",
                           content="{\"k\": [1, 2]}", mediaType=3,
                           remoteMediaUrl="http://x/y", persistFlag=1,
                           expireDuration=60, mentionedType=1,
                           mentionedTargets=("bob", "carol"))
        rich = attr.evolve(rich, toUser="bob", to=("bob", "carol"))
        plain = makeMessage(0, target="g1", ctype=GROUP, text="")
        out = []
        for uid, (message, codec) in enumerate(
                [(rich, "Tcp"), (rich, "Ws"), (plain, "Tcp"), (plain, "Ws")], 20):
            encode = getattr(SendMessageCommand, "requestTo" + codec)
            decode = getattr(SendMessageCommand, "requestFrom" + codec)
            decoded = decode(encode(SendMessageCommand.request(message))).message
            out.append(attr.evolve(decoded, fromUser="alice", messageUid=uid,
                                   timestamp=NOW + uid))
        return out

    @inlineCallbacks
    def test_storedMessageIsPulled(self):
        """
        A pull of a message this store stored gets the stored object itself
        (no decoding of the row just written); a store that did not store it
        decodes the row to an equal message, whichever decoder built it.
        """
        sent = self._wireMessages()
        for message in sent:
            yield self.store.storeMessage(message, MEMBERS, None, NOW)
        pulled = yield self._pullAll(self.store)
        other = yield self.openStore()
        self.addCleanup(other.close)
        fresh = yield self._pullAll(other)
        for member in MEMBERS:
            self.assertEqual(len(pulled[member]), len(sent))
            for mine, theirs, message in zip(pulled[member], fresh[member], sent):
                self.assertIs(mine, message)
                self.assertIsNot(theirs, message)
                self.assertEqual(theirs, message)

    @inlineCallbacks
    def test_pullsOfAnotherStore(self):
        """
        A store that decoded none of the messages (another node's) pulls
        the same entries, capped or not, from every seq, as the store that
        stored them; and again once it has decoded some of them.
        """
        sent = [makeMessage(i, target="g1", ctype=GROUP, data=b"d" * 50 * i)
                for i in range(30, 48)]
        for message in sent:
            yield self.store.storeMessage(message, MEMBERS, None, NOW)
        other = yield self.openStore()
        self.addCleanup(other.close)
        for rounds in range(2):
            for after in range(0, len(sent) + 1):
                for cap in (1 << 20, 2000):
                    mine = yield self.store.pullMessages("bob", after, cap)
                    theirs = yield other.pullMessages("bob", after, cap)
                    self.assertEqual(theirs.entries, mine.entries, (rounds, after, cap))
                    self.assertEqual(theirs.head, mine.head)

    @inlineCallbacks
    def test_recallSeenByNextPull(self):
        """
        After the message is recalled -- by this store, or by another one on
        the same database (another node) -- every pull has the recalled
        content.
        """
        message = makeMessage(12, target="g1", ctype=GROUP)
        yield self.store.storeMessage(message, MEMBERS, None, NOW)
        yield self._pullAll(self.store)
        recalled = MessageContent(type=ContentType.RECALL, content="alice", data=b"12")
        other = yield self.openStore()
        self.addCleanup(other.close)
        yield other.replaceContent(12, recalled)
        pulled = yield self._pullAll(self.store)
        for member in MEMBERS:
            self.assertEqual(pulled[member][0].content, recalled)


class SqliteSharedPullTests(SharedPullContract, TestCase):  # type: ignore[misc]

    def openStore(self):
        if not hasattr(self, "dataDir"):
            self.dataDir = self.mktemp()
        return openStore(reactor, dataDir=self.dataDir)


class PostgresSharedPullTests(SharedPullContract, TestCase):  # type: ignore[misc]

    def openStore(self):
        return openSharedPostgres(self)
