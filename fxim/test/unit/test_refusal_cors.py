"""
The refusals L{fxim.transport.httplimits} answers before a body is read
(413 too large, 403 no upload grant) carry the CORS headers of their
route's normal answers, so that a browser can read them: any origin on the
login API and C{/media}, none on the admin API unless
C{--admin-cors-origin} names the origin.
"""

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from fxim.media.resource import MediaResource
from fxim.media.signing import UploadSigner
from fxim.outbox.admin import OutboxAdmin, mountAdmin
from fxim.test.unit.test_auth import makeService
from fxim.test.unit.test_http import ADMIN_SECRET, Response, installTestAdmin
from fxim.test.unit.test_admin_mount import _Outbox
from fxim.transport.http import buildSite

ORIGIN = "https://chat.example"


class RefusalCorsTests(SynchronousTestCase):

    def site(self, corsOrigins=()):
        makeService(self)
        media = MediaResource(None, UploadSigner(b"k" * 32), self.clock, 1000)
        site = buildSite(self.auth, extraChildren={"media": media}, reactor=self.clock)
        installTestAdmin(site, self.auth, self.store, self.clock, corsOrigins=corsOrigins)
        mountAdmin(site, "outbox", OutboxAdmin(ADMIN_SECRET, _Outbox(), self.clock))
        site.doStart()
        self.addCleanup(site.doStop)
        return site

    def refused(self, site, method, path, length, admin=False):
        """
        Send headers declaring a C{length}-byte body (none of it sent).

        @return: the L{Response}.
        """
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        channel.makeConnection(transport)
        lines = [b"%s %s HTTP/1.1" % (method, path), b"Host: localhost",
                 b"Origin: " + ORIGIN.encode(), b"Content-Type: application/json",
                 b"Content-Length: %d" % (length,)]
        if admin:
            lines.append(b"Authorization: Bearer " + ADMIN_SECRET.encode())
        channel.dataReceived(b"\r\n".join(lines) + b"\r\n\r\n")
        self.assertTrue(transport.disconnecting)
        return Response(transport.value())

    def test_loginApi(self):
        """
        A 413 of C{/login} or C{/send_code} allows any origin, as their
        other answers do.
        """
        site = self.site()
        for path in (b"/login", b"/send_code"):
            response = self.refused(site, b"POST", path, 10 ** 6)
            self.assertEqual(response.status, 413)
            self.assertEqual(response.headers.get("access-control-allow-origin"), "*")
            self.assertIn("POST", response.headers["access-control-allow-methods"])
            self.assertEqual(response.json()["code"], 413)

    def test_media(self):
        """
        An upload refused for its grant (403) or its size (413) carries
        C{/media}'s CORS headers.
        """
        site = self.site()
        response = self.refused(site, b"PUT", b"/media/image/a.png", 10)
        self.assertEqual(response.status, 403)
        self.assertEqual(response.headers.get("access-control-allow-origin"), "*")
        self.assertEqual(response.headers.get("access-control-expose-headers"),
                         "ETag, Content-Length")

    def test_adminApiNoCors(self):
        """
        Without C{--admin-cors-origin}, a 413 of the admin API (or of an
        extension mounted beside it) carries no CORS header, as its other
        answers.
        """
        site = self.site()
        for path in (b"/admin/messages", b"/admin/outbox"):
            response = self.refused(site, b"POST", path, 10 ** 7, admin=True)
            self.assertEqual(response.status, 413)
            self.assertNotIn("access-control-allow-origin", response.headers)

    def test_adminApiConfiguredOrigin(self):
        """
        With the origin configured, the admin API's 413 names it, and so do
        the answers of the extensions beside it (not any origin).
        """
        site = self.site(corsOrigins=[ORIGIN])
        response = self.refused(site, b"POST", b"/admin/messages", 10 ** 7, admin=True)
        self.assertEqual(response.status, 413)
        self.assertEqual(response.headers.get("access-control-allow-origin"), ORIGIN)
        response = self.refused(site, b"POST", b"/admin/outbox", 10 ** 7, admin=True)
        self.assertEqual(response.headers.get("access-control-allow-origin"), ORIGIN)
