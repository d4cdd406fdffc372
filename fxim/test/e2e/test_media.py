"""
End-to-end tests of media uploads against real C{twistd fxim} processes,
on the embedded default and on PostgreSQL + Redis: GQNUT and GMURL over
TCP and WebSocket, then real HTTP PUT and GET (L{twisted.web.client.Agent})
on the node's C{/media}; expired, forged, oversized and path-escaping
uploads are refused.
"""

import os
from io import BytesIO
from typing import Optional
from urllib.parse import quote

from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers

from fxim.client import RequestFailed
from fxim.errors import ErrorCode
from fxim.model import Conversation, Message, MessageContent
from fxim.test.e2e import NodeTestMixin, ProductionBackend, sleep
from fxim.wire.requests import GetUploadToken, GetUploadUrl, PullMessages, SendMessage

#: 1 MiB that looks like a JPEG.
IMAGE = b"\xff\xd8\xff\xe0" + os.urandom(1024 * 1024 - 6) + b"\xff\xd9"


async def http(method: bytes, url: str, body: Optional[bytes] = None,
               headers: Optional[dict] = None):
    """
    One HTTP request; @return: C{(status, body bytes, response headers)}.
    """
    producer = None if body is None else FileBodyProducer(BytesIO(body))
    allHeaders = Headers({k.encode(): [v.encode()] for k, v in (headers or {}).items()})
    response = await Agent(reactor).request(method, url.encode("ascii"), allHeaders, producer)
    return response.code, await readBody(response), response.headers


def mediaFiles(node):
    """
    @return: every file name under the node's data folder.
    """
    names = []
    for _, _, files in os.walk(node.dataDir):
        names.extend(files)
    return names


