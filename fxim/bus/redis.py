# -*- test-case-name: fxim.test.unit.test_bus -*-
"""
The cluster delivery bus, over Redis pub/sub.

Channels (C{prefix} defaults to C{"fxim:"}), all carrying JSON:

  - C{<prefix>node:<nodeId>}, read by that node only::

      {"op": "push", "uid": U, "to": [cid, ...],
       "push": {"push": <notification name>, "value": {...}}}

    (the push's transport-neutral form, L{fxim.protocol.neutral}: each
    receiving connection's wire object encodes it).
  - C{<prefix>cluster}, read by every node::

      {"op": "kick", "uid": U, "cid": C, "from": nodeId}
      {"op": "presence", "uid": U}
      {"op": "catchup", "uids": [U, ...]}    (or {"op": "catchup", "all": true})

A push that is an MN also carries C{"mn": seq}, so the receiving node
knows which seqs its connections were told about (L{fxim.bus.catchup}).

Pub/sub is at-most-once: a message published while the target node is
disconnected from Redis is lost.  Messages are stored before anybody is
notified, so what is lost is the MN that makes a device pull; two things
replace it (L{fxim.bus.catchup}):

  - when this node's subscription comes back, it writes its liveness and
    presence again and sends every local device the MNs it missed;
  - when this node fails to look up or publish an MN for a user, it
    announces C{catchup} for that user on the cluster channel as soon as
    Redis answers again, and the nodes holding that user's devices send
    the missed MNs.
"""

import json
from typing import Optional, Set

from twisted.internet.defer import ensureDeferred, gatherResults, inlineCallbacks, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from fxim.bus.local import deliverLocally, kickLocally
from fxim.interfaces import IDeliveryBus
from fxim.protocol.neutral import NeutralPushes
from fxim.redisconn import RedisSubscriber
from fxim.wire.requests import MessageNotify

_log = Logger()


