"""
Tests for L{fxim.services.contacts}.
"""

from twisted.trial.unittest import SynchronousTestCase

from fxim.model import User
from fxim.services.contacts import maskContact, strangerView, visibleTo

BOB = User(userId="bob", name="13800000002", displayName="13800000002", mobile="13800000002",
           email="bob@example.com", updateDt=5)


class ContactsTests(SynchronousTestCase):
    """
    Contact details by viewer.
    """

    def test_mask(self):
        """
        All but the last four characters are masked; short values wholly.
        """
        self.assertEqual(maskContact("13800000002"), "*******0002")
        self.assertEqual(maskContact("12345678"), "********")
        self.assertEqual(maskContact(""), "")

    def test_strangerView(self):
        """
        A stranger sees neither mobile nor e-mail, and the fallback names
        masked, with updateDt 0.
        """
        seen = strangerView(BOB)
        self.assertEqual((seen.mobile, seen.email, seen.name, seen.displayName, seen.updateDt),
                         ("", "", "*******0002", "*******0002", 0))
        named = strangerView(User(userId="c", name="c@x.org", displayName="Carol", email="c@x.org"))
        self.assertEqual((named.name, named.displayName, named.email), ("*******", "Carol", ""))

    def test_visibleTo(self):
        """
        The user and friends see everything; an exact-mobile searcher the
        mobile (and fallback names) but not the e-mail.
        """
        self.assertIs(visibleTo(BOB, "bob", set()), BOB)
        self.assertIs(visibleTo(BOB, "alice", {"bob"}), BOB)
        found = visibleTo(BOB, "alice", set(), searchedMobile="13800000002")
        self.assertEqual((found.mobile, found.displayName, found.email),
                         ("13800000002", "13800000002", ""))
        other = visibleTo(BOB, "alice", set(), searchedMobile="13800000003")
        self.assertEqual(other.mobile, "")
