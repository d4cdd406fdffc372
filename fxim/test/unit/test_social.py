# -*- test-case-name: fxim.test.unit.test_social -*-
"""
Tests for L{fxim.services.social}, L{fxim.handlers.users} and
L{fxim.handlers.friends}.
"""

import json

import attr
from twisted.internet import task
from twisted.internet.defer import ensureDeferred, succeed
from twisted.trial.unittest import SynchronousTestCase, TestCase

from fxim.config import Config
from fxim.errors import ErrorCode, SignalError
from fxim.model import (
    ContentType, Conversation, ConversationType, Friend,
    FriendRequestStatus, FriendState, Message, MessageContent, MyInfoType, User,
)
from fxim.services.social import (
    FRIENDS_TIP, GREETING_TIP, REQUEST_COOLDOWN, REQUEST_EXPIRY, SEARCH_PAGE_SIZE,
)
from fxim.testing import FakeConnection, buildMemoryNode, memoryNode
from fxim.wire.requests import FriendNotify, FriendRequestNotify, MessageNotify

#: 2023-11-14, in seconds.
START = 1700000000.0


class FakeBus:
    """
    An L{fxim.interfaces.IDeliveryBus} recording what is delivered.

    @ivar delivered: C{(uid, push, excludeCid)} tuples, in order.
    """

    def __init__(self):
        self.delivered = []

    def deliver(self, userId, push, excludeCid=None):
        self.delivered.append((userId, push, excludeCid))
        return succeed(None)

    def kick(self, userId, cid, keep=None):
        return succeed(None)

    def pushesTo(self, userId, kind=None):
        """
        @return: the pushes delivered to C{uid}, of class C{kind} if given.
        """
        return [p for u, p, _ in self.delivered
                if u == userId and (kind is None or isinstance(p, kind))]


class _Base(SynchronousTestCase):
    """
    A memory node (L{fxim.testing.memoryNode}) with a L{task.Clock} and a
    L{FakeBus} (see L{makeBus}): its L{SocialService} and
    L{MessagingService}, with users alice, bob and carol.
    """

    def makeBus(self):
        """
        @return: the node's delivery bus (None: the node's L{LocalBus}).
        """
        return FakeBus()

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(START)
        self.node = memoryNode(Config(), self.clock, bus=self.makeBus())
        self.addCleanup(lambda: self.successResultOf(ensureDeferred(self.node.close())))
        self.store, self.bus = self.node.server.store, self.node.server.bus
        self.messages, self.social = self.node.server.messages, self.node.server.social
        # A verifier whose codes the tests read.
        from fxim.services.auth import AuthService
        from fxim.services.contactchange import ContactVerifier
        from fxim.sms import MemorySmsSender
        self.sms = MemorySmsSender()
        self.social.contactVerifier = ContactVerifier(
            AuthService(self.store, self.clock, b"k" * 32, self.sms))
        for userId, mobile, name in [("alice", "13800000001", "Alice Liddell"),
                                  ("bob", "13800000002", "Bob Marley"),
                                  ("carol", "13800000003", "Carol King")]:
            self.wait(self.store.createUser(mobile, name, self.now(), userId=userId))

    def now(self):
        return int(self.clock.seconds() * 1000)

    def wait(self, result):
        """
        @return: the result of a coroutine or Deferred that must succeed
            synchronously.
        """
        return self.successResultOf(ensureDeferred(result))

    def assertCode(self, result, code):
        """
        Assert a coroutine fails synchronously with a L{SignalError} of
        C{code}.
        """
        failure = self.failureResultOf(ensureDeferred(result), SignalError)
        self.assertEqual(failure.value.code, code)

    def befriend(self, a="alice", b="bob", reason="hi"):
        """
        Make C{a} and C{b} friends through FAR and FHR; clear the bus.
        """
        self.wait(self.social.addFriendRequest(a, b, reason))
        self.wait(self.social.handleFriendRequest(b, a, 1))
        self.bus.delivered[:] = []

    def inbox(self, userId):
        return [self.store.messages[m] for m in self.store.inboxes.get(userId, [])]


class SearchTests(_Base):
    """
    US: L{SocialService.search}.
    """

    def test_mobileExact(self):
        """
        A mobile number finds its user exactly, fuzzy or not.
        """
        for fuzzy in (0, 1):
            users = self.wait(self.social.search("alice", "13800000002", fuzzy, 0))
            self.assertEqual([u.userId for u in users], ["bob"])
        self.assertEqual(self.wait(self.social.search("alice", "1380000000", 0, 0)), [])

    def test_displayNameFuzzy(self):
        """
        With C{fuzzy} a part of the display name finds the user; without it
        the display name is not searched.
        """
        users = self.wait(self.social.search("alice", "King", 1, 0))
        self.assertEqual([u.userId for u in users], ["carol"])
        self.assertEqual(self.wait(self.social.search("alice", "King", 0, 0)), [])

    def test_noContactDetailsOfStrangers(self):
        """
        A fuzzy search never matches the display name a login gave (the
        mobile) and never returns a stranger's mobile; an exact mobile
        search returns that mobile (the searcher typed it) but not the
        e-mail.
        """
        self.wait(self.store.createUser("13912345678", "", self.now(), userId="dave"))
        self.wait(self.store.updateUser("dave", {"email": "d@example.com"}, self.now()))
        self.assertEqual(self.wait(self.social.search("alice", "1", 1, 0)), [])
        self.assertEqual(self.wait(self.social.search("alice", "1391234", 1, 0)), [])
        for user in self.wait(self.social.search("alice", "o", 1, 0)):
            self.assertEqual((user.mobile, user.email), ("", ""))
            self.assertNotIn("1380000000", user.name + user.displayName)
        [dave] = self.wait(self.social.search("alice", "13912345678", 1, 0))
        self.assertEqual((dave.mobile, dave.email, dave.displayName),
                         ("13912345678", "", "13912345678"))
        [me] = self.wait(self.social.search("dave", "13912345678", 0, 0))
        self.assertEqual(me.email, "d@example.com")

    def test_blankKeyword(self):
        """
        A blank keyword finds nobody, even fuzzily.
        """
        self.assertEqual(self.wait(self.social.search("alice", "  ", 1, 0)), [])
        self.assertEqual(self.wait(self.social.search("alice", "", 1, 0)), [])

    def test_paged(self):
        """
        Results come 20 per page, page 0 first.
        """
        for i in range(25):
            self.wait(self.store.createUser("1390000%04d" % (i,), "Zed %d" % (i,), self.now()))
        pages = [self.wait(self.social.search("alice", "Zed", 1, p)) for p in range(3)]
        self.assertEqual([len(p) for p in pages], [SEARCH_PAGE_SIZE, 5, 0])
        userIds = {u.userId for p in pages for u in p}
        self.assertEqual(len(userIds), 25)

    def test_hiddenFromSearch(self):
        """
        A user hidden with L{SocialService.setSearchable} is not found by
        mobile or name until shown again.
        """
        self.wait(self.social.setSearchable("bob", False))
        self.assertEqual(self.wait(self.social.search("alice", "13800000002", 1, 0)), [])
        self.assertEqual(self.wait(self.social.search("alice", "Bob", 1, 0)), [])
        self.wait(self.social.setSearchable("bob", True))
        users = self.wait(self.social.search("alice", "Bob", 1, 0))
        self.assertEqual([u.userId for u in users], ["bob"])

    def test_setSearchableUnknown(self):
        """
        Hiding an unknown user fails with 253.
        """
        self.assertCode(self.social.setSearchable("nobody", False), ErrorCode.NOT_EXIST)


