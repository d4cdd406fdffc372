# -*- test-case-name: fxim.test.unit.test_admin_resource -*-
"""
The admin API over HTTP: C{/admin/...} and upstream's
C{/imopenapi/pushNotificationByMobile}, both under the admin secret
(C{Authorization: Bearer <secret>}).

Answers are JSON: C{{"code":0,"message":"success","result":...}} with
HTTP 200 (201 for a creation), or an HTTP error status with
C{{"code","message"}}.  Lists take C{?offset=&limit=} and answer
C{{"items","offset","limit","next"}}.  There is no CORS on this API
unless C{--admin-cors-origin} names an origin.  See docs/admin-api.md.
"""

import json
from typing import Any, Awaitable, Callable, Optional, Sequence
from urllib.parse import parse_qs

from twisted.web.resource import Resource

from fxim.admin.guard import allow, bearerFor, checkBearer, pathSegments, peerOf, routeMethod
from fxim.admin.service import AdminError, invalid
from fxim.transport.http import CORS_HEADERS, CORS_METHODS, HttpError, JsonResource
from fxim.wire.sanitize import checkValue


#: Largest admin request body (a broadcast's content fits).
MAX_ADMIN_BODY = 256 * 1024

#: Page size bounds.
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def readBody(request) -> dict:
    """
    The request body as a JSON object (an empty body is C{{}}).

    @raise AdminError: 413 too large, 400 not a JSON object.
    """
    data = request.content.read(MAX_ADMIN_BODY + 1) if request.content else b""
    if len(data) > MAX_ADMIN_BODY:
        raise AdminError(413, "request body too large (limit %d bytes)" % (MAX_ADMIN_BODY,))
    if not data.strip():
        return {}
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AdminError(400, "malformed request: the body must be a JSON object")
    if not isinstance(body, dict):
        raise AdminError(400, "malformed request: the body must be a JSON object")
    # i10a: no NUL in a string, no deep nesting (docs/security.md).
    refused = checkValue(body)
    if refused is not None:
        raise AdminError(400, "malformed request: %s" % (refused,))
    return body


def _query(request) -> dict:
    raw = (request.uri.split(b"?", 1) + [b""])[1]
    try:
        return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
    except UnicodeDecodeError:
        raise invalid("the query string is not UTF-8")


def _page(query: dict):
    try:
        offset = int(query.get("offset", 0))
        limit = int(query.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise invalid("offset and limit must be integers")
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"offset must be >= 0 and limit between 1 and {MAX_LIMIT}")
    return offset, limit


def _flag(query: dict, name: str) -> bool:
    value = query.get(name, "false").lower()
    if value not in ("true", "false", "1", "0", ""):
        raise invalid(f"{name} must be true or false")
    return value in ("true", "1")


def _status(action: str, value: bool) -> Callable[..., Awaitable[Any]]:
    """
    An L{AdminApi} route setting a user's status flag through
    C{service.<action>(uid, value)}.
    """
    async def change(self, request, userId):
        readBody(request)
        user = await getattr(self.service, action)(userId, value)
        await self._audit(request, "users." + change.__name__, userId)
        return _ok(user)
    return change


def _memberFlag(action: str, value: bool, name: str) -> Callable[..., Awaitable[Any]]:
    """
    An L{AdminApi} route setting a group member's flag through
    C{service.<action>(gid, uid, value)}, audited as C{groups.<name>}.
    """
    async def change(self, request, gid, userId):
        result = await getattr(self.service, action)(gid, userId, value)
        await self._audit(request, "groups." + name, gid, {"member": userId})
        return _ok(result)
    return change


