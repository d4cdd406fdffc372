"""
Unit tests of the admin API's request parsing (L{fxim.admin.resource},
L{fxim.admin.service.parseContent}).
"""

from io import BytesIO

from twisted.trial.unittest import SynchronousTestCase

from fxim.admin.resource import MAX_ADMIN_BODY, _match, _page, readBody
from fxim.admin.service import AdminError, parseContent


class _Request:
    def __init__(self, body):
        self.content = BytesIO(body)


class RoutingTests(SynchronousTestCase):

    def test_literalsWin(self):
        """
        Literal route parts win over variables; ids are passed on.
        """
        methods, args = _match(["users", "u1", "sessions", "c1"])
        self.assertEqual((sorted(methods), args), (["DELETE"], ["u1", "c1"]))
        methods, args = _match(["conversations", "purge"])
        self.assertEqual((sorted(methods), args), (["POST"], []))
        methods, args = _match(["users", "sessions"])
        self.assertEqual(args, ["sessions"])
        self.assertEqual(_match(["users", ""]), (None, []))
        self.assertEqual(_match(["nowhere"]), (None, []))


class BodyTests(SynchronousTestCase):

    def test_bodies(self):
        self.assertEqual(readBody(_Request(b"")), {})
        self.assertEqual(readBody(_Request(b'{"a":1}')), {"a": 1})
        for bad in (b"[1]", b"{", b"\xff", b"[" * 100000):
            self.assertEqual(self.assertRaises(AdminError, readBody, _Request(bad)).status, 400)
        big = b'{"a":"' + b"x" * MAX_ADMIN_BODY + b'"}'
        self.assertEqual(self.assertRaises(AdminError, readBody, _Request(big)).status, 413)

    def test_page(self):
        self.assertEqual(_page({}), (0, 50))
        self.assertEqual(_page({"offset": "5", "limit": "500"}), (5, 500))
        for bad in ({"limit": "0"}, {"limit": "501"}, {"offset": "-1"}, {"limit": "x"}):
            self.assertEqual(self.assertRaises(AdminError, _page, bad).code, 1)

    def test_content(self):
        """
        Text, full contents and the push API's binaryContent are accepted;
        empty, transparent or malformed ones are refused with code 1.
        """
        self.assertEqual(parseContent({"text": "hi"}).searchableContent, "hi")
        content = parseContent({"type": 3, "remoteMediaUrl": "http://x/y.png",
                                "binaryContent": "AAE="})
        self.assertEqual((content.type, content.data), (3, b"\x00\x01"))
        for bad in (None, [], {"text": ""}, {"type": 91, "content": "x"}, {"type": "1"},
                    {"type": 1}, {"type": 1, "data": "!!"}, {"text": "a\x00b"},
                    {"type": True, "content": "x"}):
            self.assertEqual(self.assertRaises(AdminError, parseContent, bad).code, 1, bad)