class PullUsersTests(_Base):
    """
    UPUI: L{SocialService.pullUsers}.
    """

    def test_found(self):
        """
        A known uid with updateDt 0 gets the whole user and code 0.
        """
        [(user, code)] = self.wait(self.social.pullUsers("bob", [("bob", 0)]))
        self.assertEqual(code, 0)
        self.assertEqual(user, self.store.users["bob"])

    def test_strangerSeesNoContacts(self):
        """
        A non-friend gets the user without mobile or e-mail, the name that
        is only the mobile masked, and updateDt 0; a friend gets it whole.
        """
        self.wait(self.store.updateUser("bob", {"email": "bob@example.com"}, self.now()))
        bob = self.store.users["bob"]
        [(seen, code)] = self.wait(self.social.pullUsers("alice", [("bob", 0)]))
        self.assertEqual(code, 0)
        self.assertEqual((seen.mobile, seen.email, seen.name, seen.displayName, seen.updateDt),
                         ("", "", "*******0002", "Bob Marley", 0))
        self.wait(self.social.addFriendRequest("alice", "bob", "hi"))
        self.wait(self.social.handleFriendRequest("bob", "alice", 1))
        [(seen, _)] = self.wait(self.social.pullUsers("alice", [("bob", 0)]))
        self.assertEqual((seen.mobile, seen.email), (bob.mobile, "bob@example.com"))

    def test_unknown(self):
        """
        An unknown uid gets a code 1 entry carrying only its uid, in place.
        """
        entries = self.wait(self.social.pullUsers("alice", [("nobody", 0), ("bob", 0)]))
        self.assertEqual(entries[0], (User(userId="nobody"), 1))
        self.assertEqual(entries[1][1], 0)

    def test_notModified(self):
        """
        A requested updateDt not older than the user's gets code 2 with only
        the uid and updateDt; an older one gets the user.
        """
        bob = self.store.users["bob"]
        entries = self.wait(self.social.pullUsers(
            "alice", [("bob", bob.updateDt), ("bob", bob.updateDt + 5),
                      ("bob", bob.updateDt - 1)]))
        self.assertEqual(entries[0], (User(userId="bob", updateDt=bob.updateDt), 2))
        self.assertEqual(entries[1][1], 2)
        from fxim.services.contacts import strangerView
        self.assertEqual(entries[2], (strangerView(bob), 0))

    def test_afterModification(self):
        """
        After MMI a client's cached updateDt is older, so UPUI returns the
        new profile.
        """
        before = self.store.users["bob"].updateDt
        self.clock.advance(1)
        self.wait(self.social.modifyMyInfo("bob", [(MyInfoType.COMPANY, "Wailers")]))
        [(user, code)] = self.wait(self.social.pullUsers("alice", [("bob", before)]))
        self.assertEqual((user.company, code), ("Wailers", 0))


