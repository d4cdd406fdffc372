# -*- test-case-name: fxim.test.test_storage -*-
"""
L{SQLStore}: the six store interfaces over a DB-API connection pool
(SQLite or PostgreSQL), with group commit for C{storeMessage}.

Group commit: at most C{maxInflight} (1 on SQLite) message-storing
transactions run at a time per store.  Calls arriving while they run wait
in a queue; when one commits, the next transaction takes the whole queue
(up to C{maxBatch}) and stores it with one COMMIT, and each caller of the
committed batch gets its Deferred fired.  If a batch fails as a
whole (which the SQL avoids for known per-message errors), its messages are
retried one transaction each so one bad message cannot fail the others.
"""

import time

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from fxim.interfaces import (
    IFriendStore, IGroupStore, ILoginCodeStore, IMessageStore, ISessionStore,
    IUserStore,
)
from fxim.storage import sql, sqlmessages
from fxim.storage.sqlmessages import PendingStore

_log = Logger()


def _reads(name):
    func = getattr(sql, name + "_txn", None) or getattr(sqlmessages,
                                                        name + "_txn")

    def method(self, *args):
        return self._runRead(func, *args)
    method.__name__ = name
    return method


def _writes(name):
    func = getattr(sql, name + "_txn", None) or getattr(sqlmessages,
                                                        name + "_txn")

    def method(self, *args):
        return self._runWrite(func, *args)
    method.__name__ = name
    return method


@implementer(IUserStore, ISessionStore, ILoginCodeStore, IMessageStore,
             IFriendStore, IGroupStore)
