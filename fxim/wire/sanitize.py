# -*- test-case-name: fxim.test.unit.test_sanitize -*-
"""
Edge checks of client input that every decoder shares: no NUL (U+0000)
in any string, and JSON nested no deeper than L{MAX_JSON_DEPTH}.

A NUL is refused rather than stripped, and the same way on every backend:
PostgreSQL cannot store it in text and SQLite truncates some uses of it,
so letting it through gives different (and, on PostgreSQL, failing)
behaviour.  Deep nesting is refused because Python's JSON and every
recursive walk over the value would raise C{RecursionError}.

Both walks are iterative, so hostile input cannot exhaust the stack.
"""

import json
from typing import Any, Optional

import attr

from fxim.errors import WireError

#: Deepest JSON nesting accepted from a client (objects and arrays).
MAX_JSON_DEPTH = 64

#: The most items a repeated field of a TCP request may hold, checked
#: while parsing (before the costly conversion); set from
#: C{--max-request-ids} at startup, L{None} for no check.
requestItemCap: Optional[int] = None


class TooManyItems(WireError):
    """
    A request names more items than L{requestItemCap}: answered with
    C{INVALID_PARAMETER}, not C{INVALID_DATA}.
    """


#: The start of L{checkValue}'s answer for an over-long list.
TOO_MANY = "too many items in a list"


def tooManyItems(why: Optional[str]) -> bool:
    """
    @return: whether L{checkValue}'s answer C{why} is about a list length
        (answered C{INVALID_PARAMETER}, not C{INVALID_DATA}).
    """
    return why is not None and why.startswith(TOO_MANY)


class InputRejected(ValueError):
    """
    Client input failed an edge check; the message says which.
    """


def checkValue(value: Any, maxDepth: int = MAX_JSON_DEPTH, nul: bool = True,
               maxItems: Optional[int] = None) -> Optional[str]:
    """
    Walk a decoded value -- JSON (dicts, lists), typed requests (attrs
    instances, tuples) and their strings -- without recursion.

    @param nul: whether to refuse NULs too (C{False}: only the depth).
    @param maxItems: refuse a list, tuple or set longer than this (see
        L{tooManyItems}).
    @return: why it is refused (a NUL in a string or key, or nesting over
        C{maxDepth}), or L{None} if it passes.
    """
    stack = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if isinstance(item, str):
            if nul and "\x00" in item:
                return "NUL character in a string"
            continue
        if item is None or isinstance(item, (int, float, bytes, bytearray)):
            continue
        if depth >= maxDepth:
            return f"nested deeper than {maxDepth} levels"
        if isinstance(item, dict):
            for key, child in item.items():
                if nul and isinstance(key, str) and "\x00" in key:
                    return "NUL character in a key"
                push((child, depth + 1))
        elif isinstance(item, (list, tuple, set, frozenset)):
            if maxItems is not None and len(item) > maxItems:
                return f"{TOO_MANY} ({len(item)} > {maxItems})"
            for child in item:
                push((child, depth + 1))
        elif attr.has(type(item)):
            for field in attr.fields(type(item)):
                push((getattr(item, field.name), depth + 1))
    return None


def loadsChecked(text: Any, maxDepth: int = MAX_JSON_DEPTH) -> Any:
    """
    C{json.loads} that refuses NULs and deep nesting, and never lets a
    C{RecursionError} out.

    @raise InputRejected: for broken JSON or a refused value.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise InputRejected(f"nested deeper than {maxDepth} levels") from None
    except (ValueError, TypeError) as e:
        raise InputRejected(f"bad JSON: {e}") from None
    why = checkValue(value, maxDepth)
    if why is not None:
        raise InputRejected(why)
    return value
