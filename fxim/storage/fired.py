# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
L{fired}: the decorator the in-memory store twins use so that, like the SQL
stores, every method returns a L{Deferred} (already fired here).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from twisted.internet.defer import Deferred, fail, succeed

T = TypeVar("T")


def fired(f: Callable[..., T]) -> Callable[..., Deferred[T]]:
    """
    Turn C{f}'s result into a fired L{Deferred}, and its exception into a
    failed one.
    """
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Deferred[T]:
        try:
            return succeed(f(*args, **kwargs))
        except Exception:
            return fail()
    return wrapper
