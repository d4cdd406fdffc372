# -*- test-case-name: fxim.test.unit.test_envelope -*-
"""
The WebSocket JSON envelope C{{"signal","subSignal","messageId","content"}}.

Signals and subsignals travel as enum I{names}.  A client's C{content} is an
object, an array, or JSON text inside a string; the server always writes
C{content} as a JSON string (C{""} for nothing), with null keys omitted.
"""

import json
from typing import Any, Dict, Mapping, Optional

import attr

from fxim.errors import WireError
from fxim.wire.sanitize import MAX_JSON_DEPTH, checkValue
from fxim.wire.signals import Signal, SubSignal

#: The web client's heartbeat text frame: ignored, never answered.
HEARTBEAT = "心跳内容"

_ABSENT = object()


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Envelope:
    """
    One WebSocket message.

    @ivar signal: the L{Signal} ordinal.
    @ivar subsignal: the SubSignal ordinal (plugin ordinals included).
    @ivar messageId: the correlation id.
    @ivar content: for a received envelope the decoded JSON value (C{None}
        when absent or empty); for one to send, the already-encoded JSON text
        (C{""} for failure) or C{None} to omit the key.
    @ivar items: for a received envelope, a bound on the length of any
        list in C{content} (the commas + 1 of the JSON text it was parsed
        from); else -1 (unknown).  Not compared.
    """

    signal: int
    subsignal: int = 0
    messageId: int = 0
    content: Any = None
    items: int = attr.ib(default=-1, eq=False, repr=False)


def _mayNest(text: str, maxDepth: int) -> bool:
    """
    Whether JSON C{text} may nest deeper than C{maxDepth}: only with more
    brackets than that (counting those inside strings too).
    """
    return text.count("{") + text.count("[") > maxDepth


_NO_NAMES: Mapping[Any, Any] = {}

# Enum lookups by name or value cost a microsecond each; every envelope
# makes three.
_SIGNALS: Dict[str, int] = {name: int(member) for name, member in Signal.__members__.items()}
_SIGNAL_NAMES: Dict[int, str] = {int(member): member.name for member in Signal}
_SUBSIGNALS: Dict[str, int] = {name: int(member) for name, member in SubSignal.__members__.items()}
_SUBSIGNAL_NAMES: Dict[int, str] = {int(member): member.name for member in SubSignal}


def subSignalName(ordinal: int, pluginNames: Mapping[int, str] = _NO_NAMES) -> str:
    """
    The WebSocket name of a subsignal ordinal (C{"NONE"} for unknown ones).

    @param pluginNames: the names of plugin ordinals (a
        L{fxim.protocol.registry.CommandRegistry}'s C{pluginNames}).
    """
    name = _SUBSIGNAL_NAMES.get(ordinal)
    if name is None:
        return pluginNames.get(ordinal, "NONE")
    return name


def decodeEnvelope(text: str, pluginOrdinals: Mapping[str, int] = _NO_NAMES) -> Envelope:
    """
    Parse one client text frame.

    @param pluginOrdinals: the ordinals of plugin subsignal names (a
        L{fxim.protocol.registry.CommandRegistry}'s C{pluginOrdinals}).

    @raise WireError: for anything that is not a JSON object with a known
        C{signal} name.  An unknown C{subSignal} name decodes as
        C{SubSignal.NONE}, as upstream's C{toEnum} does.
    """
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise WireError(f"bad JSON: {e}") from None
    # NULs are refused later, with a reply (see fxim.dispatch); the depth
    # is walked only where the brackets allow too much of it.
    if _mayNest(text, MAX_JSON_DEPTH + 2):
        deep = checkValue(obj, MAX_JSON_DEPTH + 2, nul=False)
        if deep is not None:
            raise WireError(deep)
    if not isinstance(obj, dict):
        raise WireError("envelope is not an object")
    signalName = obj.get("signal")
    signal = _SIGNALS.get(signalName) if isinstance(signalName, str) else None
    if signal is None:
        raise WireError(f"unknown signal {signalName!r}")
    if signal == Signal.NONE:
        raise WireError("signal NONE")
    subName = obj.get("subSignal", "NONE")
    if isinstance(subName, str):
        subsignal = _SUBSIGNALS.get(subName)
        if subsignal is None:
            subsignal = pluginOrdinals.get(subName, 0)
    else:
        subsignal = 0
    messageId = obj.get("messageId", 0)
    if isinstance(messageId, str):
        try:
            messageId = int(messageId)
        except ValueError:
            messageId = 0
    if not isinstance(messageId, int) or isinstance(messageId, bool):
        messageId = 0
    content = obj.get("content")
    # No list is longer than the JSON text holding it has commas, plus
    # one: the envelope's own text, or the content's text once unescaped
    # (where an escaped comma of the envelope became a real one).
    items = -1
    if isinstance(content, str):
        if content == "":
            content = None
        else:
            try:
                parsed = json.loads(content)
            except (ValueError, RecursionError):
                # fastjson keeps a plain string as is; codecs reject it.
                parsed = content
            if _mayNest(content, MAX_JSON_DEPTH):
                deep = checkValue(parsed, MAX_JSON_DEPTH, nul=False)
                if deep is not None:
                    raise WireError(deep)
            items = content.count(",") + 1
            content = parsed
    if items < 0:
        items = text.count(",") + 1
    return Envelope(signal, subsignal, messageId & 0xFFFF, content, items)


def dumpContent(value: Any) -> str:
    """
    Render a response value as the compact JSON text that goes, as a string,
    into C{content}.  Keys whose value is C{None} are omitted (fastjson).
    """
    return json.dumps(_dropNulls(value), ensure_ascii=False, separators=(",", ":"))


def _dropNulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _dropNulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_dropNulls(v) for v in value]
    return value


def encodeEnvelope(envelope: Envelope, pluginNames: Mapping[int, str] = _NO_NAMES) -> str:
    """
    Serialise a server envelope.  C{content} must already be JSON text (or
    C{""}); C{None} omits the key.

    @param pluginNames: see L{subSignalName}.
    """
    obj: Dict[str, Optional[Any]] = {}
    if envelope.content is not None:
        obj["content"] = envelope.content
    obj["messageId"] = envelope.messageId
    obj["signal"] = _SIGNAL_NAMES[envelope.signal]
    obj["subSignal"] = subSignalName(envelope.subsignal, pluginNames)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
