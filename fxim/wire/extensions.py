# -*- test-case-name: fxim.test.test_codecs_newer -*-
"""
Typed requests, responses and pushes of the subsignals the newer 飞享
clients added after 2020 -- delivery and read reports (MDR, MRR, MRP, MRN),
settings sync (UG, UP, UN) and streaming AI replies (SAI) -- with their
server codecs (installed into L{fxim.wire.codecs}) and client codecs
(installed into L{fxim.wire.clientcodecs}).  See C{docs/protocol.md}
("Newer clients").
"""

import struct
from typing import Any, Callable, Dict, Tuple

import attr

from fxim.errors import WireError
from fxim.storage.receipts import Report
from fxim.storage.settings import Setting
from fxim.wire import im_pb2 as pb
from fxim.wire.codecs_convert import (
    dumps, jint, jint32, jobj, jstr, jtos, loadsJson, parsePb, ps, pss,
)
from fxim.wire.envelope import Envelope
from fxim.wire.frame import Frame
from fxim.wire.signals import Signal, SubSignal

_frozen = attr.s(frozen=True, slots=True, auto_attribs=True)
_PUBLISH = int(Signal.PUBLISH)
_INT64 = struct.Struct(">q")
S = SubSignal


# -- records --------------------------------------------------------------------

@_frozen
class DeliveryReportRequest:
    """
    MDR: the reporter got 1:1 messages from C{target} (the original
    sender); C{date} is the reporter's clock (ms).
    """

    target: str
    date: int


@_frozen
class ReadReportRequest:
    """
    MRR: the reporter read conversation (C{conversationType}, C{target},
    C{line}) up to C{date}; for a group, C{tos} are the senders to tell.
    """

    target: str
    date: int
    conversationType: int = 0
    line: int = 0
    tos: Tuple[str, ...] = ()


@_frozen
class PullReports:
    """
    MRP: the caller's reports from seq C{fromSeq} on (inclusive).
    """

    fromSeq: int
    type: int = 0


@_frozen
class ReportList:
    """
    The MRP result: L{Report}s in ascending seq.
    """

    reports: Tuple[Report, ...]
    current: int
    head: int


@_frozen
class ReportNotify:
    """
    MRN: the user's report head moved to C{head}.
    """

    type: int
    head: int


@_frozen
class GetSettings:
    """
    UG: the caller's settings with a version above C{version}.
    """

    version: int


@_frozen
class SettingList:
    entries: Tuple[Setting, ...]


@_frozen
class PutSetting:
    """
    UP: set one setting.
    """

    scope: int
    key: str
    value: str


@_frozen
class SettingVersion:
    """
    The UP reply and the UN push: the user's new setting version.
    """

    version: int


@_frozen
class SettingNotify:
    version: int


@_frozen
class StreamChunk:
    """
    SAI: one frame of a streamed agent answer.

    @ivar streamId: C{i}, one id per answer.
    @ivar delta: C{d}, the text chunk (C{""} on control frames).
    @ivar final: C{f}, true on the last frame only.
    @ivar target: C{t}, the agent's uid (the conversation target).
    """

    streamId: str
    delta: str
    final: bool
    target: str


# -- server: request decoders ------------------------------------------------------

def _mdrTcp(body: bytes) -> DeliveryReportRequest:
    m = parsePb(pb.DeliveryReport, body)
    return DeliveryReportRequest(ps(m.target), m.date)


def _mdrWs(content: Any) -> DeliveryReportRequest:
    o = jobj(content)
    return DeliveryReportRequest(jstr(o.get("target")), jint(o.get("date")))


def _mrrTcp(body: bytes) -> ReadReportRequest:
    m = parsePb(pb.ReadReport, body)
    return ReadReportRequest(ps(m.target), m.date, m.type, m.line, pss(m.tos))


def _mrrWs(content: Any) -> ReadReportRequest:
    o = jobj(content)
    return ReadReportRequest(jstr(o.get("target")), jint(o.get("date")),
                             jint32(o.get("type")), jint32(o.get("line")), jtos(o.get("tos")))


def _mrpTcp(body: bytes) -> PullReports:
    m = parsePb(pb.PullMessageReportRequest, body)
    return PullReports(m.id, m.type)


def _mrpWs(content: Any) -> PullReports:
    o = jobj(content)
    return PullReports(jint(o.get("id")), jint32(o.get("type")))


def _ugTcp(body: bytes) -> GetSettings:
    return GetSettings(parsePb(pb.Version, body).version)


