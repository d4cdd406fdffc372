"""
Real far sides for the code sender tests: a local SMTP server with
STARTTLS and AUTH (L{SmtpReceiver}, on C{twisted.mail}) and a local HTTP
gateway (L{HttpGateway}, on C{twisted.web}), both on 127.0.0.1.
"""

import datetime
import ipaddress
import json
import os
from email import message_from_bytes
from typing import Any, List, Optional

from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.portal import IRealm, Portal
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory
from twisted.mail import smtp
from twisted.mail.imap4 import LOGINCredentials, PLAINCredentials
from twisted.web.resource import Resource
from twisted.web.server import Site
from zope.interface import implementer


def writeSelfSignedCert(directory: str) -> str:
    """
    A self-signed certificate for C{localhost} and 127.0.0.1, with its key,
    in one PEM file (also usable as the CA file that trusts it).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = os.path.join(directory, "localhost.pem")
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return path


class _Message:
    def __init__(self, receiver, recipient, tls):
        self.receiver, self.recipient, self.tls, self.lines = receiver, recipient, tls, []

    def lineReceived(self, line):
        self.lines.append(line)

    def eomReceived(self):
        self.receiver._received(self.recipient, b"\n".join(self.lines), self.tls)
        return defer.succeed(None)

    def connectionLost(self):
        pass


@implementer(smtp.IMessageDelivery)
class _Delivery:
    def __init__(self, receiver, protocol):
        self.receiver, self.protocol = receiver, protocol

    def receivedHeader(self, helo, origin, recipients):
        return b"Received: by fxim-test-smtp"

    def validateFrom(self, helo, origin):
        return origin

    def validateTo(self, user):
        recipient = str(user.dest)
        if recipient in self.receiver.refuse:
            raise smtp.SMTPBadRcpt(user)
        return lambda: _Message(self.receiver, recipient, self.protocol.startedTLS)


@implementer(IRealm)
class _Realm:
    def __init__(self, receiver):
        self.receiver = receiver
        self.protocol = None

    def requestAvatar(self, avatarId, mind, *interfaces):
        self.receiver.logins.append(avatarId)
        return smtp.IMessageDelivery, _Delivery(self.receiver, self.protocol), lambda: None


class SmtpReceiver:
    """
    An ESMTP server that offers STARTTLS and requires AUTH (PLAIN/LOGIN)
    with one account; keeps what it receives.

    @ivar mails: list of C{(recipient, email.message.Message, usedTls)}.
    @ivar logins: the account names that authenticated.
    @ivar refuse: recipients answered with 550.
    """

    def __init__(self, reactor: Any, certPath: str, user: bytes, password: bytes) -> None:
        self.reactor = reactor
        self.certPath = certPath
        self.user, self.password = user, password
        self.mails: List[Any] = []
        self.logins: List[Any] = []
        self.refuse: set = set()
        self._waiters: List[defer.Deferred] = []
        self.port: Optional[IListeningPort] = None

    def _received(self, recipient, data, tls):
        self.mails.append((recipient, message_from_bytes(data), tls))
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def nextMail(self) -> defer.Deferred:
        d: defer.Deferred = defer.Deferred()
        self._waiters.append(d)
        return d

    async def start(self) -> int:
        from twisted.internet.ssl import PrivateCertificate
        with open(self.certPath, "rb") as f:
            tls = PrivateCertificate.loadPEM(f.read()).options()
        receiver = self

        class Protocol(smtp.ESMTP):
            def __init__(self):
                smtp.ESMTP.__init__(self, {b"LOGIN": LOGINCredentials, b"PLAIN": PLAINCredentials},
                                    tls)
                realm = _Realm(receiver)
                realm.protocol = self
                self.portal = Portal(realm, [InMemoryUsernamePasswordDatabaseDontUse(
                    **{receiver.user.decode(): receiver.password})])
                self.host = b"localhost"

        factory = Factory.forProtocol(Protocol)
        self.port = port = await TCP4ServerEndpoint(self.reactor, 0, interface="127.0.0.1").listen(
            factory)
        return port.getHost().port

    def stop(self):
        return self.port.stopListening() if self.port else None


class HttpGateway(Resource):
    """
    A local HTTP gateway: records each POST (headers and body) and answers
    with C{statuses.pop(0)} (200 once the list is empty).
    """

    isLeaf = True

    def __init__(self, reactor: Any) -> None:
        Resource.__init__(self)
        self.reactor = reactor
        self.requests: List[dict] = []
        self.statuses: List[int] = []
        self.port: Optional[IListeningPort] = None

    def render_POST(self, request):
        body = request.content.read()
        self.requests.append({
            "path": request.path.decode(), "body": body,
            "json": json.loads(body),
            "timestamp": (request.getHeader(b"x-fxim-timestamp") or b"").decode(),
            "signature": (request.getHeader(b"x-fxim-signature") or b"").decode(),
            "delivery": (request.getHeader(b"x-fxim-delivery") or b"").decode(),
        })
        status = self.statuses.pop(0) if self.statuses else 200
        request.setResponseCode(status)
        return b'{"ok":true}' if status == 200 else b'{"ok":false}'

    async def start(self) -> int:
        self.port = port = await TCP4ServerEndpoint(self.reactor, 0, interface="127.0.0.1").listen(
            Site(self))
        return port.getHost().port

    def stop(self):
        return self.port.stopListening() if self.port else None