class SQLStore:
    """
    All six stores on one SQL database.

    @ivar dialect: the L{fxim.storage.dialect.Dialect}.
    @ivar maxBatch: most messages stored in one transaction.
    @ivar maxInflight: most batch transactions running at once.
    @ivar maxRetries: how often a transaction failing with a retryable
        error (deadlock, busy) is run again.
    @ivar batches: transactions run by group commit so far.
    @ivar batchedMessages: messages they stored.
    """

    maxBatch = 1000
    maxRetries = 5

    def __init__(self, dialect, writePool, readPool=None, maxInflight=1):
        """
        @param writePool: the L{adbapi.ConnectionPool} for writes (for
            SQLite: exactly one connection).
        @param readPool: the pool for reads (default: C{writePool}).
        @param maxInflight: most message batches in concurrent
            transactions (1 for SQLite; a batch waits for the previous
            one's per-user head locks, so order and gaplessness hold).
        """
        self.maxInflight = maxInflight
        self.dialect = dialect
        self._writePool = writePool
        self._readPool = readPool or writePool
        self._queue = []
        self._inflight = 0
        self._idleWaiters = []
        self._closed = False
        self.batches = 0
        self.batchedMessages = 0

    # -- running transactions ------------------------------------------------

    def _runRead(self, func, *args):
        return self._readPool.runInteraction(func, self.dialect, *args)

    def _runWrite(self, func, *args):
        d = self.dialect

        def interaction(txn):
            d.begin(txn)
            return func(txn, d, *args)

        def retry(failure, left):
            if left > 0 and d.isRetryable(failure.value):
                _log.info("retrying transaction after {error}",
                          error=failure.value)
                return self._writePool.runInteraction(
                    interaction).addErrback(retry, left - 1)
            return failure

        def translate(failure):
            if d.isIntegrityError(failure.value):
                raise KeyError(str(failure.value))
            return failure
        result = self._writePool.runInteraction(interaction)
        return result.addErrback(retry, self.maxRetries).addErrback(translate)

    def migrate(self, now):
        """
        Apply pending schema deltas (see L{fxim.storage.schema}).
        @return: L{Deferred} firing with the list of versions applied.
        """
        from fxim.storage.schema import applyMigrations_txn
        return self._runWrite(applyMigrations_txn, now)

    def close(self):
        """
        Wait for queued messages to be stored, then close the pools.
        Closing again does nothing.
        @return: L{Deferred} firing when closed.
        """
        if self._closed:
            return succeed(None)
        self._closed = True
        waiting = Deferred()
        if self._inflight:
            self._idleWaiters.append(waiting)
        else:
            waiting.callback(None)

        def closePools(_):
            self._writePool.close()
            if self._readPool is not self._writePool:
                self._readPool.close()
        return waiting.addCallback(closePools)

    # -- group commit ---------------------------------------------------------

    def storeMessage(self, message, receivers, dedupKey, now):
        if self._closed:
            return fail(RuntimeError("store is closed"))
        d = Deferred()
        key = tuple(dedupKey) if dedupKey is not None else None
        self._queue.append(
            (PendingStore(message, list(receivers), key, now), d))
        self._pump()
        return d

    def _pump(self):
        """
        Start batch transactions while fewer than C{maxInflight} run.
        """
        while self._queue and self._inflight < self.maxInflight:
            batch = self._queue[:self.maxBatch]
            del self._queue[:self.maxBatch]
            self._inflight += 1
            self.batches += 1
            self.batchedMessages += len(batch)
            items = [item for item, _ in batch]
            self._storeBatch(items).addCallback(self._flushed, batch, time.monotonic())
        if not self._inflight:
            waiters, self._idleWaiters = self._idleWaiters, []
            for w in waiters:
                w.callback(None)

    def _storeBatch(self, items):
        """
        @return: L{Deferred} firing with one result (StoredMessage,
            exception or Failure) per item; it never fails.
        """
        result = self._runWrite(sqlmessages.storeBatch_txn, items)
        if len(items) == 1:
            return result.addErrback(lambda f: [f])

        def oneByOne(failure):
            from fxim.health import outageKind
            if outageKind(failure.value) is not None:
                # The database is unreachable: one by one would fail too.
                return [failure] * len(items)
            _log.failure("storing a batch of {n} messages failed; storing"
                         " them one by one", failure, n=len(items))
            results = []

            def step(_=None):
                if len(results) == len(items):
                    return results
                item = items[len(results)]
                d = self._runWrite(sqlmessages.storeBatch_txn, [item])
                d.addCallbacks(lambda r: results.extend(r),
                               lambda f: results.append(f))
                return d.addCallback(step)
            return step()
        return result.addErrback(oneByOne)

    def _flushed(self, results, batch, started=None):
        self._inflight -= 1
        if started is not None:
            from fxim import metrics
            metrics.COMMIT_SECONDS.observe(time.monotonic() - started)
            metrics.BATCH_SIZE.observe(len(batch))
            metrics.MESSAGES_STORED.inc(sum(
                1 for r in results if not isinstance(r, (Failure, Exception))))
        self._pump()
        for (_, d), result in zip(batch, results):
            if isinstance(result, (Failure, Exception)):
                d.errback(result)
            else:
                d.callback(result)

    # -- everything else ----------------------------------------------------------

    getOrCreateByMobile = _writes("getOrCreateByMobile")
    getUser = _reads("getUser")
    getUsers = _reads("getUsers")
    updateUser = _writes("updateUser")
    searchUsers = _reads("searchUsers")

    createSession = _writes("createSession")
    getSession = _reads("getSession")
    listSessions = _reads("listSessions")
    deleteSession = _writes("deleteSession")

    getCodeState = _reads("getCodeState")
    putCodeState = _writes("putCodeState")

    purgeDedupKeys = _writes("purgeDedupKeys")
    pullMessages = _reads("pullMessages")
    getHead = _reads("getHead")
    getMessage = _reads("getMessage")
    getSendContext = _reads("getSendContext")
    getReceivers = _reads("getReceivers")
    replaceContent = _writes("replaceContent")
    loadHistory = _reads("loadHistory")

    getFriend = _reads("getFriend")
    putFriend = _writes("putFriend")
    listFriends = _reads("listFriends")
    getFriendRequest = _reads("getFriendRequest")
    putFriendRequest = _writes("putFriendRequest")
    listFriendRequests = _reads("listFriendRequests")
    getFriendHeads = _reads("getFriendHeads")

    createGroup = _writes("createGroup")
    getGroup = _reads("getGroup")
    getGroups = _reads("getGroups")
    updateGroup = _writes("updateGroup")
    deleteGroup = _writes("deleteGroup")
    getMember = _reads("getMember")
    putMembers = _writes("putMembers")
    groupsOf = _reads("groupsOf")

    def createUser(self, mobile, displayName, now, uid=None):
        return self._runWrite(sql.createUser_txn, mobile, displayName, now,
                              uid)

    def getMembers(self, groupId, includeRemoved=False):
        return self._runRead(sql.getMembers_txn, groupId, includeRemoved)
