"""
End-to-end tests of logins beyond one country and of the code senders,
against real C{twistd fxim} processes on both backends: an e-mail code
delivered through the C{smtp} sender to a real local SMTP server (STARTTLS
and AUTH), the C{http} sender signing its POST to a real local HTTP
gateway, E.164 and e-mail accounts chatting with a Chinese-mobile account,
and a blocked account getting no token.
"""

import os
import re
import tempfile

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from fxim.client import Inbox, LoginError, login
from fxim.client.http import postJson
from fxim.senders.http import verify
from fxim.test.e2e import NodeTestMixin, ProductionBackend, withTimeout
from fxim.test.farsides import HttpGateway, SmtpReceiver, writeSelfSignedCert
from fxim.test.e2e.test_messages import bodies, text
from fxim.test.e2e.test_metrics import _fetch, _samples, _value

ADMIN_SECRET = "s3cret-admin-token-for-tests"


class LoginsMixin:
    """
    Identities and senders; mixed into one class per backend.
    """

    async def startMailNode(self, user, password, refuse=()):
        """
        A real SMTP server over STARTTLS with the account (C{user},
        C{password}), refusing the recipients C{refuse}, and a node that
        mails its login codes through it with that account.

        @return: C{(the SmtpReceiver, the node)}.
        """
        cert = writeSelfSignedCert(tempfile.mkdtemp())
        smtp = SmtpReceiver(reactor, cert, user.encode(), password.encode())
        smtp.refuse.update(refuse)
        port = await smtp.start()
        self.addCleanup(smtp.stop)
        node = await self.startNode(
            ["--smtp-host", "localhost", "--smtp-port", str(port), "--smtp-from",
             "noreply@fxim.test", "--smtp-ca-file", cert], loginCode=None,
            env={"FXIM_SMTP_USER": user, "FXIM_SMTP_PASSWORD": password})
        return smtp, node

    async def test_emailLoginThroughSmtp(self):
        """
        C{/send_code} with an e-mail address answers C{result: true}; the
        code arrives by mail at a real SMTP server, over STARTTLS, after
        AUTH with the account from the environment.  Logging in with the
        same address spelt in other case uses that code and that account.
        """
        smtp, node = await self.startMailNode("fxim-mailer", "mail-pass-123")
        arrived = smtp.nextMail()
        answer = await postJson(reactor, node.httpBase + "/send_code",
                                {"mobile": "Alice.Liu@Example.COM"})
        self.assertEqual(answer, {"code": 0, "message": "success", "result": True})
        await withTimeout(arrived)
        [(recipient, mail, usedTls)] = smtp.mails
        self.assertEqual(recipient, "alice.liu@example.com")
        self.assertTrue(usedTls)
        self.assertEqual(smtp.logins, [b"fxim-mailer"])
        self.assertEqual(mail["From"], "noreply@fxim.test")
        code = re.search(r"login code is (\d{6})", mail.get_payload(decode=True).decode()).group(1)
        self.assertNotIn(code, node.log())
        creds = await login(reactor, node.httpBase, "ALICE.LIU@example.com", code, "mail-dev")
        self.assertTrue(creds.register)
        conn = await self.openClient(node, "ws")
        await conn.connect(creds.userId, creds.token, "mail-dev")

    async def test_smtpRefusalIsAClearError(self):
        """
        A recipient the relay refuses (550) gets RestCode 4 with a clear
        message, one log line and no traceback.
        """
        smtp, node = await self.startMailNode("u", "p", refuse=["nobody@example.com"])
        answer = await postJson(reactor, node.httpBase + "/send_code",
                                {"mobile": "nobody@example.com"})
        self.assertEqual(answer["code"], 4)
        self.assertIn("could not deliver", answer["message"])
        self.assertNotIn("Traceback", node.log())
        # The failure is counted in /metrics (open to loopback by default).
        status, body = await deferToThread(_fetch, node.httpBase + "/metrics")
        self.assertEqual(status, 200, body)
        samples = _samples(body)
        self.assertEqual(_value(samples, "fxim_code_sends_total", kind="email", result="failed"), 1)
        self.assertEqual(_value(samples, "fxim_code_sends_total", kind="email", result="ok"), 0)

    async def test_httpSenderSignedAndRetried(self):
        """
        The http sender POSTs a JSON body signed with HMAC-SHA256 over the
        timestamp header and the body; a 503 is retried with the same
        delivery id; the E.164 number arrives normalised and logs in.  A
        400 from the gateway is RestCode 4 and does not make the person wait.
        """
        gateway = HttpGateway(reactor)
        gateway.statuses = [503]
        port = await gateway.start()
        self.addCleanup(gateway.stop)
        secretPath = os.path.join(tempfile.mkdtemp(), "gateway.secret")
        with open(secretPath, "w") as f:
            f.write("gateway-shared-secret-0123456789\n")
        node = await self.startNode(
            ["--code-sender", "http", "--code-sender-url", f"http://127.0.0.1:{port}/sms",
             "--code-sender-secret-file", secretPath], loginCode=None)
        answer = await postJson(reactor, node.httpBase + "/send_code",
                                {"mobile": "+49 151 1234 5678"})
        self.assertEqual(answer, {"code": 0, "message": "success", "result": True})
        self.assertEqual(len(gateway.requests), 2)
        first, second = gateway.requests
        self.assertEqual(first["delivery"], second["delivery"])
        for request in gateway.requests:
            self.assertTrue(verify(b"gateway-shared-secret-0123456789", request["timestamp"],
                                   request["body"], request["signature"], reactor.seconds()))
            self.assertFalse(verify(b"another-secret-0123456789", request["timestamp"],
                                    request["body"], request["signature"], reactor.seconds()))
        self.assertEqual(second["json"]["to"], "+4915112345678")
        self.assertEqual(second["json"]["kind"], "phone")
        self.assertEqual(second["path"], "/sms")
        creds = await login(reactor, node.httpBase, "+4915112345678", second["json"]["code"], "d")
        self.assertTrue(creds.register)
        gateway.statuses = [400]
        answer = await postJson(reactor, node.httpBase + "/send_code", {"mobile": "13800000077"})
        self.assertEqual(answer["code"], 4)
        self.assertEqual(len(gateway.requests), 3)
        answer = await postJson(reactor, node.httpBase + "/send_code", {"mobile": "13800000077"})
        self.assertEqual(answer["code"], 0)
        self.assertNotIn("Traceback", node.log())

    async def test_internationalAndEmailAccountsChatWithChineseMobile(self):
        """
        An E.164 account (TCP) and an e-mail account (WS) exchange messages
        with a Chinese-mobile account; each spelling of an identity is one
        account.
        """
        node = await self.startNode()
        cn = await self.loginAndConnect(node, "13800000010", "tcp")
        de = await self.loginAndConnect(node, "+4915112345678", "tcp")
        mail = await self.loginAndConnect(node, "bob@example.com", "ws")
        self.assertEqual(len({cn.userId, de.userId, mail.userId}), 3)
        again = await login(reactor, node.httpBase, "0049 151 12345678", "556677", "x")
        self.assertEqual(again.userId, de.userId)
        again = await login(reactor, node.httpBase, "BOB@Example.com", "556677", "y")
        self.assertEqual(again.userId, mail.userId)
        again = await login(reactor, node.httpBase, "+86 138 0000 0010", "556677", "z")
        self.assertEqual(again.userId, cn.userId)
        inboxCn, inboxDe, inboxMail = Inbox(cn), Inbox(de), Inbox(mail)
        await de.request(text(cn.userId, "hallo aus Berlin"))
        await mail.request(text(cn.userId, "hi by mail"))
        got = await withTimeout(inboxCn.waitFor(2))
        self.assertEqual(sorted(bodies(got)), ["hallo aus Berlin", "hi by mail"])
        await cn.request(text(de.userId, "你好 Berlin"))
        await cn.request(text(mail.userId, "你好 mail"))
        self.assertIn("你好 Berlin", bodies(await withTimeout(inboxDe.waitFor(2))))
        self.assertIn("你好 mail", bodies(await withTimeout(inboxMail.waitFor(2))))

    async def test_blockedUserGetsNoToken(self):
        """
        A blocked user's login is refused over HTTP with RestCode 11 (no
        token); after unblocking it works again.
        """
        path = os.path.join(tempfile.mkdtemp(), "admin.secret")
        with open(path, "w") as f:
            f.write(ADMIN_SECRET)
        node = await self.startNode(["--admin-secret-file", path])
        auth = {"Authorization": "Bearer " + ADMIN_SECRET}
        creds = await login(reactor, node.httpBase, "carol@example.com", "556677", "c1")
        await postJson(reactor, f"{node.httpBase}/admin/users/{creds.userId}/block", {}, auth)
        with self.assertRaises(LoginError) as caught:
            await login(reactor, node.httpBase, "carol@example.com", "556677", "c2")
        self.assertEqual(caught.exception.code, 11)
        await postJson(reactor, f"{node.httpBase}/admin/users/{creds.userId}/unblock", {}, auth)
        again = await login(reactor, node.httpBase, "carol@example.com", "556677", "c3")
        self.assertEqual(again.userId, creds.userId)


class EmbeddedLoginsTests(LoginsMixin, NodeTestMixin, TestCase):
    """
    On the embedded default.
    """


class ProductionLoginsTests(LoginsMixin, ProductionBackend, TestCase):
    """
    On PostgreSQL + Redis.
    """
