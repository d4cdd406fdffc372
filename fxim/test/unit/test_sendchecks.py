# -*- test-case-name: fxim.test.unit.test_sendchecks -*-
"""
Tests for L{fxim.services.sendchecks}: the cache itself, and that every
change a send check depends on is honoured by the very next send.
"""

from __future__ import annotations

from typing import Any, Dict, List

import attr
from twisted.internet import task
from twisted.internet.defer import Deferred, ensureDeferred, succeed
from twisted.trial.unittest import SynchronousTestCase

from fxim import interfaces
from fxim.config import Config
from fxim.errors import ErrorCode, SignalError
from fxim.model import (
    ContentType, Conversation, ConversationType, GroupInfo, GroupMember, MemberType,
    Message, MessageContent, User, UserStatus,
)
from fxim.services.groups import GroupService
from fxim.services.messaging import MessagingService
from fxim.services.sendchecks import (
    OP, WRITES, Changes, SendCheckCache, announceTo, watchStore,
)
from fxim.services.social import SocialService
from fxim.storage.adminstore import IAdminStore, adminStoreFor
from fxim.storage.memory import MemoryStore
from fxim.storage.records import SendContext

START = 1700000000.0

#: Read-only methods of the store interfaces the cache depends on.
_READS = {"getUser", "getUsers", "searchUsers", "getFriend", "getFriendHeads",
          "getFriendRequest", "listFriendRequests", "listFriends", "getGroup",
          "getGroups", "getMember", "getMembers", "groupsOf", "getUserByEmail",
          "listAudit", "listGroups", "listUsers", "loginEmailOf"}


class _Bus:
    """
    A delivery bus that drops pushes.
    """

    def deliver(self, userId: str, push: Any, excludeCid: Any = None) -> Deferred[int]:
        return succeed(0)

    def kick(self, userId: str, cid: str, keep: Any = None) -> Deferred[None]:
        return succeed(None)


class _Reader:
    """
    A C{getSendContext} whose answers the test fires.
    """

    def __init__(self) -> None:
        self.pending: List[Deferred[SendContext]] = []

    def __call__(self, userId: str, conversationType: int, target: str) -> Deferred[SendContext]:
        d: Deferred[SendContext] = Deferred()
        self.pending.append(d)
        return d


ALICE = SendContext(User("alice"), User("bob"))


