# -*- test-case-name: fxim.test.unit.test_codecs_newer -*-
"""
Typed requests, responses and pushes of the subsignals the newer 飞享
clients added after 2020 -- delivery and read reports (MDR, MRR, MRP, MRN),
settings sync (UG, UP, UN) and streaming AI replies (SAI).  Their commands
are in L{fxim.protocol.newer}.  See C{docs/protocol.md} ("Newer clients").
"""

from typing import Tuple

import attr

from fxim.storage.receipts import Report
from fxim.storage.settings import Setting



# -- records --------------------------------------------------------------------

@attr.s(frozen=True, slots=True, auto_attribs=True)
class DeliveryReportRequest:
    """
    MDR: the reporter got 1:1 messages from C{target} (the original
    sender); C{date} is the reporter's clock (ms).
    """

    target: str
    date: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
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


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PullReports:
    """
    MRP: the caller's reports from seq C{fromSeq} on (inclusive).
    """

    fromSeq: int
    type: int = 0


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ReportList:
    """
    The MRP result: L{Report}s in ascending seq.
    """

    reports: Tuple[Report, ...]
    current: int
    head: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class ReportNotify:
    """
    MRN: the user's report head moved to C{head}.
    """

    type: int
    head: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class GetSettings:
    """
    UG: the caller's settings with a version above C{version}.
    """

    version: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SettingList:
    entries: Tuple[Setting, ...]


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PutSetting:
    """
    UP: set one setting.
    """

    scope: int
    key: str
    value: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SettingVersion:
    """
    The UP reply and the UN push: the user's new setting version.
    """

    version: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SettingNotify:
    version: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
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
