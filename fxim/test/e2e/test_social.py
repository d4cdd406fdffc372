"""
End-to-end tests of users and friends against real C{twistd fxim}
processes, on the embedded default and on PostgreSQL + Redis: search, a
friend request accepted and one rejected, aliases, the blacklist and who
may read which friend requests.  The two users of each test are on
different transports (TCP and WebSocket).

The blacklist has no wire subsignal and the admin HTTP API does not expose
it (docs/admin-api.md), so the tests reach
L{fxim.services.social.SocialService.setBlacklisted} in the node through a
test-only handler plugin dropped into the node's C{PYTHONPATH} -- the same
mechanism third-party plugins use.
"""

import os
import tempfile
from typing import Any, List

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fxim.client import Inbox, RequestFailed
from fxim.errors import ErrorCode
from fxim.model import (
    ContentType, Conversation, FriendRequestStatus, FriendState, Message, MessageContent,
)
from fxim.test.e2e import NodeTestMixin, ProductionBackend, sleep, withTimeout
from fxim.wire.requests import (
    AddFriend, FriendNotify, FriendRequestNotify, HandleFriendRequest, JsonRequest,
    PullFriendRequests, PullFriends, PullMessages, SearchUsers, SendMessage, SetFriendAlias,
)

#: The test plugin's subsignal (in the plugin range 64-127).
BLACKLIST = 125

_PLUGIN = '''
# A test-only fxim plugin: subsignal 125 (FXIMTESTBLACKLIST) calls the
# admin-only SocialService.setBlacklisted for the caller.
from fxim.dispatch import HandlerSet
from fxim.wire.signals import Signal

fximTestBlacklist = HandlerSet("fximtest.blacklist", "test-only blacklist subsignal")


@fximTestBlacklist.handler(Signal.PUBLISH, 125, name="FXIMTESTBLACKLIST")
async def blacklist(context, request):
    value = request.value
    row = await context.server.social.setBlacklisted(
        context.userId, value["target"], bool(value["blacklisted"]))
    return None if row is None else row.state
'''


def blacklistPluginPath() -> str:
    """
    @return: a folder holding C{twisted/plugins/fximtest_blacklist.py}, to
        put on a node's C{PYTHONPATH}.
    """
    root = tempfile.mkdtemp(prefix="fxim-blacklist-plugin-")
    plugins = os.path.join(root, "twisted", "plugins")
    os.makedirs(plugins)
    with open(os.path.join(plugins, "fximtest_blacklist.py"), "w") as f:
        f.write(_PLUGIN)
    return root



async def until(predicate, seconds: float = 10.0) -> None:
    """
    Wait until C{predicate()} is true; fail after C{seconds}.
    """
    deadline = reactor.seconds() + seconds
    while not predicate():
        if reactor.seconds() > deadline:
            raise AssertionError("condition not reached in time")
        await sleep(0.05)


def text(target: str, body: str) -> SendMessage:
    return SendMessage(Message(Conversation(0, target, 0), "",
                               MessageContent(type=1, searchableContent=body)))


class Pushes:
    """
    Records a connection's pushes.
    """

    def __init__(self, connection) -> None:
        self.all: List[Any] = []
        connection.onPush(self.all.append)

    def of(self, kind):
        return [p for p in self.all if isinstance(p, kind)]


