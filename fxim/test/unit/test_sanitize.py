"""
Tests for L{fxim.wire.sanitize}.
"""

import attr
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fxim.model import Conversation, Message, MessageContent
from fxim.wire.requests import PullUsers, SendMessage
from fxim.wire.sanitize import (
    MAX_JSON_DEPTH, InputRejected, checkValue, loadsChecked, tooManyItems,
)


class CheckValueTests(SynchronousTestCase):
    """
    L{checkValue} walks JSON and typed requests without recursion.
    """

    def test_nulInStringsKeysAndRequests(self):
        """
        A NUL anywhere -- a value, a key, a field of a typed request -- is
        reported; clean values pass.
        """
        self.assertIsNone(checkValue({"a": ["b", 1, None, 2.5, b"\x00"]}))
        self.assertIn("NUL", checkValue({"a": ["b\x00"]}))
        self.assertIn("NUL", checkValue({"a\x00": 1}))
        message = Message(Conversation(0, "u\x00", 0), "", MessageContent(type=1))
        self.assertIn("NUL", checkValue(SendMessage(message)))
        self.assertIsNone(checkValue({"a\x00": "b\x00"}, nul=False))

    def test_nulDeepInARequest(self):
        """
        The typed-request fast path reaches every string: in a nested
        record, in a tuple field, in a C{str} subclass; enum and empty
        fields pass, the second time too (enum types are remembered).
        """
        import enum

        class Name(str):
            pass

        class Kind(enum.IntEnum):
            TEXT = 1
        clean = Message(Conversation(Kind.TEXT, "bob", 0), "",
                        MessageContent(type=Kind.TEXT, mentionedTargets=("a", "b")), to=())
        self.assertIsNone(checkValue(SendMessage(clean)))
        self.assertIsNone(checkValue(SendMessage(clean)))
        for bad in (attr.evolve(clean, content=MessageContent(type=1, mentionedTargets=("a", "b\x00"))),
                    attr.evolve(clean, to=("x\x00",)),
                    attr.evolve(clean, fromUser=Name("a\x00")),
                    attr.evolve(clean, content=MessageContent(type=1, searchableContent=Name("\x00")))):
            self.assertIn("NUL", checkValue(SendMessage(bad)))

    def test_depth(self):
        """
        Nesting over the limit is reported; at the limit it passes.
        """
        value = 1
        for _ in range(MAX_JSON_DEPTH):
            value = [value]
        self.assertIsNone(checkValue(value))
        self.assertIn("deeper", checkValue([value]))
        deep = 1
        for _ in range(100000):
            deep = {"x": deep}
        self.assertIn("deeper", checkValue(deep))

    def test_maxItems(self):
        """
        A list longer than C{maxItems} is reported as such.
        """
        request = PullUsers(tuple((str(i), 0) for i in range(11)))
        self.assertIsNone(checkValue(request, maxItems=11))
        why = checkValue(request, maxItems=10)
        self.assertTrue(tooManyItems(why), why)
        self.assertFalse(tooManyItems(checkValue(["\x00"])))

    @given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                        lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids)))
    def test_neverRaises(self, value):
        """
        Any JSON value gives an answer, never an exception.
        """
        checkValue(value)


class LoadsCheckedTests(SynchronousTestCase):
    """
    L{loadsChecked} never lets a C{RecursionError} out.
    """

    def test_deepText(self):
        """
        C{[} x 60,000 is refused as too deep.
        """
        self.assertRaises(InputRejected, loadsChecked, "[" * 60000)
        self.assertRaises(InputRejected, loadsChecked, "[" * 100 + "]" * 100)

    def test_badAndNul(self):
        """
        Broken JSON and NULs are refused; good JSON is returned.
        """
        self.assertRaises(InputRejected, loadsChecked, "{")
        self.assertRaises(InputRejected, loadsChecked, '{"a":"\\u0000"}')
        self.assertEqual(loadsChecked('{"a":[1]}'), {"a": [1]})
