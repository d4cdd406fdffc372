"""
Contract tests of L{fxim.storage.settings} on memory, SQLite and
PostgreSQL.
"""

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from fxim.storage.settings import ISettingStore, MemorySettingStore, Setting, settingStoreFor
from fxim.test.unit.test_storage import PostgresBackendMixin, SqliteBackendMixin


class SettingStoreContract:

    def test_interface(self):
        self.assertTrue(verifyObject(ISettingStore, self.settings))

    @inlineCallbacks
    def test_putAndGet(self):
        """
        Versions grow (also when the clock does not); a get returns only
        what changed after the version given, oldest first.
        """
        v1 = yield self.settings.putSetting("alice", 1, "0-0-bob", "1", 1000)
        v2 = yield self.settings.putSetting("alice", 2, "", "1", 1000)
        v3 = yield self.settings.putSetting("alice", 1, "0-0-bob", "0", 999)
        self.assertEqual((v1, v2, v3), (1000, 1001, 1002))
        self.assertEqual((yield self.settings.getSettingHead("alice")), 1002)
        got = yield self.settings.getSettings("alice", 0)
        self.assertEqual(got, [Setting(2, "", "1", 1001), Setting(1, "0-0-bob", "0", 1002)])
        self.assertEqual((yield self.settings.getSettings("alice", 1001)),
                         [Setting(1, "0-0-bob", "0", 1002)])
        self.assertEqual((yield self.settings.getSettings("bob", 0)), [])
        self.assertEqual((yield self.settings.getSettingHead("bob")), 0)

    @inlineCallbacks
    def test_clockAhead(self):
        yield self.settings.putSetting("alice", 3, "1-0-g1", "1", 5)
        v = yield self.settings.putSetting("alice", 6, "g1", "1", 50)
        self.assertEqual(v, 50)


class MemorySettingStoreTests(SettingStoreContract, TestCase):
    def setUp(self):
        self.settings = MemorySettingStore()


class SqliteSettingStoreTests(SqliteBackendMixin, SettingStoreContract, TestCase):
    @inlineCallbacks
    def setUp(self):
        yield SqliteBackendMixin.setUp(self)
        self.settings = settingStoreFor(self.store)


class PostgresSettingStoreTests(PostgresBackendMixin, SettingStoreContract, TestCase):
    @inlineCallbacks
    def setUp(self):
        yield PostgresBackendMixin.setUp(self)
        self.settings = settingStoreFor(self.store)