class SocialMixin:
    """
    Users and friends flows; mixed into one class per backend.
    """

    async def test_requestAcceptAlias(self):
        """
        A (TCP) finds B (WS) by mobile and asks to be friends: B gets FRN
        and sees the request in FRP; B accepts: both get FN, both receive
        the reason and the two tips through MN/MP, each is in the other's
        FP; A's alias for B shows in A's FP only; asking again is 16.
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000040", "tcp")
        b = await self.loginAndConnect(node, "13800000041", "ws")
        pushesA, pushesB = Pushes(a), Pushes(b)
        inboxA, inboxB = Inbox(a), Inbox(b)

        for searcher in (a, b):
            found = await searcher.request(SearchUsers("13800000041", 0, 0))
            self.assertEqual([u.userId for u in found.users], [b.userId])
            self.assertEqual(found.users[0].mobile, "13800000041")
        self.assertEqual((await a.request(SearchUsers("   ", 1, 0))).users, ())

        await a.request(AddFriend(b.userId, "我是 A"))
        await until(lambda: pushesB.of(FriendRequestNotify))
        [request] = (await b.request(PullFriendRequests(0))).requests
        self.assertEqual((request.fromUid, request.toUid, request.reason, request.status),
                         (a.userId, b.userId, "我是 A", FriendRequestStatus.SENT))
        [mine] = (await a.request(PullFriendRequests(0))).requests
        self.assertEqual((mine.fromUid, mine.toUid), (a.userId, b.userId))

        await b.request(HandleFriendRequest(a.userId, 1))
        await until(lambda: pushesA.of(FriendNotify) and pushesB.of(FriendNotify))
        for inbox in (inboxA, inboxB):
            greetings = await withTimeout(inbox.waitFor(3))
            self.assertEqual([(m.content.type, m.fromUser) for m in greetings],
                             [(ContentType.TEXT, a.userId), (ContentType.TIP, a.userId),
                              (ContentType.TIP, a.userId)])
            self.assertEqual(greetings[0].content.searchableContent, "我是 A")
            self.assertEqual(greetings[0].conversation.type, 0)
        self.assertEqual([m.messageUid for m in inboxA.messages], [m.messageUid for m in inboxB.messages])

        [friendOfA] = (await a.request(PullFriends(0))).friends
        [friendOfB] = (await b.request(PullFriends(0))).friends
        self.assertEqual((friendOfA.userId, friendOfA.state), (b.userId, FriendState.NORMAL))
        self.assertEqual((friendOfB.userId, friendOfB.state), (a.userId, FriendState.NORMAL))

        fnBefore = len(pushesA.of(FriendNotify))
        await a.request(SetFriendAlias(b.userId, "Bobby"))
        await until(lambda: len(pushesA.of(FriendNotify)) > fnBefore)
        [friendOfA] = (await a.request(PullFriends(0))).friends
        self.assertEqual(friendOfA.alias, "Bobby")
        [friendOfB] = (await b.request(PullFriends(0))).friends
        self.assertEqual(friendOfB.alias, "")
        # The web client sets aliases too.
        await b.request(SetFriendAlias(a.userId, "小A"))
        [friendOfB] = (await b.request(PullFriends(0))).friends
        self.assertEqual(friendOfB.alias, "小A")

        with self.assertRaises(RequestFailed) as caught:
            await a.request(AddFriend(b.userId, "again"))
        self.assertEqual(caught.exception.code, ErrorCode.FRIEND_ALREADY_REQUEST)
        # Friends can now talk both ways.
        await a.request(text(b.userId, "hello friend"))
        await withTimeout(inboxB.waitFor(4))
        self.assertEqual(inboxB.messages[3].content.searchableContent, "hello friend")

    async def test_reject(self):
        """
        B (WS) rejects C's (TCP) request: C gets FRN and sees the rejection
        in FRP; no friendship, no greeting; a repeat within 24 h changes
        nothing; an alias for a non-friend is 253.
        """
        node = await self.startNode()
        c = await self.loginAndConnect(node, "13800000042", "tcp")
        b = await self.loginAndConnect(node, "13800000043", "ws")
        pushesC, pushesB = Pushes(c), Pushes(b)
        await c.request(AddFriend(b.userId, "let me in"))
        await until(lambda: pushesB.of(FriendRequestNotify))
        await b.request(HandleFriendRequest(c.userId, 2))
        await until(lambda: pushesC.of(FriendRequestNotify))
        [request] = (await c.request(PullFriendRequests(0))).requests
        self.assertEqual((request.fromUid, request.status), (c.userId, FriendRequestStatus.REJECTED))
        self.assertEqual((await c.request(PullFriends(0))).friends, ())
        self.assertEqual((await b.request(PullFriends(0))).friends, ())
        self.assertEqual((await c.request(PullMessages(0, 0))).messages, ())
        self.assertEqual((await b.request(PullMessages(0, 0))).messages, ())
        # Rejecting is final: accepting afterwards is 253, handling it
        # again the same way is 0.
        await b.request(HandleFriendRequest(c.userId, 2))
        with self.assertRaises(RequestFailed):
            await b.request(HandleFriendRequest(c.userId, 1))
        frnBefore = len(pushesB.of(FriendRequestNotify))
        await c.request(AddFriend(b.userId, "please"))
        await sleep(0.3)
        self.assertEqual(len(pushesB.of(FriendRequestNotify)), frnBefore)
        [request] = (await b.request(PullFriendRequests(0))).requests
        self.assertEqual((request.reason, request.status), ("let me in", FriendRequestStatus.REJECTED))
        with self.assertRaises(RequestFailed) as caught:
            await c.request(SetFriendAlias(b.userId, "nope"))
        self.assertEqual(caught.exception.code, ErrorCode.NOT_EXIST)
        # Handling a request that does not exist: 253.
        with self.assertRaises(RequestFailed) as caught:
            await c.request(HandleFriendRequest(b.userId, 1))
        self.assertEqual(caught.exception.code, ErrorCode.NOT_EXIST)

    async def test_friendRequestsArePrivate(self):
        """
        A third user's FRP never shows the requests between two others, on
        either transport; he gets no FRN for them.
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000044", "tcp")
        b = await self.loginAndConnect(node, "13800000045", "ws")
        eveTcp = await self.loginAndConnect(node, "13800000046", "tcp")
        eveWs = await self.loginAndConnect(node, "13800000046", "ws")
        pushesEve = Pushes(eveTcp)
        await a.request(AddFriend(b.userId, "secret reason"))
        await b.request(AddFriend(a.userId, "me too"))
        await sleep(0.3)
        self.assertEqual(pushesEve.all, [])
        for eve in (eveTcp, eveWs):
            self.assertEqual((await eve.request(PullFriendRequests(0))).requests, ())
        self.assertEqual(len((await a.request(PullFriendRequests(0))).requests), 2)
        # Eve cannot accept (or reject) a request that was not sent to her.
        with self.assertRaises(RequestFailed) as caught:
            await eveTcp.request(HandleFriendRequest(a.userId, 1))
        self.assertEqual(caught.exception.code, ErrorCode.NOT_EXIST)
        self.assertEqual((await a.request(PullFriends(0))).friends, ())
        self.assertEqual((await eveTcp.request(PullFriends(0))).friends, ())

    async def test_blacklist(self):
        """
        After B (WS) blacklists A (TCP) -- through the service function,
        reached by a test plugin -- A's messages to B fail with 246 and
        A's friend requests with 18 and no FRN, while B can still message
        A; lifting the blacklist lets A's messages through again.
        """
        from fxim.client import registerPluginSubsignal
        registerPluginSubsignal("FXIMTESTBLACKLIST", BLACKLIST)
        node = await self.startNode(pythonPath=[blacklistPluginPath()])
        self.assertIn("fximtest.blacklist", node.log())
        a = await self.loginAndConnect(node, "13800000047", "tcp")
        b = await self.loginAndConnect(node, "13800000048", "ws")
        pushesB = Pushes(b)
        await a.request(AddFriend(b.userId, "hi"))
        await b.request(HandleFriendRequest(a.userId, 1))
        await a.request(text(b.userId, "before"))

        state = await b.request(JsonRequest({"target": a.userId, "blacklisted": True}),
                                subsignal=BLACKLIST)
        self.assertEqual(state, FriendState.BLACKED)
        [row] = (await b.request(PullFriends(0))).friends
        self.assertEqual((row.userId, row.state), (a.userId, FriendState.BLACKED))
        with self.assertRaises(RequestFailed) as caught:
            await a.request(text(b.userId, "blocked"))
        self.assertEqual(caught.exception.code, ErrorCode.IN_BLACK_LIST)
        frnBefore = len(pushesB.of(FriendRequestNotify))
        with self.assertRaises(RequestFailed) as caught:
            await a.request(AddFriend(b.userId, "let me back"))
        self.assertEqual(caught.exception.code, ErrorCode.FRIEND_REQUEST_BLOCKED)
        await b.request(text(a.userId, "I can still talk"))
        await sleep(0.3)
        self.assertEqual(len(pushesB.of(FriendRequestNotify)), frnBefore)
        bodies = [m.content.searchableContent
                  for m in (await b.request(PullMessages(0, 0))).messages]
        self.assertNotIn("blocked", bodies)
        self.assertIn("I can still talk", bodies)

        state = await b.request(JsonRequest({"target": a.userId, "blacklisted": False}),
                                subsignal=BLACKLIST)
        self.assertEqual(state, FriendState.NORMAL)
        await a.request(text(b.userId, "after"))
        bodies = [m.content.searchableContent
                  for m in (await b.request(PullMessages(0, 0))).messages]
        self.assertEqual(bodies[-1], "after")

    async def test_blacklistedStrangerRequest(self):
        """
        A stranger blacklisted before any friendship gets 18 for FAR
        (upstream answered 0) and the target gets no FRN.
        """
        node = await self.startNode(pythonPath=[blacklistPluginPath()])
        stranger = await self.loginAndConnect(node, "13800000049", "tcp")
        target = await self.loginAndConnect(node, "13800000050", "tcp")
        pushes = Pushes(target)
        from fxim.client import registerPluginSubsignal
        registerPluginSubsignal("FXIMTESTBLACKLIST", BLACKLIST)
        await target.request(JsonRequest({"target": stranger.userId, "blacklisted": True}),
                             subsignal=BLACKLIST)
        await sleep(0.2)
        del pushes.all[:]
        for _ in range(2):
            with self.assertRaises(RequestFailed) as caught:
                await stranger.request(AddFriend(target.userId, "hello?"))
            self.assertEqual(caught.exception.code, ErrorCode.FRIEND_REQUEST_BLOCKED)
        with self.assertRaises(RequestFailed) as caught:
            await stranger.request(text(target.userId, "hello?"))
        self.assertEqual(caught.exception.code, ErrorCode.IN_BLACK_LIST)
        await sleep(0.3)
        self.assertEqual(pushes.of(FriendRequestNotify), [])
        self.assertEqual((await target.request(PullFriendRequests(0))).requests, ())


class EmbeddedSocialTests(SocialMixin, NodeTestMixin, TestCase):
    """
    Users and friends on the embedded default.
    """


class ProductionSocialTests(SocialMixin, ProductionBackend, TestCase):
    """
    Users and friends on PostgreSQL + Redis.
    """