class ModifyMyInfoTests(_Base):
    """
    MMI: L{SocialService.modifyMyInfo}.
    """

    def test_everyType(self):
        """
        Every MyInfoType 0-8 sets its field, all at once, with updateDt now.
        """
        self.clock.advance(2)
        entries = [
            (MyInfoType.DISPLAY_NAME, " Alice L. "),
            (MyInfoType.PORTRAIT, "https://img.example/a.png"),
            (MyInfoType.GENDER, "2"),
            (MyInfoType.MOBILE, "+8613911112222:" + self.codeFor("+8613911112222")),
            (MyInfoType.EMAIL, "alice@example.org:" + self.codeFor("alice@example.org")),
            (MyInfoType.ADDRESS, "Oxford"),
            (MyInfoType.COMPANY, "Wonderland"),
            (MyInfoType.SOCIAL, "{\"tw\":\"@alice\"}"),
            (MyInfoType.EXTRA, "x" * 4096),
        ]
        user = self.wait(self.social.modifyMyInfo("alice", entries))
        self.assertEqual(user, self.store.users["alice"])
        self.assertEqual(
            (user.displayName, user.portrait, user.gender, user.mobile, user.email,
             user.address, user.company, user.social, user.extra, user.updateDt),
            ("Alice L.", "https://img.example/a.png", 2, "13911112222",
             "alice@example.org", "Oxford", "Wonderland", "{\"tw\":\"@alice\"}",
             "x" * 4096, self.now()))

    def codeFor(self, address):
        """
        Ask for a change of alice's mobile or e-mail to C{address} without
        a code: refused with 244, a code is sent; @return: that code.
        """
        infoType = MyInfoType.EMAIL if "@" in address else MyInfoType.MOBILE
        self.assertCode(self.social.modifyMyInfo("alice", [(infoType, address)]),
                        ErrorCode.AUTH_FAILURE)
        from fxim.identity import parseIdentity
        return self.sms.lastCode(parseIdentity(address).value)

    def test_mobileChangeNeedsCode(self):
        """
        A new mobile without a code changes nothing and sends a code to the
        new mobile; a wrong code is 15; the right one applies the change
        and is used up.
        """
        code = self.codeFor("13911112222")
        self.assertIsNotNone(code)
        self.assertEqual(self.store.users["alice"].mobile, "13800000001")
        wrong = "000000" if code != "000000" else "111111"
        self.assertCode(self.social.modifyMyInfo("alice", [(MyInfoType.MOBILE, "13911112222:" + wrong)]),
                        ErrorCode.PASSWORD_INCORRECT)
        self.assertEqual(self.store.users["alice"].mobile, "13800000001")
        user = self.wait(self.social.modifyMyInfo("alice", [(MyInfoType.MOBILE, "13911112222:" + code)]))
        self.assertEqual(user.mobile, "13911112222")
        # Used up: it cannot prove the number for bob.
        self.assertCode(self.social.modifyMyInfo("bob", [(MyInfoType.MOBILE, "13911112222:" + code)]),
                        ErrorCode.INVALID_PARAMETER)

    def test_mobileNormalised(self):
        """
        A new mobile is stored normalised as logins are (+86 and spaces
        dropped), and the code sent to it proves any spelling of it.
        """
        code = self.codeFor("+86 139 1111 2222")
        user = self.wait(self.social.modifyMyInfo(
            "alice", [(MyInfoType.MOBILE, "13911112222:" + code)]))
        self.assertEqual(user.mobile, "13911112222")

    def test_codeForAnotherAddress(self):
        """
        A code sent to one mobile does not prove another.
        """
        code = self.codeFor("13911112222")
        self.assertCode(self.social.modifyMyInfo("alice", [(MyInfoType.MOBILE, "13911113333:" + code)]),
                        ErrorCode.PASSWORD_INCORRECT)
        self.assertEqual(self.store.users["alice"].mobile, "13800000001")

    def test_emailChangeNeedsCodeClearingDoesNot(self):
        """
        A new e-mail needs its code like a mobile; clearing it needs none.
        """
        code = self.codeFor("alice@example.org")
        self.wait(self.social.modifyMyInfo("alice", [(MyInfoType.EMAIL, "alice@example.org:" + code)]))
        self.assertEqual(self.store.users["alice"].email, "alice@example.org")
        self.wait(self.social.modifyMyInfo("alice", [(MyInfoType.EMAIL, "")]))
        self.assertEqual(self.store.users["alice"].email, "")

    def test_takenMobileSendsNoCode(self):
        """
        A mobile another user has is refused (251) before any code is sent.
        """
        self.assertCode(self.social.modifyMyInfo("alice", [(MyInfoType.MOBILE, "13800000002")]),
                        ErrorCode.INVALID_PARAMETER)
        self.assertEqual(self.sms.sent, [])

    def test_invalid(self):
        """
        An invalid value or unknown type fails with 251 and applies nothing,
        not even the valid entries of the same request.
        """
        bad = [
            (MyInfoType.DISPLAY_NAME, ""),
            (MyInfoType.DISPLAY_NAME, "n" * 65),
            (MyInfoType.DISPLAY_NAME, "a\x00b"),
            (MyInfoType.PORTRAIT, "p" * 1025),
            (MyInfoType.GENDER, "3"),
            (MyInfoType.GENDER, "male"),
            (MyInfoType.MOBILE, "12ab"),
            (MyInfoType.EMAIL, "no-at-sign"),
            (MyInfoType.ADDRESS, "a" * 257),
            (MyInfoType.EXTRA, "e" * 4097),
            (9, "x"),
            (-1, "x"),
        ]
        before = self.store.users["alice"]
        for entry in bad:
            self.assertCode(
                self.social.modifyMyInfo("alice", [(MyInfoType.COMPANY, "Co"), entry]),
                ErrorCode.INVALID_PARAMETER)
        self.assertEqual(self.store.users["alice"], before)
        self.assertEqual(self.bus.delivered, [])

    def test_mobileTaken(self):
        """
        A mobile number another user has is refused with 251.
        """
        self.assertCode(self.social.modifyMyInfo("alice", [(MyInfoType.MOBILE, "13800000002")]),
                        ErrorCode.INVALID_PARAMETER)
        self.assertEqual(self.store.users["alice"].mobile, "13800000001")

    def test_friendsNotified(self):
        """
        A change bumps each friend's row for the user, so their incremental
        FP returns it, and sends FN to each friend and to the user.
        """
        self.befriend("alice", "bob")
        self.befriend("carol", "alice")
        bobHead = max(f.updateDt for f in self.wait(self.social.pullFriends("bob", 0)))
        self.clock.advance(5)
        self.wait(self.social.modifyMyInfo("alice", [(MyInfoType.DISPLAY_NAME, "Al")]))
        now = self.now()
        for userId in ("alice", "bob", "carol"):
            self.assertEqual(self.bus.pushesTo(userId), [FriendNotify(now)], userId)
        changed = self.wait(self.social.pullFriends("bob", bobHead))
        self.assertEqual([(f.userId, f.updateDt) for f in changed], [("alice", now)])

    def test_noChangeNoPush(self):
        """
        Setting a field to its current value stores and pushes nothing.
        """
        before = self.store.users["alice"]
        self.clock.advance(5)
        self.wait(self.social.modifyMyInfo("alice", [(MyInfoType.DISPLAY_NAME, before.displayName)]))
        self.assertEqual(self.store.users["alice"], before)
        self.assertEqual(self.bus.delivered, [])

    def test_unknownUser(self):
        """
        MMI for a user that does not exist fails with 253.
        """
        self.assertCode(self.social.modifyMyInfo("nobody", [(MyInfoType.COMPANY, "c")]),
                        ErrorCode.NOT_EXIST)


