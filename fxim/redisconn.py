# -*- test-case-name: fxim.test.unit.test_directory,fxim.test.unit.test_bus -*-
"""
Redis connections through txredisapi (pinned to 1.6.0), built with an
injected reactor.

txredisapi's own connection functions use the global reactor for their
endpoints, reconnection backoff and reply timeouts.  Here the factory is
connected with L{ClientService}s whose clock is the given reactor, and the
protocols' C{callLater} is replaced by that reactor's, so nothing scheduled
on behalf of a connection escapes it.

Usage::

    redis = yield connectRedis(reactor, "redis://127.0.0.1:6379/0")
    yield redis.set("k", "v")
    yield redis.disconnect()

    sub = RedisSubscriber(reactor, url, ["chan"], onMessage)
    yield sub.start()
    yield sub.stop()

All values are exchanged as C{str} (UTF-8); numbers are B{not} converted.
"""

from typing import Callable, List, Optional
from urllib.parse import unquote, urlsplit

import attr
import txredisapi
from twisted.application.internet import ClientService
from twisted.internet.defer import (
    CancelledError, Deferred, gatherResults, inlineCallbacks, maybeDeferred,
)
from twisted.internet.endpoints import HostnameEndpoint
from twisted.logger import Logger

from fxim.transport.nodelay import setNoDelay

_log = Logger()

#: Seconds allowed for the TCP connection to Redis to be established.
CONNECT_TIMEOUT = 10


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RedisAddress:
    """
    Where a Redis server is, parsed from a C{redis://} URL.
    """

    host: str = "localhost"
    port: int = 6379
    dbid: Optional[int] = None
    password: Optional[str] = None
    username: Optional[str] = None


def parseRedisURL(url: str) -> RedisAddress:
    """
    Parse C{redis://[[user]:password@]host[:port][/db]}.

    @raise ValueError: for another scheme or a non-numeric database.
    """
    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError("Not a redis:// URL: %r" % (url,))
    path = parts.path.strip("/")
    dbid = int(path) if path else None
    return RedisAddress(
        host=parts.hostname or "localhost",
        port=parts.port or 6379,
        dbid=dbid,
        password=unquote(parts.password) if parts.password else None,
        username=unquote(parts.username) if parts.username else None,
    )


class _ReactorRedisFactory(txredisapi.RedisFactory):
    """
    A txredisapi pool whose connections, retries and timeouts all use an
    injected reactor.

    @ivar _onReady: L{None} or a callable given every protocol that becomes
        usable (after AUTH and SELECT), including after reconnections.
    """

    def __init__(self, reactor, address, poolSize, protocolClass,
                 replyTimeout, onReady):
        txredisapi.RedisFactory.__init__(
            self, "%s:%d" % (address.host, address.port), address.dbid,
            poolSize, isLazy=False, password=address.password,
            replyTimeout=replyTimeout, convertNumbers=False,
            username=address.username)
        self.protocol = protocolClass
        self._reactor = reactor
        self._onReady = onReady
        self._services: List[ClientService] = []

    def startConnecting(self, endpoint):
        """
        Open and maintain C{poolsize} connections to C{endpoint}.

        @return: a list of L{Deferred}s, one per connection, failing if
            its first attempt fails.
        """
        firstAttempts = []
        for _ in range(self.poolsize):
            service = ClientService(endpoint, self,
                                    retryPolicy=self.retryDelay,
                                    clock=self._reactor)
            self._services.append(service)
            firstAttempts.append(service.whenConnected(failAfterFailures=1))
            service.startService()
        return firstAttempts

    def buildProtocol(self, addr):
        protocol = txredisapi.RedisFactory.buildProtocol(self, addr)
        protocol.callLater = self._reactor.callLater
        return protocol

    def _connectionReady(self, conn):
        self._reactor.callLater(0, self.addConnection, conn)

    def addConnection(self, conn):
        if self._onReady is not None and conn.connected \
                and not self.disconnectCalled:
            maybeDeferred(self._onReady, conn).addErrback(
                lambda f: _log.warn("Redis on-connect hook failed: {error}",
                                    error=f.getErrorMessage()))
        txredisapi.RedisFactory.addConnection(self, conn)

    def stopTrying(self):
        """
        Called by txredisapi when AUTH or SELECT fails: stop for good.
        """
        self.stopped = True
        self._reactor.callLater(0, self._stopServices)

    def _stopServices(self):
        return gatherResults([s.stopService() for s in self._services],
                             consumeErrors=True)

    def disconnect(self):
        """
        Stop reconnecting and close every connection.

        @return: L{Deferred} firing when all connections are closed.
        """
        self.stopped = True
        self.disconnectCalled = True

        def loseRemaining(_):
            for conn in list(self.pool):
                conn.transport.loseConnection()
            return self.waitForEmptyPool()

        return self._stopServices().addCallback(loseRemaining)


