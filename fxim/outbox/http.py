# -*- test-case-name: fxim.test.unit.test_outbox -*-
"""
The small HTTP client outbox deliveries use: POST a JSON body with a
timeout, over a persistent connection pool.
"""

import hashlib
import hmac
import json
from io import BytesIO
from typing import Any, Dict, List, Optional, Tuple

from twisted.internet.defer import Deferred
from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers


class DeliveryError(Exception):
    """
    The far side could not be reached or answered badly.

    @ivar status: the HTTP status (None: no answer).
    """

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


class TimedOut(DeliveryError):
    """
    No answer within the timeout.
    """


class JsonPoster:
    """
    POSTs JSON bodies.

    @param reactor: the reactor (TCP, time).
    @param timeout: seconds for the whole request and answer.
    """

    def __init__(self, reactor: Any, timeout: float = 10.0) -> None:
        self.reactor = reactor
        self.timeout = timeout
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        # As many kept-alive connections as a worker has deliveries in flight:
        # opening fresh ones per request costs more than the request.
        self.pool.maxPersistentPerHost = 16
        self.agent = Agent(reactor, pool=self.pool, connectTimeout=timeout)

    async def post(self, url: str, body: bytes,
                   headers: Optional[Dict[str, str]] = None) -> Tuple[int, bytes]:
        """
        @return: C{(status, answer body)}.
        @raise DeliveryError: on a connection failure or timeout.
        """
        allHeaders = {"content-type": ["application/json"], "user-agent": ["fxim"]}
        for name, value in (headers or {}).items():
            allHeaders[name.lower()] = [value]
        d = self.agent.request(b"POST", url.encode("utf-8"), Headers(allHeaders),
                               FileBodyProducer(BytesIO(body)))
        expired = []

        def expire():
            expired.append(True)
            current[0].cancel()
        current: List[Deferred[Any]] = [d]
        timer = self.reactor.callLater(self.timeout, expire)
        try:
            response = await d
            reading = current[0] = readBody(response)
            data = await reading
        except Exception as e:
            if expired:
                raise TimedOut(f"no answer from {url} within {self.timeout}s") from None
            raise DeliveryError(f"cannot reach {url}: {e.__class__.__name__}: {e}") from None
        finally:
            if timer.active():
                timer.cancel()
        return response.code, data

    def close(self):
        """
        Close the pooled connections.  @return: L{Deferred}.
        """
        return self.pool.closeCachedConnections()


def encodeJson(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """
    The signature of a signed callback: C{"sha256=" + hex(HMAC-SHA256(secret,
    "<timestamp>." + body))}, the timestamp in seconds since the epoch.
    """
    mac = hmac.new(secret, str(int(timestamp)).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signedHeaders(secret: bytes, timestamp: int, body: bytes, event: str = "") -> Dict[str, str]:
    """
    The headers of a signed callback: C{X-Fxim-Timestamp},
    C{X-Fxim-Signature} and (when given) C{X-Fxim-Event}.
    """
    headers = {"x-fxim-timestamp": str(int(timestamp)),
               "x-fxim-signature": signature(secret, timestamp, body)}
    if event:
        headers["x-fxim-event"] = event
    return headers


def verifySignature(secret: bytes, headers: Dict[str, str], body: bytes, now: float,
                    tolerance: float = 300.0) -> bool:
    """
    What a receiver does: check the signature and that the timestamp is
    within C{tolerance} seconds of C{now} (replay protection).
    """
    try:
        timestamp = int(headers["x-fxim-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body),
                               headers.get("x-fxim-signature", ""))