class CacheTests(SynchronousTestCase):
    """
    L{SendCheckCache} on its own.
    """

    def setUp(self) -> None:
        self.clock = task.Clock()
        self.cache = SendCheckCache(self.clock, maxEntries=2, ttl=5.0)
        self.reader = _Reader()

    def lookup(self, target: str = "bob", kind: int = 0) -> Deferred[SendContext]:
        return self.cache.lookup(self.reader, "alice", kind, target)

    def fill(self, target: str = "bob", kind: int = 0,
             context: SendContext = ALICE) -> None:
        d = self.lookup(target, kind)
        self.reader.pending.pop().callback(context)
        self.assertIs(self.successResultOf(d), context)

    def test_hit(self) -> None:
        """
        A second lookup is answered from memory, without a read.
        """
        self.fill()
        self.assertIs(self.successResultOf(self.lookup()), ALICE)
        self.assertEqual(self.reader.pending, [])
        self.assertEqual((self.cache.hits, self.cache.misses), (1, 1))

    def test_lookupNow(self) -> None:
        """
        C{lookupNow} gives what is in memory and fresh, counted as a hit,
        and L{None} (never a read) otherwise: before a lookup filled it,
        after C{ttl}, after an invalidation, and while not live.
        """
        now = self.cache.lookupNow
        self.assertIsNone(now("alice", 0, "bob"))
        self.fill()
        self.assertIs(now("alice", ConversationType.PRIVATE, "bob"), ALICE)
        self.assertEqual((self.cache.hits, self.cache.misses), (1, 1))
        self.clock.advance(5)
        self.assertIsNone(now("alice", 0, "bob"))
        self.fill()
        self.cache.invalidate(Changes(users=("bob",)))
        self.assertIsNone(now("alice", 0, "bob"))
        self.fill()
        live = [False]
        self.cache.live = lambda: live[0]
        self.assertIsNone(now("alice", 0, "bob"))
        self.lookup()
        self.reader.pending.pop().callback(ALICE)
        live[0] = True
        self.assertIsNone(now("alice", 0, "bob"))
        self.assertEqual(self.reader.pending, [])

    def test_ttl(self) -> None:
        """
        An entry older than C{ttl} is read again.
        """
        self.fill()
        self.clock.advance(5)
        self.lookup()
        self.assertEqual(len(self.reader.pending), 1)

    def test_bounded(self) -> None:
        """
        Beyond C{maxEntries}, the least recently used entry goes.
        """
        self.fill("bob")
        self.fill("carol")
        self.successResultOf(self.lookup("bob"))
        self.fill("dave")
        self.assertEqual(len(self.cache), 2)
        self.lookup("carol")
        self.assertEqual(len(self.reader.pending), 1)
        self.successResultOf(self.lookup("bob"))

    def test_readAcrossInvalidationNotKept(self) -> None:
        """
        An answer read while an invalidation happened may predate the change:
        it is returned but not kept.
        """
        d = self.lookup()
        self.cache.invalidate(Changes(users=("carol",)))
        self.reader.pending.pop().callback(ALICE)
        self.successResultOf(d)
        self.assertEqual(len(self.cache), 0)

    def test_negativeNotKept(self) -> None:
        """
        Unknown senders, private targets and groups are read every time.
        """
        self.fill(context=SendContext(None))
        self.fill(context=SendContext(User("alice")))
        self.fill("g", ConversationType.GROUP, SendContext(User("alice"), members=[]))
        self.assertEqual(len(self.cache), 0)

    def test_otherTypesNotCached(self) -> None:
        """
        Only private and group conversations are cached.
        """
        self.fill("room", ConversationType.CHATROOM)
        self.assertEqual(len(self.cache), 0)

    def test_invalidateUsers(self) -> None:
        """
        A change of a user drops the entries where it is sender or private
        target.
        """
        self.fill("bob")
        self.cache.invalidate(Changes(users=("bob",)))
        self.assertEqual(len(self.cache), 0)
        self.fill("bob")
        self.cache.invalidate(Changes(users=("alice",)))
        self.assertEqual(len(self.cache), 0)

    def test_invalidatePairs(self) -> None:
        """
        A friendship change drops both directions of the pair only.
        """
        self.fill("bob")
        self.fill("carol")
        self.cache.invalidate(Changes(pairs=(("bob", "alice"),)))
        self.assertEqual(len(self.cache), 1)
        self.successResultOf(self.lookup("carol"))

    def test_invalidateGroups(self) -> None:
        """
        A change of a group drops the group's entries only.
        """
        context = SendContext(User("alice"), members=[GroupMember("alice")])
        self.fill("g1", ConversationType.GROUP, context)
        self.fill("bob")
        self.cache.invalidate(Changes(groups=("g1",)))
        self.assertEqual(len(self.cache), 1)
        self.successResultOf(self.lookup("bob"))

    def test_off(self) -> None:
        """
        With C{maxEntries} 0 nothing is kept.
        """
        self.cache.maxEntries = 0
        self.fill()
        self.assertEqual(len(self.cache), 0)

    def test_notLive(self) -> None:
        """
        While invalidations from other nodes do not arrive, the cache is
        emptied and bypassed; once they do again it starts empty.
        """
        live = [True]
        self.cache.live = lambda: live[0]
        self.fill()
        live[0] = False
        self.lookup()
        self.reader.pending.pop().callback(ALICE)
        self.assertEqual(len(self.cache), 0)
        live[0] = True
        self.fill()
        self.assertEqual(len(self.cache), 1)


class _FakeBus:
    """
    The parts of L{fxim.bus.redis.RedisBus} L{announceTo} uses.
    """

    def __init__(self) -> None:
        self.nodeId = "1"
        self.handlers: Dict[str, Any] = {}
        self.resubscribeObservers: List[Any] = []
        self.subscribed = True
        self.announced: List[Dict[str, Any]] = []

    def announce(self, message: Dict[str, Any]) -> Deferred[int]:
        self.announced.append(message)
        return succeed(1)


class AnnounceTests(SynchronousTestCase):
    """
    L{announceTo}: invalidations between nodes.
    """

    def setUp(self) -> None:
        self.cache = SendCheckCache(task.Clock())
        self.bus = _FakeBus()
        announceTo(self.cache, self.bus)
        self.reader = _Reader()

    def fill(self) -> None:
        d = self.cache.lookup(self.reader, "alice", 0, "bob")
        self.reader.pending.pop().callback(ALICE)
        self.successResultOf(d)

    def test_announced(self) -> None:
        """
        L{SendCheckCache.changed} invalidates here and announces the change.
        """
        self.fill()
        self.successResultOf(self.cache.changed(
            Changes(users=("bob",), groups=("g",), pairs=(("a", "b"),))))
        self.assertEqual(len(self.cache), 0)
        self.assertEqual(self.bus.announced, [
            {"op": OP, "from": "1", "users": ["bob"], "groups": ["g"], "pairs": [["a", "b"]]}])

    def test_received(self) -> None:
        """
        Another node's announcement invalidates; this node's own is skipped.
        """
        self.fill()
        handler = self.bus.handlers[OP]
        handler({"op": OP, "from": "1", "users": ["bob"]})
        self.assertEqual(len(self.cache), 1)
        handler({"op": OP, "from": "2", "users": [], "groups": [], "pairs": [["bob", "alice"]]})
        self.assertEqual(len(self.cache), 0)

    def test_resubscribed(self) -> None:
        """
        Re-subscribing after an outage empties the cache.
        """
        self.fill()
        for observer in self.bus.resubscribeObservers:
            observer()
        self.assertEqual(len(self.cache), 0)

    def test_unsubscribed(self) -> None:
        """
        While the bus is not subscribed, nothing is cached.
        """
        self.bus.subscribed = False
        self.fill()
        self.assertEqual(len(self.cache), 0)

    def test_announceFailureIgnored(self) -> None:
        """
        A failed announcement is logged; the write still succeeds.
        """
        self.bus.announce = lambda message: Deferred.fromCoroutine(_raise())  # type: ignore
        self.successResultOf(self.cache.changed(Changes(users=("bob",))))
        self.assertEqual(len(self.flushLoggedErrors()), 0)


