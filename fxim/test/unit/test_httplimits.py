"""
Tests for L{fxim.transport.httplimits}: per-route body limits and read
deadlines, on a L{BoundedSite} with in-memory transports and a clock.
"""

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from fxim.transport.httplimits import (
    DEFAULT_MAX_BODY, BodyRefused, BoundedSite, RequestHead, bodyLimitFor,
)


class _Recorder(Resource):
    isLeaf = True
    maxBodySize = 100

    def __init__(self):
        super().__init__()
        self.bodies = []

    def render_POST(self, request):
        self.bodies.append(request.content.read())
        return b"ok"


class _Upload(Resource):
    isLeaf = True

    def bodyLimit(self, head):
        if head.args.get(b"token") != [b"good"]:
            raise BodyRefused(403, "no upload grant")
        return 1000

    def render_PUT(self, request):
        return b"stored %d" % len(request.content.read())


class BoundedSiteTests(SynchronousTestCase):
    """
    Requests over a route's limit never reach it.
    """

    def setUp(self):
        self.clock = Clock()
        root = Resource()
        self.recorder = _Recorder()
        root.putChild(b"small", self.recorder)
        root.putChild(b"upload", _Upload())
        self.site = BoundedSite(root, reactor=self.clock)
        self.site.setReadLimits(headerTimeout=10, bodyTimeout=5, bodyMinRate=100)

    def connect(self):
        channel = self.site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4000))
        transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 4000))
        channel.makeConnection(transport)
        return channel, transport

    def test_contentLengthOverLimit(self):
        """
        A declared length over the route's limit is answered 413 at once;
        the resource never runs and later body bytes are ignored.
        """
        channel, transport = self.connect()
        channel.dataReceived(b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertTrue(transport.disconnecting)
        channel.dataReceived(b"x" * 101)
        self.assertEqual(self.recorder.bodies, [])

    def test_withinLimit(self):
        """
        A body at the limit is read and handed over.
        """
        channel, transport = self.connect()
        channel.dataReceived(b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
                             + b"y" * 100)
        self.assertEqual(self.recorder.bodies, [b"y" * 100])

    def test_chunkedOverLimit(self):
        """
        A chunked body is refused once it passes the limit.
        """
        channel, transport = self.connect()
        channel.dataReceived(b"POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                             b"\r\n\r\n40\r\n" + b"z" * 64 + b"\r\n")
        self.assertEqual(transport.value(), b"")
        channel.dataReceived(b"40\r\n" + b"z" * 64 + b"\r\n0\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 413 "))
        self.assertEqual(self.recorder.bodies, [])

    def test_routeRefusesBeforeBody(self):
        """
        A route's C{bodyLimit} may refuse from the headers alone (an upload
        without a grant gets 403 before its body); with a grant the body
        is read.
        """
        channel, transport = self.connect()
        channel.dataReceived(b"PUT /upload/a?token=bad HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: 500\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 403 "))
        channel, transport = self.connect()
        channel.dataReceived(b"PUT /upload/a?token=good HTTP/1.1\r\nHost: x\r\n"
                             b"Content-Length: 5\r\n\r\nhello")
        self.assertIn(b"stored 5", transport.value())

    def test_expectContinueNotSentWhenRefused(self):
        """
        A refused request with C{Expect: 100-continue} gets only its refusal.
        """
        channel, transport = self.connect()
        channel.dataReceived(b"POST /small HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                             b"Content-Length: 5000\r\n\r\n")
        self.assertNotIn(b"100 Continue", transport.value())

    def assertClosedAfter(self, transport, seconds):
        """
        C{seconds} later, C{transport} is closing or closed.
        """
        self.clock.advance(seconds)
        self.assertTrue(transport.disconnecting or transport.disconnected)

    def test_headerDeadline(self):
        """
        Headers trickled past the deadline close the connection, whatever
        arrives in between.
        """
        channel, transport = self.connect()
        for _ in range(9):
            channel.dataReceived(b"X")
            self.clock.advance(1)
        self.assertFalse(transport.disconnecting)
        self.assertClosedAfter(transport, 1.5)

    def test_bodyDeadline(self):
        """
        The body deadline is the base plus length / minimum rate.
        """
        channel, transport = self.connect()
        channel.dataReceived(b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        self.clock.advance(5.9)
        self.assertFalse(transport.disconnecting)
        self.assertClosedAfter(transport, 0.2)

    def test_keepAliveIdle(self):
        """
        After a request on a keep-alive connection, the header deadline
        runs again (it is the idle limit).
        """
        channel, transport = self.connect()
        channel.dataReceived(b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nq")
        self.assertEqual(self.recorder.bodies, [b"q"])
        self.assertClosedAfter(transport, 10.5)


class BodyLimitForTests(SynchronousTestCase):
    """
    L{bodyLimitFor} resolves a route by static children.
    """

    def test_defaultAndDeclared(self):
        """
        Unknown routes get the default; declared ones their own.
        """
        root = Resource()
        root.putChild(b"small", _Recorder())
        self.assertEqual(bodyLimitFor(root, RequestHead(b"POST", b"/nope", None)),
                         DEFAULT_MAX_BODY)
        self.assertEqual(bodyLimitFor(root, RequestHead(b"POST", b"/small/x?y=1", None)), 100)