class MediaMixin:
    """
    Media flows; mixed into one class per backend.
    """

    async def test_tokenUploadTcp(self):
        """
        GQNUT over TCP, then PUT a 1 MiB image with the token and GET it
        back byte-identical at C{domain + "/" + key}; the token does not
        overwrite (409); the other user reads the file from the URL sent
        in a message.
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000070", "tcp")
        b = await self.loginAndConnect(node, "13800000071", "ws")
        grant = await a.request(GetUploadToken(1))
        self.assertEqual(grant.domain, f"http://127.0.0.1:{node.httpPort}/media/image")
        self.assertEqual((grant.server, grant.port), ("127.0.0.1", node.httpPort))
        key = f"1-{a.userId}-1700000000000-photo.jpg"
        url = grant.domain + "/" + key
        status, _, _ = await http(b"PUT", url, IMAGE, {"Authorization": "Bearer " + grant.token})
        self.assertEqual(status, 200)
        status, body, headers = await http(b"GET", url)
        self.assertEqual(status, 200)
        self.assertEqual(len(body), len(IMAGE))
        self.assertTrue(body == IMAGE, "downloaded bytes differ")
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"image/jpeg"])
        # A token never overwrites; ?token= works like the header.
        status, _, _ = await http(b"PUT", url + "?token=" + quote(grant.token), b"other")
        self.assertEqual(status, 409)
        status, _, _ = await http(b"PUT", grant.domain + "/second.png?token=" + quote(grant.token),
                                  b"\x89PNG")
        self.assertEqual(status, 200)
        self.assertEqual((await http(b"GET", url))[1], IMAGE)

        await a.request(SendMessage(Message(Conversation(0, b.userId, 0), "", MessageContent(
            type=3, remoteMediaUrl=url, mediaType=1))))
        [got] = (await b.request(PullMessages(0, 0))).messages
        self.assertEqual(got.content.remoteMediaUrl, url)
        status, body, _ = await http(b"GET", got.content.remoteMediaUrl)
        self.assertEqual((status, body == IMAGE), (200, True))
        # Unknown keys are 404.
        self.assertEqual((await http(b"GET", grant.domain + "/missing.jpg"))[0], 404)
        # HEAD, Range, the safety headers and CORS for browsers.
        status, body, headers = await http(b"HEAD", url)
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers.getRawHeaders(b"content-length"), [str(len(IMAGE)).encode()])
        status, body, headers = await http(b"GET", url, headers={"Range": "bytes=10-19"})
        self.assertEqual((status, body), (206, IMAGE[10:20]))
        self.assertEqual(headers.getRawHeaders(b"x-content-type-options"), [b"nosniff"])
        self.assertEqual(headers.getRawHeaders(b"access-control-allow-origin"), [b"*"])
        status, _, headers = await http(b"OPTIONS", url, headers={
            "Origin": "http://web.example", "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, content-type"})
        self.assertEqual(status, 204)
        self.assertIn(b"PUT", headers.getRawHeaders(b"access-control-allow-methods")[0])
        self.assertEqual((await http(b"DELETE", url))[0], 405)
        self.assertEqual((await http(b"GET", url))[1], IMAGE)

    async def test_presignedUploadWs(self):
        """
        GMURL over WebSocket (and TCP), PUT the image to the presigned URL,
        GET it back at C{domain + "/" + key}; the URL may overwrite its
        own key (a retry) but not another key.
        """
        node = await self.startNode()
        ws = await self.loginAndConnect(node, "13800000072", "ws")
        tcp = await self.loginAndConnect(node, "13800000073", "tcp")
        for conn, key in ((ws, "1-web-1700000000000-图片.jpg"), (tcp, "1-tcp-photo.jpg")):
            grant = await conn.request(GetUploadUrl(1, key))
            self.assertTrue(grant.url.startswith(grant.domain + "/"), grant.url)
            self.assertEqual(grant.domain, f"http://127.0.0.1:{node.httpPort}/media/image")
            self.assertEqual(await self.put(grant.url, b"first try"), 200)
            self.assertEqual(await self.put(grant.url, IMAGE), 200)
            status, body, _ = await http(b"GET", grant.domain + "/" + quote(key))
            self.assertEqual((status, len(body)), (200, len(IMAGE)))
            self.assertTrue(body == IMAGE, "downloaded bytes differ")
            # The signature covers the key.
            other = grant.url.replace(quote(key, safe=""), "other.jpg", 1)
            self.assertNotEqual(other, grant.url)
            self.assertEqual(await self.put(other, b"x"), 403)
            self.assertEqual((await http(b"GET", grant.domain + "/other.jpg"))[0], 404)

    async def put(self, url, body, headers=None):
        return (await http(b"PUT", url, body, headers))[0]

    async def test_forgedGrants(self):
        """
        A forged or truncated token, a token for another bucket, a forged
        signature, a changed size limit or uid, and no grant at all are
        all 403; nothing is stored.
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000074", "tcp")
        grant = await a.request(GetUploadToken(1))
        voice = await a.request(GetUploadToken(2))
        url = grant.domain + "/forged.jpg"
        token = grant.token
        flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
        for bad in (flipped, token[:-4], "x" + token, voice.token, ""):
            self.assertEqual(await self.put(url, b"data", {"Authorization": "Bearer " + bad}), 403, bad)
        self.assertEqual(await self.put(url, b"data"), 403)
        presigned = (await a.request(GetUploadUrl(1, "forged.jpg"))).url
        base, _, query = presigned.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&"))
        for name, value in (("sig", "0" * len(params["sig"])), ("max", "999999999999"),
                            ("uid", "somebody-else"), ("exp", str(int(params["exp"]) + 3600))):
            changed = dict(params, **{name: value})
            forged = base + "?" + "&".join(f"{k}={v}" for k, v in changed.items())
            self.assertEqual(await self.put(forged, b"data"), 403, name)
        self.assertEqual((await http(b"GET", url))[0], 404)
        self.assertNotIn("forged.jpg", mediaFiles(node))

    async def test_expiredTooLargeAndPaths(self):
        """
        On a node with C{--upload-token-ttl 5 --max-upload-size 65536}: a
        body over the limit is 413 (token and presigned URL); a grant used
        after it expired is 403; a C{../} key is refused by GMURL (251) and
        by HTTP (400, also percent-encoded), and nothing lands outside the bucket.
        """
        # A TTL long enough for the checks before the expiry part even on
        # a loaded CI machine.
        node = await self.startNode(["--upload-token-ttl", "5", "--max-upload-size", "65536"])
        a = await self.loginAndConnect(node, "13800000075", "tcp")
        b = await self.loginAndConnect(node, "13800000076", "ws")
        grant = await a.request(GetUploadToken(1))
        auth = {"Authorization": "Bearer " + grant.token}
        self.assertEqual(await self.put(grant.domain + "/big.jpg", IMAGE, auth), 413)
        self.assertEqual(await self.put(grant.domain + "/big.jpg", b"x" * 65537, auth), 413)
        self.assertEqual(await self.put(grant.domain + "/ok.jpg", b"x" * 65536, auth), 200)
        presigned = (await b.request(GetUploadUrl(1, "big2.jpg"))).url
        self.assertEqual(await self.put(presigned, IMAGE), 413)
        self.assertEqual((await http(b"GET", grant.domain + "/big.jpg"))[0], 404)
        self.assertEqual((await http(b"GET", grant.domain + "/big2.jpg"))[0], 404)

        # Path escapes.
        with self.assertRaises(RequestFailed) as caught:
            await a.request(GetUploadUrl(1, "../escape.jpg"))
        self.assertEqual(caught.exception.code, ErrorCode.INVALID_PARAMETER)
        for bad in ("../../escape.jpg", "..", "..%2F..%2Fescape.jpg", "a%2F..%2F..%2Fescape.jpg",
                    "%2E%2E%2Fescape.jpg", ".hidden"):
            status = await self.put(grant.domain + "/" + bad, b"evil", auth)
            self.assertEqual(status, 400, bad)
        self.assertNotIn("escape.jpg", mediaFiles(node))
        self.assertNotIn(".hidden", mediaFiles(node))

        # Expiry: both grants are dead once the TTL has passed.
        late = (await b.request(GetUploadUrl(1, "late.jpg"))).url
        await sleep(6.2)
        self.assertEqual(await self.put(grant.domain + "/late.jpg", b"x", auth), 403)
        self.assertEqual(await self.put(late, b"x"), 403)
        self.assertEqual((await http(b"GET", grant.domain + "/late.jpg"))[0], 404)
        # A fresh grant works again.
        fresh = await a.request(GetUploadToken(1))
        self.assertEqual(await self.put(fresh.domain + "/late.jpg", b"x",
                                        {"Authorization": "Bearer " + fresh.token}), 200)

    async def test_badMediaType(self):
        """
        An unknown media type is refused (251 on TCP).
        """
        node = await self.startNode()
        a = await self.loginAndConnect(node, "13800000077", "tcp")
        for request in (GetUploadToken(99), GetUploadUrl(99, "x.jpg")):
            with self.assertRaises(RequestFailed) as caught:
                await a.request(request)
            self.assertEqual(caught.exception.code, ErrorCode.INVALID_PARAMETER)


class EmbeddedMediaTests(MediaMixin, NodeTestMixin, TestCase):
    """
    Media on the embedded default.
    """


class ProductionMediaTests(MediaMixin, ProductionBackend, TestCase):
    """
    Media on PostgreSQL + Redis.
    """
