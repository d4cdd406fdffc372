# -*- test-case-name: fxim.test.unit.test_senders -*-
"""
The C{smtp} code sender: e-mails login codes through an SMTP relay with
C{twisted.mail}.

Settings: C{--smtp-host}, C{--smtp-port} (587), C{--smtp-from},
C{--smtp-starttls} (C{require}, the default: never send a code or a
password in clear; C{off} only for a relay on the same host),
C{--smtp-ca-file} (a PEM CA to trust instead of the system's).  The
account comes from the environment: C{FXIM_SMTP_USER} and
C{FXIM_SMTP_PASSWORD} (no authentication when unset).

Temporary failures (connection errors, 4xx replies) are retried; a 5xx
reply (e.g. the address does not exist) fails at once.
"""

import os
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from io import BytesIO
from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.mail.smtp import ESMTPSenderFactory, SMTPClientError
from zope.interface import implementer

from fxim.senders import ICodeSender, SendFailed, SenderConfigError, SenderPlugin, retrying

USER_ENV = "FXIM_SMTP_USER"
PASSWORD_ENV = "FXIM_SMTP_PASSWORD"

SUBJECT = "Your login code"
BODY = ("Your login code is {code}.\r\n\r\n"
        "It is valid for a few minutes. If you did not ask for it, ignore this mail.\r\n")


def composeMail(sender: str, to: str, code: str) -> bytes:
    """
    @return: the RFC 5322 message carrying C{code}.
    """
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = SUBJECT
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1] or None)
    mail.set_content(BODY.format(code=code).replace("\r\n", "\n"))
    return mail.as_bytes()


@implementer(ICodeSender)
class SmtpCodeSender:
    """
    @param contextFactory: the client TLS options for STARTTLS, or
        L{None} to send without TLS (C{--smtp-starttls off}).
    """

    def __init__(self, reactor: Any, host: str, port: int, sender: str,
                 contextFactory: Any = None, username: Optional[str] = None,
                 password: Optional[str] = None, timeout: float = 30.0,
                 attempts: int = 3) -> None:
        self.reactor = reactor
        self.host = host
        self.port = port
        self.sender = sender
        self.contextFactory = contextFactory
        self.username = username
        self.password = password
        self.timeout = timeout
        self.attempts = attempts

    def sendCode(self, address, code, kind="email") -> Deferred:
        if kind != "email":
            from twisted.internet.defer import fail
            return fail(SendFailed("the smtp sender only delivers to e-mail addresses"))
        message = composeMail(self.sender, address, code)
        return Deferred.fromCoroutine(retrying(
            self.reactor, lambda: self._send(address, message), self.attempts))

    async def _send(self, address: str, message: bytes) -> None:
        done: Deferred = Deferred()
        username = self.username.encode("utf-8") if self.username else None
        password = self.password.encode("utf-8") if self.password else None
        factory = ESMTPSenderFactory(
            username, password, self.sender, address, BytesIO(message), done,
            retries=0, timeout=self.timeout, contextFactory=self.contextFactory,
            requireAuthentication=username is not None,
            requireTransportSecurity=self.contextFactory is not None,
            hostname=None)
        self.reactor.connectTCP(self.host, self.port, factory, timeout=self.timeout)
        try:
            await done
        except SMTPClientError as e:
            code = e.code if isinstance(e.code, int) else 0
            raise SendFailed("SMTP relay %s:%d refused the mail (%s)"
                             % (self.host, self.port, code),
                             retryable=not 500 <= code < 600) from None
        except Exception as e:
            raise SendFailed("SMTP relay %s:%d unreachable: %s"
                             % (self.host, self.port, e.__class__.__name__),
                             retryable=True) from None


def _tlsOptions(host: str, caFile: Optional[str]) -> Any:
    from twisted.internet.ssl import Certificate, optionsForClientTLS, platformTrust
    trust = platformTrust()
    if caFile:
        with open(caFile, "rb") as f:
            trust = Certificate.loadPEM(f.read())
    return optionsForClientTLS(host, trustRoot=trust)


def _build(config: Any, reactor: Any) -> SmtpCodeSender:
    if not config.smtpHost:
        raise SenderConfigError("the smtp code sender needs --smtp-host")
    if not config.smtpFrom or "@" not in config.smtpFrom:
        raise SenderConfigError("the smtp code sender needs --smtp-from ADDRESS")
    context = None
    if config.smtpStarttls != "off":
        context = _tlsOptions(config.smtpHost, config.smtpCaFile)
    return SmtpCodeSender(reactor, config.smtpHost, config.smtpPort, config.smtpFrom, context,
                          os.environ.get(USER_ENV) or None, os.environ.get(PASSWORD_ENV) or None)


plugin = SenderPlugin("smtp", "e-mail login codes through --smtp-host (STARTTLS)", _build)
