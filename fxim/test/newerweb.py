"""
A test driver that behaves like the newer web client (vue-chat-pro 1.2.3)
on a real WebSocket: it sends the frames that client sends, built the way
its code builds them, and reacts to pushes as it does:

  - MN C{{"messageHead":h}} -> MP C{{"messageId":h,"type":0,"pullType":1,
    "sendMessageCount":0}}; each received displayable 1:1 message -> MDR
    C{{"date":now,"target":<sender>}} (and MRR for the selected
    conversation);
  - MRN C{{"messageHead":h,"type":t}} -> MRP C{{"id":h,"type":t}} with the
    head passed through unchanged (a string);
  - SAI frames are recorded in order.

Every server envelope is recorded with its content parsed (C{raw}), so
tests can check exact JSON types (a C{localMessageId} that is a string).
"""

import json
import time
from typing import Any, Dict, List, Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred

from fxim.test.e2e import sleep

#: Persist flags 1/3 (displayable) by content type, as the client's
#: messageConfig says for the types these tests use.
DISPLAYABLE = {1, 2, 3, 4, 5, 6, 7, 8}


def now() -> int:
    return int(time.time() * 1000)


class NewerWebClient:
    """
    @ivar raw: every server envelope as a dict (content parsed when it is
        JSON text).
    @ivar messages: pulled messages (raw dicts), in arrival order.
    @ivar reports: report dicts from every MRP result, in order.
    @ivar mrn: MRN contents received.
    @ivar sai: SAI contents received, in order.
    @ivar events: ("MN", head) / ("SAI", content) / ("MSG", message) in order.
    """

    def __init__(self, conn: Any, autoDeliveryReport: bool = True) -> None:
        self.conn = conn
        self.userId = conn.userId
        self.autoDeliveryReport = autoDeliveryReport
        self.selected: Optional[str] = None
        self.raw: List[Dict[str, Any]] = []
        self.rawTexts: List[str] = []
        self.messages: List[Dict[str, Any]] = []
        self.reports: List[Dict[str, Any]] = []
        self.mrn: List[Dict[str, Any]] = []
        self.sai: List[Dict[str, Any]] = []
        self.settingNotices: List[Dict[str, Any]] = []
        self.events: List[tuple] = []
        self.lastMdrDate = 0
        self._seen: set = set()
        self._waiting: Dict[int, Deferred] = {}
        self._nextId = 1000
        original = conn.onMessage

        def spy(payload: bytes, isBinary: bool) -> None:
            self.rawTexts.append(payload.decode("utf-8"))
            try:
                self._envelope(json.loads(payload.decode("utf-8")))
            finally:
                original(payload, isBinary)
        conn.onMessage = spy

    # -- sending -----------------------------------------------------------

    def send(self, subSignal: str, content: Any) -> Deferred:
        """
        Send one PUBLISH frame; @return: a Deferred firing with the ack's
        parsed content (C{""} stays C{""}).
        """
        self._nextId = self._nextId % 60000 + 1
        messageId = self._nextId
        d: Deferred = Deferred()
        text = json.dumps({"signal": "PUBLISH", "subSignal": subSignal, "messageId": messageId,
                           "content": content}, ensure_ascii=False, separators=(",", ":"))
        if self.conn.closed.called:
            return d  # like the real client: a request on a closed socket is never answered
        self._waiting[messageId] = d
        try:
            self.conn.sendText(text)
        except Exception:  # autobahn's Disconnected while the test tears down
            self._waiting.pop(messageId, None)
        return d

    def sendText(self, target: str, body: str, localId: str, conversationType: int = 0,
                 tos: Any = "", **content: Any) -> Deferred:
        """
        MS as C{FscMessage.convertToFscMessage} builds it.
        """
        inner = {"type": 1, "searchableContent": body, "mentionedType": 0,
                 "mentionedTargets": []}
        inner.update(content)
        return self.send("MS", {
            "conversationType": conversationType, "target": target, "line": 0,
            "from": self.userId, "content": inner, "messageId": localId, "direction": 0,
            "status": 0, "localMessageId": localId, "timestamp": now(), "tos": tos})

    def readReport(self, target: str, conversationType: int = 0, tos=()) -> Deferred:
        return self.send("MRR", {"target": target, "date": now(), "type": conversationType,
                                 "line": 0, "tos": list(tos)})

    # -- receiving ----------------------------------------------------------

    def _envelope(self, envelope: Dict[str, Any]) -> None:
        content: Any = envelope.get("content")
        if isinstance(content, str) and content:
            try:
                content = json.loads(content)
            except ValueError:
                pass
        envelope = dict(envelope, content=content)
        self.raw.append(envelope)
        signal, sub = envelope.get("signal"), envelope.get("subSignal")
        if signal == "PUB_ACK":
            messageId = envelope.get("messageId")
            d = None if messageId is None else self._waiting.pop(messageId, None)
            if d is not None:
                d.callback(content)
                return
            if sub == "MP" and isinstance(content, dict):
                self._pulled(content)
            return
        if signal != "PUBLISH":
            return
        if sub == "MN":
            self.events.append(("MN", int(content["messageHead"])))
            self.send("MP", {"messageId": content["messageHead"], "type": 0, "pullType": 1,
                             "sendMessageCount": 0}).addCallback(self._pulled)
        elif sub == "MRN":
            self.mrn.append(content)
            self.send("MRP", {"id": content["messageHead"], "type": content["type"]}
                      ).addCallback(self._reportsPulled)
        elif sub == "SAI":
            self.sai.append(content)
            self.events.append(("SAI", content))
        elif sub == "UN":
            self.settingNotices.append(content)

    def _pulled(self, result: Any) -> None:
        if not isinstance(result, dict):
            return
        for m in result.get("messageResponseList", []):
            # Pull windows overlap (each MN pulls from head - 1); the client
            # keeps one copy per message (store.js addProtoMessage).
            if m["messageId"] in self._seen:
                continue
            self._seen.add(m["messageId"])
            self.messages.append(m)
            self.events.append(("MSG", m))
            incoming = m.get("from") != self.userId
            if not incoming or m["content"]["type"] not in DISPLAYABLE:
                continue
            if m["conversationType"] == 0 and self.autoDeliveryReport:
                self.lastMdrDate = now()
                self.send("MDR", {"date": self.lastMdrDate, "target": m["from"]})
            target = m["from"] if m["conversationType"] == 0 else m["target"]
            if self.selected == target:
                self.readReport(target, m["conversationType"])

    def _reportsPulled(self, result: Any) -> None:
        if isinstance(result, dict):
            self.reports.extend(result.get("messageReportList", []))

    async def waitFor(self, predicate, timeout: float = 30.0, what: str = "") -> None:
        """
        Poll C{predicate()} until true.
        """
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or predicate}")
            await sleep(0.05)


__all__ = ["NewerWebClient", "now", "reactor"]