class AddFriendRequestTests(_Base):
    """
    FAR: L{SocialService.addFriendRequest}.
    """

    def test_stored(self):
        """
        A request is stored SENT with updateDt now and the target's devices
        (only theirs) get FRN with that version.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", "hello"))
        now = self.now()
        request = self.wait(self.store.getFriendRequest("alice", "bob"))
        self.assertEqual((request.reason, request.status, request.updateDt),
                         ("hello", FriendRequestStatus.SENT, now))
        self.assertEqual(self.bus.delivered, [("bob", FriendRequestNotify(now), None)])

    def test_unknownTarget(self):
        """
        A request to an unknown user fails with 253.
        """
        self.assertCode(self.social.addFriendRequest("alice", "nobody", ""), ErrorCode.NOT_EXIST)

    def test_invalid(self):
        """
        A request to oneself, or with a reason over 512 characters, fails
        with 251.
        """
        self.assertCode(self.social.addFriendRequest("alice", "alice", ""),
                        ErrorCode.INVALID_PARAMETER)
        self.assertCode(self.social.addFriendRequest("alice", "bob", "r" * 513),
                        ErrorCode.INVALID_PARAMETER)
        self.assertEqual(self.bus.delivered, [])

    def test_alreadyFriends(self):
        """
        A request to a friend fails with 16, in either direction.
        """
        self.befriend("alice", "bob")
        self.assertCode(self.social.addFriendRequest("alice", "bob", ""),
                        ErrorCode.FRIEND_ALREADY_REQUEST)
        self.assertCode(self.social.addFriendRequest("bob", "alice", ""),
                        ErrorCode.FRIEND_ALREADY_REQUEST)

    def test_blacklisted(self):
        """
        A request to a user who blacklisted the requester fails with 18,
        stores nothing and sends no FRN, however often it is repeated.
        """
        self.wait(self.social.setBlacklisted("bob", "alice", True))
        self.bus.delivered[:] = []
        for _ in range(3):
            self.assertCode(self.social.addFriendRequest("alice", "bob", "let me in"),
                            ErrorCode.FRIEND_REQUEST_BLOCKED)
        self.assertIsNone(self.wait(self.store.getFriendRequest("alice", "bob")))
        self.assertEqual(self.bus.delivered, [])

    def test_repeatWithinCooldown(self):
        """
        Repeating a pending request within 24 hours is answered without
        storing or pushing anything: the original request stands.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", "first"))
        first = self.wait(self.store.getFriendRequest("alice", "bob"))
        self.clock.advance(3600)
        self.wait(self.social.addFriendRequest("alice", "bob", "second"))
        self.assertEqual(self.wait(self.store.getFriendRequest("alice", "bob")), first)
        self.assertEqual(len(self.bus.pushesTo("bob")), 1)

    def test_repeatAfterCooldown(self):
        """
        After 24 hours a repeated request replaces the old one and the
        target gets FRN again.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", "first"))
        self.clock.advance(REQUEST_COOLDOWN / 1000)
        self.wait(self.social.addFriendRequest("alice", "bob", "second"))
        request = self.wait(self.store.getFriendRequest("alice", "bob"))
        self.assertEqual((request.reason, request.updateDt), ("second", self.now()))
        self.assertEqual(self.bus.pushesTo("bob", FriendRequestNotify)[-1],
                         FriendRequestNotify(self.now()))
        self.assertEqual(len(self.bus.pushesTo("bob")), 2)

    def test_repeatAfterRejection(self):
        """
        A rejected request cannot be renewed for 24 hours after the
        rejection; then it can.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", "first"))
        self.wait(self.social.handleFriendRequest("bob", "alice", 2))
        self.bus.delivered[:] = []
        self.wait(self.social.addFriendRequest("alice", "bob", "again"))
        self.assertEqual(self.bus.delivered, [])
        self.clock.advance(REQUEST_COOLDOWN / 1000 + 1)
        self.wait(self.social.addFriendRequest("alice", "bob", "again"))
        request = self.wait(self.store.getFriendRequest("alice", "bob"))
        self.assertEqual((request.status, request.reason), (FriendRequestStatus.SENT, "again"))
        self.assertEqual(self.bus.pushesTo("bob"), [FriendRequestNotify(self.now())])

    def test_robotTargetNoPush(self):
        """
        A request to a user who is not of type 0 is stored without FRN.
        """
        self.store.users["carol"] = attr.evolve(self.store.users["carol"], type=1)
        self.wait(self.social.addFriendRequest("alice", "carol", ""))
        self.assertIsNotNone(self.wait(self.store.getFriendRequest("alice", "carol")))
        self.assertEqual(self.bus.delivered, [])