async def _raise() -> None:
    raise ConnectionError("down")


class WritesTests(SynchronousTestCase):
    """
    L{WRITES} names every write method of the stores a send check reads.
    """

    def test_complete(self) -> None:
        """
        Every method of C{IUserStore}, C{IFriendStore}, C{IGroupStore} and
        C{IAdminStore} is a known read or in L{WRITES}: a new write method
        must say what it invalidates.
        """
        names = set()
        for iface in (interfaces.IUserStore, interfaces.IFriendStore,
                      interfaces.IGroupStore, IAdminStore):
            names.update(iface.names())
        self.assertEqual(sorted(names - _READS - set(WRITES)), [])


class SendTests(SynchronousTestCase):
    """
    Services over a watched L{MemoryStore}: each change is honoured by the
    next send, though that send's checks were cached.
    """

    def setUp(self) -> None:
        self.clock = task.Clock()
        self.clock.advance(START)
        self.store = MemoryStore()
        self.cache = SendCheckCache(self.clock, ttl=3600.0)
        watchStore(self.store, self.cache)
        self.admin = adminStoreFor(self.store)
        bus = _Bus()
        config = Config()
        self.messages = MessagingService(self.store, bus, self.clock, config)
        self.social = SocialService(self.store, bus, self.clock, config, self.messages)
        self.groups = GroupService(self.store, bus, self.clock, config, self.messages)
        from fxim.services.auth import AuthService
        from fxim.sms import MemorySmsSender
        self.auth = AuthService(self.store, self.clock, b"k" * 32, MemorySmsSender())
        for i, userId in enumerate(("alice", "bob", "carol", "dave")):
            self.wait(self.store.createUser("1380000000%d" % (i,), userId, 0, userId=userId))

    def wait(self, result: Any) -> Any:
        return self.successResultOf(ensureDeferred(result))

    def send(self, sender: str, target: str, kind: int = ConversationType.PRIVATE) -> Any:
        return ensureDeferred(self.messages.send(sender, "cid", Message(
            Conversation(kind, target, 0), sender,
            MessageContent(type=ContentType.TEXT, searchableContent="hey"))))

    def assertSends(self, sender: str, target: str, kind: int = ConversationType.PRIVATE) -> None:
        """
        Two sends go through, the second on cached checks.
        """
        self.successResultOf(self.send(sender, target, kind))
        hits = self.cache.hits
        self.successResultOf(self.send(sender, target, kind))
        self.assertEqual(self.cache.hits, hits + 1)

    def assertRefused(self, sender: str, target: str, code: int,
                      kind: int = ConversationType.PRIVATE) -> None:
        failure = self.failureResultOf(self.send(sender, target, kind), SignalError)
        self.assertEqual(failure.value.code, code)

    def test_blockedSender(self) -> None:
        """
        Blocking a sender refuses its next message (247); unblocking lets
        the one after through.
        """
        self.assertSends("alice", "bob")
        self.wait(self.auth.setBlocked("alice", True))
        self.assertRefused("alice", "bob", ErrorCode.FORBIDDEN_SEND_MSG)
        self.wait(self.auth.setBlocked("alice", False))
        self.assertSends("alice", "bob")

    def test_mutedSender(self) -> None:
        """
        Muting a user (the admin API's C{updateUser}) refuses its next
        message, private or group.
        """
        gid = self.makeGroup()
        self.assertSends("bob", "alice")
        self.assertSends("bob", gid, ConversationType.GROUP)
        self.wait(self.store.updateUser("bob", {"status": int(UserStatus.MUTED)}, 0))
        self.assertRefused("bob", "alice", ErrorCode.FORBIDDEN_SEND_MSG)
        self.assertRefused("bob", gid, ErrorCode.FORBIDDEN_SEND_MSG, ConversationType.GROUP)

    def test_blacklist(self) -> None:
        """
        Being blacklisted refuses the next message (246); lifting it lets
        the one after through.
        """
        self.assertSends("alice", "bob")
        self.wait(self.social.setBlacklisted("bob", "alice", True))
        self.assertRefused("alice", "bob", ErrorCode.IN_BLACK_LIST)
        self.wait(self.social.setBlacklisted("bob", "alice", False))
        self.assertSends("alice", "bob")

    def test_friendshipChanges(self) -> None:
        """
        A friend request accepted after a blacklist clears it in the row the
        check reads: the next message goes.
        """
        self.wait(self.social.setBlacklisted("bob", "alice", True))
        self.assertRefused("alice", "bob", ErrorCode.IN_BLACK_LIST)
        self.assertRefused("alice", "bob", ErrorCode.IN_BLACK_LIST)
        self.wait(self.social.setBlacklisted("bob", "alice", False))
        self.wait(self.social.addFriendRequest("alice", "bob", "hi"))
        self.wait(self.social.handleFriendRequest("bob", "alice", 1))
        self.assertSends("alice", "bob")

    def test_targetDeleted(self) -> None:
        """
        Deleting the target (admin store) refuses the next message (253),
        deleting the sender too (247).
        """
        self.assertSends("alice", "bob")
        self.assertSends("bob", "carol")
        self.wait(self.admin.deleteUser("bob", False, 0))
        self.assertRefused("alice", "bob", ErrorCode.NOT_EXIST)
        self.assertRefused("bob", "carol", ErrorCode.FORBIDDEN_SEND_MSG)

    def makeGroup(self) -> str:
        return self.wait(self.groups.create(
            "alice", GroupInfo("", "g"), [GroupMember("bob"), GroupMember("carol")], None))

    def receivers(self, sender: str, gid: str) -> List[str]:
        result = self.successResultOf(self.send(sender, gid, ConversationType.GROUP))
        return sorted(self.wait(self.store.getReceivers(result.messageUid)))

    def test_kicked(self) -> None:
        """
        A kicked member's next group message is refused (9).
        """
        gid = self.makeGroup()
        self.assertSends("bob", gid, ConversationType.GROUP)
        self.wait(self.groups.kickMembers("alice", gid, ["bob"]))
        self.assertRefused("bob", gid, ErrorCode.NOT_IN_GROUP, ConversationType.GROUP)

    def test_quit(self) -> None:
        """
        A member who quit is refused (9) and no longer receives.
        """
        gid = self.makeGroup()
        self.assertSends("bob", gid, ConversationType.GROUP)
        self.assertSends("alice", gid, ConversationType.GROUP)
        self.wait(self.groups.quit("bob", gid))
        self.assertRefused("bob", gid, ErrorCode.NOT_IN_GROUP, ConversationType.GROUP)
        self.assertEqual(self.receivers("alice", gid), ["alice", "carol"])

    def test_added(self) -> None:
        """
        A member added receives the next message of a member whose checks
        were cached, and may send at once.
        """
        gid = self.makeGroup()
        self.assertSends("alice", gid, ConversationType.GROUP)
        self.wait(self.groups.addMembers("alice", gid, [GroupMember("dave")]))
        self.assertEqual(self.receivers("alice", gid), ["alice", "bob", "carol", "dave"])
        self.assertSends("dave", gid, ConversationType.GROUP)

    def test_mutedMember(self) -> None:
        """
        A member muted in the group is refused (NOT_RIGHT), unmuted sends.
        """
        gid = self.makeGroup()
        self.assertSends("bob", gid, ConversationType.GROUP)
        self.wait(self.groups.mute(gid, "bob", True))
        self.assertRefused("bob", gid, ErrorCode.NOT_RIGHT, ConversationType.GROUP)
        self.wait(self.groups.mute(gid, "bob", False))
        self.assertSends("bob", gid, ConversationType.GROUP)

    def test_dismissed(self) -> None:
        """
        After the group is dismissed, its former members are refused.
        """
        gid = self.makeGroup()
        self.assertSends("bob", gid, ConversationType.GROUP)
        self.wait(self.groups.dismiss("alice", gid))
        self.assertRefused("bob", gid, ErrorCode.NOT_IN_GROUP, ConversationType.GROUP)

    def test_putMembers(self) -> None:
        """
        The admin API's ownership transfer and member edits
        (C{putMembers}) are honoured at once.
        """
        gid = self.makeGroup()
        self.assertSends("bob", gid, ConversationType.GROUP)
        bob = self.wait(self.store.getMember(gid, "bob"))
        self.wait(self.store.putMembers(
            gid, [attr.evolve(bob, type=MemberType.SILENT)], 0))
        self.assertRefused("bob", gid, ErrorCode.NOT_RIGHT, ConversationType.GROUP)
