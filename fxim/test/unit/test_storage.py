# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
Tests for L{fxim.storage}: one contract per store interface, run against
every backend (memory, SQLite, and PostgreSQL when C{FXIM_TEST_POSTGRES_DSN}
is set).
"""

import os
import uuid
from typing import Any
import attr

from twisted.internet import reactor
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.trial.unittest import SkipTest, TestCase
from zope.interface.verify import verifyObject

from fxim.test import ROOT
from fxim.ids import ALPHABET, fromUid, toUid
from fxim.interfaces import (
    IFriendStore, IGroupStore, ILoginCodeStore, IMessageStore, ISessionStore,
    IUserStore,
)
from fxim.model import (
    Conversation, ConversationType, Friend, FriendRequest, GroupInfo,
    GroupMember, MemberType, Message, MessageContent, Session, User,
)
from fxim.storage.memory import MemoryStore
from fxim.storage.messages import estimateSize
from fxim.storage.records import CodeState
from fxim.test.mixin import TestCaseMixin

PRIVATE = ConversationType.PRIVATE
GROUP = ConversationType.GROUP
NOW = 1700000000000


def makeMessage(userId, fromUser="alice", target="bob", ctype=PRIVATE,
                text="hello", data=b"", localId=None, line=0, **content):
    """
    Build a L{Message} with a text content.
    """
    return Message(
        conversation=Conversation(ctype, target, line), fromUser=fromUser,
        content=MessageContent(type=1, searchableContent=text, data=data,
                               **content),
        messageUid=userId, timestamp=NOW + userId, localId=localId)


class MemoryBackendMixin(TestCaseMixin):
    """
    Run a contract against L{MemoryStore}.
    """

    def setUp(self):
        self.store = MemoryStore()


class SqliteBackendMixin(TestCaseMixin):
    """
    Run a contract against SQLite, in a real file of a temporary folder.
    """

    @inlineCallbacks
    def setUp(self):
        from fxim.storage import openStore
        self.dataDir = self.mktemp()
        self.store = yield openStore(reactor, dataDir=self.dataDir)
        self.addCleanup(lambda: self.store.close())


POSTGRES_DSN = os.environ.get("FXIM_TEST_POSTGRES_DSN")
NO_POSTGRES = "FXIM_TEST_POSTGRES_DSN is not set: no PostgreSQL to test"


def openSharedPostgres(case):
    """
    Open a store on C{case}'s own PostgreSQL schema: made on the first
    call (and dropped at cleanup); later calls open more stores on it, as
    more nodes would.

    @raise SkipTest: without a test PostgreSQL.
    """
    if not POSTGRES_DSN:
        raise SkipTest(NO_POSTGRES)
    from fxim.storage import openStore
    if not hasattr(case, "schema"):
        case.schema = "fxim_test_" + uuid.uuid4().hex[:12]
        case.addCleanup(dropSchema, case.schema)
    return openStore(reactor, POSTGRES_DSN, schema=case.schema)


def dropSchema(schema):
    """
    Drop a test schema and everything in it.
    """
    import psycopg2
    conn = psycopg2.connect(POSTGRES_DSN)
    try:
        with conn.cursor() as cursor:
            cursor.execute("DROP SCHEMA IF EXISTS %s CASCADE" % (schema,))
        conn.commit()
    finally:
        conn.close()


class PostgresBackendMixin(TestCaseMixin):
    """
    Run a contract against PostgreSQL (C{FXIM_TEST_POSTGRES_DSN}), in a
    fresh schema dropped after the test.
    """

    @inlineCallbacks
    def setUp(self):
        if not POSTGRES_DSN:
            raise SkipTest(NO_POSTGRES)
        from fxim.storage import openStore
        self.schema = "fxim_test_" + uuid.uuid4().hex[:12]
        self.addCleanup(dropSchema, self.schema)
        self.store = yield openStore(reactor, POSTGRES_DSN,
                                     schema=self.schema)
        self.addCleanup(lambda: self.store.close())


# -- contracts -----------------------------------------------------------

class StoreContract:
    """
    What every store contract checks; C{interface} is the contract's.
    """

    interface: Any = None

    def test_interface(self):
        """
        The store provides the contract's C{interface}.
        """
        self.assertTrue(verifyObject(self.interface, self.store))


class UserStoreContract(StoreContract):
    """
    L{IUserStore} contract; C{self.store} is set by a backend mixin.
    """

    interface = IUserStore

    @inlineCallbacks
    def test_getOrCreateByMobileCreates(self):
        """
        An unknown mobile gets a new user with an 8-character uid, its
        name and display name being the mobile.
        """
        user, created = yield self.store.getOrCreateByMobile("13800000001",
                                                             NOW)
        self.assertTrue(created)
        self.assertEqual(len(user.userId), 8)
        self.assertTrue(set(user.userId) <= set(ALPHABET))
        self.assertEqual((user.name, user.displayName, user.mobile),
                         ("13800000001",) * 3)
        self.assertEqual(user.updateDt, NOW)
        again = yield self.store.getUser(user.userId)
        self.assertEqual(again, user)

    @inlineCallbacks
    def test_getOrCreateByMobileFinds(self):
        """
        A known mobile gives the same user and C{created=False}.
        """
        first, _ = yield self.store.getOrCreateByMobile("138", NOW)
        second, created = yield self.store.getOrCreateByMobile("138", NOW + 1)
        self.assertFalse(created)
        self.assertEqual(second, first)

    @inlineCallbacks
    def test_uidsUnique(self):
        """
        Many users, some created concurrently, get distinct uids.
        """
        results = yield gatherResults([
            self.store.getOrCreateByMobile("m%d" % i, NOW) for i in range(60)
        ])
        userIds = {u.userId for u, _ in results}
        self.assertEqual(len(userIds), 60)

    @inlineCallbacks
    def test_createUser(self):
        """
        C{createUser} stores a user with the given uid and display name.
        """
        user = yield self.store.createUser("139", "Carol", NOW, userId="carol")
        self.assertEqual(user, User(userId="carol", name="139",
                                    displayName="Carol", mobile="139",
                                    updateDt=NOW))
        self.assertEqual((yield self.store.getUser("carol")), user)

    @inlineCallbacks
    def test_createUserGeneratesUid(self):
        """
        Without a uid, C{createUser} makes one.
        """
        user = yield self.store.createUser("139", "Carol", NOW)
        self.assertEqual(len(user.userId), 8)

    @inlineCallbacks
    def assertSecondRefused(self, mobile, userId):
        """
        After user C{x} with mobile C{1}, C{createUser} of (C{mobile},
        C{userId}) fails with L{KeyError}.
        """
        yield self.store.createUser("1", "A", NOW, userId="x")
        yield self.assertFailure(self.store.createUser(mobile, "B", NOW, userId=userId),
                                 KeyError)

    def test_createUserDuplicateUid(self):
        """
        C{createUser} fails with L{KeyError} if the uid exists.
        """
        return self.assertSecondRefused("2", "x")

    def test_createUserDuplicateMobile(self):
        """
        C{createUser} fails with L{KeyError} if the mobile exists.
        """
        return self.assertSecondRefused("1", "y")

    @inlineCallbacks
    def test_getUserMissing(self):
        """
        An unknown uid gives L{None}.
        """
        self.assertIsNone((yield self.store.getUser("nobody")))

    @inlineCallbacks
    def test_getUsers(self):
        """
        C{getUsers} maps the uids found to their users.
        """
        a = yield self.store.createUser("1", "A", NOW, userId="a")
        b = yield self.store.createUser("2", "B", NOW, userId="b")
        found = yield self.store.getUsers(["a", "b", "zz"])
        self.assertEqual(found, {"a": a, "b": b})
        self.assertEqual((yield self.store.getUsers([])), {})

    @inlineCallbacks
    def test_updateUser(self):
        """
        C{updateUser} applies every field and sets updateDt, durably.
        """
        yield self.store.createUser("1", "A", NOW, userId="a")
        changes = dict(
            name="n", displayName="Dee", portrait="p", email="e",
            address="ad", company="co", extra="ex", gender=2, social="so",
            type=1, status=2, searchable=False, mobile="7")
        new = yield self.store.updateUser("a", changes, NOW + 5)
        self.assertEqual(new, User(userId="a", updateDt=NOW + 5, **changes))
        self.assertEqual((yield self.store.getUser("a")), new)
        byMobile, created = yield self.store.getOrCreateByMobile("7", NOW)
        self.assertFalse(created)
        self.assertEqual(byMobile.userId, "a")

    @inlineCallbacks
    def test_updateUserMissing(self):
        """
        Updating an unknown user gives L{None}.
        """
        self.assertIsNone(
            (yield self.store.updateUser("zz", {"displayName": "x"}, NOW)))

    @inlineCallbacks
    def test_updateUserUnknownField(self):
        """
        An unknown field name fails with L{ValueError}.
        """
        yield self.store.createUser("1", "A", NOW, userId="a")
        yield self.assertFailure(
            self.store.updateUser("a", {"bogus": 1}, NOW), ValueError)

    @inlineCallbacks
    def test_searchExactMobile(self):
        """
        A non-fuzzy search matches the mobile exactly.
        """
        a = yield self.store.createUser("1381", "Ann", NOW, userId="a")
        yield self.store.createUser("13812", "Bob 1381", NOW, userId="b")
        self.assertEqual((yield self.store.searchUsers("1381", False, 0, 10)),
                         [a])

    @inlineCallbacks
    def test_searchFuzzy(self):
        """
        A fuzzy search also matches display names containing the keyword,
        and pages with offset and limit.
        """
        a = yield self.store.createUser("1", "Annie", NOW, userId="a")
        b = yield self.store.createUser("2", "Joanna", NOW, userId="b")
        yield self.store.createUser("3", "Bob", NOW, userId="c")
        found = yield self.store.searchUsers("nn", True, 0, 10)
        self.assertEqual(sorted(found, key=lambda u: u.userId), [a, b])
        page1 = yield self.store.searchUsers("nn", True, 0, 1)
        page2 = yield self.store.searchUsers("nn", True, 1, 1)
        self.assertEqual(sorted(page1 + page2, key=lambda u: u.userId), [a, b])

    @inlineCallbacks
    def test_searchFuzzySkipsMobileFallback(self):
        """
        A display name that is the user's own mobile (the login fallback)
        is not matched fuzzily; the exact mobile still finds the user.
        """
        a = yield self.store.createUser("13811112222", "", NOW, userId="a")
        self.assertEqual(a.displayName, "13811112222")
        self.assertEqual((yield self.store.searchUsers("1111", True, 0, 10)), [])
        self.assertEqual((yield self.store.searchUsers("13811112222", True, 0, 10)), [a])

    @inlineCallbacks
    def test_searchLiteral(self):
        """
        Fuzzy keywords are literal text, not patterns.
        """
        yield self.store.createUser("1", "Annie", NOW, userId="a")
        self.assertEqual((yield self.store.searchUsers("%", True, 0, 10)), [])
        self.assertEqual((yield self.store.searchUsers("_", True, 0, 10)), [])

    @inlineCallbacks
    def test_searchOnlySearchable(self):
        """
        Users who are not searchable are never found.
        """
        yield self.store.createUser("1", "Ann", NOW, userId="a")
        yield self.store.updateUser("a", {"searchable": False}, NOW)
        self.assertEqual((yield self.store.searchUsers("1", False, 0, 10)), [])
        self.assertEqual((yield self.store.searchUsers("Ann", True, 0, 10)),
                         [])


class SessionStoreContract(StoreContract):
    """
    L{ISessionStore} contract.
    """

    interface = ISessionStore

    def session(self, userId="a", cid="c1", secret="s" * 16, **kw):
        return Session(userId=userId, cid=cid, secret=secret, dbSecret="db",
                       createdAt=NOW, expiresAt=NOW + 1000, platform=2, **kw)

    @inlineCallbacks
    def test_createAndGet(self):
        """
        A created session can be read back.
        """
        s = self.session()
        self.assertEqual((yield self.store.createSession(s)), s)
        self.assertEqual((yield self.store.getSession("a", "c1")), s)
        self.assertIsNone((yield self.store.getSession("a", "c2")))

    @inlineCallbacks
    def test_createReplaces(self):
        """
        Creating a session for an existing (uid, cid) replaces it.
        """
        yield self.store.createSession(self.session())
        s2 = self.session(secret="t" * 16)
        yield self.store.createSession(s2)
        self.assertEqual((yield self.store.getSession("a", "c1")), s2)
        self.assertEqual((yield self.store.listSessions("a")), [s2])

    @inlineCallbacks
    def test_listSessions(self):
        """
        C{listSessions} gives only that user's sessions.
        """
        s1, s2 = self.session(cid="c1"), self.session(cid="c2")
        yield self.store.createSession(s1)
        yield self.store.createSession(s2)
        yield self.store.createSession(self.session(userId="b"))
        found = yield self.store.listSessions("a")
        self.assertEqual(sorted(found, key=lambda s: s.cid), [s1, s2])

    @inlineCallbacks
    def test_deleteSession(self):
        """
        C{deleteSession} says whether there was one to delete.
        """
        yield self.store.createSession(self.session())
        self.assertTrue((yield self.store.deleteSession("a", "c1")))
        self.assertFalse((yield self.store.deleteSession("a", "c1")))
        self.assertIsNone((yield self.store.getSession("a", "c1")))


class LoginCodeStoreContract(StoreContract):
    """
    L{ILoginCodeStore} contract.
    """

    interface = ILoginCodeStore

    @inlineCallbacks
    def test_roundTrip(self):
        """
        A stored code state is read back, and replaced by the next one.
        """
        self.assertIsNone((yield self.store.getCodeState("138")))
        s1 = CodeState("123456", NOW + 300000, 0, NOW, NOW - 5, 1)
        yield self.store.putCodeState("138", s1)
        self.assertEqual((yield self.store.getCodeState("138")), s1)
        s2 = CodeState("654321", NOW + 600000, 2, NOW + 60000, NOW - 5, 2)
        yield self.store.putCodeState("138", s2)
        self.assertEqual((yield self.store.getCodeState("138")), s2)
        self.assertIsNone((yield self.store.getCodeState("139")))


class MessageStoreContract(StoreContract):
    """
    L{IMessageStore} contract.
    """

    interface = IMessageStore

    def put(self, message, receivers=("alice", "bob"), dedupKey=None):
        return self.store.storeMessage(message, list(receivers), dedupKey,
                                       NOW)

    @inlineCallbacks
    def test_roundTrip(self):
        """
        Every field of a message and its content survives storage.
        """
        m = Message(
            conversation=Conversation(GROUP, "g1", 1), fromUser="alice",
            content=MessageContent(
                type=3, searchableContent="s", pushContent="p",
                content="c\u00e9", data=bytes(range(256)), mediaType=2,
                remoteMediaUrl="http://x/y", persistFlag=3,
                expireDuration=60, mentionedType=1,
                mentionedTargets=("bob", "carol")),
            messageUid=2 ** 52 + 17, timestamp=NOW, toUser="bob",
            to=("bob", "dave"), localId=-(2 ** 63))
        stored = yield self.put(m, dedupKey=("alice", "c1", m.localId))
        self.assertEqual(stored.message, m)
        self.assertFalse(stored.duplicate)
        self.assertEqual((yield self.store.getMessage(m.messageUid)), m)
        batch = yield self.store.pullMessages("bob", 0, 1 << 20)
        self.assertEqual(batch.entries, [(1, m)])

    @inlineCallbacks
    def test_emptyFields(self):
        """
        A message with empty optional fields and no local id round-trips.
        """
        m = makeMessage(5, text="")
        yield self.put(m)
        self.assertEqual((yield self.store.getMessage(5)), m)

    @inlineCallbacks
    def test_seqsGapless(self):
        """
        Each receiver's seqs start at 1 and grow by one per message.
        """
        receivers = ["r%d" % i for i in range(30)]
        first = yield self.put(makeMessage(1), receivers)
        self.assertEqual(first.seqs, {r: 1 for r in receivers})
        second = yield self.put(makeMessage(2), receivers[:10])
        self.assertEqual(second.seqs, {r: 2 for r in receivers[:10]})
        third = yield self.put(makeMessage(3), receivers)
        expected = {r: 3 if i < 10 else 2 for i, r in enumerate(receivers)}
        self.assertEqual(third.seqs, expected)
        self.assertEqual((yield self.store.getHead("r0")), 3)
        self.assertEqual((yield self.store.getHead("r29")), 2)
        self.assertEqual((yield self.store.getHead("nobody")), 0)

    @inlineCallbacks
    def test_repeatedReceiver(self):
        """
        A receiver listed twice gets one entry.
        """
        stored = yield self.put(makeMessage(1), ["alice", "alice"])
        self.assertEqual(stored.seqs, {"alice": 1})
        self.assertEqual((yield self.store.getHead("alice")), 1)

    @inlineCallbacks
    def test_concurrentStores(self):
        """
        200 stores fired without waiting give every receiver exactly the
        seqs 1..N, each once.
        """
        ds = [self.put(makeMessage(i + 1, fromUser="s%d" % (i % 7)),
                         ["s%d" % (i % 7), "common"])
              for i in range(200)]
        results = yield gatherResults(ds)
        perUser = {}
        for stored in results:
            for userId, seq in stored.seqs.items():
                perUser.setdefault(userId, []).append(seq)
        self.assertEqual(sorted(perUser["common"]), list(range(1, 201)))
        for i in range(7):
            seqs = perUser["s%d" % i]
            self.assertEqual(sorted(seqs), list(range(1, len(seqs) + 1)))
        batch = yield self.store.pullMessages("common", 0, 1 << 30)
        self.assertEqual([s for s, _ in batch.entries], list(range(1, 201)))
        self.assertEqual(batch.head, 200)
        bySeq = {r.seqs["common"]: r.message.messageUid for r in results}
        self.assertEqual({s: m.messageUid for s, m in batch.entries}, bySeq)

    @inlineCallbacks
    def test_dedup(self):
        """
        A second store with the same dedup key stores nothing and returns
        the original message and seqs.
        """
        key = ("alice", "c1", 42)
        first = yield self.put(makeMessage(1, localId=42), dedupKey=key)
        again = yield self.put(makeMessage(2, localId=42, text="other"),
                                 dedupKey=key)
        self.assertTrue(again.duplicate)
        self.assertEqual(again.message, first.message)
        self.assertEqual(again.seqs, first.seqs)
        self.assertIsNone((yield self.store.getMessage(2)))
        self.assertEqual((yield self.store.getHead("bob")), 1)

    @inlineCallbacks
    def test_dedupKeyScope(self):
        """
        The same local id from another device or user, or no dedup key,
        is a new message.
        """
        yield self.put(makeMessage(1), dedupKey=("alice", "c1", 42))
        other = yield self.put(makeMessage(2), dedupKey=("alice", "c2", 42))
        self.assertFalse(other.duplicate)
        other = yield self.put(makeMessage(3), dedupKey=("bob", "c1", 42))
        self.assertFalse(other.duplicate)
        other = yield self.put(makeMessage(4), dedupKey=None)
        self.assertFalse(other.duplicate)
        other = yield self.put(makeMessage(5), dedupKey=("alice", "c1", None))
        self.assertFalse(other.duplicate)
        self.assertEqual((yield self.store.getHead("bob")), 5)

    @inlineCallbacks
    def test_dedupConcurrent(self):
        """
        Two stores with one dedup key, fired together, store one message.
        """
        key = ("alice", "c1", 7)
        results = yield gatherResults([
            self.put(makeMessage(i + 1), dedupKey=key) for i in range(3)])
        self.assertEqual([r.duplicate for r in results],
                         [False, True, True])
        self.assertEqual({r.message.messageUid for r in results}, {1})
        self.assertEqual({r.seqs["bob"] for r in results}, {1})
        self.assertEqual((yield self.store.getHead("bob")), 1)

    @inlineCallbacks
    def test_purgeDedupKeys(self):
        """
        Purged dedup keys no longer deduplicate; younger ones still do.
        """
        yield self.store.storeMessage(makeMessage(1), ["bob"],
                                      ("alice", "c1", 1), NOW)
        yield self.store.storeMessage(makeMessage(2), ["bob"],
                                      ("alice", "c1", 2), NOW + 10)
        purged = yield self.store.purgeDedupKeys(NOW + 5)
        self.assertEqual(purged, 1)
        r1 = yield self.store.storeMessage(makeMessage(3), ["bob"],
                                           ("alice", "c1", 1), NOW + 20)
        r2 = yield self.store.storeMessage(makeMessage(4), ["bob"],
                                           ("alice", "c1", 2), NOW + 20)
        self.assertFalse(r1.duplicate)
        self.assertTrue(r2.duplicate)

    @inlineCallbacks
    def test_duplicateUidFails(self):
        """
        Storing a second message with a stored uid fails with L{KeyError}
        and leaves concurrent stores unharmed.
        """
        yield self.put(makeMessage(1))
        bad = self.put(makeMessage(1, text="again"))
        good = [self.put(makeMessage(i)) for i in range(2, 6)]
        yield self.assertFailure(bad, KeyError)
        results = yield gatherResults(good)
        self.assertEqual(sorted(r.seqs["bob"] for r in results), [2, 3, 4, 5])
        self.assertEqual((yield self.store.getHead("bob")), 5)

    @inlineCallbacks
    def test_pullAfter(self):
        """
        A pull gives the entries after C{afterSeq}, oldest first, and the
        head.
        """
        for i in range(1, 6):
            yield self.put(makeMessage(i))
        batch = yield self.store.pullMessages("bob", 2, 1 << 20)
        self.assertEqual([(s, m.messageUid) for s, m in batch.entries],
                         [(3, 3), (4, 4), (5, 5)])
        self.assertEqual(batch.head, 5)
        batch = yield self.store.pullMessages("bob", 5, 1 << 20)
        self.assertEqual((batch.entries, batch.head), ([], 5))
        batch = yield self.store.pullMessages("nobody", 0, 1 << 20)
        self.assertEqual((batch.entries, batch.head), ([], 0))

    @inlineCallbacks
    def test_pullMaxBytes(self):
        """
        A pull stops before exceeding C{maxBytes}; continuing after the
        last seq returned gives the rest, never skipping one.
        """
        messages = [makeMessage(i, data=b"x" * 1000) for i in range(1, 11)]
        for m in messages:
            yield self.put(m)
        size = estimateSize(messages[0])
        batch = yield self.store.pullMessages("bob", 0, size * 3 + 10)
        self.assertEqual([s for s, _ in batch.entries], [1, 2, 3])
        self.assertEqual(batch.head, 10)
        seen = []
        after = 0
        while after < 10:
            batch = yield self.store.pullMessages("bob", after, size * 4)
            seen.extend(s for s, _ in batch.entries)
            after = batch.entries[-1][0]
        self.assertEqual(seen, list(range(1, 11)))

    @inlineCallbacks
    def test_pullFromEverySeq(self):
        """
        From every seq -- fewer or more waiting than a pull's first read
        holds -- a pull gives what follows it up to the cap, and the head.
        """
        messages = [makeMessage(i, data=b"x" * 100) for i in range(1, 41)]
        yield gatherResults([self.put(m, ["bob"]) for m in messages])
        cap = estimateSize(messages[0]) * 5 + 10
        for after in range(0, 42):
            full = yield self.store.pullMessages("bob", after, 1 << 20)
            capped = yield self.store.pullMessages("bob", after, cap)
            waiting = list(range(after + 1, 41))
            self.assertEqual([s for s, _ in full.entries], waiting, after)
            self.assertEqual([m.messageUid for _, m in full.entries], waiting, after)
            self.assertEqual([s for s, _ in capped.entries], waiting[:5], after)
            self.assertEqual((full.head, capped.head), (40, 40), after)

    @inlineCallbacks
    def test_pullAtLeastOne(self):
        """
        A message larger than C{maxBytes} is still returned, alone.
        """
        yield self.put(makeMessage(1, data=b"x" * 5000))
        yield self.put(makeMessage(2))
        batch = yield self.store.pullMessages("bob", 0, 100)
        self.assertEqual([s for s, _ in batch.entries], [1])

    @inlineCallbacks
    def test_pullNoWindow(self):
        """
        Thousands of entries all stay pullable.
        """
        for start in range(0, 3000, 500):
            yield gatherResults([self.put(makeMessage(i + 1), ["bob"])
                                 for i in range(start, start + 500)])
        batch = yield self.store.pullMessages("bob", 0, 1 << 30)
        self.assertEqual([s for s, _ in batch.entries],
                         list(range(1, 3001)))

    @inlineCallbacks
    def test_getReceivers(self):
        """
        C{getReceivers} lists the uids whose inbox holds the message.
        """
        yield self.put(makeMessage(1), ["carol", "alice", "bob"])
        self.assertEqual(sorted((yield self.store.getReceivers(1))),
                         ["alice", "bob", "carol"])
        self.assertEqual((yield self.store.getReceivers(99)), [])

    @inlineCallbacks
    def test_getMessageMissing(self):
        """
        An unknown uid gives L{None}.
        """
        self.assertIsNone((yield self.store.getMessage(12345)))

    @inlineCallbacks
    def test_replaceContent(self):
        """
        A replaced content (recall) is what later reads and pulls return.
        """
        m = makeMessage(1, data=b"secret" * 100)
        yield self.put(m)
        recall = MessageContent(type=80, content="alice", data=b"1")
        new = yield self.store.replaceContent(1, recall)
        self.assertEqual(new.content, recall)
        self.assertEqual(new.messageUid, 1)
        self.assertEqual(new.conversation, m.conversation)
        self.assertEqual((yield self.store.getMessage(1)), new)
        batch = yield self.store.pullMessages("bob", 0, 1 << 20)
        self.assertEqual(batch.entries, [(1, new)])
        self.assertIsNone((yield self.store.replaceContent(99, recall)))

    @inlineCallbacks
    def test_historyPrivateBothDirections(self):
        """
        Private history holds both directions between viewer and peer,
        newest first, and nothing of other conversations.
        """
        yield self.put(makeMessage(1, "alice", "bob"), ["alice", "bob"])
        yield self.put(makeMessage(2, "bob", "alice"), ["bob", "alice"])
        yield self.put(makeMessage(3, "alice", "carol"), ["alice", "carol"])
        yield self.put(makeMessage(4, "carol", "bob"), ["carol", "bob"])
        yield self.put(makeMessage(5, "alice", "bob", line=1),
                         ["alice", "bob"])
        conv = Conversation(PRIVATE, "bob")
        found = yield self.store.loadHistory("alice", conv, 0, 10)
        self.assertEqual([m.messageUid for m in found], [2, 1])
        found = yield self.store.loadHistory("bob", Conversation(PRIVATE,
                                                                 "alice"),
                                             0, 10)
        self.assertEqual([m.messageUid for m in found], [2, 1])

    @inlineCallbacks
    def test_historyPaging(self):
        """
        History pages backwards with C{beforeUid} and C{count}.
        """
        for i in range(1, 11):
            sender, peer = ("alice", "bob") if i % 2 else ("bob", "alice")
            yield self.put(makeMessage(i * 10, sender, peer))
        conv = Conversation(PRIVATE, "bob")
        page = yield self.store.loadHistory("alice", conv, 0, 4)
        self.assertEqual([m.messageUid for m in page], [100, 90, 80, 70])
        page = yield self.store.loadHistory("alice", conv, 70, 4)
        self.assertEqual([m.messageUid for m in page], [60, 50, 40, 30])
        page = yield self.store.loadHistory("alice", conv, 30, 4)
        self.assertEqual([m.messageUid for m in page], [20, 10])
        page = yield self.store.loadHistory("alice", conv, 10, 4)
        self.assertEqual(page, [])

    @inlineCallbacks
    def test_historyGroup(self):
        """
        Group history holds the group's messages in the viewer's inbox.
        """
        yield self.put(makeMessage(1, "alice", "g1", GROUP),
                         ["alice", "bob"])
        yield self.put(makeMessage(2, "bob", "g1", GROUP),
                         ["alice", "bob", "carol"])
        yield self.put(makeMessage(3, "bob", "g2", GROUP), ["alice", "bob"])
        conv = Conversation(GROUP, "g1")
        found = yield self.store.loadHistory("alice", conv, 0, 10)
        self.assertEqual([m.messageUid for m in found], [2, 1])
        found = yield self.store.loadHistory("carol", conv, 0, 10)
        self.assertEqual([m.messageUid for m in found], [2])
        found = yield self.store.loadHistory("dave", conv, 0, 10)
        self.assertEqual(found, [])


class FriendStoreContract(StoreContract):
    """
    L{IFriendStore} contract.
    """

    interface = IFriendStore

    @inlineCallbacks
    def test_putAndGet(self):
        """
        A friend row is stored per (uid, friendUid) and updated in place.
        """
        f = Friend("bob", 0, NOW, "Bobby")
        yield self.store.putFriend("alice", f)
        self.assertEqual((yield self.store.getFriend("alice", "bob")), f)
        self.assertIsNone((yield self.store.getFriend("bob", "alice")))
        f2 = Friend("bob", 2, NOW + 1, "")
        yield self.store.putFriend("alice", f2)
        self.assertEqual((yield self.store.getFriend("alice", "bob")), f2)

    @inlineCallbacks
    def test_changeFriendship(self):
        """
        C{changeFriendship} gives the decision the target user, both
        friend rows and the request, then writes the request and rows it
        returns; what it raises fails the call with nothing written.
        """
        from fxim.storage.friends import FriendChange
        bob = yield self.store.createUser("13800000002", "Bob", NOW, userId="bob")
        mine, theirs = Friend("bob", 1, NOW, "B"), Friend("alice", 2, NOW, "")
        yield self.store.putFriend("alice", mine)
        yield self.store.putFriend("bob", theirs)
        request = FriendRequest("alice", "bob", "hi", 0, NOW, True, False)

        def refuse(pair):
            raise ValueError("no")
        yield self.assertFailure(self.store.changeFriendship("alice", "bob", refuse),
                                 ValueError)
        pair, change = yield self.store.changeFriendship(
            "alice", "bob", lambda pair: FriendChange(request, [("alice", Friend("bob", 0, NOW + 1))]))
        self.assertEqual((pair.target, pair.fromRow, pair.toRow, pair.request),
                         (bob, mine, theirs, None))
        self.assertEqual(change.request, request)
        self.assertEqual((yield self.store.getFriendRequest("alice", "bob")), request)
        self.assertEqual((yield self.store.getFriend("alice", "bob")), Friend("bob", 0, NOW + 1))
        pair, change = yield self.store.changeFriendship("bob", "nobody", lambda pair: None)
        self.assertEqual((pair.target, pair.fromRow, pair.toRow, pair.request, change),
                         (None, None, None, None, None))

    @inlineCallbacks
    def test_listFriendsSince(self):
        """
        C{listFriends} gives the user's rows updated after C{sinceDt}.
        """
        a = Friend("bob", 0, NOW)
        b = Friend("carol", 1, NOW + 10)
        yield self.store.putFriend("alice", a)
        yield self.store.putFriend("alice", b)
        yield self.store.putFriend("bob", Friend("alice", 0, NOW + 20))
        found = yield self.store.listFriends("alice", 0)
        self.assertEqual(sorted(found, key=lambda f: f.userId), [a, b])
        self.assertEqual((yield self.store.listFriends("alice", NOW)), [b])
        self.assertEqual((yield self.store.listFriends("alice", NOW + 10)),
                         [])

    @inlineCallbacks
    def test_friendRequests(self):
        """
        Requests are stored per (from, to), replaced, and listed to or
        from the user after C{sinceDt}.
        """
        r1 = FriendRequest("alice", "bob", "hi", 0, NOW)
        r2 = FriendRequest("carol", "alice", "yo", 0, NOW + 5, True, False)
        r3 = FriendRequest("carol", "bob", "x", 0, NOW + 9)
        for r in (r1, r2, r3):
            yield self.store.putFriendRequest(r)
        self.assertEqual((yield self.store.getFriendRequest("alice", "bob")),
                         r1)
        self.assertIsNone((yield self.store.getFriendRequest("bob", "alice")))
        found = yield self.store.listFriendRequests("alice", 0)
        self.assertEqual(sorted(found, key=lambda r: r.updateDt), [r1, r2])
        found = yield self.store.listFriendRequests("alice", NOW)
        self.assertEqual(found, [r2])
        r1b = FriendRequest("alice", "bob", "hi", 1, NOW + 20, False, True)
        yield self.store.putFriendRequest(r1b)
        self.assertEqual((yield self.store.getFriendRequest("alice", "bob")),
                         r1b)

    @inlineCallbacks
    def test_friendHeads(self):
        """
        The heads are the latest updateDt of friends and of requests.
        """
        self.assertEqual((yield self.store.getFriendHeads("alice")), (0, 0))
        yield self.store.putFriend("alice", Friend("bob", 0, NOW + 3))
        yield self.store.putFriend("alice", Friend("carol", 0, NOW + 1))
        yield self.store.putFriend("bob", Friend("alice", 0, NOW + 50))
        yield self.store.putFriendRequest(
            FriendRequest("dave", "alice", "", 0, NOW + 7))
        yield self.store.putFriendRequest(
            FriendRequest("alice", "erin", "", 0, NOW + 8))
        yield self.store.putFriendRequest(
            FriendRequest("dave", "erin", "", 0, NOW + 90))
        self.assertEqual((yield self.store.getFriendHeads("alice")),
                         (NOW + 3, NOW + 8))


class GroupUsersMixin(TestCaseMixin):
    """
    Create the users the group contract names, after the backend's setUp.
    """

    USERS = ("alice", "bob", "carol", "dave", "erin", "zed", "amy", "a")

    @inlineCallbacks
    def setUp(self):
        yield super().setUp()
        for userId in self.USERS:
            yield self.store.createUser("", userId, NOW, userId=userId)


class GroupStoreContract(StoreContract):
    """
    L{IGroupStore} contract.
    """

    interface = IGroupStore

    @inlineCallbacks
    def test_unknownUsersRefused(self):
        """
        C{createGroup} and C{putMembers} naming an id that is no user fail
        with L{UnknownUsers} and write nothing; removing such an id is
        allowed.
        """
        from fxim.storage.records import UnknownUsers
        failure = yield self.assertFailure(self.store.createGroup(
            self.info(), self.members + [GroupMember("ghost", "", MemberType.NORMAL, NOW)]),
            UnknownUsers)
        self.assertEqual(failure.userIds, ["ghost"])
        self.assertIsNone((yield self.store.getGroup("g1")))
        yield self.store.createGroup(self.info(), self.members)
        yield self.assertFailure(self.store.putMembers("g1", [
            GroupMember("dave", "", MemberType.NORMAL, NOW),
            GroupMember("ghost", "", MemberType.NORMAL, NOW)], NOW + 1), UnknownUsers)
        self.assertIsNone((yield self.store.getMember("g1", "dave")))
        yield self.store.putMembers("g1", [
            GroupMember("ghost", "", MemberType.REMOVED, NOW)], NOW + 1)

    @inlineCallbacks
    def test_maxOwned(self):
        """
        C{createGroup} with C{maxOwned} refuses once the owner owns that
        many groups, in the same transaction; other owners are unaffected.
        """
        from fxim.storage.records import TooManyGroups
        yield self.store.createGroup(self.info("g1"), [], 2)
        yield self.store.createGroup(self.info("g2"), [], 2)
        yield self.assertFailure(self.store.createGroup(self.info("g3"), [], 2), TooManyGroups)
        self.assertIsNone((yield self.store.getGroup("g3")))
        yield self.store.createGroup(attr.evolve(self.info("g4"), owner="bob"), [], 2)
        yield self.store.deleteGroup("g1")
        yield self.store.createGroup(self.info("g3"), [], 2)

    def info(self, gid="g1", **kw):
        return GroupInfo(targetId=gid, name="G", portrait="p", owner="alice",
                         type=2, extra="e", updateDt=NOW, memberUpdateDt=NOW,
                         **kw)

    members = [GroupMember("alice", "", MemberType.OWNER, NOW),
               GroupMember("bob", "B", MemberType.NORMAL, NOW),
               GroupMember("carol", "", MemberType.REMOVED, NOW)]

    @inlineCallbacks
    def test_changeGroup(self):
        """
        C{changeGroup} gives the decision the group and its non-removed
        members, then writes the info changes and members it returns, in
        one go; it fires with what was read, the change and the new info.
        """
        from fxim.storage.groups import GroupChange
        yield self.store.createGroup(self.info(), self.members)
        seen = []

        def decide(state):
            seen.append((state.info, state.members, sorted(state.getUsers(["bob", "ghost"]))))
            return GroupChange(NOW + 5, changes={"name": "H"},
                               members=[GroupMember("dave", "", MemberType.NORMAL, NOW + 5)])
        state, change, info = yield self.store.changeGroup("g1", decide)
        self.assertEqual(seen, [(self.info(memberCount=2), self.members[:2], ["bob"])])
        self.assertEqual(state.info, self.info(memberCount=2))
        self.assertEqual(change.now, NOW + 5)
        expected = attr.evolve(self.info(memberCount=3), name="H", updateDt=NOW + 5,
                               memberUpdateDt=NOW + 5)
        self.assertEqual(info, expected)
        self.assertEqual((yield self.store.getGroup("g1")), expected)
        self.assertEqual([m.memberId for m in (yield self.store.getMembers("g1"))],
                         ["alice", "bob", "dave"])

    @inlineCallbacks
    def test_changeGroupRefusedOrNothing(self):
        """
        What the decision raises fails C{changeGroup} with nothing written;
        L{None} writes nothing; an unknown group is read as L{None}; a
        member who is no user fails it with L{UnknownUsers}, nothing
        written.
        """
        from fxim.storage.groups import GroupChange
        from fxim.storage.records import UnknownUsers
        yield self.store.createGroup(self.info(), self.members)

        def refuse(state):
            raise ValueError("no")
        yield self.assertFailure(self.store.changeGroup("g1", refuse), ValueError)
        state, change, info = yield self.store.changeGroup("nope", lambda state: None)
        self.assertEqual((state.info, state.members, change, info), (None, [], None, None))
        yield self.assertFailure(self.store.changeGroup("g1", lambda state: GroupChange(
            NOW + 5, changes={"name": "H"},
            members=[GroupMember("ghost", "", MemberType.NORMAL, NOW + 5)])), UnknownUsers)
        self.assertEqual((yield self.store.getGroup("g1")), self.info(memberCount=2))

    @inlineCallbacks
    def test_changeGroupDelete(self):
        """
        A change with C{delete} deletes the group and its members.
        """
        from fxim.storage.groups import GroupChange
        yield self.store.createGroup(self.info(), self.members)
        state, _, info = yield self.store.changeGroup(
            "g1", lambda state: GroupChange(NOW + 5, delete=True))
        self.assertEqual(len(state.members), 2)
        self.assertIsNone(info)
        self.assertIsNone((yield self.store.getGroup("g1")))
        self.assertEqual((yield self.store.getMembers("g1", True)), [])

    @inlineCallbacks
    def test_createAndGet(self):
        """
        A created group is read back with its member count.
        """
        yield self.store.createGroup(self.info(), self.members)
        self.assertEqual((yield self.store.getGroup("g1")),
                         self.info(memberCount=2))
        self.assertIsNone((yield self.store.getGroup("g2")))

    @inlineCallbacks
    def test_createDuplicate(self):
        """
        Creating an existing group fails with L{KeyError}.
        """
        yield self.store.createGroup(self.info(), [])
        yield self.assertFailure(self.store.createGroup(self.info(), []),
                                 KeyError)

    @inlineCallbacks
    def test_getGroups(self):
        """
        C{getGroups} maps the ids found to their infos.
        """
        yield self.store.createGroup(self.info("g1"), [])
        yield self.store.createGroup(self.info("g2"), [])
        found = yield self.store.getGroups(["g1", "g2", "g3"])
        self.assertEqual(sorted(found), ["g1", "g2"])
        self.assertEqual(found["g2"], self.info("g2"))
        self.assertEqual((yield self.store.getGroups([])), {})

    @inlineCallbacks
    def test_updateGroup(self):
        """
        C{updateGroup} applies the changes and sets updateDt.
        """
        yield self.store.createGroup(self.info(), self.members)
        new = yield self.store.updateGroup(
            "g1", {"name": "N", "owner": "bob", "portrait": "q",
                   "extra": "x", "type": 1}, NOW + 9)
        expected = GroupInfo("g1", "N", "q", "bob", 1, 2, "x", NOW + 9, NOW)
        self.assertEqual(new, expected)
        self.assertEqual((yield self.store.getGroup("g1")), expected)
        self.assertIsNone((yield self.store.updateGroup("g9", {"name": "N"},
                                                        NOW)))

    @inlineCallbacks
    def test_deleteGroup(self):
        """
        A deleted group and its members are gone.
        """
        yield self.store.createGroup(self.info(), self.members)
        yield self.store.deleteGroup("g1")
        self.assertIsNone((yield self.store.getGroup("g1")))
        self.assertEqual((yield self.store.getMembers("g1", True)), [])
        self.assertEqual((yield self.store.groupsOf("alice")), [])

    @inlineCallbacks
    def test_memberDefaults(self):
        """
        A member created with updateDt 0 gets the group's updateDt, and
        members are listed in the order they joined.
        """
        members = [GroupMember("zed", "", MemberType.OWNER, 0),
                   GroupMember("amy", "", MemberType.NORMAL, NOW + 1)]
        yield self.store.createGroup(self.info(), members)
        yield self.store.putMembers("g1", [
            GroupMember("bob", "", MemberType.NORMAL, NOW + 2),
            GroupMember("zed", "z", MemberType.OWNER, NOW + 2)], NOW + 2)
        found = yield self.store.getMembers("g1")
        self.assertEqual(found, [
            GroupMember("zed", "z", MemberType.OWNER, NOW + 2),
            GroupMember("amy", "", MemberType.NORMAL, NOW + 1),
            GroupMember("bob", "", MemberType.NORMAL, NOW + 2)])
        yield self.store.createGroup(self.info("g2"), members[:1])
        self.assertEqual((yield self.store.getMember("g2", "zed")).updateDt,
                         NOW)

    @inlineCallbacks
    def test_putMembersNoGroup(self):
        """
        Putting members into an unknown group fails with L{KeyError}.
        """
        yield self.assertFailure(
            self.store.putMembers("nope", [GroupMember("a")], NOW), KeyError)

    @inlineCallbacks
    def test_members(self):
        """
        Removed members are left out unless asked for.
        """
        yield self.store.createGroup(self.info(), self.members)
        found = yield self.store.getMembers("g1")
        self.assertEqual(sorted(found), sorted(self.members[:2]))
        found = yield self.store.getMembers("g1", includeRemoved=True)
        self.assertEqual(sorted(found), sorted(self.members))
        self.assertEqual((yield self.store.getMember("g1", "bob")),
                         self.members[1])
        self.assertIsNone((yield self.store.getMember("g1", "zed")))

    @inlineCallbacks
    def test_putMembers(self):
        """
        C{putMembers} inserts and updates members and sets the group's
        memberUpdateDt and memberCount.
        """
        yield self.store.createGroup(self.info(), self.members)
        yield self.store.putMembers("g1", [
            GroupMember("bob", "", MemberType.REMOVED, NOW + 5),
            GroupMember("dave", "D", MemberType.MANAGER, NOW + 5),
            GroupMember("erin", "", MemberType.NORMAL, NOW + 5),
            GroupMember("carol", "", MemberType.NORMAL, 0),
        ], NOW + 5)
        info = yield self.store.getGroup("g1")
        self.assertEqual((info.memberCount, info.memberUpdateDt),
                         (4, NOW + 5))
        self.assertEqual((yield self.store.getMember("g1", "carol")),
                         GroupMember("carol", "", MemberType.NORMAL, NOW + 5))
        found = yield self.store.getMembers("g1")
        self.assertEqual(sorted(m.memberId for m in found),
                         ["alice", "carol", "dave", "erin"])

    @inlineCallbacks
    def test_groupsOf(self):
        """
        C{groupsOf} lists the groups a user is a member of, not those he
        was removed from.
        """
        yield self.store.createGroup(self.info("g1"), self.members)
        yield self.store.createGroup(self.info("g2"), self.members[:1])
        self.assertEqual(sorted((yield self.store.groupsOf("alice"))),
                         ["g1", "g2"])
        self.assertEqual((yield self.store.groupsOf("bob")), ["g1"])
        self.assertEqual((yield self.store.groupsOf("carol")), [])


class DedupPurgeTests(TestCase):
    """
    Tests for L{fxim.storage.maintenance.startDedupPurge}.
    """

    def test_purgesOldKeys(self):
        """
        Each interval, keys older than C{keepMs} are forgotten.
        """
        from twisted.internet.task import Clock
        from fxim.storage.maintenance import startDedupPurge
        clock = Clock()
        clock.advance(100)
        store = MemoryStore()
        store.storeMessage(makeMessage(1), ["bob"], ("a", "c", 1), 100000)
        store.storeMessage(makeMessage(2), ["bob"], ("a", "c", 2), 150000)
        call = startDedupPurge(clock, store, keepMs=60000, interval=10)
        self.addCleanup(call.stop)
        clock.advance(10)
        self.assertEqual(len(store._dedup), 2)
        clock.advance(60)
        self.assertEqual(len(store._dedup), 1)
        clock.advance(50)
        self.assertEqual(len(store._dedup), 0)


class IdTests(TestCase):
    """
    Tests for L{fxim.ids}: user and group ids.
    """

    def test_roundTrip(self):
        """
        L{fromUid} reverses L{toUid}, whatever the random shifts.
        """
        for n in (0, 1, 63, 64, 4095, 123456789, 2 ** 30 - 1):
            for _ in range(5):
                userId = toUid(n)
                self.assertEqual(len(userId), 8)
                self.assertEqual(fromUid(userId), n)

    def test_neverLeadingDash(self):
        """
        An id never starts with C{-}, even when the random shift would
        give one (it would read as a command-line option).
        """
        userId = toUid(5, randint=lambda k: k - 1)
        self.assertNotEqual(userId[0], "-")
        self.assertEqual(fromUid(userId), 5)

    def test_upstreamExamples(self):
        """
        Upstream's example ids decode.
        """
        self.assertEqual(fromUid("TYTzTz33"), 5)
        self.assertEqual(fromUid("4A4A4Aaa"), 8)

    def test_large(self):
        """
        Counters past 2 ** 30 fall back to 32 hex characters.
        """
        self.assertEqual(len(toUid(2 ** 30)), 32)


# -- memory backend --------------------------------------------------------

class MemoryUserStoreTests(MemoryBackendMixin, UserStoreContract, TestCase):
    """
    L{UserStoreContract} for L{MemoryStore}.
    """


class MemorySessionStoreTests(MemoryBackendMixin, SessionStoreContract,
                              TestCase):
    """
    L{SessionStoreContract} for L{MemoryStore}.
    """


class MemoryLoginCodeStoreTests(MemoryBackendMixin, LoginCodeStoreContract,
                                TestCase):
    """
    L{LoginCodeStoreContract} for L{MemoryStore}.
    """


class StandaloneUserTwinTests(UserStoreContract, TestCase):
    """
    L{UserStoreContract} for L{fxim.storage.users.MemoryUserStore} on its
    own (the twins that need no other domain's tables stand alone).
    """

    def setUp(self):
        from fxim.storage.users import MemoryUserStore
        self.store = MemoryUserStore()


class StandaloneSessionTwinTests(SessionStoreContract, TestCase):
    """
    L{SessionStoreContract} for L{fxim.storage.sessions.MemorySessionStore}
    on its own.
    """

    def setUp(self):
        from fxim.storage.sessions import MemorySessionStore
        self.store = MemorySessionStore()


class StandaloneLoginCodeTwinTests(LoginCodeStoreContract, TestCase):
    """
    L{LoginCodeStoreContract} for
    L{fxim.storage.sessions.MemorySessionStore} on its own.
    """

    def setUp(self):
        from fxim.storage.sessions import MemorySessionStore
        self.store = MemorySessionStore()


class MemoryMessageStoreTests(MemoryBackendMixin, MessageStoreContract,
                              TestCase):
    """
    L{MessageStoreContract} for L{MemoryStore}.
    """


class MemoryFriendStoreTests(MemoryBackendMixin, FriendStoreContract,
                             TestCase):
    """
    L{FriendStoreContract} for L{MemoryStore}.
    """


class MemoryGroupStoreTests(GroupUsersMixin, MemoryBackendMixin, GroupStoreContract, TestCase):
    """
    L{GroupStoreContract} for L{MemoryStore}.
    """


# -- sqlite backend ------------------------------------------------------


class SqliteUserStoreTests(SqliteBackendMixin, UserStoreContract, TestCase):
    """
    L{UserStoreContract} for SQLite.
    """


class SqliteSessionStoreTests(SqliteBackendMixin, SessionStoreContract,
                              TestCase):
    """
    L{SessionStoreContract} for SQLite.
    """


class SqliteLoginCodeStoreTests(SqliteBackendMixin, LoginCodeStoreContract,
                                TestCase):
    """
    L{LoginCodeStoreContract} for SQLite.
    """


class SqliteMessageStoreTests(SqliteBackendMixin, MessageStoreContract,
                              TestCase):
    """
    L{MessageStoreContract} for SQLite.
    """


class SqliteFriendStoreTests(SqliteBackendMixin, FriendStoreContract,
                             TestCase):
    """
    L{FriendStoreContract} for SQLite.
    """


class SqliteGroupStoreTests(GroupUsersMixin, SqliteBackendMixin, GroupStoreContract, TestCase):
    """
    L{GroupStoreContract} for SQLite.
    """


# -- postgres backend ----------------------------------------------------


class PostgresUserStoreTests(PostgresBackendMixin, UserStoreContract,
                             TestCase):
    """
    L{UserStoreContract} for PostgreSQL.
    """


class PostgresSessionStoreTests(PostgresBackendMixin, SessionStoreContract,
                                TestCase):
    """
    L{SessionStoreContract} for PostgreSQL.
    """


class PostgresLoginCodeStoreTests(PostgresBackendMixin, LoginCodeStoreContract,
                                  TestCase):
    """
    L{LoginCodeStoreContract} for PostgreSQL.
    """


class PostgresMessageStoreTests(PostgresBackendMixin, MessageStoreContract,
                                TestCase):
    """
    L{MessageStoreContract} for PostgreSQL.
    """


class PostgresFriendStoreTests(PostgresBackendMixin, FriendStoreContract,
                               TestCase):
    """
    L{FriendStoreContract} for PostgreSQL.
    """


class PostgresGroupStoreTests(GroupUsersMixin, PostgresBackendMixin, GroupStoreContract,
                              TestCase):
    """
    L{GroupStoreContract} for PostgreSQL.
    """


# -- backend-specific tests ---------------------------------------------------

_KILL_CHILD = """
import os, signal, sys
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from fxim.storage import openStore
from fxim.test.unit.test_storage import makeMessage

@inlineCallbacks
def main():
    store = yield openStore(reactor, dataDir=sys.argv[1])
    for i in range(1, 51):
        stored = yield store.storeMessage(makeMessage(i), ["alice", "bob"],
                                          None, 0)
        sys.stdout.write("acked %d\\n" % (stored.message.messageUid,))
        sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)

