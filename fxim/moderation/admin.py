# -*- test-case-name: fxim.test.e2e.test_moderation -*-
"""
C{/admin/moderation/...} (admin secret required, as the rest of the admin
API):

  - C{GET /admin/moderation/reports[?limit=N&before=ID]} -- newest first
  - C{POST /admin/moderation/words/reload} -- re-read C{--word-list-file}
  - C{GET /admin/moderation/words} -- the word count and actions
"""

import attr

from fxim.admin.guard import allow
from fxim.outbox.admin import AdminExtension, _arg
from fxim.transport.http import HttpError


class ModerationAdmin(AdminExtension):

    def __init__(self, secret, moderation) -> None:
        AdminExtension.__init__(self, secret)
        self.moderation = moderation

    async def route(self, request, method, segments):
        m = self.moderation
        if segments == ["reports"]:
            allow(method, "GET")
            try:
                limit = int(_arg(request, "limit") or 100)
                before = _arg(request, "before")
                before = int(before) if before is not None else None
            except ValueError:
                raise HttpError(400, 1, "limit and before must be integers")
            reports = await m.reports.list(max(1, min(limit, 1000)), before)
            return 200, {"code": 0, "message": "success",
                         "result": [attr.asdict(r) for r in reports]}
        if segments == ["words"]:
            allow(method, "GET")
            return 200, {"code": 0, "message": "success", "result": {
                "words": len(m.words), "messageAction": m.messageAction,
                "nameAction": m.nameAction, "matched": m.matched}}
        if segments == ["words", "reload"]:
            allow(method, "POST")
            try:
                count = m.reload()
            except ValueError as e:
                raise HttpError(400, 1, str(e))
            return 200, {"code": 0, "message": "success", "result": {"words": count}}
        raise HttpError(404, 404, "not found")
