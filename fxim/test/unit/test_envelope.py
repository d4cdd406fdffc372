# -*- test-case-name: fxim.test.unit.test_envelope -*-
"""
Tests for L{fxim.wire.envelope}.
"""

import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fxim.errors import WireError
from fxim.wire.envelope import (
    HEARTBEAT, Envelope, decodeEnvelope, dumpContent, encodeEnvelope, subSignalName,
)
from fxim.wire.sanitize import MAX_JSON_DEPTH, TooManyItems
from fxim.wire.signals import Signal, SubSignal

jsonValues = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=12,
)


class DecodeEnvelopeTests(SynchronousTestCase):
    """
    Tests for L{decodeEnvelope}.
    """

    def test_contentObject(self):
        """
        The web client's object content is kept as a dict.
        """
        e = decodeEnvelope('{"signal":"PUBLISH","subSignal":"FP","messageId":1,'
                           '"content":{"version":0}}')
        self.assertEqual(e, Envelope(Signal.PUBLISH, SubSignal.FP, 1, {"version": 0}))

    def test_contentArray(self):
        """
        Array content (UPUI) is kept as a list.
        """
        e = decodeEnvelope('{"signal":"PUBLISH","subSignal":"UPUI","messageId":4,'
                           '"content":["u1","u2"]}')
        self.assertEqual(e.content, ["u1", "u2"])
        self.assertEqual(e.subsignal, SubSignal.UPUI)

    def test_contentJsonInString(self):
        """
        JSON text inside a string is parsed, as fastjson would read it.
        """
        e = decodeEnvelope('{"signal":"PUBLISH","subSignal":"FP","messageId":1,'
                           '"content":"{\\"version\\":0}"}')
        self.assertEqual(e.content, {"version": 0})

    def test_depthAtTheEdge(self):
        """
        Nesting one level over the limit is refused, in the envelope and in
        its content text, and at the limit it is not; brackets inside
        strings alone never refuse.
        """
        def nested(levels):
            return "[" * levels + "]" * levels

        def envelope(content):
            return json.dumps({"signal": "PUBLISH", "subSignal": "FP", "content": content})
        self.assertEqual(decodeEnvelope(envelope(nested(MAX_JSON_DEPTH))).content,
                         json.loads(nested(MAX_JSON_DEPTH)))
        self.assertRaises(WireError, decodeEnvelope, envelope(nested(MAX_JSON_DEPTH + 1)))
        outer = ('{"signal":"PUBLISH","subSignal":"FP","content":%s}'
                 % (nested(MAX_JSON_DEPTH + 2),))
        self.assertRaises(WireError, decodeEnvelope, outer)
        # Brackets escaped in the envelope nest once unescaped.
        escaped = envelope(nested(MAX_JSON_DEPTH + 1)).replace("[", "\\u005b")
        self.assertNotIn("[", escaped)
        self.assertRaises(WireError, decodeEnvelope, escaped)
        brackets = json.dumps({"text": "[{" * 500})
        self.assertEqual(decodeEnvelope(envelope(brackets)).content, json.loads(brackets))

    def test_itemsBound(self):
        """
        A received envelope carries a bound on its lists' lengths: the
        commas + 1 of the content's text, or of the envelope's when the
        content is an array; commas escaped in the envelope count once
        unescaped.
        """
        text = json.dumps({"signal": "PUBLISH", "subSignal": "UPUI",
                           "content": json.dumps(["a", "b", "c"])})
        e = decodeEnvelope(text)
        self.assertEqual((e.items, e.content), (3, ["a", "b", "c"]))
        escaped = text.replace('", \\"', '"\\u002c \\"')
        self.assertNotEqual(escaped, text)
        self.assertEqual(escaped.count(","), 2)
        e = decodeEnvelope(escaped)
        self.assertEqual((e.items, e.content), (3, ["a", "b", "c"]))
        e = decodeEnvelope('{"signal":"PUBLISH","subSignal":"UPUI","content":["a","b"]}')
        self.assertEqual((e.items, e.content), (4, ["a", "b"]))
        self.assertEqual(Envelope(Signal.PUBLISH).items, -1)

    def test_contentEmptyString(self):
        """
        C{""} and a missing content are L{None}.
        """
        self.assertIsNone(decodeEnvelope(
            '{"signal":"PUBLISH","subSignal":"FP","messageId":1,"content":""}').content)
        self.assertIsNone(decodeEnvelope('{"signal":"PUBLISH","subSignal":"FP"}').content)

    def test_unknownSubSignal(self):
        """
        An unknown subSignal name decodes as NONE.
        """
        e = decodeEnvelope('{"signal":"PUBLISH","subSignal":"XYZ","messageId":3}')
        self.assertEqual(e.subsignal, 0)

    def test_messageIdString(self):
        """
        A numeric string messageId is accepted; 65536 wraps to 0.
        """
        self.assertEqual(decodeEnvelope('{"signal":"PUBLISH","messageId":"7"}').messageId, 7)
        self.assertEqual(decodeEnvelope('{"signal":"PUBLISH","messageId":65536}').messageId, 0)

    def test_badSignal(self):
        """
        A missing, unknown or NONE signal is a L{WireError}; so is non-JSON
        and a non-object.
        """
        for text in ['{"subSignal":"MS"}', '{"signal":"FOO"}', '{"signal":"NONE"}',
                     "[]", "not json", '"PUBLISH"', "{"]:
            self.assertRaises(WireError, decodeEnvelope, text)

    def test_heartbeat(self):
        """
        The heartbeat text is the constant transports compare with; it is
        not an envelope.
        """
        self.assertEqual(HEARTBEAT, "\u5fc3\u8df3\u5185\u5bb9")
        self.assertEqual(HEARTBEAT.encode("utf-8"), bytes.fromhex("e5bf83e8b7b3e58685e5aeb9"))
        self.assertRaises(WireError, decodeEnvelope, HEARTBEAT)

    def test_capturedConnect(self):
        """
        The web client's captured CONNECT frame.
        """
        e = decodeEnvelope(
            '{"signal":"CONNECT","subSignal":"NONE","messageId":0,"content":{"userName":'
            '"u13800000000","password":"eSz2QMXRAIgPs2EH/HdzZfTh4nZ8MKbkD/RH4GwE8a8=",'
            '"clientIdentifier":"04710539-6441-485a-b264-4b09b58eba3d"}}')
        self.assertEqual((e.signal, e.subsignal, e.messageId), (Signal.CONNECT, 0, 0))
        self.assertEqual(e.content["userName"], "u13800000000")

    @given(st.text(max_size=200))
    def test_anyTextDecodesOrRaises(self, text):
        """
        Any text either decodes or raises L{WireError}.
        """
        try:
            self.assertIsInstance(decodeEnvelope(text), Envelope)
        except WireError:
            pass

    @given(jsonValues, st.sampled_from([s.name for s in Signal]),
           st.sampled_from([s.name for s in SubSignal] + ["BOGUS"]), jsonValues)
    def test_anyEnvelopeShapedJson(self, content, signal, subSignal, messageId):
        """
        Any object with envelope keys decodes or raises L{WireError}.
        """
        text = json.dumps({"signal": signal, "subSignal": subSignal,
                           "messageId": messageId, "content": content})
        try:
            self.assertIsInstance(decodeEnvelope(text), Envelope)
        except WireError:
            pass