class HandleFriendRequestTests(_Base):
    """
    FHR: L{SocialService.handleFriendRequest}.
    """

    def test_noRequest(self):
        """
        Handling a request that was never sent fails with 253, including
        one sent the other way.
        """
        self.assertCode(self.social.handleFriendRequest("bob", "alice", 1), ErrorCode.NOT_EXIST)
        self.wait(self.social.addFriendRequest("alice", "bob", ""))
        self.assertCode(self.social.handleFriendRequest("alice", "bob", 1), ErrorCode.NOT_EXIST)

    def test_expired(self):
        """
        A request older than 7 days fails with 19 and changes nothing.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", ""))
        self.clock.advance(REQUEST_EXPIRY / 1000 + 1)
        self.bus.delivered[:] = []
        self.assertCode(self.social.handleFriendRequest("bob", "alice", 1),
                        ErrorCode.FRIEND_REQUEST_OVERTIME)
        self.assertEqual(self.wait(self.social.pullFriends("bob", 0)), [])
        self.assertEqual(self.bus.delivered, [])

    def test_badStatus(self):
        """
        A status other than 0, 1 or 2 fails with 251.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", ""))
        self.assertCode(self.social.handleFriendRequest("bob", "alice", 3),
                        ErrorCode.INVALID_PARAMETER)

    def test_accept(self):
        """
        Accepting creates both friend rows (state 0, updateDt now), marks the
        request accepted, and sends FN to both users after the greetings'
        MNs.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", "hi bob"))
        self.clock.advance(10)
        self.bus.delivered[:] = []
        self.wait(self.social.handleFriendRequest("bob", "alice", 1))
        now = self.now()
        self.assertEqual(self.wait(self.social.pullFriends("bob", 0)),
                         [Friend("alice", FriendState.NORMAL, now)])
        self.assertEqual(self.wait(self.social.pullFriends("alice", 0)),
                         [Friend("bob", FriendState.NORMAL, now)])
        request = self.wait(self.store.getFriendRequest("alice", "bob"))
        self.assertEqual((request.status, request.updateDt), (FriendRequestStatus.ACCEPTED, now))
        for userId in ("alice", "bob"):
            pushes = self.bus.pushesTo(userId)
            self.assertEqual([type(p) for p in pushes], [MessageNotify] * 3 + [FriendNotify])
            self.assertEqual(pushes[-1], FriendNotify(now))

    def test_statusZeroAccepts(self):
        """
        Status 0 accepts, as upstream (which ignored the status) did.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", ""))
        self.wait(self.social.handleFriendRequest("bob", "alice", 0))
        self.assertEqual([f.userId for f in self.wait(self.social.pullFriends("bob", 0))], ["alice"])

    def test_greetings(self):
        """
        The greetings are, in order, the reason as text and the two tips,
        from the requester to the accepter, in both inboxes.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", "hi bob"))
        self.wait(self.social.handleFriendRequest("bob", "alice", 1))
        for userId in ("alice", "bob"):
            inbox = self.inbox(userId)
            self.assertEqual(
                [(m.fromUser, m.conversation, m.content.type,
                  m.content.searchableContent or m.content.content) for m in inbox],
                [("alice", Conversation(ConversationType.PRIVATE, "bob", 0), t, text)
                 for t, text in [(ContentType.TEXT, "hi bob"), (ContentType.TIP, GREETING_TIP),
                                 (ContentType.TIP, FRIENDS_TIP)]])
            messageUids = [m.messageUid for m in inbox]
            self.assertEqual(messageUids, sorted(messageUids))

    def test_emptyReasonNoText(self):
        """
        With an empty reason only the two tips are sent.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", ""))
        self.wait(self.social.handleFriendRequest("bob", "alice", 1))
        self.assertEqual([m.content.content for m in self.inbox("bob")],
                         [GREETING_TIP, FRIENDS_TIP])

    def test_acceptTwice(self):
        """
        Accepting an accepted request again is answered 0 and sends no
        second set of greetings; rejecting it then fails with 253.
        """
        self.befriend("alice", "bob", "hi")
        self.wait(self.social.handleFriendRequest("bob", "alice", 1))
        self.assertEqual(len(self.inbox("bob")), 3)
        self.assertEqual(self.bus.delivered, [])
        self.assertCode(self.social.handleFriendRequest("bob", "alice", 2), ErrorCode.NOT_EXIST)

    def test_reject(self):
        """
        Rejecting marks the request rejected, creates no friendship, sends
        no greetings, and sends FRN to both users.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", "hi"))
        self.clock.advance(1)
        self.bus.delivered[:] = []
        self.wait(self.social.handleFriendRequest("bob", "alice", 2))
        now = self.now()
        request = self.wait(self.store.getFriendRequest("alice", "bob"))
        self.assertEqual((request.status, request.updateDt), (FriendRequestStatus.REJECTED, now))
        self.assertEqual(self.wait(self.social.pullFriends("alice", 0)), [])
        self.assertEqual(self.wait(self.social.pullFriends("bob", 0)), [])
        self.assertEqual(self.inbox("bob"), [])
        self.assertEqual(sorted(self.bus.delivered),
                         [("alice", FriendRequestNotify(now), None),
                          ("bob", FriendRequestNotify(now), None)])
        [seen] = self.wait(self.social.pullFriendRequests("alice", now - 1))
        self.assertEqual(seen.status, FriendRequestStatus.REJECTED)

    def test_requesterBlacklistKept(self):
        """
        If the requester has since blacklisted the accepter, accepting keeps
        the requester's row blacklisted.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", ""))
        self.wait(self.social.setBlacklisted("alice", "bob", True))
        self.wait(self.social.handleFriendRequest("bob", "alice", 1))
        self.assertEqual(self.wait(self.store.getFriend("alice", "bob")).state,
                         FriendState.BLACKED)
        self.assertEqual(self.wait(self.store.getFriend("bob", "alice")).state,
                         FriendState.NORMAL)


class FriendRequestListTests(_Base):
    """
    FRP and FRUS: L{SocialService.pullFriendRequests} and
    L{SocialService.syncUnread}.
    """

    def test_toAndFrom(self):
        """
        FRP returns requests to and from the user newer than the version.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", "a->b"))
        self.clock.advance(1)
        self.wait(self.social.addFriendRequest("carol", "alice", "c->a"))
        first = self.now() - 1000
        reasons = [r.reason for r in self.wait(self.social.pullFriendRequests("alice", 0))]
        self.assertEqual(reasons, ["a->b", "c->a"])
        later = self.wait(self.social.pullFriendRequests("alice", first))
        self.assertEqual([r.reason for r in later], ["c->a"])

    def test_nobodyElsesRequests(self):
        """
        Nobody sees requests they are neither the sender nor the target of.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", "private"))
        self.assertEqual(self.wait(self.social.pullFriendRequests("carol", 0)), [])

    def test_syncUnread(self):
        """
        FRUS marks requests to the caller read without changing their
        updateDt, then sends the caller FRN with the current ms.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", ""))
        self.wait(self.social.addFriendRequest("carol", "bob", ""))
        before = self.wait(self.social.pullFriendRequests("bob", 0))
        self.clock.advance(7)
        self.bus.delivered[:] = []
        self.wait(self.social.syncUnread("bob", self.now()))
        after = self.wait(self.social.pullFriendRequests("bob", 0))
        self.assertEqual([r.toReadStatus for r in after], [True, True])
        self.assertEqual([r.updateDt for r in after], [r.updateDt for r in before])
        self.assertEqual(self.bus.delivered, [("bob", FriendRequestNotify(self.now()), None)])

    def test_syncUnreadUpToVersion(self):
        """
        FRUS leaves requests newer than its version unread.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", ""))
        version = self.now()
        self.clock.advance(1)
        self.wait(self.social.addFriendRequest("carol", "bob", ""))
        self.wait(self.social.syncUnread("bob", version))
        after = self.wait(self.social.pullFriendRequests("bob", 0))
        self.assertEqual([(r.fromUid, r.toReadStatus) for r in after],
                         [("alice", True), ("carol", False)])


class AliasTests(_Base):
    """
    FALS: L{SocialService.setAlias}.
    """

    def test_setAlias(self):
        """
        The alias and updateDt are stored on the caller's row only, and the
        caller's devices get FN.
        """
        self.befriend()
        self.clock.advance(1)
        row = self.wait(self.social.setAlias("alice", "bob", "Bobby"))
        self.assertEqual(row, Friend("bob", FriendState.NORMAL, self.now(), "Bobby"))
        self.assertEqual(self.wait(self.store.getFriend("alice", "bob")), row)
        self.assertEqual(self.wait(self.store.getFriend("bob", "alice")).alias, "")
        self.assertEqual(self.bus.delivered, [("alice", FriendNotify(self.now()), None)])

    def test_notFriend(self):
        """
        An alias for someone who is not a friend fails with 253.
        """
        self.assertCode(self.social.setAlias("alice", "bob", "B"), ErrorCode.NOT_EXIST)

    def test_tooLong(self):
        """
        An alias over 64 characters fails with 251.
        """
        self.befriend()
        self.assertCode(self.social.setAlias("alice", "bob", "b" * 65),
                        ErrorCode.INVALID_PARAMETER)

    def test_aliasKeptOnRefriend(self):
        """
        An alias survives the friendship being accepted again.
        """
        self.befriend()
        self.wait(self.social.setAlias("alice", "bob", "Bobby"))
        self.wait(self.social.setBlacklisted("bob", "alice", True))
        self.wait(self.social.setBlacklisted("bob", "alice", False))
        self.assertEqual(self.wait(self.store.getFriend("alice", "bob")).alias, "Bobby")


