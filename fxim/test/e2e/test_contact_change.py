"""
End-to-end tests of changing one's mobile (MMI type 3) against real
C{twistd fxim} nodes, on the embedded default and on PostgreSQL + Redis:
a new number must be proven with the code sent to it, so nobody can
pre-claim another person's number.
"""

import re

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from fxim.client import RequestFailed, login, sendCode
from fxim.errors import ErrorCode
from fxim.model import MyInfoType
from fxim.test.e2e import NodeTestMixin, ProductionBackend, sleep
from fxim.wire.requests import ModifyMyInfo, PullUsers


class ContactChangeMixin:
    """
    Mixed into one class per backend.
    """

    async def codeFromLog(self, node, mobile):
        for _ in range(50):
            found = re.findall(r"SMS login code for %s: (\d+)" % re.escape(mobile), node.log())
            if found:
                return found[-1]
            await sleep(0.1)
        self.fail(f"no code for {mobile} in the log")

    async def smsLogin(self, node, mobile, cid, transport="tcp"):
        await sendCode(reactor, node.httpBase, mobile)
        creds = await login(reactor, node.httpBase, mobile, await self.codeFromLog(node, mobile), cid)
        conn = await self.openClient(node, transport)
        await conn.connect(creds.userId, creds.token, cid)
        conn.credentials = creds
        return conn

    async def assertCode(self, d, code):
        with self.assertRaises(RequestFailed) as caught:
            await d
        self.assertEqual(caught.exception.code, code)

    async def test_mobileChangeNeedsCodeNoPreHijack(self):
        """
        MMI type 3 with a bare number changes nothing (244) and sends a
        code to that number; a wrong code is 15; the number's owner, who
        got the code, logs in to a new account of their own.  With the
        code sent to it, a change to a number does apply.
        """
        node = await self.startNode(loginCode=None)
        attacker = await self.smsLogin(node, "13800000750", "attacker-dev")
        victim = "13900000750"
        await self.assertCode(attacker.request(ModifyMyInfo(((MyInfoType.MOBILE, victim),))),
                              ErrorCode.AUTH_FAILURE)
        code = await self.codeFromLog(node, victim)
        wrong = "000000" if code != "000000" else "111111"
        await self.assertCode(attacker.request(ModifyMyInfo(((MyInfoType.MOBILE, f"{victim}:{wrong}"),))),
                              ErrorCode.PASSWORD_INCORRECT)
        [(me, _)] = (await attacker.request(PullUsers(((attacker.userId, 0),)))).entries
        self.assertEqual(me.mobile, "13800000750")
        # The owner of the number logs in with the code it received.
        creds = await login(reactor, node.httpBase, victim, code, "victim-dev")
        self.assertTrue(creds.register)
        self.assertNotEqual(creds.userId, attacker.userId)
        # A proper change: the code sent to the new number proves it.
        new = "13900000751"
        await self.assertCode(attacker.request(ModifyMyInfo(((MyInfoType.MOBILE, new),))),
                              ErrorCode.AUTH_FAILURE)
        await attacker.request(ModifyMyInfo(((MyInfoType.MOBILE, f"{new}:{await self.codeFromLog(node, new)}"),)))
        [(me, _)] = (await attacker.request(PullUsers(((attacker.userId, 0),)))).entries
        self.assertEqual(me.mobile, new)


class EmbeddedContactChangeTests(ContactChangeMixin, NodeTestMixin, TestCase):
    """
    On the embedded default.
    """


class ProductionContactChangeTests(ContactChangeMixin, ProductionBackend, TestCase):
    """
    On PostgreSQL + Redis.
    """