class WsDecodeRequestTests(SynchronousTestCase):
    """
    L{WsWire.decodeRequest} refuses long lists before converting them, and
    walks a payload only when its bound allows one.
    """

    def test_listsOverTheCap(self):
        """
        A list longer than C{maxItems} is refused whatever the bound says
        when the bound is unknown or over the cap; under the cap the payload
        is not walked.
        """
        from fxim.protocol import wire as wireModule
        from fxim.protocol.wire import WsWire
        from fxim.protocol.social import PullUsersCommand
        walked = []
        original = wireModule.checkValue

        def counting(*args, **kwargs):
            walked.append(args[0])
            return original(*args, **kwargs)
        self.patch(wireModule, "checkValue", counting)
        wsWire = WsWire()
        long = [str(i) for i in range(11)]
        for items in (-1, 12, 40):
            self.assertRaises(TooManyItems, wsWire.decodeRequest, PullUsersCommand, long, 10,
                              items)
        self.assertEqual(len(walked), 3)
        wsWire.decodeRequest(PullUsersCommand, long[:3], 10, 3)
        wsWire.decodeRequest(PullUsersCommand, long, None, -1)
        self.assertEqual(len(walked), 3)


class EncodeEnvelopeTests(SynchronousTestCase):
    """
    Tests for L{encodeEnvelope} and L{dumpContent}.
    """

    def test_contentIsString(self):
        """
        The server writes content as a JSON string holding JSON text.
        """
        text = encodeEnvelope(Envelope(Signal.PUB_ACK, SubSignal.MS, 6,
                                       dumpContent({"messageId": "1", "timestamp": 2})))
        self.assertEqual(json.loads(text), {
            "content": '{"messageId":"1","timestamp":2}', "messageId": 6,
            "signal": "PUB_ACK", "subSignal": "MS"})

    def test_contentOmitted(self):
        """
        Content L{None} omits the key; C{""} is written.
        """
        self.assertNotIn("content", json.loads(encodeEnvelope(Envelope(Signal.PUB_ACK, 0, 1))))
        self.assertEqual(
            json.loads(encodeEnvelope(Envelope(Signal.PUB_ACK, 9, 1, "")))["content"], "")

    def test_nullOmission(self):
        """
        Null values are omitted at every depth; empty strings and zeros are
        kept.
        """
        self.assertEqual(dumpContent({"a": None, "b": [{"c": None, "d": 0}], "e": ""}),
                         '{"b":[{"d":0}],"e":""}')

    def test_compactUnicode(self):
        """
        Content is compact and not ASCII-escaped.
        """
        self.assertEqual(dumpContent({"t": "\u4f60\u597d", "n": [1, 2]}),
                         '{"t":"\u4f60\u597d","n":[1,2]}')

    def test_subSignalName(self):
        """
        Unknown ordinals are named NONE.
        """
        self.assertEqual(subSignalName(18), "MS")
        self.assertEqual(subSignalName(120), "NONE")

    @given(jsonValues)
    def test_roundTripThroughClient(self, value):
        """
        What the server writes, the client reads back (content text intact).
        """
        content = dumpContent(value)
        text = encodeEnvelope(Envelope(Signal.PUBLISH, SubSignal.MN, 0, content))
        self.assertEqual(json.loads(text)["content"], content)
