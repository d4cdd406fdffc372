"""
End-to-end tests of upload grants against real C{twistd fxim} nodes, on
the embedded default and on PostgreSQL + Redis: a presigned URL never
replaces another user's object, and grants never reach the access log.
"""

from urllib.parse import parse_qs, quote, urlsplit

from twisted.trial.unittest import TestCase

from fxim.client import RequestFailed
from fxim.errors import ErrorCode
from fxim.test.e2e import NodeTestMixin, ProductionBackend, sleep
from fxim.test.e2e.test_media import http
from fxim.wire.requests import GetUploadToken, GetUploadUrl


class MediaGrantsMixin:
    """
    Media ownership and log redaction; mixed into one class per backend.
    """

    async def test_noOverwriteOfAnotherUsersObject(self):
        """
        B obtains a presigned URL for a key, A stores that key first: B's
        PUT is refused (409) and A's bytes stay; once the key is taken, B's
        GMURL for it answers C{NOT_RIGHT}, and B's upload token cannot replace it
        either.  A may still retry its own upload.
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000730", "tcp")
        b = await self.loginAndConnect(node, "13800000731", "tcp")
        key = "1-shared-avatar.jpg"
        early = await b.request(GetUploadUrl(1, key))
        mine = await a.request(GetUploadUrl(1, key))
        self.assertEqual((await http(b"PUT", mine.url, b"alice's photo"))[0], 200)
        self.assertEqual((await http(b"PUT", early.url, b"mallory's photo"))[0], 409)
        public = mine.domain + "/" + quote(key)
        self.assertEqual((await http(b"GET", public))[1], b"alice's photo")
        with self.assertRaises(RequestFailed) as caught:
            await b.request(GetUploadUrl(1, key))
        self.assertEqual(caught.exception.code, ErrorCode.NOT_RIGHT)
        token = (await b.request(GetUploadToken(1))).token
        self.assertEqual((await http(b"PUT", public, b"again",
                                     {"Authorization": "Bearer " + token}))[0], 409)
        self.assertEqual((await http(b"PUT", mine.url, b"alice's retry"))[0], 200)
        self.assertEqual((await http(b"GET", public))[1], b"alice's retry")
        again = await a.request(GetUploadUrl(1, key))
        self.assertEqual((await http(b"PUT", again.url, b"alice's third"))[0], 200)

    async def test_accessLogRedactsGrants(self):
        """
        Uploads with C{?token=} and with a presigned URL are logged, but
        neither the token nor the signature appears in the node's log.
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000732", "tcp")
        grant = await a.request(GetUploadToken(1))
        url = grant.domain + "/logged.jpg?token=" + quote(grant.token)
        self.assertEqual((await http(b"PUT", url, b"x"))[0], 200)
        presigned = (await a.request(GetUploadUrl(1, "signed.jpg"))).url
        self.assertEqual((await http(b"PUT", presigned, b"y", {"Referer": presigned}))[0], 200)
        signature = parse_qs(urlsplit(presigned).query)["sig"][0]
        await sleep(0.5)
        log = node.log()
        self.assertIn("/media/image/logged.jpg?token=REDACTED", log)
        self.assertIn("sig=REDACTED", log)
        self.assertNotIn(signature, log)
        self.assertNotIn(grant.token, log)
        self.assertNotIn(quote(grant.token), log)


class EmbeddedMediaGrantsTests(MediaGrantsMixin, NodeTestMixin, TestCase):
    """
    On the embedded default.
    """


class ProductionMediaGrantsTests(MediaGrantsMixin, ProductionBackend, TestCase):
    """
    On PostgreSQL + Redis.
    """
