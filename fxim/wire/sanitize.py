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
from typing import Any, Dict, Optional, Tuple

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


#: Types of values with nothing inside to check (enum types join on
#: first sight).
_SCALARS = {int, float, bool, bytes, bytearray, type(None)}
#: attrs class -> its field names (C{attr.fields} costs more than a dict).
_FIELDS: Dict[type, Tuple[str, ...]] = {}


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
    scalars, fields = _SCALARS, _FIELDS
    while stack:
        item, depth = pop()
        kind = type(item)
        # Every request runs through here: exact type checks first.
        if kind is str:
            if nul and "\x00" in item:
                return "NUL character in a string"
            continue
        if kind in scalars:
            continue
        names = fields.get(kind)
        if names is not None:
            # A typed request's record: check its strings here, and stack
            # only what has something inside.
            if depth >= maxDepth:
                return f"nested deeper than {maxDepth} levels"
            for name in names:
                child = getattr(item, name)
                childKind = type(child)
                if childKind is str:
                    if nul and "\x00" in child:
                        return "NUL character in a string"
                elif childKind not in scalars and (child or childKind is not tuple):
                    push((child, depth + 1))
            continue
        if isinstance(item, str):
            if nul and "\x00" in item:
                return "NUL character in a string"
            continue
        if isinstance(item, (int, float, bytes, bytearray)):
            scalars.add(kind)  # an enum: nothing inside, next time too
            continue
        if depth >= maxDepth:
            return f"nested deeper than {maxDepth} levels"
        if kind is dict or isinstance(item, dict):
            for key, child in item.items():
                if nul and isinstance(key, str) and "\x00" in key:
                    return "NUL character in a key"
                push((child, depth + 1))
        elif isinstance(item, (list, tuple, set, frozenset)):
            if maxItems is not None and len(item) > maxItems:
                return f"{TOO_MANY} ({len(item)} > {maxItems})"
            for child in item:
                push((child, depth + 1))
        elif attr.has(kind):
            fields[kind] = tuple(f.name for f in attr.fields(kind))
            push((item, depth))
    return None


def checkSend(request: Any, maxItems: Optional[int] = None) -> Optional[str]:
    """
    L{checkValue} of an MS's L{fxim.wire.requests.SendMessage}, unrolled:
    every message runs it.  Its strings are joined and searched once; a
    value of another type (no decoder makes one) takes the general walk.
    """
    message = request.message
    conversation, content = message.conversation, message.content
    tos, mentioned = message.to, content.mentionedTargets
    if maxItems is not None and max(len(tos), len(mentioned)) > maxItems:
        return checkValue(request, maxItems=maxItems)
    try:
        text = "".join((conversation.target, message.fromUser, message.toUser,
                        content.searchableContent, content.pushContent,
                        content.content, content.remoteMediaUrl) + tos + mentioned)
    except TypeError:
        return checkValue(request, maxItems=maxItems)
    if "\x00" in text:
        return "NUL character in a string"
    return None


def checkNothing(request: Any, maxItems: Optional[int] = None) -> None:
    """
    The check of a request made of numbers only (MP): nothing to refuse.
    """
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
