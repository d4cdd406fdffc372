"""
Property tests of the newer clients' commands (L{fxim.protocol.newer}):
MDR, MRR, MRP, MRN, UG, UP, UN and SAI round-trip through the client and
server codecs on both transports, and every decoder raises only
L{WireError} -- plus the exact frames the newer web client sends.
"""

import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fxim.errors import WireError
from fxim.storage.receipts import Report
from fxim.storage.settings import Setting
from fxim.test.unit import test_codecs as _tc
from fxim.test.unit.test_codecs import (
    COMMANDS, client, decodeWsText, encodePushTcp, encodePushWs, fuzzJson, int32, int64, text,
)
from fxim.wire.envelope import encodeEnvelope
from fxim.wire.extensions import (
    DeliveryReportRequest, GetSettings, PullReports, PutSetting, ReadReportRequest,
    ReportList, ReportNotify, SettingList, SettingNotify, SettingVersion, StreamChunk,
)
from fxim.wire.frame import Frame, FrameDecoder, encodeFrame
from fxim.wire.signals import Signal, SubSignal

S = SubSignal
NEWER = (S.MDR, S.MRR, S.MRP, S.UG, S.UP)
NEWER_CODECS = [COMMANDS.lookup(Signal.PUBLISH, s) for s in NEWER]

requests = st.one_of(
    st.builds(DeliveryReportRequest, text, int64),
    st.builds(ReadReportRequest, text, int64, int32, int32, st.lists(text, max_size=3).map(tuple)),
    st.builds(PullReports, int64, int32),
    st.builds(GetSettings, int64),
    st.builds(PutSetting, int32, text, text),
)
reports = st.builds(Report, int32, text, text, int64)
settings = st.builds(Setting, int32, text, text, int64)
responses = st.one_of(
    st.tuples(st.just(S.MRP), st.builds(ReportList, st.lists(reports, max_size=3).map(tuple),
                                        int64, int64)),
    st.tuples(st.just(S.UG), st.builds(SettingList, st.lists(settings, max_size=3).map(tuple))),
    st.tuples(st.just(S.UP), st.builds(SettingVersion, int64)),
)
pushes = st.one_of(
    st.builds(ReportNotify, int32, int64),
    st.builds(SettingNotify, int64),
    st.builds(StreamChunk, text, text, st.booleans(), text),
)


class RoundTripTests(SynchronousTestCase):

    @given(requests)
    def test_requestTcp(self, request):
        frame = FrameDecoder().feed(client.encodeRequestFrame(request, 5))[0]
        self.assertEqual(COMMANDS.lookup(frame.signal, frame.subsignal).decodeTcp(frame.body),
                         request)

    @given(requests)
    def test_requestWs(self, request):
        self.assertEqual(decodeWsText(client.encodeRequestEnvelope(request, 5)), request)

    @given(responses, st.integers(0, 0xFFFF))
    def test_replyTcp(self, subAndResponse, messageId):
        sub, response = subAndResponse
        frame = COMMANDS.lookup(Signal.PUBLISH, sub).replyTcp(messageId, 0, response)
        [frame] = FrameDecoder().feed(encodeFrame(frame))
        self.assertEqual(client.decodeReplyFrame(frame), (0, response))

    @given(responses)
    def test_replyWs(self, subAndResponse):
        sub, response = subAndResponse
        envelope = COMMANDS.lookup(Signal.PUBLISH, sub).replyWs(3, 0, response)
        got = client.decodeServerEnvelope(encodeEnvelope(envelope))
        self.assertEqual(client.decodeReplyWs(got.subsignal, got.content), response)

    @given(pushes)
    def test_pushTcp(self, push):
        [frame] = FrameDecoder().feed(encodePushTcp(push))
        self.assertEqual((frame.signal, frame.messageId), (Signal.PUBLISH, 0))
        self.assertEqual(client.decodePushTcp(frame), push)

    @given(pushes)
    def test_pushWs(self, push):
        envelope = client.decodeServerEnvelope(encodePushWs(push))
        self.assertEqual(client.decodePushWs(envelope), push)

    def test_codeOnlyReports(self):
        """
        MDR and MRR replies are the code only: C{[0]} on TCP, the WsResult
        C{{"code":200,...}} on WS (the web client only needs it non-empty).
        """
        for sub in (S.MDR, S.MRR):
            c = COMMANDS.lookup(Signal.PUBLISH, sub)
            self.assertEqual(c.replyTcp(4, 0, None), Frame(Signal.PUB_ACK, sub, 4, b"\x00"))
            self.assertEqual(json.loads(c.replyWs(4, 0, None).content),
                             {"code": 200, "message": "success"})


