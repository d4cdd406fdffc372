# -*- test-case-name: fxim.test.e2e.test_webchat -*-
"""
fxim's own web chat, served by the node on its HTTP port.

  - C{/} and the files next to it: the built page in C{fxim/web/static/}
    (built from C{clients/web/} with esbuild, committed, so installing the
    Python package needs no Node), or the folder given with C{--web-root};
  - C{/config.json}: what the page cannot guess from its own origin;
  - C{/ws}: the WebSocket JSON protocol on the HTTP port too, so that one
    origin (and one reverse-proxy rule) serves the page, the login API,
    media and the chat connection.

See C{docs/webchat.md}.
"""

import os
from typing import Any, Optional
from urllib.parse import urlsplit, urlunsplit

from twisted.web.resource import Resource
from twisted.web.static import File

from fxim.transport.http import JsonResource, NotFoundResource

#: The built web chat shipped inside the package.
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

#: The path of the WebSocket endpoint on the HTTP port.
WS_PATH = "/ws"

#: The page's Content-Security-Policy: its own scripts and styles only;
#: media may come from a media host elsewhere (--public-url), the
#: WebSocket from any ws:/wss: URL /config.json names.
CSP = (b"default-src 'self'; script-src 'self'; style-src 'self'; "
       b"img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; "
       b"connect-src 'self' ws: wss: http: https:; frame-ancestors 'none'; "
       b"base-uri 'none'; form-action 'none'")


def wsUrlFor(publicUrl: Optional[str]) -> Optional[str]:
    """
    The WebSocket URL behind C{--public-url}: same host and path prefix,
    C{ws:} for C{http:}, C{wss:} for C{https:}, with L{WS_PATH} appended.

    @return: L{None} without a public URL (the page then uses its own
        origin).
    """
    if not publicUrl:
        return None
    parts = urlsplit(publicUrl)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + WS_PATH, "", ""))


class WebConfigResource(JsonResource):
    """
    C{GET /config.json}: C{{"wsUrl", "httpUrl", "wsPath"}}.  C{wsUrl} and
    C{httpUrl} are L{None} unless C{--public-url} is set; the page then
    derives both from its own origin (C{ws[s]://<host>/ws}).
    """

    def __init__(self, publicUrl: Optional[str]) -> None:
        Resource.__init__(self)
        self._body = {
            "httpUrl": publicUrl.rstrip("/") if publicUrl else None,
            "wsUrl": wsUrlFor(publicUrl),
            "wsPath": WS_PATH,
        }

    async def handle(self, request):
        return 200, self._body


class StaticFiles(File):
    """
    A folder of static files: no directory listings, a JSON 404 for
    anything missing, and headers that keep the page to itself.
    """

    # File renders any resource here; its annotation names only its default's class.
    childNotFound = NotFoundResource()  # type: ignore[assignment]

    def directoryListing(self):
        return NotFoundResource()

    def getChild(self, path, request):
        if path.startswith(b"."):
            return NotFoundResource()  # no dotfiles (.gitignore, .env, ...)
        return File.getChild(self, path, request)

    def render_GET(self, request):
        request.setHeader(b"x-content-type-options", b"nosniff")
        request.setHeader(b"referrer-policy", b"no-referrer")
        request.setHeader(b"content-security-policy", CSP)
        # Revalidate every time (Last-Modified): a new bundle is seen at once.
        request.setHeader(b"cache-control", b"no-cache")
        return File.render_GET(self, request)


def installWeb(site: Any, config: Any) -> None:
    """
    Serve the web chat (and C{/config.json}) at the root of C{site}, unless
    C{config.web} is false.

    @param site: the node's L{twisted.web.server.Site}, whose C{resource}
        is a L{fxim.transport.http.RootResource}.
    @param config: the node's L{fxim.config.Config} (C{web}, C{webRoot},
        C{publicUrl}).
    """
    if not config.web:
        return
    root = site.resource
    folder = config.webRoot or STATIC
    files = StaticFiles(folder, defaultType="application/octet-stream")
    files.indexNames = ["index.html"]
    root.fallback = files
    root.putChild(b"config.json", WebConfigResource(config.publicUrl))


def attachWebSocket(site: Any, factory: Any) -> None:
    """
    Accept the WebSocket JSON protocol of C{factory} on L{WS_PATH} of the
    HTTP site as well (same dispatcher, same connections).
    """
    from autobahn.twisted.resource import WebSocketResource
    site.resource.putChild(WS_PATH.strip("/").encode("ascii"), WebSocketResource(factory))
