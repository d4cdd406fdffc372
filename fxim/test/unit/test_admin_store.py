"""
Contract tests of L{fxim.storage.adminstore.IAdminStore} on memory,
SQLite and PostgreSQL (when C{FXIM_TEST_POSTGRES_DSN} is set).
"""

import attr
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from fxim.model import Friend, FriendRequest, GroupInfo, GroupMember, Session
from fxim.storage.adminstore import ERASED, AuditEntry, IAdminStore, adminStoreFor
from fxim.test.unit.test_storage import (
    MemoryBackendMixin, PostgresBackendMixin, SqliteBackendMixin, makeMessage,
)

NOW = 1_700_000_000_000


class AdminStoreContract:

    @property
    def admin(self):
        if not hasattr(self, "_admin"):
            self._admin = adminStoreFor(self.store)
        return self._admin

    def test_interface(self):
        self.assertTrue(verifyObject(IAdminStore, self.admin))

    @inlineCallbacks
    def test_emailLogin(self):
        """
        The first login by an address creates a user holding it; the next
        finds the same user; another user cannot take it.
        """
        user, created = yield self.admin.getOrCreateByEmail("a@b.cn", NOW)
        self.assertTrue(created)
        self.assertEqual((user.email, user.displayName, user.mobile), ("a@b.cn", "a", ""))
        again, created = yield self.admin.getOrCreateByEmail("a@b.cn", NOW)
        self.assertEqual((again.userId, created), (user.userId, False))
        self.assertEqual((yield self.admin.getUserByEmail("a@b.cn")).userId, user.userId)
        self.assertEqual((yield self.admin.loginEmailOf(user.userId)), "a@b.cn")
        other = yield self.store.createUser("13800000000", "x", NOW)
        yield self.assertFailure(self.admin.setLoginEmail(other.userId, "a@b.cn"), KeyError)
        # Editing the profile's e-mail does not change the login.
        yield self.store.updateUser(other.userId, {"email": "a@b.cn"}, NOW)
        self.assertEqual((yield self.admin.getUserByEmail("a@b.cn")).userId, user.userId)

    @inlineCallbacks
    def test_listUsers(self):
        """
        Users page in creation order; a query matches uid, mobile, login
        e-mail exactly and display names by substring.
        """
        a = yield self.store.createUser("13800000001", "Alice", NOW)
        b = yield self.store.createUser("13800000002", "Bob", NOW)
        c, _ = yield self.admin.getOrCreateByEmail("carol@x.cn", NOW)
        self.assertEqual([u.userId for u in (yield self.admin.listUsers("", 0, 10))],
                         [a.userId, b.userId, c.userId])
        self.assertEqual([u.userId for u in (yield self.admin.listUsers("", 1, 1))], [b.userId])
        self.assertEqual([u.userId for u in (yield self.admin.listUsers("13800000002", 0, 10))],
                         [b.userId])
        self.assertEqual([u.userId for u in (yield self.admin.listUsers("CAROL@x.cn", 0, 10))],
                         [c.userId])
        self.assertEqual([u.userId for u in (yield self.admin.listUsers("lic", 0, 10))], [a.userId])
        self.assertEqual([u.userId for u in (yield self.admin.listUsers("138000", 0, 10))], [])

    @inlineCallbacks
    def test_listGroups(self):
        # Group members must be users.
        yield self.store.createUser("", "U", NOW, userId="u")
        yield self.store.createGroup(GroupInfo("g1", "Chess club", owner="u", updateDt=NOW),
                                     [GroupMember("u", type=2, updateDt=NOW)])
        yield self.store.createGroup(GroupInfo("g2", "Go", owner="u", updateDt=NOW),
                                     [GroupMember("u", type=2, updateDt=NOW)])
        self.assertEqual([g.targetId for g in (yield self.admin.listGroups("", 0, 10))],
                         ["g1", "g2"])
        self.assertEqual([g.targetId for g in (yield self.admin.listGroups("Chess", 0, 10))],
                         ["g1"])
        self.assertEqual([g.targetId for g in (yield self.admin.listGroups("g2", 0, 10))],
                         ["g2"])

    @inlineCallbacks
    def test_deleteUser(self):
        """
        Deleting removes the profile, sessions, friendships both ways and
        friend requests; erasing replaces the content of sent messages.
        """
        a = yield self.store.createUser("13800000001", "A", NOW)
        b = yield self.store.createUser("13800000002", "B", NOW)
        yield self.store.createSession(Session(a.userId, "c", "s" * 16, "d" * 24, NOW, NOW + 1))
        yield self.store.putFriend(a.userId, Friend(b.userId, 0, NOW))
        yield self.store.putFriend(b.userId, Friend(a.userId, 0, NOW))
        yield self.store.putFriendRequest(FriendRequest(a.userId, b.userId, "hi", 1, NOW))
        m = makeMessage(1001, a.userId, b.userId, text="secret text")
        yield self.store.storeMessage(m, [a.userId, b.userId], None, NOW)
        counts = yield self.admin.deleteUser(a.userId, True, NOW + 5)
        self.assertEqual((counts.sessions, counts.friends, counts.friendRequests,
                          counts.erasedMessages), (1, 2, 1, 1))
        self.assertIsNone((yield self.store.getUser(a.userId)))
        self.assertEqual((yield self.store.listSessions(a.userId)), [])
        self.assertIsNone((yield self.store.getFriend(a.userId, b.userId)))
        gone = yield self.store.getFriend(b.userId, a.userId)
        self.assertEqual((gone.state, gone.updateDt), (1, NOW + 5))
        kept = yield self.store.getMessage(1001)
        self.assertEqual(kept.content.type, ERASED.type)
        self.assertEqual(kept.content.searchableContent, "")
        # b still pulls it (as erased): its cursor is intact.
        batch = yield self.store.pullMessages(b.userId, 0, 1 << 20)
        self.assertEqual([m.messageUid for _, m in batch.entries], [1001])
        self.assertIsNone((yield self.admin.deleteUser(a.userId, True, NOW)))
        # The mobile can register again.
        again, created = yield self.store.getOrCreateByMobile("13800000001", NOW)
        self.assertTrue(created)

    @inlineCallbacks
    def test_audit(self):
        for i in range(3):
            yield self.admin.addAudit(AuditEntry(0, NOW + i, "users.block", "u%d" % i,
                                                 {"n": i, "名": "x"}, "127.0.0.1"))
        entries = yield self.admin.listAudit(0, 2)
        self.assertEqual([e.target for e in entries], ["u2", "u1"])
        self.assertEqual(entries[0].detail, {"n": 2, "名": "x"})
        self.assertGreater(entries[0].id, entries[1].id)
        self.assertEqual([e.target for e in (yield self.admin.listAudit(2, 5))], ["u0"])


