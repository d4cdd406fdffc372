# -*- test-case-name: fxim.test.unit.test_media -*-
"""
HMAC-signed upload grants: presigned PUT URLs (GMURL), bound to one
bucket and key, and bearer upload tokens (GQNUT), bound to one bucket.

Both carry the uploader's uid, the largest size allowed and an expiry
(seconds since the epoch) and are signed with HMAC-SHA256 under the
node's media key.  The key is never logged.
"""

import base64
import hashlib
import hmac
from typing import Optional, Tuple

_URL_TAG = b"fxim-media-url-v1"
_TOKEN_TAG = b"fxim-media-token-v1"
_TOKEN_PREFIX = "fxm1."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UploadSigner:
    """
    Makes and checks upload grants.

    @param key: the HMAC key (at least 16 random bytes).
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "<UploadSigner>"

    def _mac(self, *parts) -> str:
        message = b"\0".join(p if isinstance(p, bytes) else str(p).encode("utf-8")
                             for p in parts)
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    # -- presigned URLs ------------------------------------------------------

    def signUrl(self, bucket: str, key: str, userId: str, maxSize: int, expires: int) -> str:
        """
        @return: the hex signature of a PUT of C{key} into C{bucket}.
        """
        return self._mac(_URL_TAG, bucket, key, userId, int(maxSize), int(expires))

    def checkUrl(self, bucket: str, key: str, userId: str, maxSize: int, expires: int,
                 signature: str, now: float) -> bool:
        """
        @return: whether C{signature} is valid for these values and
            C{expires} is not past at C{now}.
        """
        expected = self.signUrl(bucket, key, userId, maxSize, expires)
        return hmac.compare_digest(expected, signature) and now <= expires

    # -- bearer tokens -------------------------------------------------------

    def makeToken(self, bucket: str, userId: str, maxSize: int, expires: int) -> str:
        """
        @return: an opaque token allowing uploads of any key into C{bucket}.
        """
        payload = f"{bucket}:{int(maxSize)}:{int(expires)}:{userId}".encode("utf-8")
        return _TOKEN_PREFIX + _b64(payload) + "." + self._mac(_TOKEN_TAG, payload)

    def checkToken(self, token: str, bucket: str, now: float) -> Optional[Tuple[str, int]]:
        """
        @return: C{(uid, maxSize)} if C{token} is a valid, unexpired token
            for C{bucket}, else L{None}.
        """
        if not token.startswith(_TOKEN_PREFIX):
            return None
        try:
            encoded, signature = token[len(_TOKEN_PREFIX):].split(".", 1)
            payload = _unb64(encoded)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(self._mac(_TOKEN_TAG, payload), signature):
            return None
        try:
            tokenBucket, maxSizeText, expiresText, userId = payload.decode("utf-8").split(":", 3)
            maxSize, expires = int(maxSizeText), int(expiresText)
        except ValueError:
            return None
        if tokenBucket != bucket or now > expires:
            return None
        return userId, maxSize