class BlacklistTests(_Base):
    """
    L{SocialService.setBlacklisted}, the admin-only blacklist.
    """

    def privateMessage(self, sender, target):
        return self.messages.send(sender, "cid", Message(
            Conversation(ConversationType.PRIVATE, target, 0), sender,
            MessageContent(type=ContentType.TEXT, searchableContent="hey")))

    def test_blocksMessages(self):
        """
        After C{bob} blacklists C{alice}, her private messages to him fail
        with 246 while his to her still go; lifting it lets hers through.
        """
        self.befriend()
        self.wait(self.social.setBlacklisted("bob", "alice", True))
        self.assertCode(self.privateMessage("alice", "bob"), ErrorCode.IN_BLACK_LIST)
        self.wait(self.privateMessage("bob", "alice"))
        self.wait(self.social.setBlacklisted("bob", "alice", False))
        self.wait(self.privateMessage("alice", "bob"))

    def test_rowStates(self):
        """
        Blacklisting sets the row to state 2 (visible in FP) and sends FN to
        the blacklister; lifting it restores state 0 for a friend.
        """
        self.befriend()
        self.clock.advance(1)
        self.wait(self.social.setBlacklisted("bob", "alice", True))
        self.assertEqual(self.wait(self.social.pullFriends("bob", 0)),
                         [Friend("alice", FriendState.BLACKED, self.now())])
        self.assertEqual(self.bus.delivered, [("bob", FriendNotify(self.now()), None)])
        self.wait(self.social.setBlacklisted("bob", "alice", False))
        self.assertEqual(self.wait(self.store.getFriend("bob", "alice")).state,
                         FriendState.NORMAL)

    def test_nonFriend(self):
        """
        Blacklisting a non-friend creates a state 2 row; lifting it leaves a
        deleted (state 1) row, not a friendship.
        """
        self.wait(self.social.setBlacklisted("bob", "carol", True))
        self.assertEqual(self.wait(self.store.getFriend("bob", "carol")).state,
                         FriendState.BLACKED)
        self.wait(self.social.setBlacklisted("bob", "carol", False))
        self.assertEqual(self.wait(self.store.getFriend("bob", "carol")).state,
                         FriendState.DELETED)
        self.assertIsNone(self.wait(self.store.getFriend("carol", "bob")))

    def test_liftWithoutRow(self):
        """
        Lifting a blacklist that was never set stores and pushes nothing.
        """
        self.assertIsNone(self.wait(self.social.setBlacklisted("bob", "carol", False)))
        self.assertIsNone(self.wait(self.store.getFriend("bob", "carol")))
        self.assertEqual(self.bus.delivered, [])

    def test_invalid(self):
        """
        Blacklisting oneself fails with 251, an unknown user with 253.
        """
        self.assertCode(self.social.setBlacklisted("bob", "bob", True),
                        ErrorCode.INVALID_PARAMETER)
        self.assertCode(self.social.setBlacklisted("bob", "nobody", True), ErrorCode.NOT_EXIST)
        self.assertCode(self.social.setBlacklisted("nobody", "bob", True), ErrorCode.NOT_EXIST)


class FlowTests(_Base):
    """
    The whole friend flow, as two clients would drive it.
    """

    def test_fullFlow(self):
        """
        Search, request (target gets FRN), accept (both get FN, greetings in
        both inboxes in order, each in the other's FP), alias, and a
        rejected request from a third user.
        """
        [found] = self.wait(self.social.search("alice", "Bob", 1, 0))
        self.wait(self.social.addFriendRequest("alice", found.userId, "I am Alice"))
        [frn] = self.bus.pushesTo("bob")
        [incoming] = self.wait(self.social.pullFriendRequests("bob", frn.version - 1000))
        self.assertEqual((incoming.fromUid, incoming.reason), ("alice", "I am Alice"))
        self.clock.advance(30)
        self.wait(self.social.handleFriendRequest("bob", incoming.fromUid, 1))
        now = self.now()
        for userId, other in (("alice", "bob"), ("bob", "alice")):
            self.assertIn(FriendNotify(now), self.bus.pushesTo(userId))
            self.assertEqual([f.userId for f in self.wait(self.social.pullFriends(userId, 0))], [other])
            pulled = self.wait(self.messages.pull(userId, 0))
            self.assertEqual([m.content.type for m in pulled.messages],
                             [ContentType.TEXT, ContentType.TIP, ContentType.TIP])
            self.assertEqual(pulled.messages[0].content.searchableContent, "I am Alice")
        self.wait(self.social.setAlias("bob", "alice", "Ally"))
        [row] = self.wait(self.social.pullFriends("bob", now))
        self.assertEqual(row.alias, "Ally")
        entries = self.wait(self.social.pullUsers("bob", [("alice", 0), ("bob", 0)]))
        self.assertEqual([code for _, code in entries], [0, 0])

        self.wait(self.social.addFriendRequest("carol", "bob", "me too"))
        self.wait(self.social.handleFriendRequest("bob", "carol", 2))
        self.assertEqual([f.userId for f in self.wait(self.social.pullFriends("bob", 0))], ["alice"])
        self.assertEqual(self.wait(self.social.pullFriendRequests("alice", 0)),
                         [self.wait(self.store.getFriendRequest("alice", "bob"))])


