# -*- test-case-name: fxim.test.unit.test_threadpool -*-
"""
L{AcyclicThreadPool}: Twisted's L{ThreadPool} without a reference cycle
per call, for the database pools.

C{ThreadPool.callInThreadWithCallback} wraps each call in a closure that
refers to itself (C{inContext.theWork}).  Every database transaction thus
left a small cycle behind, which only the cyclic garbage collector frees.
Together with fxim's own closures, that came to about 25 objects per
message at 1,000 msgs/s, and the young-generation collections that freed
them paused the reactor for up to 48 ms (docs/performance.md).  Here each
call is an object that nothing refers back to, freed by reference
counting as soon as its result is delivered.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from twisted.enterprise import adbapi
from twisted.python import context, log
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool


class _Call:
    """
    One call to run on a pool thread, and what to do with its outcome.
    """

    __slots__ = ("_call", "_onResult")

    def __init__(self, onResult: Optional[Callable[[bool, Any], object]],
                 func: Callable[..., Any], args: Tuple[Any, ...],
                 kw: Dict[str, Any]) -> None:
        ctx = context.theContextTracker.currentContext().contexts[-1]
        self._call: Optional[Tuple[Any, Callable[..., Any], Tuple[Any, ...], Dict[str, Any]]] = (
            ctx, func, args, kw)
        self._onResult = onResult

    def __call__(self) -> None:
        # Taken out, so that nothing the call carried outlives it here.
        call, self._call = self._call, None
        onResult, self._onResult = self._onResult, None
        if call is None:
            return
        ctx, func, args, kw = call
        try:
            result = context.call(ctx, func, *args, **kw)
            ok = True
        except BaseException:
            result = Failure()
            ok = False
        if onResult is not None:
            onResult(ok, result)
        elif not ok:
            log.err(result)


class AcyclicThreadPool(ThreadPool):
    """
    A L{ThreadPool} whose C{callInThreadWithCallback} (the one method
    C{deferToThreadPool} and C{adbapi} use) leaves no reference cycle.
    """

    def callInThreadWithCallback(self, onResult: Optional[Callable[[bool, Any], object]],
                                 func: Callable[..., Any], *args: Any, **kw: Any) -> None:
        if self.joined:
            return
        self._team.do(_Call(onResult, func, args, kw))


def acyclic(pool: adbapi.ConnectionPool) -> adbapi.ConnectionPool:
    """
    Give C{pool} an L{AcyclicThreadPool} of the same size, before its
    first interaction.

    @return: C{pool}.
    """
    old, new = pool.threadpool, AcyclicThreadPool(pool.min, pool.max)
    if old.started:
        # Made while the reactor ran: adbapi started its pool at once.
        old.stop()
        new.start()
    pool.threadpool = new
    return pool
