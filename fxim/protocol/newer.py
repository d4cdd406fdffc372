# -*- test-case-name: fxim.test.unit.test_codecs_newer -*-
"""
The commands and pushes the newer 飞享 clients added after 2020: delivery
and read reports (MDR, MRR, MRP, MRN), settings sync (UG, UP, UN) and
streaming AI replies (SAI).  See C{docs/protocol.md} ("Newer clients").
"""

from typing import Any, Dict

from fxim.errors import WireError
from fxim.protocol.command import (
    INT64, Command, Notification, VersionCommand, flatCommand, int64FromBody, int64Notification,
    listResponses,
)
from fxim.storage.receipts import Report
from fxim.storage.settings import Setting
from fxim.wire import im_pb2 as pb
from fxim.wire.codecs_convert import (
    dumps, jint, jint32, jobj, jstr, jtos, loadsJson, parsePb, pb_, ps,
    pss,
)
from fxim.wire.extensions import (
    DeliveryReportRequest, GetSettings, PullReports, PutSetting, ReadReportRequest,
    ReportList, ReportNotify, SettingList, SettingNotify, SettingVersion, StreamChunk,
)
from fxim.wire.signals import SubSignal



# -- reports -------------------------------------------------------------------

#: MDR: the reporter got 1:1 messages from a sender (code only).
DeliveryReportCommand = flatCommand(
    "DeliveryReportCommand", SubSignal.MDR, DeliveryReportRequest, pb.DeliveryReport,
    [("target", "target", ps, "target", jstr), ("date", "date", int, "date", jint)],
    ("date", "target"), "MDR: the reporter got 1:1 messages from a sender (code only).")


class ReadReportCommand(Command):
    """
    MRR: the reporter read a conversation up to a date (code only).
    """

    subsignal = int(SubSignal.MRR)
    request = ReadReportRequest
    requestFromTcp = staticmethod(lambda body: (lambda m: ReadReportRequest(
        ps(m.target), m.date, m.type, m.line, pss(m.tos)))(parsePb(pb.ReadReport, body)))
    requestFromWs = staticmethod(lambda c: (lambda o: ReadReportRequest(
        jstr(o.get("target")), jint(o.get("date")), jint32(o.get("type")),
        jint32(o.get("line")), jtos(o.get("tos"))))(jobj(c)))
    requestToTcp = staticmethod(lambda r: pb_(pb.ReadReport, type=r.conversationType,
                                              line=r.line, target=r.target, date=r.date,
                                              tos=list(r.tos)))
    requestToWs = staticmethod(lambda r: {"target": r.target, "date": r.date,
                                          "type": r.conversationType, "line": r.line,
                                          "tos": list(r.tos)})


def reportToJson(r: Report) -> Dict[str, Any]:
    return {"uid": r.userId, "target": r.target, "reportType": r.reportType, "date": r.date}


def _mrpReplyTcp(r: ReportList) -> bytes:
    m = pb.PullMessageReportResult(current=r.current, head=r.head)
    for report in r.reports:
        m.report.add(report_type=report.reportType, uid=report.userId, date=report.date,
                     target=report.target)
    return m.SerializeToString()


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


class PullReportsCommand(Command):
    """
    MRP: the caller's reports from a seq on.
    """

    subsignal = int(SubSignal.MRP)
    request = PullReports
    response = ReportList
    requestFromTcp = staticmethod(lambda body: (lambda m: PullReports(m.id, m.type))(
        parsePb(pb.PullMessageReportRequest, body)))
    requestFromWs = staticmethod(lambda c: (lambda o: PullReports(
        jint(o.get("id")), jint32(o.get("type"))))(jobj(c)))
    responseToTcp = staticmethod(_mrpReplyTcp)
    responseToWs = staticmethod(lambda r: dumps({
        "current": str(r.current), "head": str(r.head), "messageCount": len(r.reports),
        "messageReportList": [reportToJson(x) for x in r.reports]}))
    requestToTcp = staticmethod(lambda r: pb_(pb.PullMessageReportRequest, id=r.fromSeq,
                                              type=r.type))
    requestToWs = staticmethod(lambda r: {"id": str(r.fromSeq), "type": r.type})
    responseFromTcp = staticmethod(_mrpResultTcp)
    responseFromWs = staticmethod(_mrpResultWs)


