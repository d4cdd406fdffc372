# -*- test-case-name: fxim.test.unit.test_media -*-
"""
Media uploads: GQNUT upload tokens and GMURL presigned PUT URLs, and the
C{/media} HTTP resource they point at.  See C{docs/media.md}.

The media C{domain} is C{<public-url>/media/<bucket>} (C{--public-url},
else C{http://127.0.0.1:<http port>}); a file uploaded as C{key} is then
at C{domain + "/" + key}, the URL the clients build.
"""

import os
from typing import Dict, Tuple
from urllib.parse import quote, urlencode, urlsplit

from twisted.logger import Logger
from twisted.web.resource import Resource

from fxim.errors import ErrorCode, SignalError
from fxim.media import BUCKETS
from fxim.media.resource import MediaResource
from fxim.media.signing import UploadSigner
from fxim.media.storage import LocalMediaStorage, validName
from fxim.services.auth import loadOrCreateKey
from fxim.wire.requests import UploadToken, UploadUrl

_log = Logger()


def baseUrlOf(config) -> str:
    """
    The base URL media URLs start with: C{config.publicUrl} without its
    trailing slash, else C{http://127.0.0.1:<port>} (C{https} for an
    C{ssl:} endpoint) from the C{--http} endpoint description.
    """
    if config.publicUrl:
        return config.publicUrl.rstrip("/")
    description = config.http or ""
    parts = description.split(":")
    scheme = "https" if parts[0].lower() == "ssl" else "http"
    port = None
    for part in parts[1:]:
        if part.isdigit():
            port = int(part)
            break
        if part.startswith("port=") and part[5:].isdigit():
            port = int(part[5:])
            break
    if port is None:
        port = 443 if scheme == "https" else 80
    return f"{scheme}://127.0.0.1:{port}"


class MediaService:
    """
    @param config: the L{fxim.config.Config} (C{dataDir}, C{publicUrl},
        C{http}, C{maxUploadSize}, C{uploadTokenTtl}).
    @param reactor: time and the thread pool for file I/O.
    @param storage: an L{fxim.media.storage.IStreamingMediaStorage}; by
        default files under C{<dataDir>/media}.
    """

    def __init__(self, config, reactor, storage=None) -> None:
        self.config = config
        self.reactor = reactor
        if storage is None:
            storage = LocalMediaStorage(os.path.join(config.dataDir, "media"), reactor)
        self.storage = storage
        self.signer = UploadSigner(loadOrCreateKey(os.path.join(config.dataDir, "media.key")))
        self.baseUrl = baseUrlOf(config)
        split = urlsplit(self.baseUrl)
        self.server = split.hostname or "127.0.0.1"
        self.port = split.port or (443 if split.scheme == "https" else 80)

    def resources(self) -> Dict[bytes, Resource]:
        """
        @return: the children to mount on the HTTP site's root.
        """
        return {b"media": MediaResource(self.storage, self.signer, self.reactor,
                                        self.config.maxUploadSize)}

    def _bucket(self, mediaType: int) -> str:
        if not isinstance(mediaType, int) or not 0 <= mediaType < len(BUCKETS):
            raise SignalError(ErrorCode.INVALID_PARAMETER, f"media type {mediaType!r}")
        return BUCKETS[mediaType]

    def _expiry(self) -> Tuple[int, int]:
        return self.config.maxUploadSize, int(self.reactor.seconds() + self.config.uploadTokenTtl)

    def domain(self, mediaType: int) -> str:
        """
        @return: the C{domain} of C{mediaType}'s bucket.
        """
        return f"{self.baseUrl}/media/{self._bucket(mediaType)}"

    def uploadToken(self, userId: str, mediaType: int) -> UploadToken:
        """
        GQNUT: a token for C{PUT/POST <domain>/<key>} of any key in the
        bucket (C{Authorization: Bearer <token>} or C{?token=<token>}); it
        does not overwrite existing files.

        @raise SignalError: C{INVALID_PARAMETER} unknown media type.
        """
        bucket = self._bucket(mediaType)
        maxSize, expires = self._expiry()
        token = self.signer.makeToken(bucket, userId, maxSize, expires)
        return UploadToken(self.domain(mediaType), token, self.server, self.port)

    def uploadUrl(self, userId: str, mediaType: int, key: str) -> UploadUrl:
        """
        GMURL: a presigned URL to PUT C{key} into C{mediaType}'s bucket.

        @raise SignalError: C{INVALID_PARAMETER} unknown media type or bad key.
        """
        bucket = self._bucket(mediaType)
        if not validName(key):
            raise SignalError(ErrorCode.INVALID_PARAMETER, "bad media key")
        maxSize, expires = self._expiry()
        signature = self.signer.signUrl(bucket, key, userId, maxSize, expires)
        query = urlencode([("uid", userId), ("max", str(maxSize)), ("exp", str(expires)),
                           ("sig", signature)])
        domain = self.domain(mediaType)
        url = f"{domain}/{quote(key, safe='')}?{query}"
        return UploadUrl(domain, self.server, self.port, url)

    async def checkKeyAvailable(self, userId: str, mediaType: int, key: str) -> None:
        """
        GMURL's early check: C{key} is free, or was stored by C{uid}.

        @raise SignalError: C{NOT_RIGHT} if another user's object (or one of unknown
            owner) has that key.
        """
        ownerOf = getattr(self.storage, "ownerOf", None)
        if ownerOf is None:
            return
        owner = await ownerOf(f"{self._bucket(mediaType)}/{key}")
        if owner is not None and owner != userId:
            raise SignalError(ErrorCode.NOT_RIGHT, "media key taken by another user")
