# -*- test-case-name: fxim.test.unit.test_storage_cluster -*-
"""
Check-and-write flows stay consistent when two nodes -- two stores on the
same database, each with its own services -- change the same group or
friend request at the same time (L{fxim.interfaces.IGroupStore.changeGroup},
L{fxim.interfaces.IFriendStore.changeFriendship}).
"""


from twisted.internet import reactor
from twisted.internet.defer import DeferredList, ensureDeferred, inlineCallbacks, succeed
from twisted.trial.unittest import TestCase

from fxim.config import Config
from fxim.errors import ErrorCode, SignalError
from fxim.model import FriendRequest, FriendRequestStatus, GroupInfo, GroupMember
from fxim.services.groups import GroupService
from fxim.services.messaging import MessagingService
from fxim.services.social import SocialService
from fxim.test.unit.test_storage import openSharedPostgres

OWNER, BOB, CAROL, DAVE, EVE, FRANK = "owner", "bob", "carol", "dave", "eve", "frank"


class _Bus:
    def __init__(self):
        self.delivered = []

    def deliver(self, userId, push, excludeCid=None):
        self.delivered.append((userId, push))
        return succeed(None)

    def kick(self, userId, cid, keep=None):
        return succeed(None)


class _Node:
    """
    The services of one node over its own store.
    """

    def __init__(self, store, config):
        self.store = store
        self.bus = bus = _Bus()
        self.messages = MessagingService(store, bus, reactor, config)
        self.groups = GroupService(store, bus, reactor, config, self.messages)
        self.social = SocialService(store, bus, reactor, config, self.messages)


class ClusterRaceContract:
    """
    Two nodes on one database; C{openStore()} opens one more store on it.
    """

    @inlineCallbacks
    def setUp(self):
        config = Config(maxGroupSize=3)
        first = yield self.openStore()
        self.addCleanup(first.close)
        second = yield self.openStore()
        self.addCleanup(second.close)
        self.nodes = [_Node(first, config), _Node(second, config)]
        for i, userId in enumerate((OWNER, BOB, CAROL, DAVE, EVE, FRANK)):
            yield first.createUser("1380000000" + str(i), userId, 0, userId=userId)

    def assertOneSucceeded(self, results, code):
        """
        Exactly one of the L{DeferredList} C{results} succeeded; the others
        failed with L{SignalError} C{code} (or stopped early, answering 0,
        when C{code} is None).
        """
        failures = [r for ok, r in results if not ok]
        for f in failures:
            f.trap(SignalError)
            self.assertEqual(f.value.code, code)
        self.assertEqual(len(results) - len(failures), 1)

    @inlineCallbacks
    def test_concurrentAddsRespectGroupSize(self):
        """
        Members added to one group through both nodes at once never take it
        above C{maxGroupSize}: each add sees the members the previous one
        committed.
        """
        a, b = self.nodes
        gid = yield ensureDeferred(a.groups.create(OWNER, GroupInfo("", "g"), [GroupMember(BOB)]))
        results = yield DeferredList([
            ensureDeferred(node.groups.addMembers(OWNER, gid, [GroupMember(userId)]))
            for node, userId in ((a, CAROL), (b, DAVE), (a, EVE), (b, FRANK))], consumeErrors=True)
        self.assertOneSucceeded(results, ErrorCode.INVALID_PARAMETER)
        members = yield a.store.getMembers(gid)
        self.assertEqual(len(members), 3)
        info = yield b.store.getGroup(gid)
        self.assertEqual(info.memberCount, 3)

    @inlineCallbacks
    def test_concurrentAcceptsGreetOnce(self):
        """
        A request accepted through both nodes at once is accepted once: the
        greetings are published once, the other call changes nothing.
        """
        a, b = self.nodes
        now = int(reactor.seconds() * 1000)
        yield a.store.putFriendRequest(FriendRequest(
            CAROL, BOB, "", int(FriendRequestStatus.SENT), now, True, False))
        results = yield DeferredList([
            ensureDeferred(node.social.handleFriendRequest(BOB, CAROL, 1))
            for node in (a, b, a, b)], consumeErrors=True)
        self.assertTrue(all(ok for ok, _ in results), results)
        # The two tips, once.
        self.assertEqual((yield a.store.getHead(BOB)), 2)
        self.assertEqual((yield b.store.getHead(CAROL)), 2)
        request = yield b.store.getFriendRequest(CAROL, BOB)
        self.assertEqual(request.status, FriendRequestStatus.ACCEPTED)

    @inlineCallbacks
    def test_concurrentRequestsStoredOnce(self):
        """
        A friend request sent through both nodes at once is stored once:
        the target gets one FRN, the repeats are answered 0.
        """
        from fxim.wire.requests import FriendRequestNotify
        a, b = self.nodes
        results = yield DeferredList([
            ensureDeferred(node.social.addFriendRequest(CAROL, BOB, "hi"))
            for node in (a, b, a, b)], consumeErrors=True)
        self.assertTrue(all(ok for ok, _ in results), results)
        notified = [p for node in (a, b) for userId, p in node.bus.delivered
                    if userId == BOB and isinstance(p, FriendRequestNotify)]
        self.assertEqual(len(notified), 1)
        request = yield b.store.getFriendRequest(CAROL, BOB)
        self.assertEqual((request.status, request.updateDt), (FriendRequestStatus.SENT,
                                                               notified[0].version))

    @inlineCallbacks
    def test_concurrentKicksNotifyOnce(self):
        """
        The same member kicked through both nodes at once is kicked once:
        one 106 notification, to the members the group had.
        """
        a, b = self.nodes
        gid = yield ensureDeferred(a.groups.create(
            OWNER, GroupInfo("", "g"), [GroupMember(BOB), GroupMember(CAROL)]))
        yield DeferredList([ensureDeferred(node.groups.kickMembers(OWNER, gid, [BOB]))
                            for node in (a, b, a, b)], consumeErrors=True)
        # 104 (create) and one 106.
        self.assertEqual((yield a.store.getHead(BOB)), 2)
        self.assertEqual((yield b.store.getHead(CAROL)), 2)
        self.assertEqual([m.memberId for m in (yield b.store.getMembers(gid))], [OWNER, CAROL])


class SqliteClusterRaceTests(ClusterRaceContract, TestCase):  # type: ignore[misc]
    """
    Two stores on one SQLite file (its single writer serialises them).
    """

    def openStore(self):
        from fxim.storage import openStore
        if not hasattr(self, "dataDir"):
            self.dataDir = self.mktemp()
        return openStore(reactor, dataDir=self.dataDir)


class PostgresClusterRaceTests(ClusterRaceContract, TestCase):  # type: ignore[misc]
    """
    Two stores on one PostgreSQL schema (row locks serialise them).
    """

    def openStore(self):
        return openSharedPostgres(self)
