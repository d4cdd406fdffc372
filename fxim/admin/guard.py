# -*- test-case-name: fxim.test.unit.test_admin_mount -*-
"""
What every admin route checks first, shared by the admin API
(L{fxim.admin.resource}) and the routes mounted beside it
(L{fxim.outbox.admin}, L{fxim.moderation.admin}): the admin secret, the
path segments, the method.
"""

import hmac
from typing import List

from twisted.logger import Logger

from fxim.transport.http import HttpError

_log = Logger()


def bearerFor(secret: str) -> bytes:
    """
    @return: the C{Authorization} value a request with C{secret} carries.
    """
    return b"Bearer " + secret.encode("utf-8")


def checkBearer(request, expected: bytes) -> None:
    """
    @raise HttpError: 401 (with C{WWW-Authenticate}, logged) unless the
        request's C{Authorization} is C{expected}.
    """
    given = request.getHeader(b"authorization") or b""
    if isinstance(given, str):
        given = given.encode("latin-1")
    if not hmac.compare_digest(given, expected):
        request.setHeader(b"www-authenticate", b'Bearer realm="fxim-admin"')
        _log.warn("Unauthorized admin API request from {peer}", peer=peerOf(request))
        raise HttpError(401, 401, "unauthorized")


def pathSegments(request) -> List[str]:
    """
    The segments after the route's resource, without trailing empty ones.

    @raise HttpError: 404 if one is not UTF-8, 400 if one holds a NUL.
    """
    try:
        segments = [s.decode("utf-8") for s in request.postpath]
    except UnicodeDecodeError:
        raise HttpError(404, 404, "not found")
    while segments and segments[-1] == "":
        segments.pop()
    if any("\x00" in segment for segment in segments):
        raise HttpError(400, 1, "malformed request: NUL character in the path")
    return segments


def routeMethod(request) -> str:
    """
    The method to route on (C{HEAD} is routed as C{GET}).
    """
    method = request.method.decode("ascii")
    return "GET" if method == "HEAD" else method


def allow(method: str, *allowed: str) -> None:
    """
    @raise HttpError: 405 unless C{method} is one of C{allowed}.
    """
    if method not in allowed:
        raise HttpError(405, 405, "method not allowed")


def peerOf(request) -> str:
    """
    The client's C{host:port}, for logs and the audit log.
    """
    address = request.getClientAddress()
    return "%s:%s" % (getattr(address, "host", address), getattr(address, "port", ""))