class DispatchTests(_Base):
    """
    The handler plugins through L{fxim.dispatch.Dispatcher} and the real
    codecs of both transports.
    """

    def setUp(self):
        super().setUp()
        from fxim.dispatch import Dispatcher, HandlerRegistry
        from fxim.handlers import friends, users
        from fxim.test.unit.test_dispatch import dispatchRaw
        self.dispatchRaw = dispatchRaw
        registry = HandlerRegistry.fromPlugins([users.plugin, friends.plugin])
        self.dispatcher = Dispatcher(registry, self.node.server)

    def tcp(self, userId, subsignal, message):
        """
        Dispatch a TCP request with protobuf C{message} as its body.

        @return: C{(code, body after the code)} of the PUB_ACK.
        """
        from fxim.wire.signals import Signal
        outcome = self.successResultOf(self.dispatchRaw(
            self.dispatcher, FakeConnection(userId, "device", "tcp"), Signal.PUBLISH, subsignal, 7,
            message.SerializeToString()))
        frame = outcome.reply
        self.assertEqual((frame.signal, frame.subsignal, frame.messageId),
                         (Signal.PUB_ACK, subsignal, 7))
        return frame.body[0], frame.body[1:]

    def ws(self, userId, subsignal, content):
        """
        Dispatch a WebSocket request with decoded JSON C{content}.

        @return: the reply's content text.
        """
        from fxim.wire.signals import Signal
        outcome = self.successResultOf(self.dispatchRaw(
            self.dispatcher, FakeConnection(userId, "device", "ws"), Signal.PUBLISH, subsignal, 9, content))
        envelope = outcome.reply
        self.assertEqual((envelope.signal, envelope.subsignal, envelope.messageId),
                         (Signal.PUB_ACK, subsignal, 9))
        return envelope.content

    def test_tcpFlow(self):
        """
        FAR, FHR, FP and UPUI over TCP: codes and protobuf results.
        """
        from fxim.wire import im_pb2 as pb
        from fxim.wire.signals import SubSignal as S
        self.assertEqual(self.tcp("alice", S.FAR, pb.AddFriendRequest(
            target_uid="bob", reason="hi")), (0, b""))
        self.assertEqual(self.tcp("alice", S.FAR, pb.AddFriendRequest(
            target_uid="nobody", reason="")), (ErrorCode.NOT_EXIST, b""))
        self.assertEqual(self.tcp("bob", S.FHR, pb.HandleFriendRequest(
            target_uid="carol", status=1)), (ErrorCode.NOT_EXIST, b""))
        self.assertEqual(self.tcp("bob", S.FHR, pb.HandleFriendRequest(
            target_uid="alice", status=1)), (0, b""))
        code, body = self.tcp("alice", S.FP, pb.Version(version=0))
        self.assertEqual(code, 0)
        result = pb.GetFriendsResult.FromString(body)
        self.assertEqual([(f.uid, f.state) for f in result.entry], [("bob", 0)])
        code, body = self.tcp("alice", S.FRP, pb.Version(version=0))
        [request] = pb.GetFriendRequestResult.FromString(body).entry
        self.assertEqual((request.from_uid, request.status), ("alice", 1))
        request = pb.PullUserRequest()
        for userId in ("bob", "nobody"):
            entry = request.request.add()
            entry.uid = userId
            entry.update_dt = 0
        code, body = self.tcp("alice", S.UPUI, request)
        entries = pb.PullUserResult.FromString(body).result
        self.assertEqual([(e.user.uid, e.code) for e in entries], [("bob", 0), ("nobody", 1)])
        self.assertEqual(entries[0].user.display_name, "Bob Marley")

    def test_wsFlow(self):
        """
        FAR, FHR, FP, FALS, US and MMI over WebSocket: WsResults and JSON
        results as the web client expects them.
        """
        from fxim.protocol.command import WS_ERROR, WS_SUCCESS
        from fxim.wire.signals import SubSignal as S
        users = json.loads(self.ws("alice", S.US, {"keyword": "Bob", "fuzzy": 1, "page": 0}))
        self.assertEqual([u["uid"] for u in users], ["bob"])
        self.assertEqual(self.ws("alice", S.FAR, {"reason": "hi", "targetUserId": "bob"}),
                         WS_SUCCESS)
        self.bus.delivered[:] = []
        self.assertEqual(self.ws("alice", S.FAR, {"reason": "", "targetUserId": "alice"}),
                         WS_ERROR)
        requests = json.loads(self.ws("bob", S.FRP, {"version": None}))
        self.assertEqual([(r["from"], r["target"]) for r in requests], [("alice", "bob")])
        self.assertEqual(self.ws("bob", S.FHR, {"targetUid": "alice", "status": 1}), WS_SUCCESS)
        self.assertIn(FriendNotify(self.social._lastStamp), self.bus.pushesTo("alice"))
        friends = json.loads(self.ws("bob", S.FP, {"version": 0}))
        self.assertEqual([(f["friendUid"], f["state"]) for f in friends], [("alice", 0)])
        self.assertEqual(self.ws("bob", S.FALS, {"reason": "Ally", "targetUserId": "alice"}),
                         WS_SUCCESS)
        self.assertEqual(self.ws("bob", S.FALS, {"reason": "C", "targetUserId": "carol"}),
                         WS_ERROR)
        self.assertEqual(self.ws("alice", S.MMI, {"type": 0, "value": "Al"}), WS_SUCCESS)
        self.assertEqual(self.ws("alice", S.MMI, {"type": 2, "value": "9"}), WS_ERROR)
        profiles = json.loads(self.ws("bob", S.UPUI, ["alice", "nobody"]))
        self.assertEqual([(u["uid"], u["displayName"]) for u in profiles], [("alice", "Al")])


