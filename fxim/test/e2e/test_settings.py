"""
End-to-end tests of settings sync (UP/UN/UG and CONNECT_ACK setting_head)
against real C{twistd fxim} processes on both backends.
"""

from twisted.trial.unittest import TestCase

from fxim.client import RequestFailed
from fxim.test.e2e import NodeTestMixin, ProductionBackend, SettleMixin
from fxim.test.newerweb import NewerWebClient
from fxim.wire.extensions import GetSettings, PutSetting, SettingNotify, SettingVersion
from fxim.storage.settings import Setting


class SettingsMixin(SettleMixin):

    async def test_setOnOneDeviceReachesAnother(self):
        """
        A TCP device sets conversation-silent; the user's WS device gets UN
        with the new version and pulls it with UG; the setter gets the
        version in its ack and no UN; a new connection's CONNECT_ACK
        carries it as setting_head.
        """
        node = await self.startNode()
        phone = await self.loginAndConnect(node, "13800000200", "tcp", clientId="phone")
        web = NewerWebClient(await self.loginAndConnect(node, "13800000200", "ws",
                                                        clientId="web"))
        notices = []
        phone.onPush(lambda p: notices.append(p) if isinstance(p, SettingNotify) else None)
        key = "0-0-BBBBBBBB"
        ack = await phone.request(PutSetting(1, key, "1"))
        self.assertIsInstance(ack, SettingVersion)
        await web.waitFor(lambda: web.settingNotices, what="UN")
        self.assertEqual(web.settingNotices, [{"version": str(ack.version)}])
        got = await web.send("UG", {"version": 0})
        self.assertEqual(got, [{"scope": 1, "key": key, "value": "1", "updateDt": ack.version}])
        # The web device switches global silent on; the phone hears of it.
        webAck = await web.send("UP", {"scope": 2, "key": "", "value": "1"})
        version = int(webAck["version"])
        self.assertGreater(version, ack.version)
        await web.waitFor(lambda: notices, what="UN on TCP")
        self.assertEqual(notices, [SettingNotify(version)])
        changes = await phone.request(GetSettings(ack.version))
        self.assertEqual(changes.entries, (Setting(2, "", "1", version),))
        laptop = await self.openClient(node, "tcp")
        connectAck = await laptop.connect(phone.credentials.userId, phone.credentials.token, "phone")
        self.assertEqual(connectAck.settingHead, version)

    async def test_badSetting(self):
        """
        An oversized value is refused with C{INVALID_PARAMETER} and stores nothing.
        """
        node = await self.startNode()
        phone = await self.loginAndConnect(node, "13800000201", "tcp")
        with self.assertRaises(RequestFailed) as caught:
            await phone.request(PutSetting(1, "k", "x" * 5000))
        self.assertEqual(caught.exception.code, 251)
        self.assertEqual((await phone.request(GetSettings(0))).entries, ())


class SettingsEmbeddedTests(SettingsMixin, NodeTestMixin, TestCase):
    pass


class SettingsProductionTests(SettingsMixin, ProductionBackend, TestCase):
    pass