def _ugWs(content: Any) -> GetSettings:
    if content is None:
        return GetSettings(0)
    return GetSettings(jint(jobj(content).get("version")))


def _upTcp(body: bytes) -> PutSetting:
    m = parsePb(pb.ModifyUserSettingReq, body)
    return PutSetting(m.scope, ps(m.key), ps(m.value))


def _upWs(content: Any) -> PutSetting:
    o = jobj(content)
    return PutSetting(jint32(o.get("scope")), jstr(o.get("key")), jstr(o.get("value")))


# -- server: response encoders --------------------------------------------------------

def reportToJson(r: Report) -> Dict[str, Any]:
    return {"uid": r.uid, "target": r.target, "reportType": r.reportType, "date": r.date}


def _mrpReplyTcp(r: ReportList) -> bytes:
    m = pb.PullMessageReportResult(current=r.current, head=r.head)
    for report in r.reports:
        m.report.add(report_type=report.reportType, uid=report.uid, date=report.date,
                     target=report.target)
    return m.SerializeToString()


def _mrpReplyWs(r: ReportList) -> str:
    return dumps({"current": str(r.current), "head": str(r.head),
                  "messageCount": len(r.reports),
                  "messageReportList": [reportToJson(x) for x in r.reports]})


def settingToJson(s: Setting) -> Dict[str, Any]:
    return {"scope": s.scope, "key": s.key, "value": s.value, "updateDt": s.updateDt}


def _ugReplyTcp(r: SettingList) -> bytes:
    m = pb.GetUserSettingResult()
    for s in r.entries:
        m.entry.add(scope=s.scope, key=s.key, value=s.value, update_dt=s.updateDt)
    return m.SerializeToString()


def _ugReplyWs(r: SettingList) -> str:
    return dumps([settingToJson(s) for s in r.entries])


def _upReplyTcp(r: SettingVersion) -> bytes:
    return _INT64.pack(r.version)


def _upReplyWs(r: SettingVersion) -> str:
    return '{"version":"%d"}' % (r.version,)


def installServerCodecs(builtin: Callable[..., None]) -> None:
    """
    Register the request codecs with L{fxim.wire.codecs}' table builder.
    """
    builtin(S.MDR, _mdrTcp, _mdrWs)
    builtin(S.MRR, _mrrTcp, _mrrWs)
    builtin(S.MRP, _mrpTcp, _mrpWs, _mrpReplyTcp, _mrpReplyWs)
    builtin(S.UG, _ugTcp, _ugWs, _ugReplyTcp, _ugReplyWs, "[]")
    builtin(S.UP, _upTcp, _upWs, _upReplyTcp, _upReplyWs)


# -- server: pushes ---------------------------------------------------------------------

def _mrnTcp(p: ReportNotify) -> Frame:
    return Frame(_PUBLISH, S.MRN, 0,
                 pb.NotifyMessageReport(type=p.type, head=p.head).SerializeToString())


def _mrnWs(p: ReportNotify) -> Envelope:
    return Envelope(_PUBLISH, S.MRN, 0, '{"messageHead":"%d","type":%d}' % (p.head, p.type))


def chunkJson(p: StreamChunk) -> str:
    return dumps({"i": p.streamId, "d": p.delta, "f": p.final, "t": p.target})


def installPushCodecs(register: Callable[..., None]) -> None:
    """
    Register the push codecs with L{fxim.wire.codecs.registerPushCodec}.
    """
    register(ReportNotify, _mrnTcp, _mrnWs)
    register(SettingNotify,
             lambda p: Frame(_PUBLISH, S.UN, 0, _INT64.pack(p.version)),
             lambda p: Envelope(_PUBLISH, S.UN, 0, '{"version":"%d"}' % (p.version,)))
    register(StreamChunk,
             lambda p: Frame(_PUBLISH, S.SAI, 0, chunkJson(p).encode("utf-8")),
             lambda p: Envelope(_PUBLISH, S.SAI, 0, chunkJson(p)))


# -- client side ---------------------------------------------------------------------------

def _pb(cls: Any, **fields: Any) -> bytes:
    return cls(**fields).SerializeToString()


