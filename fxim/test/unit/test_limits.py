"""
Unit tests for L{fxim.limits}: the client address behind trusted
proxies, fixed-window counters (memory; Redis when configured) and the
limits' decisions.
"""

import os
import uuid

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock
from twisted.trial.unittest import SkipTest, TestCase

from fxim.errors import ErrorCode, SignalError
from fxim.limits.clientip import clientAddress, parseNetworks
from fxim.limits.counters import MemoryCounters, RedisCounters
from fxim.limits.service import Limits


class ClientAddressTests(TestCase):

    def test_untrustedPeer(self):
        """
        Without trusted proxies, or from an untrusted peer, the header is
        ignored.
        """
        self.assertEqual(clientAddress("10.0.0.1", ["1.2.3.4"], []), "10.0.0.1")
        self.assertEqual(clientAddress("10.0.0.1", ["1.2.3.4"], parseNetworks("10.9.0.0/16")),
                         "10.0.0.1")

    def test_chain(self):
        """
        Hops are walked from the right while they are trusted proxies.
        """
        trusted = parseNetworks("10.0.0.0/8, 192.168.1.1")
        self.assertEqual(clientAddress("10.0.0.1", ["6.6.6.6, 1.2.3.4"], trusted), "1.2.3.4")
        self.assertEqual(clientAddress("10.0.0.1", ["6.6.6.6, 1.2.3.4", "192.168.1.1"], trusted),
                         "1.2.3.4")
        self.assertEqual(clientAddress("10.0.0.1", ["10.1.1.1"], trusted), "10.1.1.1")
        self.assertEqual(clientAddress("10.0.0.1", ["garbage"], trusted), "10.0.0.1")
        self.assertEqual(clientAddress("10.0.0.1", ["[2001:db8::1]:443"], trusted), "2001:db8::1")
        self.assertEqual(clientAddress("10.0.0.1", ["1.2.3.4:5678"], trusted), "1.2.3.4")
        self.assertRaises(ValueError, parseNetworks, "10.0.0.0/33")


class MemoryCounterTests(TestCase):

    @inlineCallbacks
    def test_windows(self):
        clock = Clock()
        counters = MemoryCounters(clock)
        counts = []
        for _ in range(3):
            counts.append((yield counters.hit("n", "k", 10)))
        self.assertEqual(counts, [1, 2, 3])
        self.assertEqual((yield counters.hit("n", "other", 10)), 1)
        clock.advance(10)
        self.assertEqual((yield counters.hit("n", "k", 10)), 1)


class RedisCounterTests(TestCase):

    @inlineCallbacks
    def test_shared(self):
        """
        Two counter objects on separate connections see one count.
        """
        url = os.environ.get("FXIM_TEST_REDIS_URL")
        if not url:
            raise SkipTest("FXIM_TEST_REDIS_URL is not set")
        from fxim.redisconn import connectRedis
        a = yield connectRedis(reactor, url)
        self.addCleanup(a.disconnect)
        b = yield connectRedis(reactor, url)
        self.addCleanup(b.disconnect)
        prefix = f"fximtest:{uuid.uuid4().hex[:8]}:"
        one, two = RedisCounters(reactor, a, prefix), RedisCounters(reactor, b, prefix)
        self.assertEqual((yield one.hit("n", "k", 3600)), 1)
        self.assertEqual((yield two.hit("n", "k", 3600)), 2)
        ttl = yield a.execute_command("PTTL", (yield a.keys(prefix + "*"))[0])
        self.assertTrue(0 < int(ttl) <= 3601000, ttl)


class BrokenCounters:
    def hit(self, name, key, window):
        raise ConnectionError("down")


class LimitsTests(TestCase):

    @inlineCallbacks
    def test_decisions(self):
        limits = Limits(MemoryCounters(Clock()), sendCodePerIp=2, loginPerAccount=1, sendPerUser=1)
        self.assertIsNone((yield limits.httpRefusal("send_code", "1.1.1.1", "m")))
        self.assertIsNone((yield limits.httpRefusal("send_code", "1.1.1.1", "m")))
        self.assertIn("address", (yield limits.httpRefusal("send_code", "1.1.1.1", "m")))
        self.assertIsNone((yield limits.httpRefusal("login", "1.1.1.1", "m")))
        self.assertIn("account", (yield limits.httpRefusal("login", "2.2.2.2", "m")))
        yield limits.beforeSend("u", "c", "msg")
        with self.assertRaises(SignalError) as caught:
            yield limits.beforeSend("u", "c2", "msg")
        self.assertEqual(caught.exception.code, ErrorCode.OVER_FREQUENCY)
        self.assertEqual(limits.refused, {"send_code.ip": 1, "login.account": 1, "send": 1})

    @inlineCallbacks
    def test_failOpen(self):
        """
        When counting fails the request is allowed.
        """
        limits = Limits(BrokenCounters(), sendPerUser=1)
        self.assertEqual((yield limits.beforeSend("u", "c", "msg")), "msg")
        self.flushLoggedErrors(ConnectionError)