class ReportNotification(Notification):
    """
    MRN: the user's report head moved.
    """

    push = ReportNotify
    subsignal = int(SubSignal.MRN)
    toTcp = staticmethod(lambda p: pb.NotifyMessageReport(
        type=p.type, head=p.head).SerializeToString())
    toWs = staticmethod(lambda p: '{"messageHead":"%d","type":%d}' % (p.head, p.type))
    fromTcp = staticmethod(lambda body: (lambda m: ReportNotify(m.type, m.head))(
        parsePb(pb.NotifyMessageReport, body)))
    fromWs = staticmethod(lambda v: ReportNotify(jint32(jobj(v).get("type")),
                                                 jint(v.get("messageHead"))))


# -- settings ------------------------------------------------------------------

def settingToJson(s: Setting) -> Dict[str, Any]:
    return {"scope": s.scope, "key": s.key, "value": s.value, "updateDt": s.updateDt}


def _settingToPb(s: Setting, m: Any) -> None:
    m.scope, m.key, m.value, m.update_dt = s.scope, s.key, s.value, s.updateDt


def _settingFromPb(e: Any) -> Setting:
    return Setting(e.scope, ps(e.key), ps(e.value), e.update_dt)


def _settingFromJson(v: Any) -> Setting:
    o = jobj(v, "setting")
    return Setting(jint32(o.get("scope")), jstr(o.get("key")), jstr(o.get("value")),
                   jint(o.get("updateDt")))


class GetSettingsCommand(VersionCommand):
    """
    UG: the caller's settings above a version.
    """

    subsignal = int(SubSignal.UG)
    request = GetSettings
    response = SettingList
    wsEmpty = "[]"
    responseToTcp, responseToWs, responseFromTcp, responseFromWs = listResponses(
        pb.GetUserSettingResult, "entry", "entries", SettingList, _settingToPb, _settingFromPb,
        settingToJson, _settingFromJson, what="UG result")


class PutSettingCommand(Command):
    """
    UP: set one setting; answered with the new setting version.
    """

    subsignal = int(SubSignal.UP)
    request = PutSetting
    response = SettingVersion
    requestFromTcp = staticmethod(lambda body: (lambda m: PutSetting(
        m.scope, ps(m.key), ps(m.value)))(parsePb(pb.ModifyUserSettingReq, body)))
    requestFromWs = staticmethod(lambda c: (lambda o: PutSetting(
        jint32(o.get("scope")), jstr(o.get("key")), jstr(o.get("value"))))(jobj(c)))
    responseToTcp = staticmethod(lambda r: INT64.pack(r.version))
    responseToWs = staticmethod(lambda r: '{"version":"%d"}' % (r.version,))
    requestToTcp = staticmethod(lambda r: pb_(pb.ModifyUserSettingReq, scope=r.scope, key=r.key,
                                              value=r.value))
    requestToWs = staticmethod(lambda r: {"scope": r.scope, "key": r.key, "value": r.value})
    responseFromTcp = staticmethod(lambda body: SettingVersion(int64FromBody(body)))
    responseFromWs = staticmethod(lambda v: SettingVersion(jint(jobj(v).get("version"))))


#: UN: the user's setting version moved.
SettingNotification = int64Notification(SubSignal.UN, SettingNotify, "version",
                                        "UN: the user's setting version moved.")


# -- streamed agent answers ----------------------------------------------------

def chunkJson(p: StreamChunk) -> str:
    return dumps({"i": p.streamId, "d": p.delta, "f": p.final, "t": p.target})


def _chunkFromValue(v: Any) -> StreamChunk:
    o = jobj(v, "SAI")
    final = o.get("f")
    if type(final) is not bool:
        raise WireError("SAI f is not a boolean")
    return StreamChunk(jstr(o.get("i")), jstr(o.get("d")), final, jstr(o.get("t")))


class StreamChunkNotification(Notification):
    """
    SAI: one frame of a streamed agent answer, the same JSON on both
    transports.
    """

    push = StreamChunk
    subsignal = int(SubSignal.SAI)
    toTcp = staticmethod(lambda p: chunkJson(p).encode("utf-8"))
    toWs = staticmethod(chunkJson)
    fromTcp = staticmethod(lambda body: _chunkFromValue(loadsJson(body)))
    fromWs = staticmethod(_chunkFromValue)


COMMANDS = (DeliveryReportCommand, ReadReportCommand, PullReportsCommand, GetSettingsCommand,
            PutSettingCommand)
NOTIFICATIONS = (ReportNotification, SettingNotification, StreamChunkNotification)
