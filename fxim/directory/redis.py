# -*- test-case-name: fxim.test.unit.test_directory -*-
"""
The cluster directory, in Redis (7.0 is enough: no per-field TTL needed).

Key layout (C{prefix} defaults to C{"fxim:"}):

  - C{<prefix>dev:<uid>}: a hash, field = cid, value = JSON
    C{{"n": nodeId, "i": incarnation, "t": transportName}}.
  - C{<prefix>alive:<nodeId>}: the node's current incarnation (a random
    token chosen at L{RedisDirectory.start}), with a TTL the node's
    heartbeat keeps refreshing.

An entry is live while its node's liveness key exists and holds the
incarnation the entry was written with: entries of a crashed node vanish
from L{RedisDirectory.devicesOf} once the TTL runs out, and those of a
previous run of a restarted node (same node id) vanish at once.  Dead
entries are deleted lazily when read.

Every script touches a single key, so this works on Redis Cluster too.
"""

import json
import uuid
from typing import Any, Callable, Dict, Generator, Iterable, List, Optional, Tuple

from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from fxim.directory import Presence
from fxim.interfaces import IDirectory

_log = Logger()

# Delete field ARGV[1] if it still belongs to node ARGV[2].
_UNREGISTER = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and cjson.decode(v)['n'] == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

# Delete field ARGV[1] if it still has value ARGV[2].
_DELETE_IF_SAME = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""

# Set field ARGV[1] to ARGV[2] unless ARGV[3] other live devices exist.
# ARGV[4..] are (node, incarnation) pairs the caller knows ("-" for a dead
# node); an entry whose node is not among them makes the script write
# nothing and answer {-1, node...} so the caller can look those up and try
# again.  Checking and writing in one script is what makes the cap hold
# under concurrent CONNECTs (on any node).  Answers {1} (written) or {0}
# (refused).
_REGISTER_IF_ROOM = """
local alive = {}
for i = 4, #ARGV, 2 do alive[ARGV[i]] = ARGV[i + 1] end
local fields = redis.call('HGETALL', KEYS[1])
local live, unknown = 0, {}
for i = 1, #fields, 2 do
  if fields[i] ~= ARGV[1] then
    local ok, e = pcall(cjson.decode, fields[i + 1])
    if ok and type(e) == 'table' and type(e['n']) == 'string' then
      local known = alive[e['n']]
      if known == nil then
        table.insert(unknown, e['n'])
      elseif known == e['i'] then
        live = live + 1
      end
    end
  end
end
if #unknown > 0 then
  table.insert(unknown, 1, -1)
  return unknown
end
if live >= tonumber(ARGV[3]) then return {0} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return {1}
"""

