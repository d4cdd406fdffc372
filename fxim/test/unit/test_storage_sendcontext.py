"""
Contract of L{fxim.interfaces.IMessageStore.getSendContext} on every
backend.
"""

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from fxim.model import Friend, FriendState, GroupInfo, GroupMember, MemberType
from fxim.test.unit.test_storage import (
    MemoryBackendMixin, PostgresBackendMixin, SqliteBackendMixin,
)

NOW = 1_700_000_000_000


class SendContextContract:
    """
    C{getSendContext} reads the sender, the private target and its
    blacklist entry, or a group's members, in one call.
    """

    @inlineCallbacks
    def test_private(self):
        """
        A private context has the sender, the target and whether the target
        blacklisted the sender; an unknown target is None.
        """
        alice, _ = yield self.store.getOrCreateByMobile("13800000001", NOW)
        bob, _ = yield self.store.getOrCreateByMobile("13800000002", NOW)
        context = yield self.store.getSendContext(alice.userId, 0, bob.userId)
        self.assertEqual((context.sender.userId, context.target.userId, context.blacklisted),
                         (alice.userId, bob.userId, False))
        yield self.store.putFriend(bob.userId, Friend(alice.userId, FriendState.BLACKED, NOW))
        context = yield self.store.getSendContext(alice.userId, 0, bob.userId)
        self.assertTrue(context.blacklisted)
        context = yield self.store.getSendContext(alice.userId, 0, "nobody")
        self.assertIsNone(context.target)
        context = yield self.store.getSendContext("nobody", 0, bob.userId)
        self.assertIsNone(context.sender)

    @inlineCallbacks
    def test_group(self):
        """
        A group context lists the non-removed members.
        """
        alice, _ = yield self.store.getOrCreateByMobile("13800000001", NOW)
        # Group members must be users.
        yield self.store.createUser("", "Bob", NOW, userId="bob")
        yield self.store.createGroup(
            GroupInfo("g1", "G", owner=alice.userId, updateDt=NOW, memberUpdateDt=NOW),
            [GroupMember(alice.userId, "", MemberType.OWNER, NOW),
             GroupMember("bob", "", MemberType.NORMAL, NOW),
             GroupMember("carol", "", MemberType.REMOVED, NOW)])
        context = yield self.store.getSendContext(alice.userId, 1, "g1")
        self.assertEqual(sorted(m.memberId for m in context.members), sorted([alice.userId, "bob"]))
        context = yield self.store.getSendContext(alice.userId, 1, "unknown")
        self.assertEqual(context.members, [])


class MemorySendContextTests(MemoryBackendMixin, SendContextContract, TestCase):
    """
    On L{fxim.storage.memory.MemoryStore}.
    """


class SqliteSendContextTests(SqliteBackendMixin, SendContextContract, TestCase):
    """
    On SQLite.
    """


class PostgresSendContextTests(PostgresBackendMixin, SendContextContract, TestCase):
    """
    On PostgreSQL.
    """
