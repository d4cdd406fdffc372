"""
End-to-end tests of contact privacy against real C{twistd fxim} nodes, on
the embedded default and on PostgreSQL + Redis, over TCP and WebSocket:
search and UPUI never give a stranger's mobile; friends see it.
"""

from twisted.trial.unittest import TestCase

from fxim.test.e2e import NodeTestMixin, ProductionBackend, sleep
from fxim.wire.requests import AddFriend, HandleFriendRequest, PullUsers, SearchUsers


class ContactPrivacyMixin:
    """
    Mixed into one class per backend.
    """

    async def test_searchAndProfileHideMobiles(self):
        """
        A fuzzy search for C{1} finds none of the users whose display name
        is their mobile, and never returns a mobile; UPUI of a stranger
        shows no mobile on either transport; an exact-mobile search finds
        the user; once friends, UPUI shows the mobile.
        """
        node = await self.startNode()
        mobiles = ["13800000740", "13800000741", "13800000742"]
        alice = await self.loginAndConnect(node, mobiles[0], "tcp")
        bob = await self.loginAndConnect(node, mobiles[1], "ws")
        carol = await self.loginAndConnect(node, mobiles[2], "tcp")
        for conn in (alice, bob):
            for keyword in ("1", "138", "0741", "0742"):
                found = await conn.request(SearchUsers(keyword, 1, 0))
                for user in found.users:
                    if user.userId == conn.userId:
                        continue
                    self.assertEqual(user.mobile, "")
                    self.assertFalse(any(m in user.displayName + user.name for m in mobiles))
        exact = await alice.request(SearchUsers(mobiles[2], 0, 0))
        self.assertEqual([u.userId for u in exact.users], [carol.userId])
        for conn, other, otherMobile in ((alice, bob, mobiles[1]), (bob, carol, mobiles[2])):
            [(user, code)] = (await conn.request(PullUsers(((other.userId, 0),)))).entries
            self.assertEqual(code, 0)
            self.assertEqual(user.mobile, "")
            self.assertNotIn(otherMobile, user.displayName + user.name)
        mine = (await bob.request(PullUsers(((bob.userId, 0),)))).entries[0][0]
        self.assertEqual(mine.mobile, mobiles[1])
        await alice.request(AddFriend(bob.userId, "hi"))
        await bob.request(HandleFriendRequest(alice.userId, 1))
        await sleep(0.2)
        [(user, _)] = (await alice.request(PullUsers(((bob.userId, 0),)))).entries
        self.assertEqual(user.mobile, mobiles[1])
        [(user, _)] = (await bob.request(PullUsers(((alice.userId, 0),)))).entries
        self.assertEqual(user.mobile, mobiles[0])


class EmbeddedContactPrivacyTests(ContactPrivacyMixin, NodeTestMixin, TestCase):
    """
    On the embedded default.
    """


class ProductionContactPrivacyTests(ContactPrivacyMixin, ProductionBackend, TestCase):
    """
    On PostgreSQL + Redis.
    """
