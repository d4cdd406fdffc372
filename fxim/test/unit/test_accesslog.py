"""
Tests for L{fxim.transport.accesslog}.
"""

from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from fxim.transport.accesslog import redactUri, redactedLogFormatter


class RedactUriTests(SynchronousTestCase):
    """
    L{redactUri} hides credential parameters and keeps the rest.
    """

    def test_grants(self):
        """
        C{token} and C{sig} values become C{REDACTED}; other parameters,
        the path and their order are unchanged.
        """
        self.assertEqual(
            redactUri(b"/media/image/a.jpg?uid=u1&max=9&exp=17&sig=abcdef"),
            b"/media/image/a.jpg?uid=u1&max=9&exp=17&sig=REDACTED")
        self.assertEqual(redactUri(b"/media/image/b.jpg?token=fxm1.x.y"),
                         b"/media/image/b.jpg?token=REDACTED")

    def test_caseAndEncoding(self):
        """
        Names match case-insensitively and after percent-decoding;
        repeated parameters are all hidden; a fragment is kept.
        """
        self.assertEqual(redactUri(b"/x?TOKEN=a&%73ig=b&sig=c&X-Amz-Signature=d#frag"),
                         b"/x?TOKEN=REDACTED&%73ig=REDACTED&sig=REDACTED"
                         b"&X-Amz-Signature=REDACTED#frag")

    def test_nothingToHide(self):
        """
        URIs without a query or without credentials are unchanged.
        """
        for uri in (b"/login", b"/health?x=1&tokens=2", b"/a?"):
            self.assertEqual(redactUri(uri), uri)


class FormatterTests(SynchronousTestCase):
    """
    L{redactedLogFormatter} writes the combined format, redacted.
    """

    def test_line(self):
        """
        The request line and the referrer are redacted.
        """
        request = DummyRequest([b"media"])
        request.uri = b"/media/image/a.jpg?token=secret-token"
        request.method = b"PUT"
        request.requestHeaders.setRawHeaders(b"referer", [b"http://x/?sig=secret-sig"])
        request.requestHeaders.setRawHeaders(b"user-agent", [b"agent/1"])
        request.code = 200
        request.sentLength = 0
        line = redactedLogFormatter("[01/Dec/2026:10:00:00 +0000]", request)
        self.assertNotIn("secret", line)
        self.assertIn('"PUT /media/image/a.jpg?token=REDACTED HTTP/1.0" 200', line)
        self.assertIn('"http://x/?sig=REDACTED" "agent/1"', line)