# Delete the liveness key if it still holds incarnation ARGV[1].
_FORGET = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@implementer(IDirectory)
class RedisDirectory:
    """
    Presence in Redis, for one node of a cluster (it heart-beats for
    C{nodeId}; the others run their own).

    Call L{start} before use and L{stop} at shutdown.

    @ivar nodeId: this node's id.
    @ivar incarnation: random token of this run of the node.
    """

    def __init__(self, reactor: IReactorTime, redis: Any, nodeId: str, prefix: str = "fxim:",
                 ttl: float = 15.0, heartbeatInterval: float = 5.0,
                 timeout: float = 10.0, deviceCache: float = 0.0) -> None:
        """
        @param reactor: provides C{IReactorTime}; runs the heartbeat.
        @param redis: a connection from L{fxim.redisconn.connectRedis}
            (it is not closed by L{stop}).
        @param ttl: seconds the liveness key lives without a heartbeat.
        @param heartbeatInterval: seconds between heartbeats (well below
            C{ttl}).
        @param timeout: seconds before a Redis operation fails (e.g. while
            Redis is unreachable).
        @param deviceCache: seconds a user's device list may be served from
            this node's memory (0: never).  Only safe when every change of
            presence is announced to every node, which
            L{fxim.bus.redis.RedisBus} does: each node calls L{forget} on
            every CONNECT and every disconnect anywhere (and the cache is
            bypassed while that bus is not subscribed: L{live}).
        """
        self._reactor = reactor
        self._redis = redis
        self.nodeId = nodeId
        self._prefix = prefix
        self._ttlMillis = max(1, int(ttl * 1000))
        self._interval = heartbeatInterval
        self._timeout = timeout
        self.incarnation = uuid.uuid4().hex
        self._loop = LoopingCall(self._beat)
        self._loop.clock = reactor
        self._beating: Optional[Deferred[None]] = None
        self._reviveObservers: List[Callable[[], object]] = []
        #: node id -> (incarnation, cached until).
        self._aliveCache: Dict[str, Tuple[str, float]] = {}
        self.deviceCacheSeconds = deviceCache
        #: Whether every node's presence announcements reach this node (set
        #: by L{fxim.bus.redis.RedisBus}); while not, no device list is
        #: cached or served from the cache.
        self.live: Callable[[], bool] = lambda: True
        #: uid -> (cached until, live presences).
        self._devices: Dict[str, Tuple[float, Tuple[Presence, ...]]] = {}
        # A lookup that overlapped an invalidation of its user (or of
        # everything: the epoch) is not cached, as its answer may predate
        # the change.  uid -> one flag per lookup in flight, raised by
        # forget(uid); only that user's changes spoil a lookup.
        self._epoch = 0
        self._inflight: Dict[str, List[List[bool]]] = {}
        # uid -> the newest lookup in flight (its spoiled flag, its epoch,
        # the callers waiting for its answer): a lookup asked for while one
        # that nothing spoiled is in flight waits for that one's answer
        # instead of asking Redis again, as a cache hit would have served
        # it.  Without this, every delivery to a user whose entry just ran
        # out read Redis until the first answer came back: thousands of
        # reads per second under load, and more load the slower the node.
        self._sharing: Dict[str, Tuple[List[bool], int, List[Deferred[List[Presence]]]]] = {}
        #: How long another node's liveness is trusted without asking Redis.
        self.aliveCacheSeconds = min(1.0, ttl / 4)

    # -- keys ---------------------------------------------------------------

    def _userKey(self, userId: str) -> str:
        return "%sdev:%s" % (self._prefix, userId)

    def _aliveKey(self, nodeId: str) -> str:
        return "%salive:%s" % (self._prefix, nodeId)

    def _call(self, d: Deferred[Any]) -> Deferred[Any]:
        return d.addTimeout(self._timeout, self._reactor)

    # -- heartbeat ----------------------------------------------------------

    @inlineCallbacks
    def start(self) -> Generator[Deferred[Any], Any, None]:
        """
        Announce this node alive and start heart-beating.

        @return: L{Deferred} firing after the first heartbeat was written.
        """
        yield self._call(self._setAlive())
        self._loop.start(self._interval, now=False)

    def _setAlive(self) -> Deferred[Optional[str]]:
        return self._redis.execute_command(
            "SET", self._aliveKey(self.nodeId), self.incarnation,
            "PX", self._ttlMillis, "GET")

    def _beat(self) -> Deferred[None]:
        def written(previous: Optional[str]) -> None:
            if previous is not None and previous != self.incarnation:
                _log.error("Node id {nodeId} is also used by another "
                           "process: give every node its own id",
                           nodeId=self.nodeId)
            if previous != self.incarnation:
                # The key had expired (this node was stalled or Redis lost
                # it): other nodes may have deleted our entries meanwhile.
                _log.warn("Liveness of node {nodeId} had expired",
                          nodeId=self.nodeId)
                for observer in list(self._reviveObservers):
                    try:
                        observer()
                    except Exception:
                        _log.failure("Revive observer {o!r}", o=observer)

        def failed(f: Failure) -> None:
            _log.warn("Heartbeat of node {nodeId} failed: {error}",
                      nodeId=self.nodeId, error=f.getErrorMessage())

        # Deferreds chain in place: the callbacks below change what it fires with.
        d: Deferred[Any] = self._setAlive().addTimeout(self._interval, self._reactor)
        d.addCallbacks(written, failed)
        self._beating = d

        def done(_: object) -> None:
            self._beating = None
        d.addCallback(done)
        return d

    @inlineCallbacks
    def reviveNow(self) -> Generator[Deferred[Any], Any, bool]:
        """
        Write this node's liveness key at once (after Redis came back).

        @return: L{Deferred} firing with C{True} if the key had been lost
            (so this node's entries may be gone too and must be written
            again), C{False} if Redis still had it.
        """
        previous = yield self._call(self._setAlive())
        return previous != self.incarnation

    def forgetAll(self) -> None:
        """
        Drop every cached device list and liveness (Redis may have lost
        everything they describe).
        """
        self._epoch += 1
        self._devices.clear()
        self._aliveCache.clear()

    def addReviveObserver(self, observer: Callable[[], object]) -> None:
        """
        Call C{observer()} whenever a heartbeat finds this node's liveness
        key gone: the entries of this node may have been deleted by then and
        should be registered again (L{fxim.bus.redis.RedisBus} does that).
        """
        self._reviveObservers.append(observer)

    @inlineCallbacks
    def stop(self, forget: bool = False) -> Generator[Deferred[Any], Any, None]:
        """
        Stop heart-beating.  Without C{forget} this node's entries stay
        live until the TTL runs out (as if it had crashed).

        @param forget: also delete the liveness key, so that every entry of
            this node is immediately gone.
        @return: L{Deferred}.
        """
        if self._loop.running:
            self._loop.stop()
        if self._beating is not None:
            yield self._beating
        if forget:
            yield self._call(self._redis.eval(
                _FORGET, [self._aliveKey(self.nodeId)], [self.incarnation]))

    # -- IDirectory ---------------------------------------------------------

    @inlineCallbacks
    def register(self, userId: str, cid: str, nodeId: str,
                 transportName: str) -> Generator[Deferred[Any], Any, None]:
        """
        Record that (uid, cid) is connected to C{nodeId} over
        C{transportName}, replacing any previous entry of that device.
        """
        if nodeId == self.nodeId:
            incarnation = self.incarnation
        else:
            incarnation = yield self._call(
                self._redis.get(self._aliveKey(nodeId)))
        value = json.dumps({"n": nodeId, "i": incarnation or "",
                            "t": transportName}, separators=(",", ":"))
        self.forget(userId)
        yield self._call(self._redis.hset(self._userKey(userId), cid, value))
        self.forget(userId)

    @inlineCallbacks
    def registerIfRoom(self, userId: str, cid: str, nodeId: str, transportName: str,
                       maxDevices: int) -> Generator[Deferred[Any], Any, bool]:
        """
        L{register} unless C{maxDevices} other live devices of C{uid} are
        registered, checked and written by one Lua script.

        @return: L{Deferred} firing with C{True} if registered.
        """
        if nodeId == self.nodeId:
            incarnation = self.incarnation
        else:
            incarnation = yield self._call(
                self._redis.get(self._aliveKey(nodeId)))
        value = json.dumps({"n": nodeId, "i": incarnation or "",
                            "t": transportName}, separators=(",", ":"))
        known: Dict[str, Optional[str]] = {self.nodeId: self.incarnation}
        self.forget(userId)
        try:
            # Each round learns the nodes the previous one did not know; a
            # few rounds suffice unless nodes keep appearing.
            for _ in range(5):
                args: List[Any] = [cid, value, int(maxDevices)]
                for node, inc in known.items():
                    args += [node, inc or "-"]
                answer = yield self._call(self._redis.eval(
                    _REGISTER_IF_ROOM, [self._userKey(userId)], args))
                if int(answer[0]) >= 0:
                    return int(answer[0]) == 1
                unknown = {str(n) for n in answer[1:]}
                known.update((yield self._incarnations(unknown)))
            raise RuntimeError("presence of %s kept changing" % (userId,))
        finally:
            self.forget(userId)

    def unregister(self, userId: str, cid: str, nodeId: str) -> Deferred[bool]:
        """
        @return: L{Deferred} firing with C{True} if the entry was removed,
            C{False} if there was none or it belongs to another node.
        """
        self.forget(userId)
        d = self._call(self._redis.eval(
            _UNREGISTER, [self._userKey(userId)], [cid, nodeId]))
        def removed(count: int) -> bool:
            self.forget(userId)
            return bool(count)
        return d.addCallback(removed)

    def forget(self, userId: str) -> None:
        """
        Drop C{uid}'s cached device list (its presence changed somewhere).
        """
        for spoiled in self._inflight.get(userId, ()):
            spoiled[0] = True
        self._devices.pop(userId, None)

    def devicesNow(self, userId: str) -> Optional[Tuple[Presence, ...]]:
        """
        C{uid}'s devices if their list is cached and fresh (what
        L{devicesOf} would answer without Redis), else L{None}.
        """
        if not self.live():
            return None
        cached = self._devices.get(userId)
        if cached is not None and cached[0] > self._reactor.seconds():
            return cached[1]
        return None

    def devicesOf(self, userId: str) -> Deferred[List[Presence]]:
        now = self._reactor.seconds()
        if not self.live():
            if self._devices:
                self.forgetAll()
        else:
            cached = self._devices.get(userId)
            if cached is not None and cached[0] > now:
                # Every delivery asks: answer without a generator.
                return succeed(list(cached[1]))
            sharing = self._sharing.get(userId)
            if (sharing is not None and self.deviceCacheSeconds and not sharing[0][0]
                    and sharing[1] == self._epoch):
                waiter: Deferred[List[Presence]] = Deferred()
                sharing[2].append(waiter)
                return waiter
        return self._readDevices(userId, now)

    @inlineCallbacks
    def _readDevices(self, userId: str, now: float) -> Generator[Deferred[Any], Any, List[Presence]]:
        epoch, spoiled = self._epoch, [False]
        lookups = self._inflight.setdefault(userId, [])
        lookups.append(spoiled)
        waiting: List[Deferred[List[Presence]]] = []
        self._sharing[userId] = (spoiled, epoch, waiting)
        try:
            key = self._userKey(userId)
            entries = yield self._call(self._redis.hgetall(key))
            live = (yield self._live(key, userId, entries)) if entries else []
        except BaseException:
            failure = Failure()
            self._stopSharing(userId, spoiled)
            for waiter in waiting:
                waiter.errback(failure)
            raise
        finally:
            lookups[:] = [flag for flag in lookups if flag is not spoiled]
            if not lookups:
                del self._inflight[userId]
        live = sorted(live, key=lambda p: p.cid)
        if (self.deviceCacheSeconds and epoch == self._epoch and not spoiled[0]
                and self.live()):
            if len(self._devices) > 100_000:
                self._devices.clear()
            self._devices[userId] = (now + self.deviceCacheSeconds, tuple(live))
        self._stopSharing(userId, spoiled)
        for waiter in waiting:
            waiter.callback(list(live))
        return live

    def _stopSharing(self, userId: str, spoiled: List[bool]) -> None:
        """
        No more callers join the lookup with flag C{spoiled} (a newer one
        may have taken its place).
        """
        sharing = self._sharing.get(userId)
        if sharing is not None and sharing[0] is spoiled:
            del self._sharing[userId]

    @inlineCallbacks
    def lookup(self, userId: str, cid: str) -> Generator[Deferred[Any], Any, Optional[Presence]]:
        key = self._userKey(userId)
        value = yield self._call(self._redis.hget(key, cid))
        if value is None:
            return None
        live = yield self._live(key, userId, {cid: value})
        return live[0] if live else None

    @inlineCallbacks
    def _live(self, key: str, userId: str,
              entries: Dict[str, str]) -> Generator[Deferred[Any], Any, List[Presence]]:
        """
        The L{Presence}s of C{entries} (cid -> stored value) whose node is
        alive in the same incarnation; the others are deleted.
        """
        parsed: Dict[str, Dict[str, str]] = {}
        for cid, value in entries.items():
            try:
                parsed[cid] = json.loads(value)
            except ValueError:
                parsed[cid] = {"n": "", "i": "", "t": ""}
        alive = yield self._incarnations({entry["n"] for entry in parsed.values()})
        live: List[Presence] = []
        dead: List[str] = []
        for cid, entry in parsed.items():
            current = alive.get(entry["n"])
            if current is not None and current == entry["i"]:
                live.append(Presence(userId, cid, entry["n"], entry["t"]))
            else:
                dead.append(cid)
        if dead:
            yield self._forgetDead(key, dead, entries)
        return live

    @inlineCallbacks
    def _incarnations(
            self, nodes: Iterable[str]) -> Generator[Deferred[Any], Any, Dict[str, Optional[str]]]:
        """
        The current incarnation of each node (None for a dead one).  Other
        nodes' values are cached for L{aliveCacheSeconds}: liveness changes
        on the scale of the TTL, and this saves a round trip per lookup.
        """
        now = self._reactor.seconds()
        alive: Dict[str, Optional[str]] = {}
        missing: List[str] = []
        for node in nodes:
            if node == self.nodeId and self._loop.running:
                alive[node] = self.incarnation
                continue
            cached = self._aliveCache.get(node)
            if cached is not None and cached[1] > now:
                alive[node] = cached[0]
            else:
                missing.append(node)
        if missing:
            values = yield self._call(gatherResults(
                [self._redis.get(self._aliveKey(n)) for n in missing], consumeErrors=True))
            for node, value in zip(missing, values):
                alive[node] = value
                # Only "alive" is cached: a node seen dead for a moment (a
                # Redis restart lost its key) must not have its entries
                # deleted again once it has written them back.
                if value is not None:
                    self._aliveCache[node] = (value, now + self.aliveCacheSeconds)
                else:
                    self._aliveCache.pop(node, None)
        return alive

    def _forgetDead(self, key: str, cids: List[str], entries: Dict[str, str]) -> Deferred[None]:
        def failed(f: Failure) -> None:
            _log.warn("Could not delete dead presence in {key}: {error}",
                      key=key, error=f.getErrorMessage())

        return self._call(gatherResults(
            [self._redis.eval(_DELETE_IF_SAME, [key], [cid, entries[cid]])
             for cid in cids], consumeErrors=True)).addErrback(failed)