def _connectFactory(reactor, factory, address, connectTimeout):
    """
    Start C{factory}'s connections; fire with its handler when all are
    usable, or fail (after disconnecting) if any first attempt fails.
    """
    result = Deferred()
    ready = factory.deferred

    def succeeded(handler):
        if not result.called:
            result.callback(handler)

    failing = []

    def failed(f):
        if f.check(CancelledError) or result.called or failing:
            return None
        failing.append(f)
        if ready is factory.deferred and factory.deferred is not None:
            factory.deferred = None
        # whenConnected() fails from the middle of a ClientService state
        # transition, which can't be stopped reentrantly
        reactor.callLater(0, lambda: factory.disconnect().addBoth(
            lambda _: result.errback(f)))
        return None

    ready.addCallbacks(succeeded, failed)
    endpoint = HostnameEndpoint(reactor, address.host, address.port,
                                timeout=connectTimeout)
    for attempt in factory.startConnecting(endpoint):
        attempt.addErrback(failed)
    return result


def connectRedis(reactor, url: str, poolSize: int = 1,
                 replyTimeout: Optional[float] = None,
                 connectTimeout: float = CONNECT_TIMEOUT) -> Deferred:
    """
    Connect to Redis; lost connections are re-established (with backoff).

    @param reactor: provides C{IReactorTCP} and C{IReactorTime}.
    @param url: C{redis://host:port/db}.
    @param poolSize: number of connections; commands are spread over them.
    @param replyTimeout: seconds before an unanswered command fails (and
        its connection is dropped), or L{None}.

    @return: L{Deferred} firing with a txredisapi connection handler (it
        has every Redis command as a method, e.g. C{hset}, C{eval},
        C{publish}, and C{execute_command(*args)}; C{disconnect()} closes
        it for good), or failing if the first attempt fails.
    """
    address = parseRedisURL(url)
    factory = _ReactorRedisFactory(reactor, address, poolSize,
                                   _RedisProtocol, replyTimeout,
                                   None)
    return _connectFactory(reactor, factory, address, connectTimeout)


class _RedisProtocol(txredisapi.RedisProtocol):
    """
    A command connection with C{TCP_NODELAY} on: each command is one small
    write, and the next command must not wait for Redis's delayed ACK.
    """

    def connectionMade(self):
        setNoDelay(self.transport)
        return txredisapi.RedisProtocol.connectionMade(self)


class _SubscriberProtocol(txredisapi.SubscriberProtocol):
    """
    Hands messages to the factory's C{onMessage}; C{TCP_NODELAY} on like
    L{_RedisProtocol}.
    """

    def connectionMade(self):
        setNoDelay(self.transport)
        return txredisapi.SubscriberProtocol.connectionMade(self)

    def messageReceived(self, pattern, channel, message):
        try:
            self.factory.onMessage(channel, message)
        except Exception:
            _log.failure("Handling a message on {channel}", channel=channel)


class RedisSubscriber:
    """
    A dedicated connection SUBSCRIBEd to some channels, re-subscribing
    after every reconnection.

    @ivar channels: the channel names.
    """

    def __init__(self, reactor, url: str, channels: List[str],
                 onMessage: Callable[[str, str], None],
                 connectTimeout: float = CONNECT_TIMEOUT):
        """
        @param onMessage: called with C{(channel, message)} (both C{str}).
        """
        self._reactor = reactor
        self._address = parseRedisURL(url)
        self.channels = list(channels)
        self._connectTimeout = connectTimeout
        self._factory = _ReactorRedisFactory(
            reactor, self._address, 1, _SubscriberProtocol, None,
            self._subscribe)
        self._factory.onMessage = onMessage
        self._waiting: List[Deferred] = []
        self._subscribed = False
        self._everSubscribed = False
        #: Called with no argument each time the channels are subscribed
        #: again after a lost connection (what was published meanwhile is
        #: lost: the owner catches up).
        self.onResubscribed: Optional[Callable[[], object]] = None

    @property
    def subscribed(self) -> bool:
        """
        Whether a connection is currently subscribed.
        """
        return self._subscribed

    def _subscribe(self, protocol):
        def lost(_):
            self._subscribed = False

        def done(reply):
            self._subscribed = True
            protocol.whenDisconnected().addCallback(lost)
            self._waiting, waiting = [], self._waiting
            for d in waiting:
                d.callback(None)
            again, self._everSubscribed = self._everSubscribed, True
            if again and self.onResubscribed is not None:
                maybeDeferred(self.onResubscribed).addErrback(
                    lambda f: _log.warn("After re-subscribing: {error}",
                                        error=f.getErrorMessage()))

        return protocol.subscribe(self.channels).addCallback(done)

    @inlineCallbacks
    def start(self):
        """
        Connect and subscribe.

        @return: L{Deferred} firing once subscribed, or failing if the
            first connection attempt fails.
        """
        subscribed = Deferred()
        self._waiting.append(subscribed)
        try:
            yield _connectFactory(self._reactor, self._factory,
                                  self._address, self._connectTimeout)
        except BaseException:
            self._waiting.remove(subscribed)
            raise
        yield subscribed

    def stop(self):
        """
        Unsubscribe by closing the connection, for good.

        @return: L{Deferred} firing when it is closed.
        """
        return self._factory.disconnect()
