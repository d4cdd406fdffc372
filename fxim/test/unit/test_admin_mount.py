"""
Tests for L{fxim.outbox.admin.AdminMount}: the extension routes beside the
node's admin API (L{fxim.admin.resource.AdminApi}) on one site.
"""

import json

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http_headers import Headers

from fxim.admin.resource import MAX_ADMIN_BODY
from fxim.outbox.admin import OutboxAdmin, mountAdmin
from fxim.test.unit.test_http import ADMIN_SECRET, _SiteTestMixin
from fxim.transport.httplimits import DEFAULT_MAX_BODY, RequestHead, bodyLimitFor


class _Outbox:
    async def deadLetters(self, kind, limit):
        return []

    async def pending(self, kind):
        return {"push": 2, "webhook": 0}[kind]


class AdminMountTests(_SiteTestMixin, SynchronousTestCase):

    def setUp(self):
        _SiteTestMixin.setUp(self)
        mountAdmin(self.site, "outbox", OutboxAdmin(ADMIN_SECRET, _Outbox(), self.clock))

    def test_routes(self):
        """
        C{/admin/outbox} reaches the extension; every other path still
        reaches the admin API.
        """
        response = self.admin("GET", "outbox")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.json()["result"]["push"], {"pending": 2, "dead": 0})
        # The admin API's CORS policy (none configured), not any origin.
        self.assertNotIn("access-control-allow-origin", response.headers)
        response = self.admin("POST", "users", {"mobile": "13800000000", "uid": "alice"})
        self.assertEqual(response.status, 201)
        self.assertEqual(self.admin("GET", "users/alice").json()["result"]["uid"], "alice")
        self.assertEqual(self.admin("GET", "nothing").status, 404)
        self.assertEqual(self.request("GET", "/admin/outbox").status, 401)
        # The shared guard (fxim.admin.guard): a NUL in the path is 400.
        for path in ("outbox/dead/1%00/retry", "users/a%00b"):
            response = self.admin("POST", path)
            self.assertEqual((response.status, response.json()["code"]), (400, 1), path)

    def test_bodyLimits(self):
        """
        Behind the mount the admin API keeps its own body limit (larger
        than the default), and an extension has its own.
        """
        def limit(path):
            return bodyLimitFor(self.site.resource, RequestHead(b"POST", path, Headers()))
        self.assertEqual(limit(b"/admin/messages"), MAX_ADMIN_BODY)
        self.assertEqual(limit(b"/admin/outbox/dead/1/retry"), DEFAULT_MAX_BODY)
        self.assertGreater(MAX_ADMIN_BODY, DEFAULT_MAX_BODY)
        # A body over the default limit is read by the admin API, not 413.
        body = json.dumps({"mobile": "13800000000", "uid": "bob",
                           "pad": "x" * (DEFAULT_MAX_BODY + 10)})
        response = self.admin("POST", "users", raw=body.encode())
        self.assertNotEqual(response.status, 413)