#: request type -> (signal, subsignal, TCP body encoder, WS content encoder)
CLIENT_REQUESTS: Dict[type, Tuple[int, int, Callable[[Any], bytes], Callable[[Any], Any]]] = {
    DeliveryReportRequest: (Signal.PUBLISH, S.MDR,
                            lambda r: _pb(pb.DeliveryReport, date=r.date, target=r.target),
                            lambda r: {"date": r.date, "target": r.target}),
    ReadReportRequest: (Signal.PUBLISH, S.MRR,
                        lambda r: _pb(pb.ReadReport, type=r.conversationType, line=r.line,
                                      target=r.target, date=r.date, tos=list(r.tos)),
                        lambda r: {"target": r.target, "date": r.date,
                                   "type": r.conversationType, "line": r.line,
                                   "tos": list(r.tos)}),
    PullReports: (Signal.PUBLISH, S.MRP,
                  lambda r: _pb(pb.PullMessageReportRequest, id=r.fromSeq, type=r.type),
                  lambda r: {"id": str(r.fromSeq), "type": r.type}),
    GetSettings: (Signal.PUBLISH, S.UG, lambda r: _pb(pb.Version, version=r.version),
                  lambda r: {"version": r.version}),
    PutSetting: (Signal.PUBLISH, S.UP,
                 lambda r: _pb(pb.ModifyUserSettingReq, scope=r.scope, key=r.key,
                               value=r.value),
                 lambda r: {"scope": r.scope, "key": r.key, "value": r.value}),
}


def _reportFromJson(v: Any) -> Report:
    o = jobj(v, "report")
    return Report(jint32(o.get("reportType")), jstr(o.get("uid")), jstr(o.get("target")),
                  jint(o.get("date")))


def _mrpResultTcp(body: bytes) -> ReportList:
    m = parsePb(pb.PullMessageReportResult, body)
    return ReportList(tuple(Report(r.report_type, ps(r.uid), ps(r.target), r.date)
                            for r in m.report), m.current, m.head)


def _mrpResultWs(v: Any) -> ReportList:
    o = jobj(v)
    items = o.get("messageReportList")
    if type(items) is not list:
        raise WireError("messageReportList is not an array")
    return ReportList(tuple(_reportFromJson(x) for x in items),
                      jint(o.get("current")), jint(o.get("head")))


def _settingFromJson(v: Any) -> Setting:
    o = jobj(v, "setting")
    return Setting(jint32(o.get("scope")), jstr(o.get("key")), jstr(o.get("value")),
                   jint(o.get("updateDt")))


def _ugResultTcp(body: bytes) -> SettingList:
    m = parsePb(pb.GetUserSettingResult, body)
    return SettingList(tuple(Setting(e.scope, ps(e.key), ps(e.value), e.update_dt)
                             for e in m.entry))


def _ugResultWs(v: Any) -> SettingList:
    if type(v) is not list:
        raise WireError("UG result is not an array")
    return SettingList(tuple(_settingFromJson(x) for x in v))


def _int64(body: bytes) -> int:
    if len(body) != 8:
        raise WireError(f"int64 body of {len(body)} bytes")
    return _INT64.unpack(bytes(body))[0]


#: subsignal -> (TCP body-after-code decoder, WS content decoder); None = code only.
CLIENT_REPLIES: Dict[int, Tuple[Any, Any]] = {
    S.MDR: (None, None),
    S.MRR: (None, None),
    S.MRP: (_mrpResultTcp, _mrpResultWs),
    S.UG: (_ugResultTcp, _ugResultWs),
    S.UP: (lambda body: SettingVersion(_int64(body)),
           lambda v: SettingVersion(jint(jobj(v).get("version")))),
}


def _chunkFromValue(v: Any) -> StreamChunk:
    o = jobj(v, "SAI")
    final = o.get("f")
    if type(final) is not bool:
        raise WireError("SAI f is not a boolean")
    return StreamChunk(jstr(o.get("i")), jstr(o.get("d")), final, jstr(o.get("t")))


def decodePushTcp(sub: int, body: bytes) -> Any:
    """
    A newer push frame's body, or L{None} if C{sub} is not one of them.
    """
    if sub == S.MRN:
        m = parsePb(pb.NotifyMessageReport, body)
        return ReportNotify(m.type, m.head)
    if sub == S.UN:
        return SettingNotify(_int64(body))
    if sub == S.SAI:
        return _chunkFromValue(loadsJson(body))
    return None


def decodePushWs(sub: int, value: Any) -> Any:
    """
    A newer push envelope's parsed content, or L{None} if C{sub} is not one
    of them.
    """
    if sub == S.MRN:
        o = jobj(value)
        return ReportNotify(jint32(o.get("type")), jint(o.get("messageHead")))
    if sub == S.UN:
        return SettingNotify(jint(jobj(value).get("version")))
    if sub == S.SAI:
        return _chunkFromValue(value)
    return None
