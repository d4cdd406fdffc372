"""
Tests for L{fxim.identity}: what the login field may carry, normalised.
"""

from twisted.trial.unittest import TestCase

from fxim.identity import EMAIL, MOBILE, PHONE, InvalidIdentity, parseIdentity


class ParseIdentityTests(TestCase):

    def test_chineseMobile(self):
        """
        An 11-digit mobile, with or without +86/0086, spaces or dashes, is
        one identity.
        """
        for text in ["13800000000", "+8613800000000", "0086 138-0000-0000", " 138 0000 0000 "]:
            self.assertEqual(parseIdentity(text), parseIdentity("13800000000"))
        self.assertEqual(parseIdentity("13800000000").kind, MOBILE)

    def test_e164(self):
        """
        International numbers are validated and kept in canonical E.164.
        """
        for text in ["+4915112345678", "+49 151 1234 5678", "0049-151-12345678"]:
            identity = parseIdentity(text)
            self.assertEqual((identity.kind, identity.value), (PHONE, "+4915112345678"))
        self.assertTrue(parseIdentity("+12025550123").isPhone)

    def test_email(self):
        """
        E-mail addresses are lower-cased.
        """
        identity = parseIdentity("Alice.Liu+im@Example.COM")
        self.assertEqual((identity.kind, identity.value), (EMAIL, "alice.liu+im@example.com"))
        self.assertFalse(identity.isPhone)

    def test_invalid(self):
        """
        Anything else is refused.
        """
        for text in ["", None, 13800000000, "12345678901", "1380000000", "+1234", "+49abc",
                     "+4915112345678x", "a@b", "a@@b.cn", "a..b@x.cn", "a b@x.cn",
                     "\uff11" * 11, "+\u0664\u0669151", "x" * 300 + "@a.cn", "+999999999999"]:
            self.assertRaises(InvalidIdentity, parseIdentity, text)
