"""
Tests for L{fxim.wire.sanitize}.
"""

import attr
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fxim.model import Conversation, Message, MessageContent
from fxim.protocol.messages import PullMessagesCommand, SendMessageCommand
from fxim.wire.requests import PullMessages, PullUsers, SendMessage
from fxim.wire.sanitize import (
    MAX_JSON_DEPTH, InputRejected, checkNothing, checkSend, checkValue, loadsChecked,
    tooManyItems,
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


def _sendVariants():
    """
    An MS record with a NUL in each of its strings in turn, with a long
    list in each of its tuples in turn, and clean: every field of the
    message and its parts (a field added later is covered too).
    """
    clean = SendMessage(Message(Conversation(0, "bob"), "alice", MessageContent(
        1, "text", mentionedTargets=("bob",)), to=("bob",), toUser="bob"))
    yield "clean", clean
    parts = {"message": clean.message, "conversation": clean.message.conversation,
             "content": clean.message.content}
    for part, record in parts.items():
        for field in attr.fields(type(record)):
            value = getattr(record, field.name)
            if isinstance(value, str):
                changed = [value + "\x00", "\x00"]
            elif isinstance(value, tuple):
                changed = [value + ("x\x00",), tuple("u%d" % i for i in range(20))]
            else:
                continue
            for new in changed:
                replaced = attr.evolve(record, **{field.name: new})
                message = clean.message
                if part == "message":
                    message = replaced
                else:
                    message = attr.evolve(message, **{part: replaced})
                yield f"{part}.{field.name}={new!r}", SendMessage(message)


class UnrolledChecksTests(SynchronousTestCase):
    """
    The unrolled checks of the hot requests answer what L{checkValue} does.
    """

    def test_sendAsWalked(self):
        """
        L{checkSend} refuses an MS exactly when L{checkValue} does, with the
        same answer, with and without a cap on list lengths.
        """
        self.assertIs(SendMessageCommand.checkRequest, checkSend)
        seen = 0
        for name, request in _sendVariants():
            for cap in (None, 10):
                self.assertEqual(checkSend(request, cap), checkValue(request, maxItems=cap),
                                 f"{name}, maxItems={cap}")
                seen += 1
        self.assertGreater(seen, 20)

    def test_sendOfOtherTypes(self):
        """
        A value of an unexpected type in an MS record is walked as
        L{checkValue} walks it.
        """
        request = SendMessage(Message(Conversation(0, "bob"), "alice",
                                      MessageContent(1, ["a\x00"])))  # type: ignore[arg-type]
        self.assertEqual(checkSend(request), checkValue(request))
        self.assertIsNotNone(checkSend(request))

    def test_pullHasNothingToCheck(self):
        """
        An MP record holds numbers only, so L{checkNothing} is its check.
        """
        self.assertIs(PullMessagesCommand.checkRequest, checkNothing)
        request = PullMessages(3, 0)
        for field in attr.fields(PullMessages):
            self.assertIsInstance(getattr(request, field.name), int)
        self.assertIsNone(checkValue(request))
        self.assertIsNone(checkNothing(request, 1))


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
