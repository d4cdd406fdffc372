# -*- test-case-name: fxim.test.unit.test_httplimits -*-
"""
Read limits of the HTTP site: a deadline for a request's headers, one for
its body, and a body size limit per route, enforced before the body is
read (by C{Content-Length}) and while it is read (chunked bodies).

twisted.web spools every body over 100 kB to a temporary file before any
resource sees the request, and resets its idle timer on every byte; this
module stops both from being used against the node.

A route declares its limit on its resource: a C{maxBodySize} attribute
(bytes), or a C{bodyLimit(head)} method taking a L{RequestHead} and
returning the limit or raising L{BodyRefused} (e.g. an upload without a
valid grant is refused before a byte of it is read).  Routes that declare
nothing get L{DEFAULT_MAX_BODY}.
"""

import json
from typing import Any, List, Optional, Tuple, cast
from urllib.parse import parse_qs, unquote_to_bytes

from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.server import Request, Site

_log = Logger()

#: Body limit of a route that declares none (the JSON APIs' bodies are
#: small objects).
DEFAULT_MAX_BODY = 64 * 1024


class BodyRefused(Exception):
    """
    Refuse a request before (or while) reading its body.

    @ivar status: the HTTP status to answer.
    @ivar message: the text of the JSON answer.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


class RequestHead:
    """
    What is known of a request once its headers arrived: what a route's
    C{bodyLimit} may look at.

    @ivar method: the method (C{bytes}).
    @ivar path: the path without the query (C{bytes}).
    @ivar prepath: the segments that led to the route's resource.
    @ivar postpath: the segments after it.
    @ivar args: the query arguments, as L{twisted.web.server.Request.args}.
    """

    def __init__(self, method: bytes, uri: bytes, headers: Any) -> None:
        self.method = method
        self.path, _, query = uri.partition(b"?")
        self.args = parse_qs(query, keep_blank_values=True)
        self.prepath: List[bytes] = []
        self.postpath: List[bytes] = [unquote_to_bytes(s) for s in self.path[1:].split(b"/")]
        self._headers = headers

    def getHeader(self, name: bytes) -> Optional[bytes]:
        """
        @return: the last value of header C{name}, or L{None}.
        """
        values = self._headers.getRawHeaders(name)
        return values[-1] if values else None


def routeFor(root: Any, head: RequestHead) -> Any:
    """
    Find the resource a request goes to by the static children of the
    tree (no resource code runs), moving segments from C{head.postpath} to
    C{head.prepath} as traversal would.

    @return: the deepest resource found (a leaf or a static child).
    """
    resource = root
    while head.postpath and not getattr(resource, "isLeaf", False):
        child = getattr(resource, "children", {}).get(head.postpath[0])
        if child is None:
            break
        head.prepath.append(head.postpath.pop(0))
        resource = child
    return resource


def bodyLimitFor(root: Any, head: RequestHead) -> int:
    """
    The body limit of the route C{head} goes to.

    @raise BodyRefused: if the route refuses the request outright.
    """
    return limitOf(routeFor(root, head), head)


def limitOf(resource: Any, head: RequestHead) -> int:
    """
    The body limit C{resource} declares for C{head} (its C{bodyLimit} or
    C{maxBodySize}, else L{DEFAULT_MAX_BODY}); for a resource that routes
    to others by code, which L{routeFor} cannot follow.

    @raise BodyRefused: if the route refuses the request outright.
    """
    declare = getattr(resource, "bodyLimit", None)
    if declare is not None:
        return int(declare(head))
    return int(getattr(resource, "maxBodySize", DEFAULT_MAX_BODY))


class _HeaderSink:
    """
    What a route's C{applyCors(request)} is given for a refusal answered
    before any resource ran: the request's headers and path to read, and
    a list collecting the headers it sets.
    """

    def __init__(self, head: RequestHead) -> None:
        self._head = head
        self.postpath = list(head.postpath)
        self.headers: List[Tuple[bytes, bytes]] = []

    def getHeader(self, name: bytes) -> Optional[bytes]:
        return self._head.getHeader(name)

    def setHeader(self, name: Any, value: Any) -> None:
        def raw(v: Any) -> bytes:
            return v.encode("latin-1") if isinstance(v, str) else bytes(v)
        self.headers.append((raw(name), raw(value)))


def corsHeadersFor(resource: Any, head: RequestHead) -> List[Tuple[bytes, bytes]]:
    """
    The CORS headers C{resource}'s own answers carry (its C{applyCors}),
    so that a browser can read a refusal of its route too.

    @return: C{(name, value)} pairs; none for a route without CORS.
    """
    apply = getattr(resource, "applyCors", None)
    if apply is None:
        return []
    sink = _HeaderSink(head)
    try:
        apply(sink)
    except Exception:
        _log.failure("computing the CORS headers of {path}", path=head.path)
        return []
    return sink.headers


class BoundedRequest(Request):
    """
    A request that refuses a body over its route's limit: by the declared
    C{Content-Length} before reading it, and while reading a chunked one.
    A refused request is answered at once and its connection closed; no
    resource ever sees it.
    """

    # Only a BoundedSite builds these requests, on its BoundedChannels.
    channel: "BoundedChannel"
    bodyLimit: int = DEFAULT_MAX_BODY
    _fximRefused = False
    _fximReceived = 0
    _fximRoute: Any = None

    def gotLength(self, length: Optional[int]) -> None:
        channel = self.channel
        head = RequestHead(channel._command, channel._path, self.requestHeaders)
        try:
            resource = routeFor(self.channel.site.resource, head)
            # Kept for the CORS headers of a refusal.
            self._fximRoute = (resource, head)
            self.bodyLimit = limitOf(resource, head)
            if length is not None and length > self.bodyLimit:
                raise BodyRefused(413, "request body too large (limit %d bytes)" % self.bodyLimit)
        except BodyRefused as e:
            self._refuse(e)
            length = 0
        except Exception:
            _log.failure("computing the body limit of {path}", path=head.path)
            self._refuse(BodyRefused(500, "server error"))
            length = 0
        Request.gotLength(self, length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._fximRefused:
            return
        self._fximReceived += len(data)
        if self._fximReceived > self.bodyLimit:
            self._refuse(BodyRefused(413, "request body too large (limit %d bytes)"
                                     % self.bodyLimit))
            return
        Request.handleContentChunk(self, data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self._fximRefused:
            return  # already answered; the connection is closing
        Request.requestReceived(self, command, path, version)

    def _refuse(self, refusal: BodyRefused) -> None:
        if self._fximRefused:
            return
        self._fximRefused = True
        channel = self.channel
        _log.info("HTTP {method} {path} from {peer} refused before its body: {status} {why}",
                  method=channel._command.decode("latin-1"),
                  path=channel._path.split(b"?", 1)[0].decode("latin-1"),
                  peer=_peerHost(channel), status=refusal.status, why=refusal.message)
        body = json.dumps({"code": refusal.status, "message": refusal.message}).encode("utf-8")
        reason = http.RESPONSES.get(refusal.status, b"Refused")
        cors = corsHeadersFor(*self._fximRoute) if self._fximRoute is not None else []
        # Header values never carry CR/LF: no injection into the answer.
        extra = b"".join(b"%s: %s\r\n" % (name, value) for name, value in cors
                         if b"\r" not in name + value and b"\n" not in name + value)
        channel.tcpTransport().write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json; charset=utf-8\r\n"
            b"content-length: %d\r\n%sconnection: close\r\n\r\n%s"
            % (refusal.status, reason, len(body), extra, body))
        # Stop reading: the rest of the body stays unread in the kernel.
        channel.persistent = False
        channel.loseConnection()


def _peerHost(channel: "BoundedChannel") -> str:
    return str(getattr(channel.tcpTransport().getPeer(), "host", "?"))


class BoundedChannel(http.HTTPChannel):
    """
    An HTTP connection with a deadline for each request's headers (which
    is also how long a keep-alive connection may idle) and one for its
    body.  Unlike the idle timeout of L{http.HTTPChannel}, trickling bytes
    extends neither.
    """

    #: Set by the L{BoundedSite} that builds the channel.
    site: "BoundedSite"
    _headerCall: Any = None
    _bodyCall: Any = None

    def tcpTransport(self) -> ITCPTransport:
        """
        @return: the connection's transport (TCP, or TLS over it), once made.
        """
        return cast(ITCPTransport, self.transport)

    def connectionMade(self) -> None:
        http.HTTPChannel.connectionMade(self)
        self._startHeaderDeadline()

    def _startHeaderDeadline(self) -> None:
        self._cancel("_headerCall")
        seconds = self.site.headerTimeout
        if seconds:
            self._headerCall = self.callLater(seconds, lambda: self._expired("headers", seconds))

    def _cancel(self, name: str) -> None:
        call = getattr(self, name)
        if call is not None and call.active():
            call.cancel()
        setattr(self, name, None)

    def _expired(self, what: str, seconds: float) -> None:
        _log.info("HTTP client {peer} did not send its {what} within {seconds:.0f}s; closing",
                  peer=_peerHost(self), what=what, seconds=seconds)
        self.tcpTransport().abortConnection()

    def allHeadersReceived(self) -> None:
        self._cancel("_headerCall")
        http.HTTPChannel.allHeadersReceived(self)
        request = self.requests[-1] if self.requests else None
        if request is None or getattr(request, "_fximRefused", False) or self.length == 0:
            return
        size = self.length if self.length is not None else getattr(
            request, "bodyLimit", DEFAULT_MAX_BODY)
        seconds = self.site.bodyTimeout + size / max(self.site.bodyMinRate, 1)
        self._bodyCall = self.callLater(seconds, lambda: self._expired("body", seconds))

    def _send100Continue(self) -> None:
        request = self.requests[-1] if self.requests else None
        if request is not None and getattr(request, "_fximRefused", False):
            return
        http.HTTPChannel._send100Continue(self)

    def allContentReceived(self) -> None:
        self._cancel("_bodyCall")
        http.HTTPChannel.allContentReceived(self)

    def requestDone(self, request: Any) -> None:
        http.HTTPChannel.requestDone(self, request)
        if self.persistent and not self.requests:
            self._startHeaderDeadline()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancel("_headerCall")
        self._cancel("_bodyCall")
        http.HTTPChannel.connectionLost(self, reason)


class BoundedSite(Site):
    """
    A L{Site} of L{BoundedChannel}s and L{BoundedRequest}s.

    @ivar headerTimeout: seconds allowed for a request's headers.
    @ivar bodyTimeout: base seconds allowed for a body.
    @ivar bodyMinRate: bytes per second added to the body deadline.
    """

    # Plain HTTP/1.1 channels, not Site's HTTP/2-negotiating wrapper (whose
    # type the stubs require here).
    protocol = BoundedChannel  # type: ignore[assignment]
    requestFactory = BoundedRequest
    headerTimeout = 20.0
    bodyTimeout = 30.0
    bodyMinRate = 16 * 1024

    def setReadLimits(self, headerTimeout: float, bodyTimeout: float, bodyMinRate: int) -> None:
        """
        Set the read deadlines (from C{--http-header-timeout},
        C{--http-body-timeout} and C{--http-body-min-rate}).
        """
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.bodyMinRate = bodyMinRate


__all__ = ["BodyRefused", "BoundedChannel", "BoundedRequest", "BoundedSite", "DEFAULT_MAX_BODY",
           "RequestHead", "bodyLimitFor", "corsHeadersFor", "limitOf"]
