# -*- test-case-name: fxim.test.e2e.test_webhooks -*-
"""
C{/admin/outbox/...}: the outbox's dead-letter view, a small admin
resource of its own, authenticated like the rest of the admin API
(C{Authorization: Bearer <admin secret>}):

  - C{GET /admin/outbox} -- pending and dead-lettered counts per kind
  - C{GET /admin/outbox/dead[?kind=webhook|push&limit=N]} -- dead letters
  - C{POST /admin/outbox/dead/<id>/retry} -- make one pending again

L{mountAdmin} puts such resources beside the existing C{/admin/} ones.
"""

from typing import Any, Dict

import attr
from twisted.web.resource import Resource

from fxim.admin.guard import allow, bearerFor, checkBearer, pathSegments, routeMethod
from fxim.transport.http import HttpError, JsonResource


class AdminExtension(JsonResource):
    """
    A leaf under C{/admin/<name>/} answering only requests that carry the
    admin secret; subclasses implement C{route(request, method, segments)}.
    """

    methods = (b"GET", b"POST", b"DELETE")
    serverError = (500, {"code": 500, "message": "server error"})

    #: The resource whose CORS policy this one follows: the admin API
    #: beside it (set by L{AdminMount}); without one, no CORS headers.
    corsPolicy: Any = None

    def __init__(self, secret) -> None:
        Resource.__init__(self)
        self._expected = bearerFor(secret) if secret else None

    def applyCors(self, request) -> None:
        """
        The admin API's CORS headers (none unless C{--admin-cors-origin}
        names the origin), not the any-origin ones of the login API.
        """
        apply = getattr(self.corsPolicy, "applyCors", None)
        if apply is not None:
            apply(request)

    async def handle(self, request):
        if self._expected is None:
            raise HttpError(403, 403, "the admin API is not enabled")
        checkBearer(request, self._expected)
        return await self.route(request, routeMethod(request), pathSegments(request))

    async def route(self, request, method, segments):
        raise NotImplementedError()


def _jobJson(job) -> dict:
    return attr.asdict(job)


class OutboxAdmin(AdminExtension):
    """
    The dead-letter view of the L{fxim.outbox.store.IOutbox}.
    """

    def __init__(self, secret, outbox, clock, kinds=("push", "webhook")) -> None:
        AdminExtension.__init__(self, secret)
        self.outbox = outbox
        self.clock = clock
        self.kinds = tuple(kinds)

    async def route(self, request, method, segments):
        if segments == []:
            allow(method, "GET")
            counts = {}
            for kind in self.kinds:
                dead = await self.outbox.deadLetters(kind, 10000)
                counts[kind] = {"pending": await self.outbox.pending(kind), "dead": len(dead)}
            return 200, {"code": 0, "message": "success", "result": counts}
        if segments == ["dead"]:
            allow(method, "GET")
            kind = _arg(request, "kind")
            if kind is not None and kind not in self.kinds:
                raise HttpError(400, 1, "kind must be one of " + ", ".join(self.kinds))
            try:
                limit = int(_arg(request, "limit") or 100)
            except ValueError:
                raise HttpError(400, 1, "limit must be an integer")
            jobs = await self.outbox.deadLetters(kind, max(1, min(limit, 1000)))
            return 200, {"code": 0, "message": "success", "result": [_jobJson(j) for j in jobs]}
        if len(segments) == 3 and segments[0] == "dead" and segments[2] == "retry":
            allow(method, "POST")
            try:
                jobId = int(segments[1])
            except ValueError:
                raise HttpError(404, 404, "no such dead letter")
            if not await self.outbox.requeue(jobId, int(self.clock.seconds() * 1000)):
                raise HttpError(404, 404, "no such dead letter")
            return 200, {"code": 0, "message": "success", "result": {"id": jobId}}
        raise HttpError(404, 404, "not found")


def _arg(request, name):
    values = request.args.get(name.encode("ascii"))
    return values[0].decode("utf-8", "replace") if values else None


class AdminMount(Resource):
    """
    C{/admin}: serves C{extensions} by their first path segment and hands
    everything else to the existing admin resource (a leaf).
    """

    def __init__(self, existing: Any, extensions: Dict[bytes, Any]) -> None:
        Resource.__init__(self)
        self.existing = existing
        self.extensions: Dict[bytes, Any] = {}
        for name, resource in extensions.items():
            self.add(name, resource)

    def add(self, name: bytes, resource: Any) -> None:
        """
        Serve C{resource} at C{/admin/<name>/}, with the CORS policy of
        the existing admin resource.
        """
        if hasattr(resource, "corsPolicy"):
            resource.corsPolicy = self.existing
        self.extensions[name] = resource

    def getChild(self, path, request):
        if path in self.extensions:
            return self.extensions[path]
        # Give the segment back: the existing resource routes on postpath.
        request.postpath.insert(0, request.prepath.pop())
        return self.existing

    def render(self, request):
        return self.existing.render(request)

    def bodyLimit(self, head) -> int:
        """
        The body limit of the resource C{getChild} will pick (so the
        admin API keeps its own, larger limit behind this mount).
        """
        from fxim.transport.httplimits import limitOf
        name = head.postpath[0] if head.postpath else None
        chosen = self.existing if name is None else self.extensions.get(name, self.existing)
        return limitOf(chosen, head)

    def applyCors(self, request) -> None:
        """
        The admin API's CORS headers (none unless C{--admin-cors-origin}
        names the origin), for a refusal made before the body is read.
        """
        apply = getattr(self.existing, "applyCors", None)
        if apply is not None:
            apply(request)


def mountAdmin(site, name: str, resource) -> None:
    """
    Serve C{resource} at C{/admin/<name>/} on C{site}, keeping the other
    admin routes.
    """
    root = site.resource
    current = root.children.get(b"admin")
    if isinstance(current, AdminMount):
        current.add(name.encode("utf-8"), resource)
        return
    root.putChild(b"admin", AdminMount(current, {name.encode("utf-8"): resource}))
