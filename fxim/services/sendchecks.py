# -*- test-case-name: fxim.test.unit.test_sendchecks -*-
"""
L{SendCheckCache}: the send checks of
L{fxim.interfaces.IMessageStore.getSendContext} (sender, private target
and its blacklist entry, group members) kept in memory, so that sending a
message in a known conversation reads nothing.

Correctness comes from invalidation at the store layer: L{watchStore}
wraps the store object every service is given, so each write method of the
user, friend and group stores (and L{watchAdminStore}: the admin store's
user deletion) drops the entries its change may affect once it has run,
before its caller hears of it.  Hooking the stores rather than the
services means no writer -- a service, the admin API, a plugin -- can
forget; L{WRITES} names every write method, and a test fails when a store
interface grows one it does not name.

Which entries a change affects, from what C{getSendContext_txn} reads:

  - C{(sender, PRIVATE, target)}: the C{users} rows of both and the
    C{friends} row C{(target, sender)}: dropped by a change of either user
    or of the pair.
  - C{(sender, GROUP, group)}: the sender's C{users} row and the group's
    C{group_members} rows: dropped by a change of the sender or the group.

Only positive answers are cached (a known sender; a known private target;
a group with members), so creating a user or a group needs no
invalidation: an unknown target is read again every time.

Other nodes: with Redis, each invalidation is announced on the bus's
cluster channel (L{announceTo}) and the write waits for Redis to take the
announcement, so that a sender on another node is refused as soon as the
writer has its answer (up to the time Redis takes to pass it on).  While
the bus's subscription is down, the cache is bypassed and emptied (what was
announced meanwhile is lost); every entry also expires after a few
seconds, a safety net for an announcement lost otherwise.

A read racing a write cannot leave a stale entry behind: an answer is kept
only if no invalidation happened while it was being read.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import (
    Any, Callable, Dict, Iterable, List, Optional, Set, Tuple,
)

import attr
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from fxim.model import ConversationType
from fxim.storage.records import SendContext

_log = Logger()

#: A cache key: C{(sender, conversation type, target)}.
Key = Tuple[str, int, str]

#: The cluster channel's C{op} of an invalidation announcement.
OP = "sendchecks"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Changes:
    """
    What one write may have changed.

    @ivar users: uids whose C{users} row (or every friendship row of theirs)
        changed.
    @ivar groups: group ids whose members changed.
    @ivar pairs: C{(a, b)} friendships (either direction) that changed.
    """

    users: Tuple[str, ...] = ()
    groups: Tuple[str, ...] = ()
    pairs: Tuple[Tuple[str, str], ...] = ()


def _user(userId: str, *args: Any, **kwargs: Any) -> Changes:
    return Changes(users=(userId,))


def _group(groupId: str, *args: Any, **kwargs: Any) -> Changes:
    return Changes(groups=(groupId,))


def _nothing(*args: Any, **kwargs: Any) -> Changes:
    return Changes()


#: Every write method of the user, friend, group and admin stores -> what
#: it may change given its arguments.  Those returning nothing cannot
#: change a cached (positive) answer: see the module docstring.
WRITES: Dict[str, Callable[..., Changes]] = {
    # IUserStore
    "createUser": _nothing,
    "getOrCreateByMobile": _nothing,
    "updateUser": _user,
    # IFriendStore
    "putFriend": lambda userId, friend, *a, **k: Changes(pairs=((userId, friend.userId),)),
    "changeFriendship": lambda fromUid, toUid, *a, **k: Changes(pairs=((fromUid, toUid),)),
    "putFriendRequest": _nothing,
    # IGroupStore
    "createGroup": lambda info, *a, **k: Changes(groups=(info.targetId,)),
    "updateGroup": _group,
    "deleteGroup": _group,
    "putMembers": _group,
    "changeGroup": _group,
    # IAdminStore
    "deleteUser": _user,
    "setLoginEmail": _user,
    "getOrCreateByEmail": _nothing,
    "addAudit": _nothing,
    "purgeMessages": _nothing,
}


class SendCheckCache:
    """
    A bounded map of L{SendContext}s by C{(sender, conversation type,
    target)}, each kept at most L{ttl} seconds.

    @ivar maxEntries: most entries kept (the least recently used go
        first).
    @ivar ttl: seconds an entry is kept.
    @ivar live: returns whether invalidations from other nodes arrive (the
        bus is subscribed); while not, nothing is cached.
    @ivar announce: C{announce(message)} tells the other nodes (a
        L{Deferred}); L{None}: one node.
    @ivar hits: lookups answered from memory.
    @ivar misses: lookups read from the store.
    """

    def __init__(self, clock: Any, maxEntries: int = 100000, ttl: float = 5.0) -> None:
        """
        @param clock: an C{IReactorTime}.
        """
        self._clock = clock
        self.maxEntries = maxEntries
        self.ttl = ttl
        #: Whether announcements of other nodes' changes arrive (None:
        #: one node, always).
        self.live: Optional[Callable[[], bool]] = None
        self.announce: Optional[Callable[[Dict[str, Any]], Deferred[Any]]] = None
        self.nodeId = ""
        self._entries: OrderedDict[Key, Tuple[float, SendContext]] = OrderedDict()
        self._byUser: Dict[str, Set[Key]] = {}
        self._byGroup: Dict[str, Set[Key]] = {}
        #: bumped by every invalidation: an answer read across one is not kept
        self._generation = 0
        self._wasLive = True
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    # -- lookups ---------------------------------------------------------------

    def lookup(self, read: Callable[[str, int, str], Deferred[SendContext]],
               userId: str, conversationType: int, target: str) -> Deferred[SendContext]:
        """
        The send context of C{uid} writing to C{target}, from memory or by
        C{read(uid, conversationType, target)}.
        """
        if conversationType not in (ConversationType.PRIVATE, ConversationType.GROUP):
            return read(userId, conversationType, target)
        if self.live is not None and not self.live():
            self._wasLive = False
            self.clear()
            return read(userId, conversationType, target)
        if not self._wasLive:
            self._wasLive = True
            self.clear()
        key = (userId, int(conversationType), target)
        found = self._entries.get(key)
        now = self._clock.seconds()
        if found is not None:
            if found[0] > now:
                self._entries.move_to_end(key)
                self.hits += 1
                return succeed(found[1])
            self._drop(key)
        self.misses += 1
        generation = self._generation

        def keep(context: SendContext) -> SendContext:
            if generation == self._generation and _cacheable(key, context):
                self._put(key, now + self.ttl, context)
            return context
        return read(userId, conversationType, target).addCallback(keep)

    def lookupNow(self, userId: str, conversationType: int,
                  target: str) -> Optional[SendContext]:
        """
        The send context of C{uid} writing to C{target} if it is in memory
        (a hit, counted as L{lookup} counts it), else L{None}: no
        L{Deferred} for the common case.
        """
        if self.live is not None and not self.live():
            return None
        if not self._wasLive:
            return None
        found = self._entries.get((userId, conversationType, target))
        if found is None or found[0] <= self._clock.seconds():
            return None
        self._entries.move_to_end((userId, conversationType, target))
        self.hits += 1
        return found[1]

    def _put(self, key: Key, expires: float, context: SendContext) -> None:
        if self.maxEntries <= 0:
            return
        self._drop(key)
        while len(self._entries) >= self.maxEntries:
            self._drop(next(iter(self._entries)))
        self._entries[key] = (expires, context)
        userId, kind, target = key
        self._byUser.setdefault(userId, set()).add(key)
        if kind == ConversationType.GROUP:
            self._byGroup.setdefault(target, set()).add(key)
        elif target != userId:
            self._byUser.setdefault(target, set()).add(key)

    def _drop(self, key: Key) -> None:
        if self._entries.pop(key, None) is None:
            return
        userId, kind, target = key
        index = self._byGroup if kind == ConversationType.GROUP else self._byUser
        for name, keys in ((userId, self._byUser), (target, index)):
            found = keys.get(name)
            if found is not None:
                found.discard(key)
                if not found:
                    del keys[name]

    # -- invalidation ----------------------------------------------------------

    def clear(self) -> None:
        """
        Forget everything (answers read meanwhile are not kept either).
        """
        self._generation += 1
        self._entries.clear()
        self._byUser.clear()
        self._byGroup.clear()

    def invalidate(self, changes: Changes) -> None:
        """
        Forget the entries C{changes} may affect, on this node only.
        """
        self._generation += 1
        for userId in changes.users:
            for key in list(self._byUser.get(userId, ())):
                self._drop(key)
        for groupId in changes.groups:
            for key in list(self._byGroup.get(groupId, ())):
                self._drop(key)
        for a, b in changes.pairs:
            self._drop((a, ConversationType.PRIVATE, b))
            self._drop((b, ConversationType.PRIVATE, a))

    def changed(self, changes: Changes) -> Deferred[None]:
        """
        Forget the entries C{changes} may affect here, and tell the other
        nodes.

        @return: L{Deferred} firing once Redis took the announcement (or
            failed to: logged, never an error).
        """
        if not (changes.users or changes.groups or changes.pairs):
            return succeed(None)
        self.invalidate(changes)
        if self.announce is None:
            return succeed(None)
        d = self.announce({
            "op": OP, "from": self.nodeId, "users": list(changes.users),
            "groups": list(changes.groups), "pairs": [list(p) for p in changes.pairs]})

        def failed(f: Failure) -> None:
            _log.warn("Announcing a send-check invalidation: {error}",
                      error=f.getErrorMessage())
        return d.addCallbacks(lambda _: None, failed)

    def received(self, message: Dict[str, Any]) -> None:
        """
        An invalidation announced by a node (this one's own are skipped:
        already applied).
        """
        if message.get("from") == self.nodeId:
            return
        self.invalidate(Changes(
            tuple(message.get("users", ())), tuple(message.get("groups", ())),
            tuple((a, b) for a, b in message.get("pairs", ()))))


def _cacheable(key: Key, context: SendContext) -> bool:
    # Only positive answers (see the module docstring).
    if context.sender is None:
        return False
    userId, kind, target = key
    if kind == ConversationType.GROUP:
        return bool(context.members)
    return context.target is not None or not target or target == userId


def _wrap(cache: SendCheckCache, name: str, method: Callable[..., Deferred[Any]],
          changes: Callable[..., Changes]) -> Callable[..., Deferred[Any]]:
    def write(*args: Any, **kwargs: Any) -> Deferred[Any]:
        # Even a failed write may have committed (a lost connection).
        def after(result: Any) -> Any:
            return cache.changed(changes(*args, **kwargs)).addCallback(lambda _: result)
        return method(*args, **kwargs).addBoth(after)
    write.__name__ = name
    write.__doc__ = method.__doc__
    return write


def _watch(cache: SendCheckCache, store: Any, names: Iterable[str]) -> None:
    for name in names:
        method = getattr(store, name, None)
        if method is not None:
            setattr(store, name, _wrap(cache, name, method, WRITES[name]))


def watchStore(store: Any, cache: SendCheckCache) -> SendCheckCache:
    """
    Make C{store} (the node's L{fxim.storage.sqlstore.SQLStore} or
    L{fxim.storage.memory.MemoryStore}) answer C{getSendContext} through
    C{cache}, and invalidate it after each of its writes in L{WRITES}.

    @return: C{cache}, or the cache C{store} was already watched with.
    """
    watched: Optional[SendCheckCache] = getattr(store, "sendCheckCache", None)
    if watched is not None:
        return watched
    read = store.getSendContext

    def getSendContext(userId: str, conversationType: int, target: str) -> Deferred[SendContext]:
        return cache.lookup(read, userId, conversationType, target)
    getSendContext.__doc__ = read.__doc__
    store.getSendContext = getSendContext
    store.sendContextNow = cache.lookupNow
    _watch(cache, store, WRITES)
    store.sendCheckCache = cache
    return cache


def watchAdminStore(adminStore: Any, store: Any) -> None:
    """
    If C{store} is watched (L{watchStore}), invalidate its cache after each
    write of C{adminStore}, the L{fxim.storage.adminstore.IAdminStore}
    beside it (which writes its tables directly).
    """
    cache = getattr(store, "sendCheckCache", None)
    if cache is not None:
        _watch(cache, adminStore, WRITES)


def announceTo(cache: SendCheckCache, bus: Any) -> None:
    """
    Carry C{cache}'s invalidations between nodes on C{bus}'s cluster
    channel (a L{fxim.bus.redis.RedisBus}); a bus without one (embedded)
    leaves them local.
    """
    handlers: Optional[Dict[str, Callable[[Dict[str, Any]], None]]] = getattr(
        bus, "handlers", None)
    if handlers is None:
        return
    cache.nodeId = str(bus.nodeId)
    cache.announce = bus.announce
    cache.live = lambda: bus.subscribed
    handlers[OP] = cache.received
    resubscribed: List[Callable[[], object]] = bus.resubscribeObservers
    resubscribed.append(cache.clear)


__all__ = ["SendCheckCache", "Changes", "WRITES", "watchStore", "watchAdminStore",
           "announceTo"]
