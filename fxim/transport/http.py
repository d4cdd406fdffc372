# -*- test-case-name: fxim.test.unit.test_http -*-
"""
The HTTP API: login (C{/send_code}, C{/login}), C{/health}, and the
shared JSON plumbing (L{JsonResource}, L{HttpError}) of the admin API
(L{fxim.admin.resource}); see C{docs/auth.md} and C{docs/admin-api.md}.

Every answer is JSON with CORS headers; no traceback ever reaches a client.
Login API errors are HTTP 200 with the L{RestCode} in C{code} (browser
clients reject other statuses); admin API errors use HTTP statuses.
"""

import json
from typing import Tuple

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from fxim import metrics
from fxim.wire.sanitize import MAX_JSON_DEPTH, checkValue
from fxim.services.auth import AuthError, RestCode

_log = Logger()

#: Largest accepted JSON request body, in bytes.
MAX_BODY = 64 * 1024

CORS_METHODS = b"POST, GET, PUT, DELETE, OPTIONS"
CORS_HEADERS = b"Content-Type, Authorization"


class HttpError(Exception):
    """
    Answer with C{status} and the JSON C{body}.
    """

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.body = {"code": int(code), "message": message}


def setCorsHeaders(request) -> None:
    """
    Allow any origin, as upstream's C{@CrossOrigin("*")}.
    """
    request.setHeader(b"access-control-allow-origin", b"*")
    request.setHeader(b"access-control-allow-methods", CORS_METHODS)
    request.setHeader(b"access-control-allow-headers", CORS_HEADERS)


def writeJson(request, status: int, body) -> None:
    """
    Finish C{request} with C{body} as JSON (unless the client went away).
    """
    if getattr(request, "_fximGone", False) or request.finished:
        return
    data = json.dumps(body, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"content-length", b"%d" % (len(data),))
    request.setHeader(b"cache-control", b"no-store")
    if request.method != b"HEAD":
        request.write(data)
    request.finish()


_TOO_DEEP = object()


def readJsonObject(request, code=RestCode.INVALID_PARAMETER, status=200):
    """
    The request body as a JSON object.

    @raise HttpError: with C{code} and C{status} if the body is too large,
        not UTF-8 JSON, or not an object.
    """
    data = request.content.read(MAX_BODY + 1) if request.content else b""
    if len(data) > MAX_BODY:
        raise HttpError(status, code, "request body too large")
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise HttpError(status, code,
                        "malformed request: the body must be a JSON object")
    except RecursionError:
        body = _TOO_DEEP
    # i10a: deep nesting and NULs are refused, never a RecursionError.
    refused = (f"nested deeper than {MAX_JSON_DEPTH} levels" if body is _TOO_DEEP
               else checkValue(body))
    if refused is not None:
        raise HttpError(status, code, "malformed request: %s" % (refused,))
    if not isinstance(body, dict):
        raise HttpError(status, code,
                        "malformed request: the body must be a JSON object")
    return body


class JsonResource(Resource):
    """
    A leaf answering JSON: subclasses implement C{async def
    handle(request)} returning C{(status, body)} or raising L{HttpError}.
    CORS preflights are answered here; unexpected errors are logged and
    answered with L{serverError}.
    """

    isLeaf = True

    #: Largest body this route reads (see L{fxim.transport.httplimits}).
    maxBodySize = MAX_BODY

    #: Methods this resource answers (besides OPTIONS).
    methods: Tuple[bytes, ...] = (b"GET",)

    #: C{(status, body)} for an unexpected error.
    serverError = (200, {"code": int(RestCode.SERVER_ERROR),
                         "message": "server error"})

    def applyCors(self, request) -> None:
        """
        Set this resource's CORS headers (any origin; the admin API
        overrides it: fxim.admin.resource).
        """
        setCorsHeaders(request)

    def render(self, request):
        self.applyCors(request)
        if request.method == b"OPTIONS":
            request.setResponseCode(204)
            request.setHeader(b"access-control-max-age", b"86400")
            request.setHeader(b"allow", b", ".join(self.methods
                                                   + (b"OPTIONS",)))
            return b""

        def gone(failure):
            request._fximGone = True
        request.notifyFinish().addErrback(gone)
        Deferred.fromCoroutine(self._respond(request))
        return NOT_DONE_YET

    async def _respond(self, request):
        try:
            allowed = self.methods + ((b"HEAD",) if b"GET" in self.methods
                                      else ())
            if request.method not in allowed:
                raise HttpError(405, 405, "method not allowed")
            status, body = await self.handle(request)
        except HttpError as e:
            status, body = e.status, e.body
        except Exception:
            _log.failure("Error answering {method} {path}",
                         method=request.method.decode("latin-1"),
                         path=request.path.decode("latin-1"))
            status, body = self.serverError
        try:
            writeJson(request, status, body)
        except Exception:
            _log.failure("Error writing an HTTP answer")

    async def handle(self, request):
        raise NotImplementedError()


