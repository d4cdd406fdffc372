# -*- test-case-name: fxim.test.unit.test_media -*-
"""
Tests for L{fxim.services.media}, L{fxim.media} and L{fxim.handlers.media}.
"""

import os
import stat
from io import BytesIO
from urllib.parse import parse_qs, quote, urlsplit

from twisted.internet import task
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers
from twisted.web.resource import Resource
from twisted.web.server import Site

from fxim.config import Config
from fxim.errors import ErrorCode, SignalError
from fxim.handlers import media as handlers
from fxim.media.signing import UploadSigner
from fxim.media.storage import validName
from fxim.services.media import MediaService, baseUrlOf
from fxim.wire.requests import GetUploadUrl, UploadToken, UploadUrl
from fxim.wire.signals import SubSignal

UID = "user1"
KEY = "1-user1-1700000000000-photo 1.jpg"


def _files(root):
    """
    @return: every file under C{root} (relative paths), temp files included.
    """
    found = []
    for folder, _, names in os.walk(root):
        found.extend(os.path.relpath(os.path.join(folder, n), root) for n in names)
    return sorted(found)


class UnitTests(SynchronousTestCase):
    """
    Keys, base URLs, signing and the service's answers, without HTTP.
    """

    def setUp(self):
        self.dataDir = self.mktemp()
        self.clock = task.Clock()
        self.clock.advance(1000)

    def test_validName(self):
        """
        Keys with C{/}, C{..}, NUL, control characters, URL metacharacters,
        a leading dot or more than 255 bytes are refused.
        """
        for good in [KEY, "a", "文件.png", "x" * 255]:
            self.assertTrue(validName(good), good)
        for bad in ["", "../x", "a/b", "a..b", "a\0b", "a\nb", ".hidden", "a%2e", "a?b",
                    "a#b", "a\\b", "x" * 256, "文" * 86]:
            self.assertFalse(validName(bad), bad)

    def test_baseUrl(self):
        """
        The base URL is C{--public-url} or C{http://127.0.0.1:<port>}.
        """
        self.assertEqual(baseUrlOf(Config(publicUrl="https://im.example/")), "https://im.example")
        self.assertEqual(baseUrlOf(Config(http="tcp:8081")), "http://127.0.0.1:8081")
        self.assertEqual(baseUrlOf(Config(http="tcp:port=9000:interface=0.0.0.0")),
                         "http://127.0.0.1:9000")

    def test_signer(self):
        """
        Tokens and URL signatures check out only unchanged and unexpired.
        """
        signer = UploadSigner(b"k" * 32)
        token = signer.makeToken("image", UID, 10, 2000)
        self.assertEqual(signer.checkToken(token, "image", 1999), (UID, 10))
        self.assertIsNone(signer.checkToken(token, "image", 2001))
        self.assertIsNone(signer.checkToken(token, "video", 1999))
        self.assertIsNone(UploadSigner(b"x" * 32).checkToken(token, "image", 1999))
        self.assertIsNone(signer.checkToken(token[:-1] + "0", "image", 1999))
        self.assertIsNone(signer.checkToken("garbage", "image", 1999))
        sig = signer.signUrl("image", KEY, UID, 10, 2000)
        self.assertTrue(signer.checkUrl("image", KEY, UID, 10, 2000, sig, 2000))
        self.assertFalse(signer.checkUrl("image", KEY, UID, 11, 2000, sig, 2000))
        self.assertFalse(signer.checkUrl("image", KEY, UID, 10, 2000, sig, 2001))
        self.assertNotIn("k" * 32, repr(signer))

    def test_keyFile(self):
        """
        The signing key is created in C{<dataDir>/media.key} with mode 0600
        and reused by the next service.
        """
        config = Config(dataDir=self.dataDir)
        first = MediaService(config, self.clock)
        path = os.path.join(self.dataDir, "media.key")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        url = first.uploadUrl(UID, 1, KEY).url
        self.assertEqual(MediaService(config, self.clock).uploadUrl(UID, 1, KEY).url, url)

    def test_uploadUrl(self):
        """
        GMURL gives the bucket's domain and a presigned URL under it.
        """
        service = MediaService(Config(dataDir=self.dataDir, publicUrl="https://im.example"),
                               self.clock)
        result = service.uploadUrl(UID, 1, KEY)
        self.assertEqual(result.domain, "https://im.example/media/image")
        self.assertEqual((result.server, result.port), ("im.example", 443))
        split = urlsplit(result.url)
        self.assertEqual(split.path, "/media/image/" + quote(KEY, safe=""))
        query = parse_qs(split.query)
        self.assertEqual(query["uid"], [UID])
        self.assertEqual(query["exp"], [str(int(1000 + Config().uploadTokenTtl))])

    def test_refusedRequests(self):
        """
        Unknown media types and bad keys are 251.
        """
        service = MediaService(Config(dataDir=self.dataDir), self.clock)
        for call in [lambda: service.uploadUrl(UID, 7, KEY),
                     lambda: service.uploadUrl(UID, 1, "../etc"),
                     lambda: service.uploadToken(UID, -1)]:
            self.assertEqual(self.assertRaises(SignalError, call).code,
                             ErrorCode.INVALID_PARAMETER)

    def test_handlers(self):
        """
        The C{fxim.media} plugin answers GQNUT and GMURL with the service's
        results.
        """
        self.assertEqual({h.subsignal for h in handlers.plugin.handlers()},
                         {SubSignal.GQNUT, SubSignal.GMURL})

        class Context:
            userId = UID
            server = type("S", (), {})()
        Context.server.media = MediaService(Config(dataDir=self.dataDir), self.clock)
        from twisted.internet.defer import ensureDeferred
        result = self.successResultOf(ensureDeferred(
            handlers.uploadUrl(Context(), GetUploadUrl(2, "v.amr"))))
        self.assertIsInstance(result, UploadUrl)
        self.assertIsInstance(handlers.uploadToken(Context(), type("R", (), {"mediaType": 0})),
                              UploadToken)