class MemoryAdminStoreTests(MemoryBackendMixin, AdminStoreContract, TestCase):
    pass


class SqliteAdminStoreTests(SqliteBackendMixin, AdminStoreContract, TestCase):
    pass


class PostgresAdminStoreTests(PostgresBackendMixin, AdminStoreContract, TestCase):
    pass


class PurgeContract:
    """
    L{IAdminStore.purgeMessages}: purged ranges leave a tombstone, never a
    silent gap.
    """

    @property
    def admin(self):
        if not hasattr(self, "_admin"):
            self._admin = adminStoreFor(self.store)
        return self._admin

    @inlineCallbacks
    def test_retentionLeavesTombstone(self):
        """
        Purging messages sent before a time removes them; a pull from any
        cursor below the purged range meets the tombstone at the highest
        purged seq; seqs and the head do not move; the rest is intact.
        """
        for userId in range(1, 7):
            m = attr.evolve(makeMessage(userId, "alice", "bob", text="m%d" % userId),
                            timestamp=NOW + userId)
            yield self.store.storeMessage(m, ["alice", "bob"], None, NOW)
        tomb = attr.evolve(makeMessage(100, "SystemNotification", "", text="removed"),
                           timestamp=NOW + 1000)
        purged = yield self.admin.purgeMessages(("before", NOW + 4), tomb, 2)
        self.assertEqual(purged, 2)
        purged = yield self.admin.purgeMessages(("before", NOW + 4), tomb, 2)
        self.assertEqual(purged, 1)
        self.assertEqual((yield self.admin.purgeMessages(("before", NOW + 4), tomb, 2)), 0)
        self.assertIsNone((yield self.store.getMessage(1)))
        for after in (0, 1, 2):
            batch = yield self.store.pullMessages("bob", after, 1 << 20)
            self.assertEqual([(seq, m.messageUid) for seq, m in batch.entries],
                             [(3, 100), (4, 4), (5, 5), (6, 6)])
            self.assertEqual(batch.head, 6)
        batch = yield self.store.pullMessages("bob", 3, 1 << 20)
        self.assertEqual([m.messageUid for _, m in batch.entries], [4, 5, 6])

    @inlineCallbacks
    def test_conversationPurge(self):
        """
        Purging one conversation leaves the others alone.
        """
        yield self.store.storeMessage(makeMessage(1, "alice", "bob"), ["alice", "bob"], None, NOW)
        yield self.store.storeMessage(makeMessage(2, "carol", "bob"), ["carol", "bob"], None, NOW)
        yield self.store.storeMessage(makeMessage(3, "bob", "alice"), ["alice", "bob"], None, NOW)
        tomb = makeMessage(50, "SystemNotification", "", text="removed")
        self.assertEqual((yield self.admin.purgeMessages(("private", "bob", "alice"), tomb, 100)), 2)
        batch = yield self.store.pullMessages("bob", 0, 1 << 20)
        self.assertEqual([(seq, m.messageUid) for seq, m in batch.entries], [(2, 2), (3, 50)])
        batch = yield self.store.pullMessages("alice", 0, 1 << 20)
        self.assertEqual([(seq, m.messageUid) for seq, m in batch.entries], [(2, 50)])


class MemoryPurgeTests(MemoryBackendMixin, PurgeContract, TestCase):
    pass


class SqlitePurgeTests(SqliteBackendMixin, PurgeContract, TestCase):
    pass


class PostgresPurgeTests(PostgresBackendMixin, PurgeContract, TestCase):
    pass