class SqliteFlowTests(TestCase):
    """
    The friend flow over the SQLite store: the service relies only on
    behaviour both stores share.
    """

    async def _setUp(self):
        from twisted.internet import reactor
        from fxim.storage import openStore
        self.clock = task.Clock()
        self.clock.advance(START)
        self.store = await openStore(reactor, dataDir=self.mktemp())
        self.addCleanup(self.store.close)
        self.bus = FakeBus()
        node = await buildMemoryNode(Config(), self.clock, store=self.store, bus=self.bus)
        self.addCleanup(lambda: ensureDeferred(node.close()))
        self.messages, self.social = node.server.messages, node.server.social
        for userId, mobile, name in [("alice", "13800000001", "Alice Liddell"),
                                  ("bob", "13800000002", "Bob Marley"),
                                  ("carol", "13800000003", "Carol King")]:
            await self.store.createUser(mobile, name, 1, userId=userId)

    def setUp(self):
        return ensureDeferred(self._setUp())

    async def assertCode(self, coroutine, code):
        try:
            await coroutine
        except SignalError as e:
            self.assertEqual(e.code, code)
        else:
            self.fail(f"no SignalError {code!r}")

    def test_flow(self):
        """
        Search, request, accept with greetings, alias, reject, FRUS and the
        blacklist, all against SQLite.
        """
        return ensureDeferred(self._flow())

    async def _flow(self):
        social = self.social
        [found] = await social.search("alice", "Bob", 1, 0)
        await social.addFriendRequest("alice", found.userId, "I am Alice")
        self.assertEqual(len(self.bus.pushesTo("bob", FriendRequestNotify)), 1)
        await social.addFriendRequest("alice", "bob", "again")
        self.assertEqual(len(self.bus.pushesTo("bob", FriendRequestNotify)), 1)
        self.assertEqual(await social.pullFriendRequests("carol", 0), [])
        self.clock.advance(1)
        await social.handleFriendRequest("bob", "alice", 1)
        for userId, other in (("alice", "bob"), ("bob", "alice")):
            self.assertEqual([f.userId for f in await social.pullFriends(userId, 0)], [other])
            pulled = await self.messages.pull(userId, 0)
            self.assertEqual(
                [(m.fromUser, m.content.type) for m in pulled.messages],
                [("alice", ContentType.TEXT), ("alice", ContentType.TIP),
                 ("alice", ContentType.TIP)])
            self.assertIsInstance(self.bus.pushesTo(userId)[-1], FriendNotify)
        await self.assertCode(social.addFriendRequest("alice", "bob", ""),
                              ErrorCode.FRIEND_ALREADY_REQUEST)
        head = max(f.updateDt for f in await social.pullFriends("bob", 0))
        await social.setAlias("bob", "alice", "Ally")
        [row] = await social.pullFriends("bob", head)
        self.assertEqual(row.alias, "Ally")

        await social.addFriendRequest("carol", "bob", "me too")
        await social.handleFriendRequest("bob", "carol", 2)
        await social.syncUnread("bob", 0)
        requests = await social.pullFriendRequests("bob", 0)
        self.assertEqual(sorted((r.fromUid, r.status, r.toReadStatus) for r in requests),
                         [("alice", 1, True), ("carol", 2, True)])
        self.clock.advance(REQUEST_EXPIRY / 1000)
        await self.assertCode(social.handleFriendRequest("bob", "carol", 1), ErrorCode.NOT_EXIST)

        await social.setBlacklisted("bob", "carol", True)
        await self.assertCode(social.addFriendRequest("carol", "bob", ""),
                              ErrorCode.FRIEND_REQUEST_BLOCKED)
        await social.setBlacklisted("bob", "alice", True)
        await self.assertCode(self.messages.send("alice", "cid", Message(
            Conversation(ConversationType.PRIVATE, "bob", 0), "alice",
            MessageContent(type=ContentType.TEXT, searchableContent="hey"))),
            ErrorCode.IN_BLACK_LIST)

    def test_modifyMyInfo(self):
        """
        MMI against SQLite: applied, friends bumped, a taken mobile refused.
        """
        return ensureDeferred(self._modifyMyInfo())

    async def _modifyMyInfo(self):
        social = self.social
        await social.addFriendRequest("alice", "bob", "")
        await social.handleFriendRequest("bob", "alice", 1)
        head = max(f.updateDt for f in await social.pullFriends("bob", 0))
        self.clock.advance(1)
        user = await social.modifyMyInfo("alice", [(MyInfoType.DISPLAY_NAME, "Al"),
                                                   (MyInfoType.GENDER, "1")])
        self.assertEqual((user.displayName, user.gender), ("Al", 1))
        self.assertEqual([f.userId for f in await social.pullFriends("bob", head)], ["alice"])
        [(pulled, code)] = await social.pullUsers("bob", [("alice", head)])
        self.assertEqual((pulled.displayName, code), ("Al", 0))
        await self.assertCode(social.modifyMyInfo("alice", [(MyInfoType.MOBILE, "13800000002")]),
                              ErrorCode.INVALID_PARAMETER)
        await social.setSearchable("bob", False)
        self.assertEqual(await social.search("alice", "13800000002", 0, 0), [])


class RecordingConnection(FakeConnection):
    """
    A device that encodes every push it is sent, as its transport would.
    """

    def __init__(self, transportName, userId, cid):
        super().__init__(userId, cid, transportName)
        self.sent = []

    def sendPush(self, push):
        from fxim.protocol.wire import TcpWire, WsWire
        if self.transportName == "tcp":
            self.sent.append(TcpWire().encodePush(push))
        else:
            self.sent.append(json.loads(WsWire().encodePush(push)))


class LocalBusTests(_Base):
    """
    The service's pushes through the embedded L{fxim.bus.local.LocalBus},
    encoded for each device's transport.
    """

    def makeBus(self):
        return None

    def setUp(self):
        super().setUp()
        connections = self.node.server.connections
        self.phone = RecordingConnection("tcp", "bob", "phone")
        self.web = RecordingConnection("ws", "bob", "web")
        self.other = RecordingConnection("ws", "carol", "web")
        for conn in (self.phone, self.web, self.other):
            connections.add(conn)

    def test_friendRequestNotify(self):
        """
        FAR's FRN reaches every device of the target only: a bare int64 on
        TCP, C{{"version":"<ms>"}} on WebSocket.
        """
        import struct
        self.wait(self.social.addFriendRequest("alice", "bob", "hi"))
        version = self.wait(self.store.getFriendRequest("alice", "bob")).updateDt
        [frame] = self.phone.sent
        self.assertEqual(frame[2], 9)
        self.assertEqual(frame[7], 12)
        self.assertEqual(frame[-8:], struct.pack(">q", version))
        [envelope] = self.web.sent
        self.assertEqual(envelope["subSignal"], "FRN")
        self.assertEqual(json.loads(envelope["content"]), {"version": str(version)})
        self.assertEqual(self.other.sent, [])

    def test_acceptNotifies(self):
        """
        FHR sends the target's devices an MN per greeting, then FN.
        """
        self.wait(self.social.addFriendRequest("alice", "bob", "hi"))
        self.web.sent[:] = []
        self.wait(self.social.handleFriendRequest("bob", "alice", 1))
        self.assertEqual([e["subSignal"] for e in self.web.sent], ["MN", "MN", "MN", "FN"])
        self.assertEqual(len(self.phone.sent), 5)
