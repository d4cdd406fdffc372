"""
Tests for the login code senders (L{fxim.senders}): plugin discovery, the
router, the http sender's signature and retries, the smtp mail.
"""


import attr
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.plugin import getPlugins
from twisted.python.usage import UsageError
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from fxim.config import Config
from fxim.senders import ICodeSender, ICodeSenderPlugin, SendFailed, SenderConfigError, findSenderPlugin
from fxim.senders.http import HttpCodeSender, sign, verify
from fxim.senders.log import LogCodeSender
from fxim.senders.select import CodeSenderRouter, buildCodeSenders, checkCodeSenders, senderNames
from fxim.senders.smtp import SmtpCodeSender, composeMail


class PluginTests(TestCase):

    def test_shippedSendersAreFound(self):
        """
        C{log}, C{http} and C{smtp} are Twisted plugins.
        """
        names = {p.name for p in getPlugins(ICodeSenderPlugin)}
        self.assertTrue({"log", "http", "smtp"} <= names)
        for plugin in getPlugins(ICodeSenderPlugin):
            self.assertTrue(verifyObject(ICodeSenderPlugin, plugin))

    def test_unknownName(self):
        """
        An unknown name is a config error naming the known ones.
        """
        e = self.assertRaises(SenderConfigError, findSenderPlugin, "carrier-pigeon")
        self.assertIn("log", str(e))

    def test_defaultsAndChoice(self):
        """
        By default everything goes to the log sender; with an SMTP host,
        e-mail goes to smtp; --email-code-sender wins.
        """
        self.assertEqual(senderNames(Config()), {"phone": "log", "email": "log"})
        self.assertEqual(senderNames(Config(smtpHost="mx")), {"phone": "log", "email": "smtp"})
        self.assertEqual(senderNames(Config(codeSender="http", emailCodeSender="http",
                                            smtpHost="mx")),
                         {"phone": "http", "email": "http"})
        router = buildCodeSenders(Config(), Clock())
        self.assertTrue(verifyObject(ICodeSender, router))
        self.assertIsInstance(router.byKind["email"], LogCodeSender)

    def test_checkAtStartup(self):
        """
        Missing settings are usage errors.
        """
        self.assertRaises(UsageError, checkCodeSenders, Config(codeSender="http"))
        self.assertRaises(UsageError, checkCodeSenders, Config(smtpHost="mx"))
        checkCodeSenders(Config(smtpHost="mx", smtpFrom="a@b.cn"))


class _Recorder:
    def __init__(self):
        self.sent = []

    def sendCode(self, address, code, kind):
        self.sent.append((address, code, kind))
        return succeed(None)


class RouterTests(TestCase):

    def test_perKind(self):
        """
        Mobiles and E.164 numbers go to the phone sender, e-mail to the
        e-mail sender.
        """
        phone, email = _Recorder(), _Recorder()
        router = CodeSenderRouter({"phone": phone, "email": email})
        router.sendCode("13800000000", "1", "mobile")
        router.sendCode("+4915112345678", "2", "phone")
        router.sendCode("a@b.cn", "3", "email")
        self.assertEqual([c for _, c, _ in phone.sent], ["1", "2"])
        self.assertEqual(email.sent, [("a@b.cn", "3", "email")])


class SignatureTests(TestCase):

    def test_roundTrip(self):
        """
        L{verify} accepts what L{sign} made, within the tolerance, and
        nothing else.
        """
        body = b'{"to":"+4915112345678","code":"123456"}'
        signature = sign(b"k" * 32, "1000", body)
        self.assertTrue(signature.startswith("sha256="))
        self.assertTrue(verify(b"k" * 32, "1000", body, signature, 1100))
        self.assertFalse(verify(b"k" * 32, "1000", body + b" ", signature, 1100))
        self.assertFalse(verify(b"x" * 32, "1000", body, signature, 1100))
        self.assertFalse(verify(b"k" * 32, "1000", body, signature, 2000))
        self.assertFalse(verify(b"k" * 32, "nope", body, signature, 1000))


@attr.s
class _Response:
    code = attr.ib()
    phrase = b"X"
    length = 2

    def deliverBody(self, protocol):
        from twisted.python.failure import Failure
        from twisted.web.client import ResponseDone
        protocol.dataReceived(b"{}")
        protocol.connectionLost(Failure(ResponseDone()))


class _Agent:
    def __init__(self, codes):
        self.codes = codes
        self.requests = []

    def request(self, method, url, headers, producer):
        self.requests.append((method, url, headers))
        code = self.codes.pop(0)
        if code is None:
            from twisted.internet.defer import fail
            from twisted.internet.error import ConnectionRefusedError
            return fail(ConnectionRefusedError())
        return succeed(_Response(code))


class HttpSenderTests(TestCase):

    def send(self, codes):
        clock = Clock()
        agent = _Agent(codes)
        sender = HttpCodeSender(clock, "http://gw/sms", b"s" * 32, agent=agent)
        d = sender.sendCode("+4915112345678", "123456", "phone")
        for _ in range(5):
            clock.advance(5)
        return d, agent

    def test_retriesTransientFailures(self):
        """
        Connection errors and 5xx are retried with the same delivery id.
        """
        d, agent = self.send([None, 502, 200])
        self.successResultOf(d)
        ids = {r[2].getRawHeaders(b"x-fxim-delivery")[0] for r in agent.requests}
        self.assertEqual((len(agent.requests), len(ids)), (3, 1))

    def test_givesUp(self):
        """
        A 4xx fails at once; three 5xx fail after three tries.
        """
        d, agent = self.send([403])
        self.assertFalse(self.failureResultOf(d, SendFailed).value.retryable)
        self.assertEqual(len(agent.requests), 1)
        d, agent = self.send([500, 500, 500])
        failure = self.failureResultOf(d, SendFailed)
        self.assertNotIn("123456", str(failure.value))
        self.assertEqual(len(agent.requests), 3)


class SmtpSenderTests(TestCase):

    def test_mail(self):
        """
        The mail carries the code in its text, from the configured address.
        """
        mail = composeMail("noreply@fxim.test", "a@b.cn", "654321")
        self.assertIn(b"From: noreply@fxim.test", mail)
        self.assertIn(b"To: a@b.cn", mail)
        self.assertIn(b"654321", mail)

    def test_phonesRefused(self):
        """
        The smtp sender cannot deliver to a phone number.
        """
        sender = SmtpCodeSender(Clock(), "mx", 25, "a@b.cn")
        self.failureResultOf(sender.sendCode("13800000000", "1", "mobile"), SendFailed)