def _ok(result=None):
    return 200, {"code": 0, "message": "success", "result": result}


def _restError(e: AuthError):
    return 200, {"code": int(e.code), "message": e.message}


class SendCodeResource(JsonResource):
    """
    C{POST /send_code {"mobile"}}: send an SMS login code.
    """

    methods = (b"POST",)

    def __init__(self, auth):
        Resource.__init__(self)
        self._auth = auth

    async def handle(self, request):
        body = readJsonObject(request)
        try:
            await self._auth.sendCode(body.get("mobile"))
        except AuthError as e:
            return _restError(e)
        # The newer clients decode result as a bool (true on success).
        return _ok(True)


class LoginResource(JsonResource):
    """
    C{POST /login {"mobile","code","clientId"}}: answer
    C{{"code":0,"message":"success","result":{"userId","token","register"}}}.
    """

    methods = (b"POST",)

    def __init__(self, auth):
        Resource.__init__(self)
        self._auth = auth

    async def handle(self, request):
        body = readJsonObject(request)
        code = body.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            code = str(code)
        try:
            userId, token, register = await self._auth.login(
                body.get("mobile"), code, body.get("clientId"))
        except AuthError as e:
            metrics.LOGINS.labels(str(int(e.code))).inc()
            return _restError(e)
        metrics.LOGINS.labels("ok").inc()
        return _ok({"userId": userId, "token": token, "register": register})


class HealthResource(JsonResource):
    """
    C{GET /health}: C{{"ok":true}}.
    """

    async def handle(self, request):
        return 200, {"ok": True}


class NotFoundResource(JsonResource):
    """
    Any unknown path: HTTP 404.
    """

    methods = (b"GET", b"POST", b"PUT", b"DELETE")

    async def handle(self, request):
        raise HttpError(404, 404, "not found")


class AdminDisabledResource(JsonResource):
    """
    C{/admin/...} when no admin secret is configured: HTTP 403.
    """

    methods = (b"GET", b"POST", b"PUT", b"DELETE")

    async def handle(self, request):
        raise HttpError(403, 403, "the admin API is not enabled")


class RootResource(Resource):
    """
    The site root: unknown children are a JSON 404.  Other components add
    theirs with L{putChild}.

    @ivar fallback: L{None}, or a resource asked for the children no
        C{putChild} named (the web chat's static files); its C{getChild}
        answers a 404 itself.
    """

    fallback = None

    def getChild(self, path, request):
        if self.fallback is not None:
            return self.fallback.getChild(path, request)
        return NotFoundResource()

    def render(self, request):
        return NotFoundResource().render(request)


def buildSite(auth, extraChildren=None, reactor=None):
    """
    The HTTP site of a node.  C{/admin/} refuses every request with 403
    until L{fxim.admin.build.installAdmin} puts the admin API there (when
    an admin secret is configured).

    @param auth: the L{fxim.services.auth.AuthService}.
    @param extraChildren: a mapping of path segment (C{str} or C{bytes}) to
        L{twisted.web.resource.IResource}, put at the root (media upload).
    @param reactor: the reactor for the site's timers (default: global).
    @return: a L{twisted.web.server.Site} whose C{resource} is a
        L{RootResource} (more children may be added with C{putChild}).
    """
    root = RootResource()
    root.putChild(b"send_code", SendCodeResource(auth))
    root.putChild(b"login", LoginResource(auth))
    root.putChild(b"health", HealthResource())
    root.putChild(b"admin", AdminDisabledResource())
    for name, child in (extraChildren or {}).items():
        if isinstance(name, str):
            name = name.encode("utf-8")
        root.putChild(name, child)
    kwargs = {} if reactor is None else {"reactor": reactor}
    # i10a: header/body deadlines and per-route body limits.
    from fxim.transport.httplimits import BoundedSite
    # i10b: grants redacted from the access log.
    from fxim.transport.accesslog import redactedLogFormatter
    site = BoundedSite(root, logFormatter=redactedLogFormatter, **kwargs)
    site.displayTracebacks = False
    return site
