# -*- test-case-name: fxim.test.unit.test_media -*-
"""
L{MediaResource}: C{/media/<bucket>/<key>} on the HTTP site.

  - C{PUT} or C{POST} stores the request body, with either a presigned
    URL's query (C{uid}, C{max}, C{exp}, C{sig}) or an upload token (an
    C{Authorization: Bearer <token>} header or a C{token} query argument);
  - C{GET} and C{HEAD} serve the bytes, content type guessed from the key;
  - C{OPTIONS} answers CORS preflights; any other method gets 405.

Status codes: 400 bad key, 403 missing/forged/expired grant, 404 unknown
bucket or key, 409 a token upload onto an existing key, 413 too large.
"""

import mimetypes
from typing import Optional, Tuple

from twisted.logger import Logger
from twisted.web import http, static
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from fxim.media import BUCKETS
from fxim.media.storage import AlreadyExists, TooLarge, validName

_log = Logger()

_CORS = {
    b"Access-Control-Allow-Origin": b"*",
    b"Access-Control-Expose-Headers": b"ETag, Content-Length",
}
_ALLOWED = b"GET, HEAD, PUT, POST, OPTIONS"


class _Refused(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        self.code, self.text = code, text


def _arg(request, name: bytes) -> Optional[str]:
    values = request.args.get(name)
    if not values:
        return None
    try:
        return values[0].decode("utf-8")
    except UnicodeDecodeError:
        return None


class MediaResource(Resource):
    """
    The C{/media} tree.

    @param storage: an L{fxim.media.storage.IStreamingMediaStorage}.
    @param signer: the L{fxim.media.signing.UploadSigner}.
    @param clock: an C{IReactorTime} (grant expiry).
    @param maxUploadSize: the node's upload size limit in bytes.
    """

    isLeaf = True

    def __init__(self, storage, signer, clock, maxUploadSize: int) -> None:
        super().__init__()
        self.storage = storage
        self.signer = signer
        self.clock = clock
        self.maxUploadSize = maxUploadSize

    # -- helpers -------------------------------------------------------------

    def _error(self, request, code: int, text: str) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return text.encode("utf-8") + b"\n"

    def applyCors(self, request) -> None:
        """
        The CORS headers of this tree's answers (also put on a refusal
        made before its body is read: fxim.transport.httplimits).
        """
        self._cors(request)

    def _cors(self, request) -> None:
        for name, value in _CORS.items():
            request.setHeader(name, value)

    def _target(self, request) -> Tuple[str, str]:
        """
        @return: C{(bucket, key)} of the request path.
        @raise _Refused: 404 unknown bucket, 400 bad key.
        """
        parts = request.postpath
        if len(parts) < 1 or not parts[0]:
            raise _Refused(http.NOT_FOUND, "no bucket")
        try:
            bucket = parts[0].decode("utf-8")
        except UnicodeDecodeError:
            raise _Refused(http.NOT_FOUND, "unknown bucket")
        if bucket not in BUCKETS:
            raise _Refused(http.NOT_FOUND, "unknown bucket")
        if len(parts) != 2:
            raise _Refused(http.BAD_REQUEST, "bad key")
        try:
            key = parts[1].decode("utf-8")
        except UnicodeDecodeError:
            raise _Refused(http.BAD_REQUEST, "bad key")
        if not validName(key):
            raise _Refused(http.BAD_REQUEST, "bad key")
        return bucket, key

    def _grant(self, request, bucket: str, key: str) -> Tuple[str, int, bool]:
        """
        @return: C{(uid, size limit, may overwrite)} of a valid grant.
        @raise _Refused: 403.
        """
        now = self.clock.seconds()
        signature = _arg(request, b"sig")
        if signature is not None:
            userId, maxText, expText = _arg(request, b"uid"), _arg(request, b"max"), _arg(request, b"exp")
            if maxText is None or expText is None:
                raise _Refused(http.FORBIDDEN, "bad signature")
            try:
                maxSize, expires = int(maxText), int(expText)
            except ValueError:
                raise _Refused(http.FORBIDDEN, "bad signature")
            if userId is None or not self.signer.checkUrl(bucket, key, userId, maxSize, expires,
                                                       signature, now):
                raise _Refused(http.FORBIDDEN, "bad or expired signature")
            return userId, maxSize, True
        token = _arg(request, b"token")
        header = request.getHeader(b"authorization")
        if token is None and header:
            scheme, _, value = header.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                token = value.strip()
        if not token:
            raise _Refused(http.FORBIDDEN, "no upload grant")
        granted = self.signer.checkToken(token, bucket, now)
        if granted is None:
            raise _Refused(http.FORBIDDEN, "bad or expired token")
        return granted[0], granted[1], False

    def bodyLimit(self, head) -> int:
        """
        The body limit of a request to this tree, decided from its headers
        alone (see L{fxim.transport.httplimits}): an upload without a
        valid grant is refused before a byte of it is read.

        @param head: a L{fxim.transport.httplimits.RequestHead}.
        @raise fxim.transport.httplimits.BodyRefused: 404/400/403.
        """
        from fxim.transport.httplimits import BodyRefused
        if head.method not in (b"PUT", b"POST"):
            return 0
        try:
            bucket, key = self._target(head)
            _uid, signedMax, _overwrite = self._grant(head, bucket, key)
        except _Refused as e:
            raise BodyRefused(e.code, e.text)
        return min(signedMax, self.maxUploadSize)

    # -- methods -------------------------------------------------------------

    def render(self, request):
        """
        Dispatch to C{render_<METHOD>}; anything else is 405 (Twisted
        would answer 501 for methods outside the request's supported set).
        """
        if request.method not in (b"GET", b"HEAD", b"PUT", b"POST", b"OPTIONS"):
            self._cors(request)
            request.setHeader(b"Allow", _ALLOWED)
            return self._error(request, http.NOT_ALLOWED, "method not allowed")
        return super().render(request)

    def render_OPTIONS(self, request) -> bytes:
        self._cors(request)
        request.setHeader(b"Access-Control-Allow-Methods", _ALLOWED)
        wanted = request.getHeader(b"access-control-request-headers")
        request.setHeader(b"Access-Control-Allow-Headers",
                          wanted or b"Authorization, Content-Type")
        request.setHeader(b"Access-Control-Max-Age", b"86400")
        request.setHeader(b"Allow", _ALLOWED)
        request.setResponseCode(http.NO_CONTENT)
        return b""

    def render_PUT(self, request):
        self._cors(request)
        try:
            bucket, key = self._target(request)
            userId, signedMax, overwrite = self._grant(request, bucket, key)
        except _Refused as e:
            return self._error(request, e.code, e.text)
        limit = min(signedMax, self.maxUploadSize)
        length = request.getHeader(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return self._error(request, http.BAD_REQUEST, "bad Content-Length")
            if declared > limit:
                return self._error(request, http.REQUEST_ENTITY_TOO_LARGE, "too large")
        request.content.seek(0)
        # Bound to the uploader: a presigned URL replaces only an object
        # its own user stored; a token never replaces anything.
        d = self.storage.receive(f"{bucket}/{key}", request.content, limit, overwrite, userId)
        finished = []
        request.notifyFinish().addBoth(finished.append)

        def stored(size):
            _log.info("{uid} uploaded {bucket}/{key} ({size} bytes)",
                      uid=userId, bucket=bucket, key=key, size=size)
            return http.OK, b""

        def failed(failure):
            if failure.check(TooLarge):
                return http.REQUEST_ENTITY_TOO_LARGE, b"too large\n"
            if failure.check(AlreadyExists):
                return http.CONFLICT, b"key exists\n"
            _log.failure("storing {bucket}/{key} failed", failure, bucket=bucket, key=key)
            return http.INTERNAL_SERVER_ERROR, b"storage failed\n"

        def respond(result):
            code, body = result
            if finished:
                return
            request.setResponseCode(code)
            if body:
                request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
            request.write(body)
            request.finish()

        d.addCallbacks(stored, failed).addCallback(respond)
        d.addErrback(lambda f: _log.failure("upload response failed", f))
        return NOT_DONE_YET

    render_POST = render_PUT

    def render_GET(self, request):
        self._cors(request)
        try:
            bucket, key = self._target(request)
        except _Refused as e:
            return self._error(request, e.code, e.text)
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        request.setHeader(b"Content-Security-Policy", b"sandbox")
        path = self.storage.localPath(f"{bucket}/{key}")
        if path is not None:
            resource = static.File(path, defaultType="application/octet-stream")
            resource.contentEncodings = {}
            return resource.render(request)
        d = self.storage.get(f"{bucket}/{key}")

        def send(data):
            if data is None:
                request.setResponseCode(http.NOT_FOUND)
                data = b""
            else:
                contentType = mimetypes.guess_type(key)[0] or "application/octet-stream"
                request.setHeader(b"Content-Type", contentType.encode("ascii"))
            request.setHeader(b"Content-Length", str(len(data)).encode("ascii"))
            if request.method != b"HEAD":
                request.write(data)
            request.finish()

        d.addCallback(send)
        d.addErrback(lambda f: _log.failure("reading {key} failed", f, key=key))
        return NOT_DONE_YET
