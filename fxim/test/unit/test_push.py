"""
Unit tests for L{fxim.push}: registration checks, the push rules and the
Matrix push-gateway body, with in-memory twins; the push store contract
on memory, SQLite and PostgreSQL.
"""

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from fxim.directory.memory import MemoryDirectory
from fxim.model import Conversation, GroupInfo, GroupMember, MemberType, Message, MessageContent
from fxim.outbox.store import MemoryOutbox
from fxim.push.pushers import gatewayNotification
from fxim.push.service import KIND, PushRefused, PushService
from fxim.push.store import DND, IPushStore, PushTarget, conversationKey, openPushStore
from fxim.storage.memory import MemoryStore
from fxim.test.unit.test_storage import MemoryBackendMixin, PostgresBackendMixin, SqliteBackendMixin

NOW = 1_700_000_000_000


class PushStoreContract:

    def setUp(self):
        d = super().setUp()

        def made(_):
            self.push = openPushStore(self.store)
        if d is None:
            return made(None)
        return d.addCallback(made)

    def test_interface(self):
        self.assertTrue(verifyObject(IPushStore, self.push))

    @inlineCallbacks
    def test_targets(self):
        """
        One target per device, replaced on re-register (badge back to 0);
        badges count up and reset; targets drop by device, user or token.
        """
        yield self.push.putTarget(PushTarget("u1", "c1", "ios", "t1", "app", "", 0, NOW))
        yield self.push.putTarget(PushTarget("u1", "c2", "android", "t2"))
        yield self.push.putTarget(PushTarget("u2", "c1", "web", "t1"))
        self.assertEqual((yield self.push.bumpBadge("u1", "c1")), 1)
        self.assertEqual((yield self.push.bumpBadge("u1", "c1")), 2)
        self.assertEqual((yield self.push.bumpBadge("nobody", "c1")), 0)
        targets = yield self.push.targetsOf(["u1"])
        self.assertEqual([(t.cid, t.pushToken, t.badge) for t in targets],
                         [("c1", "t1", 2), ("c2", "t2", 0)])
        self.assertEqual(targets[0].appId, "app")
        yield self.push.resetBadge("u1", "c1")
        yield self.push.putTarget(PushTarget("u1", "c2", "android", "t3"))
        targets = yield self.push.targetsOf(["u1", "u2"])
        self.assertEqual([(t.userId, t.cid, t.pushToken, t.badge) for t in targets],
                         [("u1", "c1", "t1", 0), ("u1", "c2", "t3", 0), ("u2", "c1", "t1", 0)])
        self.assertEqual((yield self.push.dropPushToken("t1")), 2)
        self.assertEqual((yield self.push.dropTargets("u1")), 1)
        self.assertEqual((yield self.push.targetsOf(["u1", "u2"])), [])

    @inlineCallbacks
    def test_preferences(self):
        yield self.push.setPreference("u1", DND, True)
        yield self.push.setPreference("u1", "0:u2:0", True)
        yield self.push.setPreference("u1", "0:u2:0", True)
        self.assertEqual((yield self.push.preferencesOf(["u1", "u2"])), {"u1": {DND, "0:u2:0"}})
        yield self.push.setPreference("u1", DND, False)
        self.assertEqual((yield self.push.preferencesOf(["u1"])), {"u1": {"0:u2:0"}})


class MemoryPushStoreTests(PushStoreContract, MemoryBackendMixin, TestCase):
    pass


class SqlitePushStoreTests(PushStoreContract, SqliteBackendMixin, TestCase):
    pass


class PostgresPushStoreTests(PushStoreContract, PostgresBackendMixin, TestCase):
    pass


def message(target="bob", type=1, text="hi", conversationType=0, **content) -> Message:
    return Message(Conversation(conversationType, target, 0), "alice",
                   MessageContent(type=type, searchableContent=text, **content), messageUid=42,
                   timestamp=NOW)