class OwnershipTests(SynchronousTestCase):
    """
    L{LocalMediaStorage} binds each object to the uid that stored it.
    """

    def setUp(self):
        from fxim.media.storage import LocalMediaStorage
        self.storage = LocalMediaStorage(self.mktemp(), None)

    def store(self, key, data, overwrite, owner):
        from fxim.media.storage import AlreadyExists
        try:
            return self.storage._store(key, BytesIO(data), None, overwrite, owner)
        except AlreadyExists:
            return "exists"

    def test_onlyOwnerReplaces(self):
        """
        The uploader may replace its own object (a retry); another uid may
        not, even with overwrite; without overwrite nobody may.
        """
        self.assertEqual(self.store("image/a.jpg", b"one", True, "alice"), 3)
        self.assertEqual(self.successResultOf(self.storage.ownerOf("image/a.jpg")), "alice")
        self.assertEqual(self.store("image/a.jpg", b"evil", True, "mallory"), "exists")
        self.assertEqual(self.store("image/a.jpg", b"two!", False, "alice"), "exists")
        self.assertEqual(self.store("image/a.jpg", b"two!", True, "alice"), 4)
        with open(self.storage._path("image/a.jpg"), "rb") as f:
            self.assertEqual(f.read(), b"two!")
        self.assertIsNone(self.successResultOf(self.storage.ownerOf("image/b.jpg")))

    def test_unknownOwnerNeverReplaced(self):
        """
        An object stored without an owner (older versions) is never
        replaced by an owner-bound upload; its owner reads as C{""}.
        """
        self.storage._store("image/old.jpg", BytesIO(b"old"), None, True)
        self.assertEqual(self.successResultOf(self.storage.ownerOf("image/old.jpg")), "")
        self.assertEqual(self.store("image/old.jpg", b"new", True, "alice"), "exists")


