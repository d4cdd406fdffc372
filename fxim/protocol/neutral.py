# -*- test-case-name: fxim.test.unit.test_bus -*-
"""
The transport-neutral form of a push, for carrying it between nodes (the
Redis bus): C{{"push": <notification name>, "value": <fields as JSON>}}.
The receiving node rebuilds the typed push and each connection's wire
object encodes it.  Only nodes of the same version need to agree.
"""

import base64
import typing
from typing import Any, Dict, Tuple

import attr

from fxim.protocol.registry import CommandRegistry

__all__ = ["NeutralPushes"]

_hints: Dict[type, Dict[str, Any]] = {}


def _hintsOf(cls: type) -> Dict[str, Any]:
    hints = _hints.get(cls)
    if hints is None:
        hints = _hints[cls] = typing.get_type_hints(cls)
    return hints


def _unstructure(value: Any, hint: Any) -> Any:
    if value is None or hint is Any:
        return value
    if attr.has(type(value)):
        hints = _hintsOf(type(value))
        return {f.name: _unstructure(getattr(value, f.name), hints.get(f.name, Any))
                for f in attr.fields(type(value))}
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple):
        args = typing.get_args(hint)
        return [_unstructure(v, args[0] if args else Any) for v in value]
    return value


def _structure(data: Any, hint: Any) -> Any:
    if data is None or hint is Any:
        return data
    if typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if isinstance(hint, type) and attr.has(hint):
        hints = _hintsOf(hint)
        return hint(**{f.name: _structure(data[f.name], hints.get(f.name, Any))
                       for f in attr.fields(hint) if f.name in data})
    if hint is bytes:
        return base64.b64decode(data)
    if typing.get_origin(hint) is tuple:
        args: Tuple[Any, ...] = typing.get_args(hint)
        return tuple(_structure(v, args[0] if args else Any) for v in data)
    return data


class NeutralPushes:
    """
    Pushes to and from their neutral form, for the notifications of a
    L{CommandRegistry}.
    """

    def __init__(self, registry: CommandRegistry) -> None:
        self._registry = registry
        self._byName = {n.__name__: n for n in registry.notifications()}

    def encode(self, push: Any) -> Dict[str, Any]:
        """
        The JSON-able neutral form of C{push}.

        @raise TypeError: for a push no notification declares.
        """
        notification = self._registry.notificationFor(push)
        return {"push": notification.__name__, "value": _unstructure(push, type(push))}

    def decode(self, data: Dict[str, Any]) -> Any:
        """
        The typed push of a neutral form.

        @raise ValueError: for a notification the registry does not know.
        """
        notification = self._byName.get(data["push"])
        if notification is None:
            raise ValueError(f"unknown push {data['push']!r}")
        return _structure(data["value"], notification.push)