class RulesTests(TestCase):
    """
    L{PushService.messageStored} with memory twins.
    """

    @inlineCallbacks
    def setUp(self):
        self.clock = Clock()
        self.store = MemoryStore()
        self.directory = MemoryDirectory()
        self.outbox = MemoryOutbox()
        self.pushStore = openPushStore(self.store)
        self.service = PushService(self.clock, self.pushStore, self.pushStore, self.outbox,
                                   self.directory, self.store, collapseWindow=0)
        yield self.store.createUser("", "Alice", NOW, userId="alice")
        yield self.store.createUser("", "Bob", NOW, userId="bob")
        yield self.service.register("bob", "phone", {"platform": "ios", "pushToken": "tp"})
        yield self.service.register("bob", "pad", {"platform": "android", "pushToken": "tq",
                                                   "voipToken": "vq"})

    @inlineCallbacks
    def queued(self):
        jobs = yield self.outbox.claim(KIND, "t", 10 ** 13, 1000, 100)
        yield self.outbox.complete([j.id for j in jobs])
        return sorted((j.payload["cid"], j.payload["pushToken"]) for j in jobs), jobs

    @inlineCallbacks
    def test_offlineOnly(self):
        """
        Only registered devices that are not connected get a push; never
        the sender.
        """
        yield self.directory.register("bob", "pad", "0", "tcp")
        self.assertEqual((yield self.service.messageStored(message(), ["alice", "bob"])), 1)
        (pushes, [job]) = yield self.queued()
        self.assertEqual(pushes, [("phone", "tp")])
        p = job.payload
        self.assertEqual((p["sender"], p["senderName"], p["conversationName"], p["preview"],
                          p["badge"], p["conversation"], p["priority"]),
                         ("alice", "Alice", "Alice", "hi", 1, {"type": 0, "target": "alice",
                                                               "line": 0}, "normal"))
        self.assertEqual((yield self.service.messageStored(message(target="alice"), ["alice"])), 0)

    @inlineCallbacks
    def test_rules(self):
        """
        Transparent: none. DND: none but calls. Mute: none but mentions and
        calls. Calls are high priority and use the VoIP token.
        """
        self.assertEqual((yield self.service.messageStored(message(type=91), ["bob"])), 0)
        yield self.service.setPreference("bob", {"conversation": {"type": 0, "target": "alice"},
                                                 "muted": True})
        self.assertEqual((yield self.service.messageStored(message(), ["bob"])), 0)
        self.assertEqual((yield self.service.messageStored(
            message(mentionedType=1, mentionedTargets=("bob",)), ["bob"])), 2)
        self.assertEqual((yield self.service.messageStored(message(mentionedType=2), ["bob"])), 2)
        yield self.service.setPreference("bob", {"dnd": True})
        self.assertEqual((yield self.service.messageStored(message(mentionedType=2), ["bob"])), 0)
        yield self.queued()
        self.assertEqual((yield self.service.messageStored(message(type=400), ["bob"])), 2)
        pushes, jobs = yield self.queued()
        self.assertEqual(pushes, [("pad", "vq"), ("phone", "tp")])
        self.assertEqual({j.payload["priority"] for j in jobs}, {"high"})

    @inlineCallbacks
    def test_groupAndPreviewOff(self):
        """
        A group push names the group; with previews off there is none.
        """
        yield self.store.createGroup(GroupInfo("g1", "Team", owner="alice", updateDt=NOW,
                                               memberUpdateDt=NOW),
                                     [GroupMember("alice", "", MemberType.OWNER, NOW),
                                      GroupMember("bob", "", MemberType.NORMAL, NOW)])
        self.service.preview = False
        yield self.service.messageStored(message(target="g1", conversationType=1), ["alice", "bob"])
        _, jobs = yield self.queued()
        self.assertEqual({(j.payload["conversationName"], j.payload["preview"]) for j in jobs},
                         {("Team", None)})
        self.assertEqual(jobs[0].payload["conversation"]["target"], "g1")

    @inlineCallbacks
    def test_registrationChecks(self):
        for bad in (None, [], {"pushToken": ""}, {"pushToken": 5}, {"pushToken": "t", "platform": "x"},
                    {"pushToken": "t", "appId": 3}, {"pushToken": "t\0"}):
            with self.assertRaises(PushRefused):
                yield self.service.register("bob", "c", bad)
        for bad in (None, {"dnd": 1}, {"conversation": {"target": ""}, "muted": True},
                    {"conversation": {"target": "x"}}):
            with self.assertRaises(PushRefused):
                yield self.service.setPreference("bob", bad)
        self.assertEqual(conversationKey(1, "g", 0), "1:g:0")


class GatewayBodyTests(TestCase):

    def test_body(self):
        """
        The notify body carries the push token as pushkey, the badge as
        unread count, the preview as content body, high priority for calls.
        """
        body = gatewayNotification({
            "messageUid": 7, "sender": "a", "senderName": "A", "conversation":
            {"type": 1, "target": "g", "line": 0}, "conversationName": "G", "preview": "yo",
            "badge": 3, "pushToken": "pk", "appId": "app", "priority": "high", "platform": "ios"})
        n = body["notification"]
        self.assertEqual((n["event_id"], n["room_id"], n["room_name"], n["prio"], n["counts"],
                          n["content"]["body"], n["devices"][0]["pushkey"],
                          n["devices"][0]["app_id"]),
                         ("7", "1:g:0", "G", "high", {"unread": 3}, "yo", "pk", "app"))
        body = gatewayNotification({"messageUid": 7, "sender": "a", "conversation":
                                    {"type": 0, "target": "a"}, "preview": None,
                                    "pushToken": "pk", "collapsed": 3})
        self.assertEqual(body["notification"]["prio"], "low")
        self.assertEqual(body["notification"]["content"], {"collapsed": 3})


class SettingsPreferencesTests(TestCase):
    """
    L{fxim.push.settingsprefs.SettingsPreferences} over a memory setting
    store and push store.
    """

    @inlineCallbacks
    def test_merge(self):
        from fxim.push.settingsprefs import SettingsPreferences, preferenceKey
        from fxim.storage.settings import MemorySettingStore
        settings = MemorySettingStore()
        push = openPushStore(MemoryStore())
        prefs = SettingsPreferences(settings, push)
        yield prefs.setPreference("u", "0:x:0", True)
        yield prefs.setPreference("u", "0:y:0", True)
        yield settings.putSetting("u", 1, "0-0-y", "0", 1)
        yield settings.putSetting("u", 1, "1-2-g", "1", 2)
        yield settings.putSetting("u", 2, "", "1", 3)
        yield settings.putSetting("u", 3, "0-0-z", "1", 4)  # on top: not a push preference
        self.assertEqual((yield prefs.preferencesOf(["u", "v"])), {"u": {"0:x:0", "1:g:2", DND}})
        yield settings.putSetting("u", 2, "", "0", 5)
        self.assertEqual((yield prefs.preferencesOf(["u"])), {"u": {"0:x:0", "1:g:2"}})
        self.assertIsNone(preferenceKey(1, "bad"))
        self.assertEqual(preferenceKey(1, "0-0-a-b"), "0:a-b:0")