class HttpTests(TestCase):
    """
    The C{/media} resource over real HTTP on 127.0.0.1.
    """

    @inlineCallbacks
    def setUp(self):
        from twisted.internet import reactor
        self.reactor = reactor
        self.dataDir = self.mktemp()
        root = Resource()
        self.port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.base = "http://127.0.0.1:%d" % (self.port.getHost().port,)
        self.config = Config(dataDir=self.dataDir, publicUrl=self.base, maxUploadSize=2 * 2 ** 20)
        self.service = MediaService(self.config, reactor)
        for name, child in self.service.resources().items():
            root.putChild(name, child)
        self.mediaRoot = os.path.join(self.dataDir, "media")
        self.agent = Agent(reactor)
        yield None

    @inlineCallbacks
    def request(self, method, url, body=None, headers=None):
        """
        @return: C{(code, body, response)}.
        """
        producer = FileBodyProducer(BytesIO(body)) if body is not None else None
        response = yield self.agent.request(method, url.encode("ascii"),
                                            Headers(headers or {}), producer)
        data = yield readBody(response)
        return response.code, data, response

    @inlineCallbacks
    def test_putThenGet(self):
        """
        PUT 1 MiB to a GMURL URL; GET at C{domain + "/" + key} returns the
        same bytes with a content type guessed from the key and CORS.
        """
        data = os.urandom(2 ** 20)
        result = self.service.uploadUrl(UID, 1, KEY)
        code, _, response = yield self.request(b"PUT", result.url, data)
        self.assertEqual(code, 200)
        self.assertEqual(response.headers.getRawHeaders(b"access-control-allow-origin"), [b"*"])
        url = result.domain + "/" + quote(KEY)
        code, body, response = yield self.request(b"GET", url)
        self.assertEqual(code, 200)
        self.assertEqual(body, data)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"image/jpeg"])
        self.assertEqual(_files(self.mediaRoot), [os.path.join(".owners", "image", KEY),
                                                  os.path.join("image", KEY)])

    @inlineCallbacks
    def test_token(self):
        """
        A GQNUT token works as a bearer header or a C{token} argument, for
        PUT and POST, and does not overwrite an existing key (409).
        """
        token = self.service.uploadToken(UID, 4)
        url = token.domain + "/a.txt"
        code, _, _ = yield self.request(b"PUT", url, b"one",
                                        {b"Authorization": [b"Bearer " + token.token.encode()]})
        self.assertEqual(code, 200)
        code, _, _ = yield self.request(b"POST", token.domain + "/b.txt?token=" + token.token,
                                        b"two")
        self.assertEqual(code, 200)
        code, _, _ = yield self.request(b"PUT", url + "?token=" + token.token, b"three")
        self.assertEqual(code, 409)
        code, body, _ = yield self.request(b"GET", url)
        self.assertEqual((code, body), (200, b"one"))
        other = self.service.uploadToken(UID, 1)
        code, _, _ = yield self.request(b"PUT", token.domain + "/c.txt?token=" + other.token, b"x")
        self.assertEqual(code, 403)

    @inlineCallbacks
    def test_expired(self):
        """
        An expired presigned URL is 403 and stores nothing.
        """
        old = MediaService(Config(dataDir=self.dataDir, publicUrl=self.base,
                                  uploadTokenTtl=-10), self.reactor)
        code, _, _ = yield self.request(b"PUT", old.uploadUrl(UID, 1, KEY).url, b"data")
        self.assertEqual(code, 403)
        self.assertEqual(_files(self.mediaRoot), [])

    @inlineCallbacks
    def test_forged(self):
        """
        A URL with a changed key, uid or size, or no grant at all, is 403.
        """
        url = self.service.uploadUrl(UID, 1, KEY).url
        forged = [url.replace("photo", "photo2"), url.replace("uid=" + UID, "uid=other"),
                  url.replace("max=", "max=9"), url.split("?")[0]]
        for target in forged:
            code, _, _ = yield self.request(b"PUT", target, b"data")
            self.assertEqual(code, 403, target)
        self.assertEqual(_files(self.mediaRoot), [])

    @inlineCallbacks
    def test_tooLarge(self):
        """
        A body over the upload limit is 413 and leaves no file behind.
        """
        url = self.service.uploadUrl(UID, 3, "big.mp4").url
        code, _, _ = yield self.request(b"PUT", url, b"x" * (2 * 2 ** 20 + 1))
        self.assertEqual(code, 413)
        self.assertEqual(_files(self.mediaRoot), [])

    @inlineCallbacks
    def test_tooLargeWhileReading(self):
        """
        A body that passes the Content-Length check (none is sent) but is
        too large while being copied is 413 and leaves nothing behind.
        """
        from fxim.media.storage import TooLarge
        failure = yield self.assertFailure(
            self.service.storage.receive("video/x.mp4", BytesIO(b"x" * 100), 99), TooLarge)
        self.assertIsInstance(failure, TooLarge)
        self.assertEqual(_files(self.mediaRoot), [])

    @inlineCallbacks
    def test_badKeys(self):
        """
        Keys with C{..} are 400 and store nothing; an unknown bucket is 404.
        """
        token = self.service.uploadToken(UID, 1).token
        for path, expected in [("/media/image/..%2Fescape?token=", 400),
                               ("/media/image/a..b?token=", 400),
                               ("/media/image/.hidden?token=", 400),
                               ("/media/image/a%00b?token=", 400),
                               ("/media/nobucket/a?token=", 404)]:
            code, _, _ = yield self.request(b"PUT", self.base + path + token, b"data")
            self.assertEqual(code, expected, path)
        code, _, _ = yield self.request(b"GET", self.base + "/media/image/..%2F..%2Fmedia.key")
        self.assertEqual(code, 400)
        self.assertEqual(_files(self.mediaRoot), [])
        self.assertEqual(sorted(os.listdir(self.dataDir)), ["media", "media.key"])

    @inlineCallbacks
    def test_methods(self):
        """
        OPTIONS answers a CORS preflight allowing PUT; DELETE is 405; GET
        of a missing key is 404.
        """
        code, _, response = yield self.request(
            b"OPTIONS", self.base + "/media/image/x.png",
            headers={b"Origin": [b"http://web"], b"Access-Control-Request-Method": [b"PUT"],
                     b"Access-Control-Request-Headers": [b"content-type"]})
        self.assertEqual(code, 204)
        self.assertIn(b"PUT", response.headers.getRawHeaders(b"access-control-allow-methods")[0])
        self.assertEqual(response.headers.getRawHeaders(b"access-control-allow-origin"), [b"*"])
        self.assertEqual(response.headers.getRawHeaders(b"access-control-allow-headers"),
                         [b"content-type"])
        code, _, _ = yield self.request(b"DELETE", self.base + "/media/image/x.png")
        self.assertEqual(code, 405)
        code, _, _ = yield self.request(b"GET", self.base + "/media/image/x.png")
        self.assertEqual(code, 404)

    @inlineCallbacks
    def test_unicodeKey(self):
        """
        A key with non-ASCII characters uploads through its presigned URL
        and reads back at the percent-encoded C{domain + "/" + key}.
        """
        key = "4-user1-1700000000000-报告 (1).pdf"
        result = self.service.uploadUrl(UID, 4, key)
        code, _, _ = yield self.request(b"PUT", result.url, b"%PDF-1.4")
        self.assertEqual(code, 200)
        code, body, response = yield self.request(b"GET", result.domain + "/" + quote(key))
        self.assertEqual((code, body), (200, b"%PDF-1.4"))
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"application/pdf"])
