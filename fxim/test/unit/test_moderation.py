"""
Unit tests for L{fxim.moderation}: the Aho-Corasick word filter, the
actions, reports (memory, SQLite, PostgreSQL).
"""

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from fxim.errors import ErrorCode, SignalError
from fxim.model import Conversation, Message, MessageContent
from fxim.moderation.reports import openReports
from fxim.moderation.service import ModerationService
from fxim.moderation.words import WordFilter, loadWords
from fxim.storage.memory import MemoryStore
from fxim.test.unit.test_storage import MemoryBackendMixin, PostgresBackendMixin, SqliteBackendMixin


class WordFilterTests(TestCase):

    def test_spansAndMask(self):
        """
        Overlapping and adjacent matches merge; case is ignored; characters
        whose lower case is longer keep their place.
        """
        f = WordFilter(["abc", "bcd", "坏", " ", "X"])
        self.assertEqual(len(f), 4)
        self.assertEqual(f.spans("zABCDz"), [(1, 5)])
        self.assertEqual(f.mask("zABCDz 坏人"), "z****z *人".replace(" ", " "))
        self.assertEqual(f.mask("İx abc"), "İ* ***")
        self.assertFalse(f.matches("nothing"))
        self.assertTrue(f.matches("...x..."))
        self.assertEqual(WordFilter([]).mask("abc"), "abc")
        self.assertEqual(f.mask(""), "")

    def test_loadWords(self):
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write("# comment\n\nfoo\n  bar  \n")
        self.assertEqual(loadWords(path).words, ["bar", "foo"])
        self.assertRaises(ValueError, loadWords, path + ".missing")
        with open(path, "wb") as f:
            f.write(b"\xff\xfe\x00")
        self.assertRaises(ValueError, loadWords, path)


def msg(text):
    return Message(Conversation(0, "b", 0), "a", MessageContent(type=1, searchableContent=text,
                                                                pushContent=text))


class ActionTests(TestCase):

    def service(self, action, name="reject"):
        return ModerationService(Clock(), None, MemoryStore(), WordFilter(["bad"]),
                                 messageAction=action, nameAction=name)

    @inlineCallbacks
    def test_messageActions(self):
        with self.assertRaises(SignalError) as caught:
            yield self.service("reject").beforeSend("a", "c", msg("so BAD"))
        self.assertEqual(caught.exception.code, ErrorCode.SENSITIVE_MATCHED)
        self.assertIsNone((yield self.service("drop").beforeSend("a", "c", msg("bad"))))
        masked = yield self.service("mask").beforeSend("a", "c", msg("a bad day"))
        self.assertEqual((masked.content.searchableContent, masked.content.pushContent),
                         ("a *** day", "a *** day"))
        passed = self.service("pass")
        self.assertEqual((yield passed.beforeSend("a", "c", msg("bad"))), msg("bad"))
        self.assertEqual(passed.matched["pass"], 1)
        clean = msg("good")
        self.assertIs((yield self.service("reject").beforeSend("a", "c", clean)), clean)

    def test_names(self):
        self.assertRaises(SignalError, self.service("pass", "reject").filterName, "nickname", "bad")
        self.assertEqual(self.service("pass", "mask").filterName("nickname", "Bad guy"), "*** guy")
        self.assertEqual(self.service("pass", "pass").filterName("nickname", "bad"), "bad")
        self.assertRaises(ValueError, self.service, "nope")
        self.assertRaises(ValueError, self.service, "drop", "drop")

    def test_reloadWithoutFile(self):
        self.assertRaises(ValueError, self.service("mask").reload)


class ReportsContract:

    @inlineCallbacks
    def test_addList(self):
        reports = openReports(self.store)
        first = yield reports.add("u1", 10, "spam", 1)
        second = yield reports.add("u2", 11, "", 2)
        listed = yield reports.list()
        self.assertEqual([(r.id, r.reporter, r.messageUid) for r in listed],
                         [(second, "u2", 11), (first, "u1", 10)])
        self.assertEqual([r.id for r in (yield reports.list(10, second))], [first])


class MemoryReportsTests(ReportsContract, MemoryBackendMixin, TestCase):
    pass


class SqliteReportsTests(ReportsContract, SqliteBackendMixin, TestCase):
    pass


class PostgresReportsTests(ReportsContract, PostgresBackendMixin, TestCase):
    pass