class GoldenNewerWebTests(SynchronousTestCase):
    """
    The frames the newer web client sends, as observed from its real code.
    """

    def decode(self, frame):
        return decodeWsText(json.dumps(frame))

    def test_mdr(self):
        self.assertEqual(self.decode({"signal": "PUBLISH", "subSignal": "MDR", "messageId": 6,
                                      "content": {"date": 1796114653791, "target": "BBBBBBBB"}}),
                         DeliveryReportRequest("BBBBBBBB", 1796114653791))

    def test_mrr(self):
        self.assertEqual(
            self.decode({"signal": "PUBLISH", "subSignal": "MRR", "messageId": 14, "content": {
                "target": "GGGGGGGG", "date": 1796114653810, "type": 1, "line": 0,
                "tos": ["CCCCCCCC"]}}),
            ReadReportRequest("GGGGGGGG", 1796114653810, 1, 0, ("CCCCCCCC",)))

    def test_mrpStringId(self):
        """
        MRP passes the MRN head through as received: a string.
        """
        self.assertEqual(self.decode({"signal": "PUBLISH", "subSignal": "MRP", "messageId": 19,
                                      "content": {"id": "5", "type": 1}}), PullReports(5, 1))

    def test_msLocalIdAndEmptyTos(self):
        """
        The newer MS: local id as a string above 2^53 in messageId and
        localMessageId, C{tos} C{""} meaning none.
        """
        request = self.decode({"signal": "PUBLISH", "subSignal": "MS", "messageId": 16, "content": {
            "conversationType": 0, "target": "BBBBBBBB", "line": 0, "from": "AAAAAAAA",
            "content": {"type": 1, "searchableContent": "hello B", "mentionedType": 0,
                        "mentionedTargets": []},
            "messageId": "590093806636892161", "direction": 0, "status": 0,
            "localMessageId": "590093806636892161", "timestamp": 1796114653830, "tos": ""}})
        self.assertEqual(request.message.localId, 590093806636892161)
        self.assertEqual(request.message.to, ())

    def test_pulledLocalIdIsString(self):
        """
        A pulled message carries localMessageId as the decimal string.
        """
        from fxim.model import Conversation, Message, MessageContent
        from fxim.wire.requests import PullResult
        m = Message(Conversation(0, "b", 0), "a", MessageContent(1, "x"), messageUid=7, timestamp=1,
                    localId=590093806636892161)
        text = COMMANDS.lookup(Signal.PUBLISH, S.MP).replyWs(1, 0, PullResult((m,), 1, 1)).content
        [entry] = json.loads(text)["messageResponseList"]
        self.assertEqual(entry["localMessageId"], "590093806636892161")
        bare = Message(Conversation(0, "b", 0), "a", MessageContent(1, "x"), messageUid=8, timestamp=1)
        text = COMMANDS.lookup(Signal.PUBLISH, S.MP).replyWs(1, 0, PullResult((bare,), 1, 1)).content
        self.assertNotIn("localMessageId", json.loads(text)["messageResponseList"][0])

    def test_mrnAndSaiShapes(self):
        self.assertEqual(json.loads(json.loads(encodePushWs(ReportNotify(2, 5)))["content"]),
                         {"messageHead": "5", "type": 2})
        self.assertEqual(
            json.loads(json.loads(encodePushWs(StreamChunk("s1", "hi", False, "AGENT")))[
                "content"]), {"i": "s1", "d": "hi", "f": False, "t": "AGENT"})


class LocalIdPropertyTests(SynchronousTestCase):
    """
    MS with the newer keys: any local id value either is refused with
    L{WireError} or decodes to an int that comes back as its decimal string.
    """

    @given(st.one_of(st.none(), st.integers(), st.text(max_size=25),
                     st.integers(0, 2 ** 63 - 1).map(str), st.sampled_from(["", "0", " 7 "])),
           st.one_of(st.none(), st.just(""), st.lists(text, max_size=3), fuzzJson))
    def test_msLocalIdAndTos(self, localId, tos):
        from fxim.model import Conversation, Message, MessageContent
        from fxim.wire.codecs_convert import messageToJson
        content = {"conversationType": 0, "target": "b", "line": 0, "from": "a",
                   "content": {"type": 1, "searchableContent": "x"},
                   "messageId": localId, "localMessageId": localId, "tos": tos}
        try:
            request = COMMANDS.lookup(Signal.PUBLISH, S.MS).decodeWs(content)
        except WireError:
            return
        m = request.message
        self.assertTrue(m.localId is None or isinstance(m.localId, int))
        self.assertTrue(all(isinstance(t, str) for t in m.to))
        stored = Message(Conversation(0, "b", 0), "a", MessageContent(1, "x"), messageUid=1,
                         timestamp=1, localId=m.localId, to=m.to)
        out = messageToJson(stored)
        if m.localId is None:
            self.assertNotIn("localMessageId", out)
        else:
            self.assertEqual(out["localMessageId"], str(m.localId))
            self.assertEqual(int(str(localId).strip()), m.localId)


class NewerFuzzTests(SynchronousTestCase):
    """
    The newer decoders return a request or raise L{WireError}.
    """

    check = _tc.FuzzTests.check

    @given(st.sampled_from(NEWER_CODECS), st.binary(max_size=64))
    def test_anyBytes(self, codec, body):
        self.check(codec.decodeTcp, body)

    @given(st.sampled_from(NEWER_CODECS), requests,
           st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 255)), max_size=3),
           st.integers(0, 100))
    def test_mutatedBodies(self, codec, request, flips, cut):
        body = bytearray(client.encodeRequestTcp(request))
        for position, value in flips:
            if body:
                body[position % len(body)] = value
        self.check(codec.decodeTcp, bytes(body))
        self.check(codec.decodeTcp, bytes(body[:cut]))

    @given(st.sampled_from(NEWER_CODECS), fuzzJson | st.dictionaries(
        st.sampled_from(["date", "target", "type", "line", "tos", "id", "scope", "key",
                         "value", "version"]), fuzzJson, max_size=5))
    def test_anyJson(self, codec, content):
        self.check(codec.decodeWs, content)

    @given(st.binary(max_size=40), st.sampled_from([S.MRN, S.UN, S.SAI, S.MRP, S.UG, S.UP]))
    def test_clientDecoders(self, body, sub):
        for call in (lambda: client.decodeReplyTcp(sub, b"\x00" + body),
                     lambda: client.decodePushTcp(Frame(Signal.PUBLISH, sub, 0, body)),
                     lambda: client.decodeReplyWs(sub, body.decode("latin-1")),
                     lambda: client.decodePushWs(client.decodeServerEnvelope(json.dumps({
                         "signal": "PUBLISH", "subSignal": sub.name, "messageId": 0,
                         "content": body.decode("latin-1")})))):
            try:
                call()
            except WireError:
                pass