@implementer(IDeliveryBus)
class RedisBus:
    """
    Delivers to local connections directly and to other nodes' connections
    through their channel.  Call L{start} before use and L{stop} at
    shutdown.

    @ivar nodeId: this node's id.
    @ivar local: this node's L{fxim.bus.local.LocalConnections}.
    @ivar directory: the L{fxim.interfaces.IDirectory} shared by the nodes.
    """

    def __init__(self, reactor, nodeId: str, directory, local,
                 pushes: NeutralPushes,
                 redis, url: str, prefix: str = "fxim:",
                 timeout: float = 5.0, catchUp=None):
        """
        @param reactor: provides C{IReactorTCP} and C{IReactorTime}.
        @param pushes: the L{NeutralPushes} giving pushes their
            transport-neutral form (encoded at most once per L{deliver},
            only if a device is on another node).
        @param redis: a connection from L{fxim.redisconn.connectRedis}, for
            PUBLISH (not closed by L{stop}).
        @param url: the C{redis://} URL; L{start} opens a dedicated
            subscriber connection with it.
        @param timeout: seconds before a Redis operation is given up.
        """
        self._reactor = reactor
        self.nodeId = nodeId
        self.directory = directory
        self.local = local
        self._pushes = pushes
        self._redis = redis
        self._url = url
        self._prefix = prefix
        self._timeout = timeout
        self._subscriber = None
        if hasattr(directory, "addReviveObserver"):
            directory.addReviveObserver(self.registerAgain)
        if hasattr(directory, "live"):
            # perf-cache: no cached device lists while announcements are missed
            directory.live = lambda: self.subscribed
        #: The L{fxim.bus.catchup.CatchUp} of this node (None: no
        #: catch-up).
        self.catchUp = catchUp
        #: Users whose MN could not be published: announced for catch-up
        #: once Redis answers again.
        self._owed: Set[Optional[str]] = set()
        self._owedCall = None
        #: The node's L{fxim.health.OutageLog} (set by the node): a failed
        #: lookup or publish per delivery is noted there, one line per
        #: outage interval, instead of a warning each.
        self.outages = None
        #: Seconds between attempts to announce owed catch-ups.
        self.owedRetryInterval = 1.0
        #: op -> C{f(message)}: more announcements of the cluster channel
        #: (L{fxim.services.sendchecks}), and C{f()} called on re-subscribing.
        self.handlers: dict = {}
        self.resubscribeObservers: list = []

    def channelOf(self, nodeId: str) -> str:
        """
        @return: the channel read by node C{nodeId}.
        """
        return "%snode:%s" % (self._prefix, nodeId)

    @property
    def clusterChannel(self) -> str:
        """
        The channel read by every node.
        """
        return self._prefix + "cluster"

    def start(self):
        """
        Subscribe to this node's channel and the cluster channel.

        @return: L{Deferred} firing once subscribed.
        """
        self._subscriber = RedisSubscriber(
            self._reactor, self._url,
            [self.channelOf(self.nodeId), self.clusterChannel],
            self._messageReceived)
        self._subscriber.onResubscribed = self.resubscribed
        return self._subscriber.start()

    def stop(self):
        """
        Close the subscriber connection.  @return: L{Deferred}.
        """
        subscriber, self._subscriber = self._subscriber, None
        if self._owedCall is not None and self._owedCall.active():
            self._owedCall.cancel()
        self._owedCall = None
        if subscriber is None:
            return succeed(None)
        return subscriber.stop()

    # -- catch-up after a broken bus -------------------------------------------

    @inlineCallbacks
    def resubscribed(self):
        """
        The subscription is back after a lost connection: whatever was
        published to this node meanwhile is lost.  Write liveness and
        presence again (Redis may have restarted empty), then send every
        local device the MNs it missed.

        @return: L{Deferred}.
        """
        _log.info("Bus of node {nodeId} subscribed again: catching up", nodeId=self.nodeId)
        for observer in self.resubscribeObservers:
            observer()
        reviveNow = getattr(self.directory, "reviveNow", None)
        if reviveNow is not None:
            lost = yield reviveNow()
            forgetAll = getattr(self.directory, "forgetAll", None)
            if forgetAll is not None:
                forgetAll()
            if lost:
                yield self.registerAgain()
        if self.catchUp is not None:
            sent = yield ensureDeferred(self.catchUp.run(list(self.local)))
            if sent:
                _log.info("Catch-up sent {n} MN(s) to local devices", n=sent)
        self._scheduleOwed(0)

    def _owe(self, userId):
        """
        An MN for C{uid} may not have reached its devices on other nodes.
        """
        if len(self._owed) < 100_000:
            self._owed.add(userId)
        else:
            self._owed.add(None)  # too many: ask for a catch-up of everyone
        self._scheduleOwed(self.owedRetryInterval)

    def _scheduleOwed(self, delay):
        if not self._owed or self._subscriber is None:
            return
        if self._owedCall is not None and self._owedCall.active():
            return
        self._owedCall = self._reactor.callLater(delay, self._announceOwed)

    def _announceOwed(self):
        self._owedCall = None
        owed, self._owed = self._owed, set()
        if None in owed:
            message = {"op": "catchup", "all": True}
        else:
            message = {"op": "catchup", "uids": sorted(owed)}

        def failed(f):
            _log.warn("Announcing catch-up for {n} user(s): {error}", n=len(owed),
                      error=f.getErrorMessage())
            self._owed |= owed
            self._scheduleOwed(self.owedRetryInterval)

        d = self._redis.publish(self.clusterChannel, json.dumps(message, separators=(",", ":")))
        d.addTimeout(self._timeout, self._reactor).addErrback(failed)
        return d

    def _catchUpReceived(self, message):
        if self.catchUp is None:
            return
        if message.get("all"):
            conns = list(self.local)
        else:
            conns = [c for userId in message.get("uids") or () for c in self.local.byUser(userId)]
        if conns:
            d = ensureDeferred(self.catchUp.run(conns))
            d.addErrback(lambda f: _log.failure("Catch-up", f))

    def registerAgain(self):
        """
        Register every local connection in the directory again (after this
        node's liveness had expired and its entries may have been deleted).

        @return: L{Deferred}.
        """
        def failed(f):
            _log.warn("Registering local connections again: {error}",
                      error=f.getErrorMessage())

        def again(conn):
            d = self.directory.register(conn.userId, conn.cid, self.nodeId,
                                        conn.transportName)
            return d.addCallback(lambda _: self.presenceChanged(conn.userId))

        return gatherResults([again(conn) for conn in self.local],
                             consumeErrors=True).addErrback(failed)

    # -- sending ------------------------------------------------------------

    def _publish(self, channel, message, onFailure=None):
        """
        @param onFailure: called with no argument if publishing failed.
        @return: L{Deferred} firing with the number of subscribers that got
            C{message}, 0 if publishing failed.
        """
        def failed(f):
            self._redisFailed(f, "publishing to %s" % (channel,))
            if onFailure is not None:
                onFailure()
            return 0

        d = self._redis.publish(channel, json.dumps(message,
                                                    separators=(",", ":")))
        return d.addTimeout(self._timeout, self._reactor).addErrback(failed)

    @inlineCallbacks
    def deliver(self, userId, push, excludeCid=None):
        """
        See L{IDeliveryBus.deliver}.  Devices on other nodes count as sent
        to once their node's channel had a subscriber; failures to reach
        Redis are logged, not raised.
        """
        count, isMN = self._deliverHere(userId, push, excludeCid)
        try:
            devices = yield self.directory.devicesOf(userId)
        except Exception:
            self._redisFailed(Failure(), "looking up devices of %s" % (userId,))
            if isMN:
                self._owe(userId)
            return count
        publishes = self._publishPush(userId, push, excludeCid, devices, isMN)
        if not publishes:
            return count
        sent = yield gatherResults(publishes)
        return count + sum(sent)

    def _redisFailed(self, failure, what):
        """
        Report a Redis operation of one delivery that failed.
        """
        if self.outages is not None:
            self.outages.failed("redis", failure.value, what)
        else:
            _log.warn("Redis: {what} failed: {error}", what=what,
                      error=failure.getErrorMessage())

    def deliverNow(self, userId, push, excludeCid=None):
        """
        L{deliver} without a L{Deferred} to wait for (what the messaging
        service calls when a bus has it): while C{uid}'s device list is
        cached, the local connections get C{push} at once and the other
        nodes' are published to; else L{deliver} runs, its failures
        logged.

        @return: the number of local connections it was sent to, or
            L{None} if the device list had to be read.
        """
        devicesNow = getattr(self.directory, "devicesNow", None)
        devices = devicesNow(userId) if devicesNow is not None else None
        if devices is None:
            self.deliver(userId, push, excludeCid).addErrback(
                lambda f: _log.failure("delivery to {uid} failed", f, uid=userId))
            return None
        count, isMN = self._deliverHere(userId, push, excludeCid)
        self._publishPush(userId, push, excludeCid, devices, isMN)
        return count

    def _deliverHere(self, userId, push, excludeCid):
        """
        Send C{push} to C{uid}'s connections on this node (but
        C{excludeCid}'s), and tell the catch-up of an MN.

        @return: C{(connections sent to, whether it is an MN)}.
        """
        count = deliverLocally(self.local, userId, push, excludeCid)
        isMN = isinstance(push, MessageNotify)
        if isMN and self.catchUp is not None:
            # The sender's own device (excluded) knows its message too.
            for conn in self.local.byUser(userId):
                self.catchUp.notified(conn, push)
        return count, isMN

    def _publishPush(self, userId, push, excludeCid, devices, isMN):
        """
        Publish C{push} to the nodes other than this one holding a device
        of C{uid} in C{devices} (but C{excludeCid}).

        @return: a L{Deferred} per node, firing with the devices sent to
            (0 if publishing failed: logged, and an MN owed).
        """
        byNode = {}
        for presence in devices:
            if presence.nodeId != self.nodeId and presence.cid != excludeCid:
                byNode.setdefault(presence.nodeId, []).append(presence)
        if not byNode:
            return []
        neutral = self._pushes.encode(push)
        publishes = []
        for nodeId in sorted(byNode):
            targets = byNode[nodeId]
            message = {"op": "push", "uid": userId,
                       "to": [p.cid for p in targets],
                       "push": neutral}
            if isMN:
                message["mn"] = push.head
            d = self._publish(self.channelOf(nodeId), message,
                              (lambda: self._owe(userId)) if isMN else None)
            d.addCallback(_sentTo, len(targets))
            publishes.append(d)
        return publishes

    @inlineCallbacks
    def kick(self, userId, cid, keep=None):
        """
        See L{IDeliveryBus.kick}.  Local connections are closed at once; the
        other nodes are told on the cluster channel (whichever node the
        directory currently names, so the order of C{register} and C{kick}
        does not matter).
        """
        kickLocally(self.local, userId, cid, keep)
        yield self._publish(self.clusterChannel, {
            "op": "kick", "uid": userId, "cid": cid, "from": self.nodeId})

    # -- receiving ----------------------------------------------------------

    def _messageReceived(self, channel, message):
        try:
            decoded = json.loads(message)
            op = decoded["op"]
        except (ValueError, TypeError, KeyError):
            _log.warn("Bad message on {channel}: {message!r}",
                      channel=channel, message=message)
            return
        if op == "push":
            self._pushReceived(decoded)
        elif op == "kick":
            self._forget(decoded["uid"])
            if decoded.get("from") != self.nodeId:
                kickLocally(self.local, decoded["uid"], decoded["cid"])
        elif op == "presence":
            self._forget(decoded["uid"])
        elif op == "catchup":
            self._catchUpReceived(decoded)
        elif op in self.handlers:
            self.handlers[op](decoded)
        else:
            _log.warn("Unknown op {op!r} on {channel}", op=op,
                      channel=channel)

    def _forget(self, userId):
        forget = getattr(self.directory, "forget", None)
        if forget is not None:
            forget(userId)

    @property
    def subscribed(self) -> bool:
        """
        Whether announcements of the other nodes currently arrive.
        """
        return self._subscriber is not None and self._subscriber.subscribed

    def announce(self, message):
        """
        Publish C{message} (a JSON object with an C{op} in L{handlers}) on
        the cluster channel.  @return: L{Deferred}.
        """
        return self._publish(self.clusterChannel, message)

    def presenceChanged(self, userId):
        """
        Tell every node that C{uid}'s devices changed (after a register),
        so cached device lists are dropped.  @return: L{Deferred}.
        """
        self._forget(userId)
        return self._publish(self.clusterChannel, {"op": "presence", "uid": userId})

    def _pushReceived(self, message):
        userId = message["uid"]
        try:
            push = self._pushes.decode(message["push"])
        except Exception:
            _log.failure("Bad push to {uid}", uid=userId)
            return
        mn = message.get("mn")
        for cid in message["to"]:
            for conn in self.local.getAll(userId, cid):
                if isinstance(mn, int) and self.catchUp is not None:
                    self.catchUp.notifiedSeq(conn, mn)
                try:
                    # Each connection's wire encodes it (once per transport).
                    conn.sendPush(push)
                except Exception:
                    _log.failure("Relayed push to {uid}/{cid}", uid=userId, cid=cid)
                else:
                    from fxim import metrics
                    metrics.PUSHES.labels("relayed").inc()


def _sentTo(receivers: int, targets: int) -> int:
    """
    How many devices a publish reached: all its targets once the node's
    channel had a subscriber.
    """
    return targets if receivers else 0