class AdminApi(JsonResource):
    """
    One resource answering every admin route (a small router over
    L{fxim.admin.service.AdminService}).

    @param prefix: C{"admin"} or C{"imopenapi"} (which routes it serves).
    @param corsOrigins: origins allowed to call from a browser.
    """

    methods = (b"GET", b"POST", b"PUT", b"PATCH", b"DELETE")
    serverError = (500, {"code": 500, "message": "server error"})
    #: Read limit of this route (see fxim.transport.httplimits).
    maxBodySize = MAX_ADMIN_BODY

    def __init__(self, service: Any, secret: str, prefix: str = "admin",
                 corsOrigins: Sequence[str] = ()) -> None:
        Resource.__init__(self)
        if not secret:
            raise ValueError("an empty admin secret")
        self.service = service
        self.prefix = prefix
        self.corsOrigins = frozenset(corsOrigins)
        self._expected = bearerFor(secret)

    def applyCors(self, request) -> None:
        """
        CORS headers only for a configured origin (none by default).
        """
        origin = (request.getHeader(b"origin") or b"").decode("latin-1")
        request.setHeader(b"vary", b"Origin")
        if origin and origin in self.corsOrigins:
            request.setHeader(b"access-control-allow-origin", origin.encode("latin-1"))
            request.setHeader(b"access-control-allow-methods", CORS_METHODS + b", PATCH")
            request.setHeader(b"access-control-allow-headers", CORS_HEADERS)

    async def handle(self, request):
        checkBearer(request, self._expected)
        segments = pathSegments(request)
        try:
            return await self._route(request, routeMethod(request), segments)
        except AdminError as e:
            raise HttpError(e.status, e.code, e.message)

    async def _route(self, request, method, segments):
        if self.prefix == "imopenapi":
            if segments == ["pushNotificationByMobile"]:
                allow(method, "POST")
                body = readBody(request)
                result = await self.service.pushByMobile(body)
                await self._audit(request, "messages.pushByMobile", ",".join(
                    str(m) for m in body.get("mobiles", [])[:20]), {"unknown": result["unknown"]})
                return _ok(result)
            raise HttpError(404, 404, "not found")
        route, args = _match(segments)
        if route is None:
            raise HttpError(404, 404, "not found")
        handler = route.get(method)
        if handler is None:
            raise HttpError(405, 405, "method not allowed")
        return await handler(self, request, *args)

    async def _audit(self, request, action: str, target: str, detail: Optional[dict] = None):
        await self.service.audit(action, target, detail or {}, peerOf(request))

    # -- users -----------------------------------------------------------------

    async def listUsers(self, request):
        query = _query(request)
        offset, limit = _page(query)
        return _list(await self.service.listUsers(query.get("q", ""), offset, limit),
                     offset, limit)

    async def createUser(self, request):
        body = readBody(request)
        user = await self.service.createUser(body)
        await self._audit(request, "users.create", user["uid"],
                          {"displayName": user["displayName"]})
        return 201, _ok(user)[1]

    async def getUser(self, request, userId):
        return _ok(await self.service.getUser(userId))

    async def updateUser(self, request, userId):
        body = readBody(request)
        user = await self.service.updateUser(userId, body)
        await self._audit(request, "users.update", userId, {"fields": sorted(body)})
        return _ok(user)

    async def deleteUser(self, request, userId):
        erase = _flag(_query(request), "eraseMessages")
        result = await self.service.deleteUser(userId, erase)
        await self._audit(request, "users.delete", userId, {"eraseMessages": erase})
        return _ok(result)

    block = _status("setBlocked", True)
    block.__name__ = "block"
    unblock = _status("setBlocked", False)
    unblock.__name__ = "unblock"
    mute = _status("setMuted", True)
    mute.__name__ = "mute"
    unmute = _status("setMuted", False)
    unmute.__name__ = "unmute"

    # -- sessions and tokens -------------------------------------------------

    async def listSessions(self, request, userId):
        return _ok(await self.service.listSessions(userId))

    async def revokeAll(self, request, userId):
        result = await self.service.revokeSessions(userId)
        await self._audit(request, "sessions.revoke", userId, {"clientId": None})
        return _ok(result)

    async def revokeOne(self, request, userId, cid):
        result = await self.service.revokeSessions(userId, cid)
        await self._audit(request, "sessions.revoke", userId, {"clientId": cid})
        return _ok(result)

    async def mintToken(self, request):
        body = readBody(request)
        userId = body.get("uid")
        if not isinstance(userId, str) or not userId:
            raise invalid("uid must be a non-empty string")
        result = await self.service.mintToken(userId, body.get("clientId"))
        await self._audit(request, "tokens.mint", userId, {"clientId": body.get("clientId")})
        return _ok(result)

    # -- groups ----------------------------------------------------------------

    async def listGroups(self, request):
        query = _query(request)
        offset, limit = _page(query)
        return _list(await self.service.listGroups(query.get("q", ""), offset, limit),
                     offset, limit)

    async def getGroup(self, request, gid):
        return _ok(await self.service.getGroup(gid))

    async def dismissGroup(self, request, gid):
        result = await self.service.dismissGroup(gid)
        await self._audit(request, "groups.dismiss", gid)
        return _ok(result)

    async def addMembers(self, request, gid):
        body = readBody(request)
        result = await self.service.addMembers(gid, body.get("members"))
        await self._audit(request, "groups.addMembers", gid, {"members": body.get("members")})
        return _ok(result)

    async def removeMember(self, request, gid, userId):
        result = await self.service.removeMember(gid, userId)
        await self._audit(request, "groups.removeMember", gid, {"member": userId})
        return _ok(result)

    async def setOwner(self, request, gid):
        body = readBody(request)
        userId = body.get("uid")
        if not isinstance(userId, str) or not userId:
            raise invalid("uid must be a non-empty string")
        result = await self.service.setOwner(gid, userId)
        await self._audit(request, "groups.setOwner", gid, {"owner": userId})
        return _ok(result)

    addManager = _memberFlag("setManager", True, "addManager")
    removeManager = _memberFlag("setManager", False, "removeManager")
    muteMember = _memberFlag("muteMember", True, "muteMember")
    unmuteMember = _memberFlag("muteMember", False, "unmuteMember")

    # -- messages ------------------------------------------------------------------

    async def sendMessage(self, request):
        body = readBody(request)
        result = await self.service.sendSystemMessage(body)
        target = ("everyone" if body.get("everyone") else "group:" + str(body.get("group"))
                  if body.get("group") else "users:" + ",".join(map(str, body["users"][:20])))
        await self._audit(request, "messages.send", target, {"messageUids": result["messageUids"]})
        return 201, _ok(result)[1]

    async def getMessage(self, request, messageUid):
        return _ok(await self.service.getMessage(messageUid))

    async def recallMessage(self, request, messageUid):
        result = await self.service.recall(messageUid)
        await self._audit(request, "messages.recall", str(messageUid))
        return _ok(result)

    async def purgeConversation(self, request):
        body = readBody(request)
        result = await self.service.purgeConversation(body)
        target = body.get("group") or ",".join(map(str, body.get("users") or []))
        await self._audit(request, "messages.purge", str(target), dict(result, type=body.get("type")))
        return _ok(result)

    async def runRetention(self, request):
        retention = getattr(self.service, "retention", None)
        if retention is None:
            raise AdminError(409, "no retention policy is configured (--retention-days)")
        purged = await retention.runOnce()
        await self._audit(request, "retention.run", "", {"purged": purged})
        return _ok({"purged": purged})

    async def listAudit(self, request):
        offset, limit = _page(_query(request))
        return _list(await self.service.listAudit(offset, limit), offset, limit)