reactor.callWhenRunning(main)
reactor.run()
"""


class SqliteStoreTests(TestCase):
    """
    Tests for the SQLite store beyond the contracts: file location,
    migrations, durability, group commit.
    """

    @inlineCallbacks
    def openStore(self, dataDir):
        from fxim.storage import openStore
        store = yield openStore(reactor, dataDir=dataDir)
        self.addCleanup(lambda: store.close())
        return store

    def schemaVersions(self, path):
        import sqlite3
        conn = sqlite3.connect(path)
        try:
            return conn.execute("SELECT version, name FROM schema_version"
                                " ORDER BY version").fetchall()
        finally:
            conn.close()

    @inlineCallbacks
    def test_fileInDataDir(self):
        """
        With no database URL the store is C{<dataDir>/fxim.sqlite3}, in WAL
        mode.
        """
        import sqlite3
        dataDir = self.mktemp()
        yield self.openStore(dataDir)
        path = os.path.join(dataDir, "fxim.sqlite3")
        self.assertTrue(os.path.exists(path))
        conn = sqlite3.connect(path)
        self.addCleanup(conn.close)
        self.assertEqual(conn.execute("PRAGMA journal_mode").fetchone()[0],
                         "wal")

    @inlineCallbacks
    def test_sqliteUrl(self):
        """
        A C{sqlite://} URL names the file.
        """
        from fxim.storage import openStore
        os.makedirs(self.mktemp())
        path = os.path.abspath(self.mktemp())
        store = yield openStore(reactor, "sqlite://" + path)
        yield store.close()
        self.assertTrue(os.path.exists(path))

    def test_badUrl(self):
        """
        An unknown database URL scheme is refused.
        """
        from fxim.storage import openStore
        self.assertRaises(ValueError, openStore, reactor, "mysql://x/y")

    @inlineCallbacks
    def test_migrationsOnce(self):
        """
        Every delta is applied once and recorded; reopening applies
        nothing.
        """
        from fxim.storage.schema import deltas
        dataDir = self.mktemp()
        store = yield self.openStore(dataDir)
        yield store.close()
        path = os.path.join(dataDir, "fxim.sqlite3")
        expected = [(v, n) for v, n, _ in deltas("sqlite")]
        self.assertEqual(self.schemaVersions(path), expected)
        store = yield self.openStore(dataDir)
        self.assertEqual((yield store.migrate(0)), [])
        self.assertEqual(self.schemaVersions(path), expected)

    @inlineCallbacks
    def test_reopen(self):
        """
        Everything stored is found after closing and reopening the file.
        """
        dataDir = self.mktemp()
        store = yield self.openStore(dataDir)
        user, _ = yield store.getOrCreateByMobile("138", NOW)
        yield store.storeMessage(makeMessage(1), ["alice", "bob"],
                                 ("alice", "c", 9), NOW)
        yield store.putFriend("alice", Friend("bob", 0, NOW))
        yield store.close()
        store = yield self.openStore(dataDir)
        self.assertEqual((yield store.getUser(user.userId)), user)
        self.assertEqual((yield store.getMessage(1)), makeMessage(1))
        self.assertEqual((yield store.getHead("bob")), 1)
        again = yield store.storeMessage(makeMessage(2), ["alice", "bob"],
                                         ("alice", "c", 9), NOW)
        self.assertTrue(again.duplicate)
        self.assertEqual((yield store.getFriend("alice", "bob")),
                         Friend("bob", 0, NOW))

    @inlineCallbacks
    def test_ackedSurvivesKill(self):
        """
        Every message acked before the process is SIGKILLed is in the file
        afterwards.
        """
        import subprocess
        import sys
        dataDir = os.path.abspath(self.mktemp())
        root = ROOT
        env = dict(os.environ, PYTHONPATH=root)
        result = subprocess.run([sys.executable, "-c", _KILL_CHILD, dataDir],
                                capture_output=True, env=env, timeout=60)
        self.assertEqual(result.returncode, -9, result.stderr)
        acked = [int(line.split()[1])
                 for line in result.stdout.decode().splitlines()]
        self.assertEqual(len(acked), 50)
        store = yield self.openStore(dataDir)
        batch = yield store.pullMessages("bob", 0, 1 << 30)
        self.assertEqual([m.messageUid for _, m in batch.entries], acked)

    @inlineCallbacks
    def test_groupCommit(self):
        """
        Concurrent stores share transactions, and each is committed (seen
        by another connection) when its Deferred fires.
        """
        import sqlite3
        dataDir = self.mktemp()
        store = yield self.openStore(dataDir)
        conn = sqlite3.connect(os.path.join(dataDir, "fxim.sqlite3"))
        self.addCleanup(conn.close)
        seen = []

        def committed(stored):
            row = conn.execute("SELECT COUNT(*) FROM messages WHERE uid = ?",
                               (stored.message.messageUid,)).fetchone()
            seen.append(row[0])
        before = store.batches
        yield gatherResults([
            store.storeMessage(makeMessage(i), ["bob"], None, NOW)
            .addCallback(committed) for i in range(1, 101)])
        self.assertEqual(seen, [1] * 100)
        self.assertLess(store.batches - before, 20)

    @inlineCallbacks
    def test_batchFailureIsolated(self):
        """
        If a whole batch fails, its messages are stored one by one: only
        the bad one fails.
        """
        from fxim.storage import messages
        store = yield self.openStore(self.mktemp())
        original = messages.storeBatch_txn

        def storeBatch_txn(txn, d, items, *rest):
            if any(it.message.messageUid == 13 for it in items):
                raise RuntimeError("boom")
            return original(txn, d, items, *rest)
        self.patch(messages, "storeBatch_txn", storeBatch_txn)
        ds = [store.storeMessage(makeMessage(i), ["bob"], None, NOW)
              for i in range(10, 20)]
        yield self.assertFailure(ds[3], RuntimeError)
        results = yield gatherResults(ds[:3] + ds[4:])
        self.assertEqual(sorted(r.seqs["bob"] for r in results),
                         list(range(1, 10)))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class PostgresStoreTests(TestCase):
    """
    Tests for the PostgreSQL store beyond the contracts: migrations and
    several nodes sharing one database.
    """

    def setUp(self):
        if not POSTGRES_DSN:
            raise SkipTest(NO_POSTGRES)
        self.schema = "fxim_test_" + uuid.uuid4().hex[:12]
        self.addCleanup(dropSchema, self.schema)

    @inlineCallbacks
    def openStore(self, **options):
        from fxim.storage import openStore
        store = yield openStore(reactor, POSTGRES_DSN, schema=self.schema,
                                **options)
        self.addCleanup(lambda: store.close())
        return store

    @inlineCallbacks
    def test_migrationsOnce(self):
        """
        Every delta is applied once and recorded, even by two nodes
        starting together.
        """
        from fxim.storage.schema import deltas
        import psycopg2
        first = yield self.openStore()
        second = yield self.openStore()
        self.assertEqual((yield second.migrate(0)), [])
        conn = psycopg2.connect(POSTGRES_DSN)
        self.addCleanup(conn.close)
        with conn.cursor() as cursor:
            cursor.execute("SELECT version, name FROM %s.schema_version"
                           " ORDER BY version" % (self.schema,))
            rows = cursor.fetchall()
        self.assertEqual(rows, [(v, n) for v, n, _ in deltas("postgres")])
        del first

    @inlineCallbacks
    def test_twoNodes(self):
        """
        Two stores (two pools, like two nodes, one running two batch
        transactions at once) storing concurrently to the same receivers
        give each receiver the seqs 1..N exactly once.
        """
        nodeA = yield self.openStore()
        nodeB = yield self.openStore(maxInflight=2)
        ds = []
        for i in range(300):
            node = (nodeA, nodeB)[i % 2]
            receivers = ["common", "r%d" % (i % 5), "r%d" % ((i + 1) % 5)]
            ds.append(node.storeMessage(makeMessage(i + 1), receivers,
                                        ("s", "c%d" % (i % 2), i), NOW))
        results = yield gatherResults(ds)
        perUser = {}
        for stored in results:
            self.assertFalse(stored.duplicate)
            for userId, seq in stored.seqs.items():
                perUser.setdefault(userId, []).append(seq)
        for userId, seqs in perUser.items():
            self.assertEqual(sorted(seqs), list(range(1, len(seqs) + 1)),
                             userId)
        self.assertEqual(len(perUser["common"]), 300)
        batch = yield nodeB.pullMessages("common", 0, 1 << 30)
        self.assertEqual([s for s, _ in batch.entries], list(range(1, 301)))

    @inlineCallbacks
    def test_twoNodesDedup(self):
        """
        The same dedup key sent through two nodes at once stores one
        message.
        """
        nodeA = yield self.openStore()
        nodeB = yield self.openStore()
        key = ("alice", "c1", 5)
        results = yield gatherResults([
            nodeA.storeMessage(makeMessage(1), ["bob"], key, NOW),
            nodeB.storeMessage(makeMessage(2), ["bob"], key, NOW)])
        self.assertEqual(sorted(r.duplicate for r in results), [False, True])
        self.assertEqual(results[0].message, results[1].message)
        self.assertEqual((yield nodeA.getHead("bob")), 1)


class AutocommitReadsTests(TestCase):
    """
    Reads on PostgreSQL run in autocommit (one round trip per statement);
    writes on the same connections still run in one transaction.
    """

    @inlineCallbacks
    def setUp(self):
        self.store = yield openSharedPostgres(self)
        self.addCleanup(lambda: self.store.close())

    def status(self, txn, d, sql):
        txn.execute(sql)
        return txn.connection.get_transaction_status()

    @inlineCallbacks
    def test_readsOutsideATransaction(self):
        """
        A read's statement leaves no transaction open; a write's does,
        until it commits -- on every connection of the pool, reads and
        writes taking turns.
        """
        import psycopg2.extensions as ext
        for _ in range(3):
            reads = yield gatherResults([self.store._runRead(self.status, "SELECT 1")
                                         for _ in range(8)])
            self.assertEqual(set(reads), {ext.TRANSACTION_STATUS_IDLE})
            writes = yield gatherResults([self.store._runWrite(self.status, "SELECT 1")
                                          for _ in range(8)])
            self.assertEqual(set(writes), {ext.TRANSACTION_STATUS_INTRANS})

    @inlineCallbacks
    def test_failedWriteAfterReadRollsBack(self):
        """
        A write failing after its first statement leaves nothing behind,
        also on a connection that served reads before.
        """
        def failing(txn, d):
            txn.execute("INSERT INTO counters (name, value) VALUES ('x', 1)")
            raise ValueError("after the insert")
        for _ in range(4):
            yield self.store._runRead(self.status, "SELECT 1")
            yield self.assertFailure(self.store._runWrite(failing), ValueError)
        rows = yield self.store._runRead(
            lambda txn, d: (txn.execute("SELECT count(*) FROM counters WHERE name = 'x'"),
                            txn.fetchone())[1])
        self.assertEqual(rows, (0,))


class JsonRowsTests(TestCase):
    """
    On PostgreSQL, C{insertMany_txn} sends many rows as one JSON parameter:
    every kind of value arrives as the driver's own parameters would have
    sent it.
    """

    ROWS = [("it's \"quoted\" \\ back\\slash %s %%", 2 ** 62, -5, bytes(range(256)), None),
            ("emoji \U0001F600 \u2028 \t\n", 0, 2 ** 31 - 1, b"", "x"),
            ("", -(2 ** 63), 0, b"\x00\\x", "")] * 4

    @inlineCallbacks
    def setUp(self):
        self.store = yield openSharedPostgres(self)
        self.addCleanup(lambda: self.store.close())
        yield self.store._runWrite(lambda txn, d: txn.execute(
            "CREATE TABLE json_rows (t TEXT NOT NULL, b BIGINT PRIMARY KEY, i INTEGER,"
            " data BYTEA, n TEXT)"))

    def insert(self, rows, tail=""):
        from fxim.storage.database import insertMany_txn
        return self.store._runWrite(lambda txn, d: insertMany_txn(
            txn, d, "INSERT INTO json_rows (t, b, i, data, n)", 5, rows, tail))

    def read(self):
        return self.store._runRead(lambda txn, d: (
            txn.execute("SELECT t, b, i, data, n FROM json_rows ORDER BY b"),
            [(t, b, i, bytes(data), n) for t, b, i, data, n in txn.fetchall()])[1])

    @inlineCallbacks
    def test_sameRows(self):
        """
        Twelve rows (JSON) and the same values as three (one parameter
        each) store the same, and C{RETURNING} answers for each row.
        """
        from fxim.storage.database import JSON_ROWS_FROM
        self.assertGreaterEqual(len(self.ROWS), JSON_ROWS_FROM)
        rows = [(t, b + k, i, data, n) for k, (t, b, i, data, n) in enumerate(self.ROWS)]
        returned = yield self.insert(rows, "ON CONFLICT DO NOTHING RETURNING b")
        self.assertEqual(sorted(r[0] for r in returned), sorted(r[1] for r in rows))
        stored = yield self.read()
        self.assertEqual(stored, sorted(rows, key=lambda r: r[1]))
        yield self.store._runWrite(lambda txn, d: txn.execute("DELETE FROM json_rows"))
        yield self.insert(rows[:3])
        self.assertEqual((yield self.read()), sorted(rows[:3], key=lambda r: r[1]))

    @inlineCallbacks
    def test_conflictTail(self):
        """
        C{ON CONFLICT ... DO UPDATE ... RETURNING} (the heads' upsert) sees
        the JSON rows as it sees C{VALUES}.
        """
        rows = [(t, b + k, i, data, n) for k, (t, b, i, data, n) in enumerate(self.ROWS)]
        yield self.insert(rows)
        again = [("new", b, 1, b"", None) for _, b, _, _, _ in rows]
        returned = yield self.insert(again, "ON CONFLICT (b) DO UPDATE SET t = excluded.t"
                                            " RETURNING b, t")
        self.assertEqual(sorted(returned), sorted((b, "new") for _, b, _, _, _ in rows))
