# -*- test-case-name: fxim.test.unit.test_senders -*-
"""
The C{http} code sender: POSTs a signed JSON body to a gateway URL (the
adapter point for SMS providers).

Request (one per code, C{Content-Type: application/json}):

    {"to": "+4915112345678", "kind": "phone", "code": "123456",
     "purpose": "login", "id": "<delivery id>"}

Headers:
  - C{X-Fxim-Timestamp}: Unix seconds when the request was signed;
  - C{X-Fxim-Signature}: C{sha256=} and the lower-case hex HMAC-SHA256,
    keyed with the shared secret, of C{timestamp + "." + body} (the exact
    body bytes);
  - C{X-Fxim-Delivery}: the delivery id, the same on every retry of one
    code, so a gateway can drop repeats.

Any 2xx answer is success.  Connection errors, timeouts and 5xx answers
are retried (three tries in all); other statuses fail at once.
"""

import hashlib
import hmac
import json
import os
import secrets
from io import BytesIO
from typing import Any

from twisted.internet.defer import Deferred
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers
from zope.interface import implementer

from fxim.senders import ICodeSender, SendFailed, SenderConfigError, SenderPlugin, retrying

#: Environment variable holding the signing secret (instead of a file).
SECRET_ENV = "FXIM_CODE_SENDER_SECRET"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """
    @return: the C{X-Fxim-Signature} value of C{body} signed at
        C{timestamp}.
    """
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, now: float,
           tolerance: float = 300.0) -> bool:
    """
    What a gateway checks: the signature matches and the timestamp is
    within C{tolerance} seconds of C{now}.
    """
    try:
        fresh = abs(now - int(timestamp)) <= tolerance
    except (TypeError, ValueError):
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature or "")


@implementer(ICodeSender)
class HttpCodeSender:
    """
    @param url: the gateway URL (http:// or https://).
    @param secret: the HMAC key.
    """

    def __init__(self, reactor: Any, url: str, secret: bytes, timeout: float = 10.0,
                 attempts: int = 3, agent: Any = None) -> None:
        self.reactor = reactor
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.attempts = attempts
        self.agent = agent or Agent(reactor, connectTimeout=timeout)

    def sendCode(self, address, code, kind="mobile") -> Deferred:
        deliveryId = secrets.token_hex(8)
        body = json.dumps({"to": address, "kind": kind, "code": code, "purpose": "login",
                           "id": deliveryId}, separators=(",", ":")).encode("utf-8")
        return Deferred.fromCoroutine(retrying(
            self.reactor, lambda: self._post(body, deliveryId), self.attempts))

    async def _post(self, body: bytes, deliveryId: str) -> None:
        timestamp = str(int(self.reactor.seconds()))
        headers = Headers({
            b"content-type": [b"application/json"],
            b"x-fxim-timestamp": [timestamp.encode("ascii")],
            b"x-fxim-signature": [sign(self.secret, timestamp, body).encode("ascii")],
            b"x-fxim-delivery": [deliveryId.encode("ascii")],
        })
        d = self.agent.request(b"POST", self.url.encode("utf-8"), headers,
                               FileBodyProducer(BytesIO(body)))
        d.addTimeout(self.timeout, self.reactor)
        try:
            response = await d
            await readBody(response).addTimeout(self.timeout, self.reactor)
        except Exception as e:
            raise SendFailed("gateway %s unreachable: %s" % (self.url, e.__class__.__name__),
                             retryable=True) from None
        if 200 <= response.code < 300:
            return
        raise SendFailed("gateway %s answered HTTP %d" % (self.url, response.code),
                         retryable=response.code >= 500)


def _build(config: Any, reactor: Any) -> HttpCodeSender:
    url = config.codeSenderUrl
    if not url or not url.startswith(("http://", "https://")):
        raise SenderConfigError("the http code sender needs --code-sender-url http(s)://...")
    secret = os.environ.get(SECRET_ENV, "").encode("utf-8")
    if config.codeSenderSecretFile:
        with open(config.codeSenderSecretFile, "rb") as f:
            secret = f.read().strip()
    if len(secret) < 16:
        raise SenderConfigError("the http code sender needs a secret of at least 16 bytes"
                                " (--code-sender-secret-file or $%s)" % (SECRET_ENV,))
    return HttpCodeSender(reactor, url, secret)


plugin = SenderPlugin("http", "POST a signed JSON body with the code to --code-sender-url",
                      _build)
