# -*- test-case-name: fxim.test.unit.test_accesslog -*-
"""
The HTTP access log without grants: query parameters that carry a
credential (the media upload C{token}, the C{sig} of a presigned URL,
...) are written as C{REDACTED}, in the request line and in the
C{Referer}, so the log file never holds something that can be replayed.
"""

from typing import Any
from urllib.parse import unquote_to_bytes

from twisted.internet import address
from twisted.web.iweb import IAccessLogFormatter
from zope.interface import provider

#: Query parameter names (lower-case) whose values are credentials.
SECRET_PARAMETERS = frozenset([
    b"token", b"sig", b"signature", b"access_token", b"code", b"password", b"secret",
    b"x-amz-signature", b"x-amz-credential", b"x-amz-security-token",
])

REDACTED = b"REDACTED"


def redactUri(uri: bytes) -> bytes:
    """
    C{uri} with the value of every parameter named in
    L{SECRET_PARAMETERS} (matched case-insensitively, after
    percent-decoding the name) replaced by C{REDACTED}; everything else is
    kept byte for byte.
    """
    path, sep, rest = uri.partition(b"?")
    if not sep:
        return uri
    query, hashSep, fragment = rest.partition(b"#")
    parts = []
    for part in query.split(b"&"):
        name, eq, _ = part.partition(b"=")
        decoded = unquote_to_bytes(name.replace(b"+", b" ")).strip().lower()
        if decoded in SECRET_PARAMETERS:
            part = name + b"=" + REDACTED
        parts.append(part)
    return path + b"?" + b"&".join(parts) + (hashSep + fragment if hashSep else b"")


def _escape(value: Any) -> str:
    # As Twisted's combined log: repr-style, safe inside double quotes.
    if not isinstance(value, bytes):
        value = str(value).encode("utf-8", "backslashreplace")
    text = repr(value)[2:-1]
    return text.replace('"', '\\"').replace("\\'", "'")


@provider(IAccessLogFormatter)
def redactedLogFormatter(timestamp: str, request: Any) -> str:
    """
    Twisted's combined log format, with L{redactUri} applied to the
    request URI and the referrer.
    """
    client = request.getClientAddress()
    ip = getattr(client, "host", None) if isinstance(
        client, (address.IPv4Address, address.IPv6Address)) else None
    referrer = request.getHeader(b"referer")
    agent = request.getHeader(b"user-agent")
    return (
        '"%(ip)s" - - %(timestamp)s "%(method)s %(uri)s %(protocol)s" '
        '%(code)d %(length)s "%(referrer)s" "%(agent)s"' % dict(
            ip=_escape(ip or "-"), timestamp=timestamp, method=_escape(request.method),
            uri=_escape(redactUri(request.uri)), protocol=_escape(request.clientproto),
            code=request.code, length=request.sentLength or "-",
            referrer=_escape(redactUri(referrer) if referrer else "-"),
            agent=_escape(agent or "-")))