def _ok(result=None):
    return 200, {"code": 0, "message": "success", "result": result}


def _list(items, offset, limit):
    return _ok({"items": items, "offset": offset, "limit": limit,
                "next": offset + len(items) if len(items) == limit else None})


def _match(segments):
    """
    @return: C{(methods, variable segments)} of the route matching
        C{segments} (literal parts win over C{*}), or C{(None, [])}.
    """
    best, bestArgs, bestScore = None, [], -1
    for pattern, methods in _ROUTES.items():
        parts = pattern.split("/")
        if len(parts) != len(segments):
            continue
        if all(p == "*" and s or p == s for p, s in zip(parts, segments)):
            score = sum(p != "*" for p in parts)
            if score > bestScore:
                best, bestScore = methods, score
                bestArgs = [s for p, s in zip(parts, segments) if p == "*"]
    return best, bestArgs


A = AdminApi
_ROUTES = {
    "users": {"GET": A.listUsers, "POST": A.createUser},
    "users/*": {"GET": A.getUser, "PATCH": A.updateUser, "PUT": A.updateUser,
                "DELETE": A.deleteUser},
    "users/*/block": {"POST": A.block},
    "users/*/unblock": {"POST": A.unblock},
    "users/*/mute": {"POST": A.mute},
    "users/*/unmute": {"POST": A.unmute},
    "users/*/sessions": {"GET": A.listSessions, "DELETE": A.revokeAll},
    "users/*/sessions/*": {"DELETE": A.revokeOne},
    "tokens": {"POST": A.mintToken},
    "groups": {"GET": A.listGroups},
    "groups/*": {"GET": A.getGroup, "DELETE": A.dismissGroup},
    "groups/*/members": {"POST": A.addMembers},
    "groups/*/members/*": {"DELETE": A.removeMember},
    "groups/*/owner": {"POST": A.setOwner, "PUT": A.setOwner},
    "groups/*/managers/*": {"POST": A.addManager, "PUT": A.addManager,
                            "DELETE": A.removeManager},
    "groups/*/muted/*": {"POST": A.muteMember, "PUT": A.muteMember,
                         "DELETE": A.unmuteMember},
    "messages": {"POST": A.sendMessage},
    "messages/*": {"GET": A.getMessage, "DELETE": A.recallMessage},
    "messages/*/recall": {"POST": A.recallMessage},
    "conversations/purge": {"POST": A.purgeConversation},
    "retention/run": {"POST": A.runRetention},
    "audit": {"GET": A.listAudit},
}
del A
