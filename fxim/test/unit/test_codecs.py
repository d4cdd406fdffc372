# -*- test-case-name: fxim.test.unit.test_codecs -*-
"""
Tests for the commands of L{fxim.protocol} (server side, through the wire
objects, and client side, L{fxim.protocol.client}): golden tests against
captured real-client frames and the client contract, fuzzing of every
decoder, and round trips through the client-side encodings.
"""

import json
import os
import re

import attr
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from fxim.test import TEST_DIR
from fxim.errors import ErrorCode, WireError
from fxim.model import (
    Conversation, Friend, FriendRequest, GroupInfo, GroupMember, Message,
    MessageContent, User,
)
from fxim.protocol.client import ClientWire
from fxim.protocol.command import WS_SUCCESS, Notification, jsonCommand
from fxim.protocol.registry import BUILTIN
from fxim.protocol.wire import TcpWire, WsWire
from fxim.wire import im_pb2 as pb
from fxim.wire.envelope import Envelope, encodeEnvelope, subSignalName
from fxim.wire.frame import Frame, FrameDecoder, encodeFrame
from fxim.wire.requests import (
    AddFriend, AddGroupMembers, ConnectAck, ConnectRequest, CreateGroup,
    DisconnectRequest, DismissGroup, FriendList, FriendNotify,
    FriendRequestList, FriendRequestNotify, GetUploadToken, GetUploadUrl,
    GroupCreated, GroupInfoList, GroupMemberList, HandleFriendRequest,
    HistoryResult, JsonRequest, KickGroupMembers, LoadHistory, MessageNotify,
    ModifyGroupInfo, ModifyMyInfo, PingReply, PingRequest, PluginPush,
    PullFriendRequests, PullFriends, PullGroupInfo, PullGroupMembers,
    PullMessages, PullResult, PullUsers, PullUsersResult, QuitGroup,
    RecallMessage, RecallNotify, SearchUsers, SendMessage, SendResult,
    SetFriendAlias, SyncFriendRequestUnread, TransparentMessage, UploadToken,
    UploadUrl, UserList,
)
from fxim.wire.signals import Signal, SubSignal

FIXTURES = os.path.join(TEST_DIR, "fixtures")

#: A plugin subsignal these tests' registry adds.
PLUGIN_SUB, PLUGIN_NAME = 99, "CODECTESTECHO"
PLUGIN_COMMAND = jsonCommand(PLUGIN_SUB, PLUGIN_NAME)
COMMANDS = BUILTIN.extended([PLUGIN_COMMAND])
TCP, WS = TcpWire(COMMANDS), WsWire(COMMANDS)
client = ClientWire(COMMANDS)


def encodePushTcp(push):
    """
    The whole TCP frame of a push.
    """
    return TCP.encodePush(push)


def encodePushWs(push):
    """
    The whole envelope text of a push.
    """
    return WS.encodePush(push).decode("utf-8")


def encodePush(push):
    """
    Both encodings of a push.
    """
    return encodePushTcp(push), encodePushWs(push)


# -- fixtures ---------------------------------------------------------------------

def tcpClientFrames():
    """
    The C{>>} frames of the TCP capture, as L{Frame}s.
    """
    frames = []
    pattern = re.compile(r"^>> (\S+) id=(\d+) header=([0-9a-f]{20}) body\((\d+)\)=(.*)$")
    with open(os.path.join(FIXTURES, "tcp-client-frames.log"), encoding="utf-8") as f:
        for line in f:
            match = pattern.match(line.rstrip("\n"))
            if not match:
                continue
            header, length, text = bytes.fromhex(match.group(3)), int(match.group(4)), match.group(5)
            body = text.encode("utf-8") if header[2] in (Signal.CONNECT, Signal.PING) \
                else bytes.fromhex(text)
            assert len(body) == length, line
            [frame] = FrameDecoder().feed(header + body)
            frames.append(frame)
    return frames


def webClientEnvelopes():
    """
    The C{>>} lines of the web capture, as raw texts.
    """
    texts = []
    with open(os.path.join(FIXTURES, "web-client-frames.jsonl"), encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record["dir"] == ">>":
                texts.append(record["text"])
    return texts


def decodeTcpFrame(frame):
    return COMMANDS.lookup(frame.signal, frame.subsignal).decodeTcp(frame.body)


def decodeWsText(text):
    envelope = WS.decodeText(text)
    return COMMANDS.lookup(envelope.signal, envelope.subsignal).decodeWs(envelope.content)


def wsContent(envelope):
    """
    The JSON value inside a server envelope's content string.
    """
    return json.loads(json.loads(encodeEnvelope(envelope))["content"])


class GoldenTcpTests(SynchronousTestCase):
    """
    Every captured TCP client frame decodes to the right request.
    """

    def test_capturedFrames(self):
        """
        CONNECT, PING, FP, MP and MS from the Java SDK.
        """
        self.assertEqual([decodeTcpFrame(f) for f in tcpClientFrames()], [
            ConnectRequest("u13800000000", "8f7ND1V/ckzcXXrv8sgrup6W/0aGqNFaGMbdT+gWvDE=",
                           "probe-0mgwj1jj"),
            PingRequest(180000),
            PullFriends(0),
            PullMessages(0, 0),
            SendMessage(Message(Conversation(0, "u13800000001", 0), "u13800000000",
                                MessageContent(1, "hello over tcp"))),
        ])

    def test_clientEncodersMatchCapture(self):
        """
        The client-side encoders write the SDK's bytes for CONNECT, PING,
        FP and MP.
        """
        frames = tcpClientFrames()
        for frame in frames[:4]:
            request = decodeTcpFrame(frame)
            self.assertEqual(client.encodeRequestFrame(request, frame.messageId),
                             encodeFrame(frame))

    def test_localIdAbsent(self):
        """
        The captured MS has no C{local_message_id}: no idempotency key.
        """
        self.assertIsNone(decodeTcpFrame(tcpClientFrames()[4]).message.localId)

    def test_localIdPresent(self):
        """
        C{local_message_id} (field 8) becomes C{Message.localId}.
        """
        m = pb.Message()
        m.ParseFromString(tcpClientFrames()[4].body)
        m.local_message_id = 0
        request = COMMANDS.lookup(Signal.PUBLISH, SubSignal.MS).decodeTcp(m.SerializeToString())
        self.assertEqual(request.message.localId, 0)


class GoldenWsTests(SynchronousTestCase):
    """
    Every captured web client frame decodes to the right request.
    """

    def test_capturedFrames(self):
        """
        The web client's whole session.
        """
        me, peer, third = "u13800000000", "u13800000001", "u13800000002"
        self.assertEqual([decodeWsText(t) for t in webClientEnvelopes()], [
            ConnectRequest(me, "eSz2QMXRAIgPs2EH/HdzZfTh4nZ8MKbkD/RH4GwE8a8=",
                           "04710539-6441-485a-b264-4b09b58eba3d"),
            PullFriends(0),
            PullFriendRequests(0),
            PullMessages(0, 0),
            PullUsers(((peer, 0), (me, 0))),
            PullUsers(()),
            SendMessage(Message(
                Conversation(0, peer, 0), me,
                MessageContent(1, "hello from headless vue-chat 1795878584208"),
                messageUid=0, timestamp=1795878584209, toUser="", to=(),
                localId=1795878584209)),
            PullMessages(1000, 0),
            PullUsers(((peer, 0),)),
            SearchUsers("13800000002", 1, 0),
            AddFriend(third, "hi from harness"),
            PullFriendRequests(1795878584416 - 1000),
            PullUsers(((third, 0),)),
            HandleFriendRequest(third, 1),
            PullFriends(0),
            CreateGroup(GroupInfo("", "harness group"),
                        (GroupMember(peer, "", 0, 0), GroupMember(me, "", 2, 0)), (), None),
            PullUsers(((peer, 0), (me, 0))),
        ])


class GoldenReplyTests(SynchronousTestCase):
    """
    Replies and pushes as docs/protocol.md shows them.
    """

    def reply(self, sub, response, code=0, messageId=1):
        c = COMMANDS.lookup(Signal.PUBLISH, sub)
        return c.replyTcp(messageId, code, response), c.replyWs(messageId, code, response)

    def test_connectAccepted(self):
        """
        CONNECT_ACK accepted: ConnectAckPayload with the five heads on TCP,
        C{{"friendHead","messageHead":"<str>"}} on WS, messageId 0.
        """
        c = COMMANDS.lookup(Signal.CONNECT, 0)
        ack = ConnectAck(1, msgHead=1000, serverTime=1795878525214)
        self.assertEqual(encodeFrame(c.replyTcp(0, 0, ack)),
                         bytes.fromhex("f8020700000010010000" "08e807100018002000389eb2ce95a234"))
        envelope = c.replyWs(0, 0, ack)
        self.assertEqual((envelope.signal, envelope.subsignal, envelope.messageId),
                         (Signal.CONNECT_ACK, 1, 0))
        self.assertEqual(json.loads(encodeEnvelope(envelope)), {
            "content": '{"friendHead":0,"messageHead":"1000"}', "messageId": 0,
            "signal": "CONNECT_ACK", "subSignal": "CONNECTION_ACCEPTED"})

    def test_connectRefused(self):
        """
        A refusal has the result in the subsignal, an empty body and C{""}.
        """
        c = COMMANDS.lookup(Signal.CONNECT, 0)
        self.assertEqual(c.replyTcp(0, 0, ConnectAck(8)), Frame(Signal.CONNECT_ACK, 8, 0, b""))
        self.assertEqual(c.replyWs(0, 0, ConnectAck(5)), Envelope(Signal.CONNECT_ACK, 5, 0, ""))

    def test_connectServerFailure(self):
        """
        A failed CONNECT handler answers SERVER_UNAVAILABLE (4); a
        malformed CONNECT IDENTIFIER_REJECTED (3).
        """
        c = COMMANDS.lookup(Signal.CONNECT, 0)
        self.assertEqual(c.replyTcp(0, ErrorCode.SERVER_ERROR, None),
                         Frame(Signal.CONNECT_ACK, 4, 0, b""))
        self.assertEqual(c.replyWs(0, ErrorCode.SERVER_ERROR, None),
                         Envelope(Signal.CONNECT_ACK, 4, 0, ""))
        self.assertEqual(c.replyTcp(0, ErrorCode.INVALID_DATA, None),
                         Frame(Signal.CONNECT_ACK, 3, 0, b""))
        self.assertEqual(c.replyWs(0, ErrorCode.INVALID_DATA, None),
                         Envelope(Signal.CONNECT_ACK, 3, 0, ""))

    def test_connectLenient(self):
        """
        Missing CONNECT keys are empty strings; a non-object is refused.
        """
        c = COMMANDS.lookup(Signal.CONNECT, 0)
        self.assertEqual(c.decodeWs({}), ConnectRequest("", "", ""))
        self.assertEqual(c.decodeTcp(b'{"userName":"u"}'), ConnectRequest("u", "", ""))
        for bad in ([], "x", None, 5):
            self.assertRaises(WireError, c.decodeWs, bad)
        for bad in (b"", b"[1]", b"\xff", b"{"):
            self.assertRaises(WireError, c.decodeTcp, bad)

    def test_ping(self):
        """
        PING replies in plain text with the same messageId; nothing on WS;
        bad intervals are L{None}.
        """
        c = COMMANDS.lookup(Signal.PING, 0)
        self.assertEqual(c.replyTcp(1, 0, PingReply(180000)),
                         Frame(Signal.PING, 0, 1, b"ping back next interval 180000"))
        self.assertIsNone(c.replyWs(1, 0, PingReply(180000)))
        for body in (b"", b"xx", b'{"interval":"abc"}', b"[]", b'{"interval":1.5}'):
            self.assertEqual(c.decodeTcp(body), PingRequest(None))
        self.assertEqual(c.decodeTcp(b'{"interval":"60000"}'), PingRequest(60000))
        self.assertEqual(c.decodeWs({"interval": 5}), PingRequest(5))
        self.assertEqual(c.decodeWs({"interval": "9" * 5000}), PingRequest(None))
        self.assertEqual(c.decodeWs("nonsense"), PingRequest(None))

    def test_disconnect(self):
        """
        DISCONNECT: one byte on TCP, C{clearSession} on WS; no reply.
        """
        c = COMMANDS.lookup(Signal.DISCONNECT, 0)
        self.assertEqual(c.decodeTcp(b"\x01"), DisconnectRequest(True))
        self.assertEqual(c.decodeTcp(b"\x00"), DisconnectRequest(False))
        self.assertEqual(c.decodeTcp(b""), DisconnectRequest(False))
        self.assertEqual(c.decodeWs({"clearSession": 1}), DisconnectRequest(True))
        self.assertEqual(c.decodeWs(None), DisconnectRequest(False))
        self.assertIsNone(c.replyTcp(0, 0, None))
        self.assertIsNone(c.replyWs(0, 0, None))

    def test_msAck(self):
        """
        The MS ack: 17 bytes on TCP, uid as a string on WS.
        """
        tcp, ws = self.reply(SubSignal.MS, SendResult(1795878525351000, 1795878525351), 0, 4)
        self.assertEqual(encodeFrame(tcp), bytes.fromhex(
            "f8020a00000011120004" "00000661578d903458000001a222b399a7"))
        tcp, ws = self.reply(SubSignal.MS, SendResult(1795878584210000, 1795878584209), 0, 6)
        self.assertEqual(json.loads(encodeEnvelope(ws)), {
            "content": '{"messageId":"1795878584210000","timestamp":1795878584209}',
            "messageId": 6, "signal": "PUB_ACK", "subSignal": "MS"})

    def test_msAckFailure(self):
        """
        A failed MS is C{[code]} on TCP and C{""} on WS.
        """
        tcp, ws = self.reply(SubSignal.MS, None, ErrorCode.IN_BLACK_LIST)
        self.assertEqual(tcp.body, b"\xf6")
        self.assertEqual(ws.content, "")

    def test_pullResultEmpty(self):
        """
        An empty MP result: C{0010e80718e807}, strings for current/head.
        """
        tcp, ws = self.reply(SubSignal.MP, PullResult((), 1000, 1000), 0, 3)
        self.assertEqual(encodeFrame(tcp), bytes.fromhex("f8020a00000007130003" "0010e80718e807"))
        self.assertEqual(wsContent(ws), {"current": "1000", "head": "1000", "messageCount": 0,
                                         "messageResponseList": []})

    def test_pullResultMessage(self):
        """
        A pulled message on WS: MessageResponse with the uid as a number,
        Base64 data, mentions and C{to}/C{tos} kept.
        """
        message = Message(
            Conversation(1, "g1", 0), "u1",
            MessageContent(3, "[image]", data=b"\x01\x02\x03", mediaType=1,
                           remoteMediaUrl="http://m/x", mentionedType=1,
                           mentionedTargets=("u2",)),
            messageUid=1795878584210000, timestamp=1795878584209, toUser="u3", to=("u2", "u3"))
        tcp, ws = self.reply(SubSignal.MP, PullResult((message,), 1001, 1001))
        self.assertEqual(wsContent(ws), {
            "current": "1001", "head": "1001", "messageCount": 1,
            "messageResponseList": [{
                "content": {"type": 3, "searchableContent": "[image]", "pushContent": "",
                            "content": "", "binaryContent": "AQID", "mediaType": 1,
                            "remoteMediaUrl": "http://m/x", "mentionedType": 1,
                            "mentionedTargets": ["u2"]},
                "conversationType": 1, "target": "g1", "line": 0, "from": "u1",
                "messageId": 1795878584210000, "timestamp": 1795878584209,
                "direction": 0, "status": 0, "messageUid": 0,
                "to": "u3", "tos": ["u2", "u3"]}]})
        result = pb.PullMessageResult()
        result.ParseFromString(tcp.body[1:])
        self.assertEqual(result.message[0].message_id, 1795878584210000)
        self.assertEqual(list(result.message[0].content.mentioned_target), ["u2"])

    def test_requiredFieldsAlwaysWritten(self):
        """
        Default-valued required fields are on the wire (real clients' parsers
        demand them): Conversation.type/line, MessageContent.type.
        """
        message = Message(Conversation(0, "", 0), "", MessageContent(0))
        tcp, _ = self.reply(SubSignal.MP, PullResult((message,), 0, 0))
        body = tcp.body[1:]
        # message{conversation{type=0, target="", line=0}, from_user="", content{type=0}...}
        self.assertIn(bytes.fromhex("0a06080012001800"), body)
        self.assertIn(bytes.fromhex("12001a020800"), body)
        self.assertTrue(body.endswith(bytes.fromhex("10001800")))

    def test_wsMpCursor(self):
        """
        WS MP: pullType 1 pulls after seq-1, 0 after seq+sendMessageCount,
        others after seq.
        """
        c = COMMANDS.lookup(Signal.PUBLISH, SubSignal.MP)
        self.assertEqual(c.decodeWs({"messageId": "1001", "type": 0, "pullType": 1,
                                     "sendMessageCount": 3}), PullMessages(1000, 0))
        self.assertEqual(c.decodeWs({"messageId": "1001", "type": 1, "pullType": 0,
                                     "sendMessageCount": 3}), PullMessages(1004, 1))
        self.assertEqual(c.decodeWs({"messageId": 1001, "pullType": 2}), PullMessages(1001, 0))
        self.assertEqual(c.decodeWs({"messageId": "0", "pullType": 1}), PullMessages(0, 0))

    def test_wsFrpVersion(self):
        """
        WS FRP subtracts 1000 and accepts null, strings and numbers; never
        negative.
        """
        c = COMMANDS.lookup(Signal.PUBLISH, SubSignal.FRP)
        self.assertEqual(c.decodeWs({"version": None}), PullFriendRequests(0))
        self.assertEqual(c.decodeWs({}), PullFriendRequests(0))
        self.assertEqual(c.decodeWs({"version": "5000"}), PullFriendRequests(4000))
        self.assertEqual(c.decodeWs({"version": 5000}), PullFriendRequests(4000))
        self.assertEqual(c.decodeWs({"version": 10}), PullFriendRequests(0))
        self.assertRaises(WireError, c.decodeWs, {"version": "abc"})

    def test_friends(self):
        """
        FP and FRP results on WS.
        """
        _, ws = self.reply(SubSignal.FP, FriendList((Friend("u13800000001", 0, 1795878584205),)))
        self.assertEqual(wsContent(ws), [{"alias": "", "friendUid": "u13800000001",
                                          "state": 0, "timestamp": 1795878584205}])
        _, ws = self.reply(SubSignal.FRP, FriendRequestList((
            FriendRequest("u2", "u0", "hi, add me", 0, 1795878584616, True, True),)))
        self.assertEqual(wsContent(ws), [{
            "direction": 0, "from": "u2", "target": "u0", "reason": "hi, add me",
            "status": 0, "readStatus": 0, "timestamp": 1795878584616}])

    def test_upui(self):
        """
        UPUI: unknown uids are code-1 entries with only the uid on TCP and
        are left out on WS.
        """
        user = User("u1", "138", "user0001", mobile="138", updateDt=1795878583686)
        tcp, ws = self.reply(SubSignal.UPUI, PullUsersResult(((user, 0), (User("zz"), 1))))
        self.assertEqual(wsContent(ws), [{
            "uid": "u1", "name": "138", "displayName": "user0001", "gender": 0,
            "portrait": "", "mobile": "138", "email": "", "address": "", "company": "",
            "social": "", "extra": "", "type": 0, "updateDt": 1795878583686}])
        result = pb.PullUserResult()
        result.ParseFromString(tcp.body[1:])
        self.assertEqual([(r.user.uid, r.code) for r in result.result], [("u1", 0), ("zz", 1)])
        self.assertTrue(result.result[1].HasField("code"))
        self.assertEqual(result.result[1].user.ListFields()[0][1], "zz")
        self.assertEqual(len(result.result[1].user.ListFields()), 1)

    def test_codeOnly(self):
        """
        Code-only subsignals: C{[code]} on TCP, a WsResult whatever the code.
        """
        for sub in (SubSignal.FAR, SubSignal.FHR, SubSignal.FALS, SubSignal.GAM,
                    SubSignal.GKM, SubSignal.GQ, SubSignal.GD, SubSignal.GMI,
                    SubSignal.MMI, SubSignal.MR, SubSignal.FRUS):
            tcp, ws = self.reply(sub, None, 0, 10)
            self.assertEqual(tcp, Frame(Signal.PUB_ACK, sub, 10, b"\x00"))
            self.assertEqual(wsContent(ws), {"code": 200, "message": "success"})
            tcp, ws = self.reply(sub, None, ErrorCode.NOT_RIGHT, 10)
            self.assertEqual(tcp.body, b"\xf8")
            self.assertEqual(wsContent(ws), {"code": 400, "message": "error"})

    def test_groupCreated(self):
        """
        GC: the raw UTF-8 group id on TCP, a WsResult on WS.
        """
        tcp, ws = self.reply(SubSignal.GC, GroupCreated("g\u7fa4"))
        self.assertEqual(tcp.body, b"\x00" + "g\u7fa4".encode("utf-8"))
        self.assertEqual(ws.content, WS_SUCCESS)

    def test_gcTypeForcedOnWs(self):
        """
        The WS GC group type is forced to 0.
        """
        c = COMMANDS.lookup(Signal.PUBLISH, SubSignal.GC)
        request = c.decodeWs({"groupInfo": {"name": "n", "type": 2}, "groupMembers": []})
        self.assertEqual(request.info.type, 0)

    def test_groups(self):
        """
        GPGI and GPGM results on WS; an empty GPGM is C{[]}.
        """
        _, ws = self.reply(SubSignal.GPGI, GroupInfoList((
            GroupInfo("g1", "name", "p", "u1", 0, 2, "x", 5, 6),)))
        self.assertEqual(wsContent(ws), [{
            "target": "g1", "name": "name", "portrait": "p", "owner": "u1", "type": 0,
            "memberCount": 2, "extra": "x", "updateDt": 5}])
        _, ws = self.reply(SubSignal.GPGM, GroupMemberList((GroupMember("u1", "a", 2, 7),)))
        self.assertEqual(wsContent(ws), [{"memberId": "u1", "alias": "a", "type": 2,
                                          "updateDt": 7}])
        tcp, ws = self.reply(SubSignal.GPGM, None)
        self.assertEqual((tcp.body, ws.content), (b"\x00", "[]"))

    def test_media(self):
        """
        GQNUT is one raw byte on TCP; GQNUT/GMURL results on both.
        """
        c = COMMANDS.lookup(Signal.PUBLISH, SubSignal.GQNUT)
        self.assertEqual(c.decodeTcp(b"\x03"), GetUploadToken(3))
        self.assertRaises(WireError, c.decodeTcp, b"")
        self.assertEqual(c.decodeWs({"mediaType": 1}), GetUploadToken(1))
        _, ws = self.reply(SubSignal.GQNUT, UploadToken("http://d", "t", "s", 80))
        self.assertEqual(wsContent(ws), {"domain": "http://d", "server": "s", "token": "t",
                                         "port": 80})
        c = COMMANDS.lookup(Signal.PUBLISH, SubSignal.GMURL)
        self.assertEqual(c.decodeWs({"mediaType": 1, "key": "1-u-2-a.png"}),
                         GetUploadUrl(1, "1-u-2-a.png"))
        _, ws = self.reply(SubSignal.GMURL, UploadUrl("http://d", "s", 9000, "http://u"))
        self.assertEqual(wsContent(ws), {"domain": "http://d", "server": "s", "port": 9000,
                                         "url": "http://u"})

    def test_fals(self):
        """
        FALS: C{AddFriendRequest{target_uid, reason=alias}} on TCP.
        """
        c = COMMANDS.lookup(Signal.PUBLISH, SubSignal.FALS)
        body = pb.AddFriendRequest(target_uid="u2", reason="Bob").SerializeToString()
        self.assertEqual(c.decodeTcp(body), SetFriendAlias("u2", "Bob"))
        self.assertEqual(c.decodeWs({"reason": "Bob", "targetUserId": "u2"}),
                         SetFriendAlias("u2", "Bob"))

    def test_mr(self):
        """
        MR: the uid as a string or a number on WS.
        """
        c = COMMANDS.lookup(Signal.PUBLISH, SubSignal.MR)
        self.assertEqual(c.decodeWs({"messageUid": "1795878584210000"}),
                         RecallMessage(1795878584210000))
        self.assertEqual(c.decodeWs({"messageUid": 12}), RecallMessage(12))

    def test_lrm(self):
        """
        WS LRM accepts C{type} or C{conversationType}, string uids; the
        result is C{{"count","messageResponseList"}}; TCP current/head are 0.
        """
        c = COMMANDS.lookup(Signal.PUBLISH, SubSignal.LRM)
        expected = LoadHistory(Conversation(1, "g", 0), 123, 20)
        self.assertEqual(c.decodeWs({"beforeUid": "123", "count": 20,
                                     "conversation": {"type": 1, "target": "g", "line": 0}}),
                         expected)
        self.assertEqual(c.decodeWs({"beforeUid": 123, "count": "20", "conversation": {
            "conversationType": 1, "target": "g"}}), expected)
        tcp, ws = self.reply(SubSignal.LRM, HistoryResult(()))
        self.assertEqual(tcp.body, bytes.fromhex("0010001800"))
        self.assertEqual(wsContent(ws), {"count": 0, "messageResponseList": []})

    def test_mmiWs(self):
        """
        WS MMI is one C{{"type","value"}} entry.
        """
        c = COMMANDS.lookup(Signal.PUBLISH, SubSignal.MMI)
        self.assertEqual(c.decodeWs({"type": 0, "value": "Bob"}), ModifyMyInfo(((0, "Bob"),)))

    def test_errorsGiveEmptyContent(self):
        """
        A data subsignal's error is C{""} on WS and the bare code on TCP.
        """
        for sub in (SubSignal.MP, SubSignal.US, SubSignal.UPUI, SubSignal.FP, SubSignal.FRP,
                    SubSignal.GPGI, SubSignal.GPGM, SubSignal.LRM, SubSignal.GQNUT,
                    SubSignal.GMURL):
            tcp, ws = self.reply(sub, None, ErrorCode.SERVER_ERROR, 2)
            self.assertEqual(tcp, Frame(Signal.PUB_ACK, sub, 2, b"\x04"))
            self.assertEqual(ws, Envelope(Signal.PUB_ACK, sub, 2, ""))

    def test_badResponseIsServerError(self):
        """
        A handler returning the wrong type gets SERVER_ERROR, not a crash.
        """
        tcp, ws = self.reply(SubSignal.MP, "nonsense")
        self.assertEqual(tcp.body, b"\x04")
        self.assertEqual(ws.content, "")

    def test_notImplemented(self):
        """
        Unknown subsignals get 254 echoing the ordinal; WS content C{""}.
        """
        self.assertEqual(encodeFrame(TCP.notImplemented(7, 17)),
                         bytes.fromhex("f8020a00000001110007fe"))
        envelope = WS.notImplemented(7, 0)
        self.assertEqual(json.loads(encodeEnvelope(envelope)), {
            "content": "", "messageId": 7, "signal": "PUB_ACK", "subSignal": "NONE"})

    def test_pushes(self):
        """
        MN, RMN, FN and FRN pushes on both transports, messageId 0.
        """
        tcp, ws = encodePush(MessageNotify(0, 1001))
        self.assertEqual(tcp, encodeFrame(Frame(Signal.PUBLISH, SubSignal.MN, 0,
                                                bytes.fromhex("080010e907"))))
        self.assertEqual(json.loads(ws), {"content": '{"messageHead":"1001","type":0}',
                                          "messageId": 0, "signal": "PUBLISH",
                                          "subSignal": "MN"})
        tcp, ws = encodePush(FriendNotify(1795878584819))
        self.assertEqual(tcp[10:], (1795878584819).to_bytes(8, "big"))
        self.assertEqual(json.loads(json.loads(ws)["content"]), {"head": "1795878584819"})
        tcp, ws = encodePush(FriendRequestNotify(1795878584416))
        self.assertEqual(tcp, bytes.fromhex("f80209000000080c0000") +
                         (1795878584416).to_bytes(8, "big"))
        self.assertEqual(json.loads(json.loads(ws)["content"]), {"version": "1795878584416"})
        tcp, ws = encodePush(RecallNotify(1795878584210000, "u1"))
        self.assertEqual(json.loads(json.loads(ws)["content"]),
                         {"fromUser": "u1", "messageUid": "1795878584210000"})
        self.assertEqual(tcp[10:], pb.NotifyRecallMessage(
            id=1795878584210000, from_user="u1").SerializeToString())

    def test_transparentPush(self):
        """
        A transparent message is an unsolicited PUB_ACK/MP, messageId 0,
        body C{[0]} + PullMessageResult with current = head = 0.
        """
        message = Message(Conversation(0, "u2", 0), "u1", MessageContent(91), messageUid=5,
                          timestamp=6)
        tcp, ws = encodePush(TransparentMessage(message))
        self.assertEqual(tcp[:10], bytes.fromhex("f8020a") + (len(tcp) - 10).to_bytes(4, "big")
                         + bytes.fromhex("130000"))
        result = pb.PullMessageResult()
        result.ParseFromString(tcp[11:])
        self.assertEqual((tcp[10], len(result.message), result.current, result.head),
                         (0, 1, 0, 0))
        content = json.loads(json.loads(ws)["content"])
        self.assertEqual((content["current"], content["head"], content["messageCount"]),
                         ("0", "0", 1))

    def test_unknownPushType(self):
        """
        Encoding an unregistered push type is a L{TypeError}.
        """
        self.assertRaises(TypeError, encodePushTcp, object())

    def test_registerPushCodec(self):
        """
        Plugins can add push types.
        """
        @attr.s(frozen=True)
        class Ding:
            pass

        class DingNotification(Notification):
            push = Ding
            subsignal = 70
            toTcp = staticmethod(lambda p: b"d")
            toWs = staticmethod(lambda p: '"d"')
        wire = TcpWire(BUILTIN.extended(notifications=[DingNotification]))
        self.assertEqual(wire.encodePush(Ding()), bytes.fromhex("f8020900000001460000") + b"d")


class PluginCodecTests(SynchronousTestCase):
    """
    Tests for L{jsonCommand} and a registry extended with it.
    """

    def test_registered(self):
        """
        A registered plugin codec is found and its name works on WS.
        """
        c = COMMANDS.lookup(Signal.PUBLISH, PLUGIN_SUB)
        self.assertEqual(c.name, PLUGIN_NAME)
        self.assertEqual(subSignalName(PLUGIN_SUB, COMMANDS.pluginNames), PLUGIN_NAME)
        envelope = WS.decodeText(json.dumps({"signal": "PUBLISH", "subSignal": PLUGIN_NAME,
                                             "messageId": 3, "content": {"a": [1]}}))
        self.assertEqual(envelope.subsignal, PLUGIN_SUB)
        self.assertEqual(c.decodeWs(envelope.content), JsonRequest({"a": [1]}))

    def test_tcp(self):
        """
        TCP: UTF-8 JSON both ways; an empty body is L{None}.
        """
        c = COMMANDS.lookup(Signal.PUBLISH, PLUGIN_SUB)
        self.assertEqual(c.decodeTcp('{"x":"\u4f60"}'.encode("utf-8")),
                         JsonRequest({"x": "\u4f60"}))
        self.assertEqual(c.decodeTcp(b""), JsonRequest(None))
        self.assertRaises(WireError, c.decodeTcp, b"{")
        self.assertRaises(WireError, c.decodeTcp, b'"\xff"')
        self.assertEqual(c.replyTcp(3, 0, {"ok": 1}).body, b'\x00{"ok":1}')
        self.assertEqual(c.replyTcp(3, 0, None).body, b"\x00")
        self.assertEqual(c.replyTcp(3, 9, None).body, b"\x09")

    def test_ws(self):
        """
        WS: the JSON text, C{""} on error.
        """
        c = COMMANDS.lookup(Signal.PUBLISH, PLUGIN_SUB)
        self.assertEqual(c.replyWs(3, 0, [1, "a"]), Envelope(Signal.PUB_ACK, PLUGIN_SUB, 3,
                                                             '[1,"a"]'))
        self.assertEqual(c.replyWs(3, 4, None).content, "")

    def test_push(self):
        """
        A plugin push is PUBLISH/<ordinal> with JSON on both transports.
        """
        tcp, ws = encodePush(PluginPush(PLUGIN_SUB, {"n": 1}))
        self.assertEqual(tcp, bytes.fromhex("f80209000000076300 00".replace(" ", "")) +
                         b'{"n":1}')
        self.assertEqual(json.loads(ws), {"content": '{"n":1}', "messageId": 0,
                                          "signal": "PUBLISH", "subSignal": PLUGIN_NAME})

    def test_badPlugin(self):
        """
        Non-plugin ordinals and bad names are refused.
        """
        self.assertRaises(ValueError, jsonCommand, 40, "X")
        self.assertRaises(ValueError, jsonCommand, 64, "lower")
        self.assertRaises(ValueError, jsonCommand, 64, "MS")

    def test_builtinsComplete(self):
        """
        Every client-to-server subsignal of the contract has a codec.
        """
        for name in ("US FAR UPUI FRUS FRP FHR FP MS MP GC GPGI GPGM GAM GKM GQ GMI MMI "
                     "GQNUT MR LRM GD GMURL FALS").split():
            self.assertIsNotNone(COMMANDS.lookup(Signal.PUBLISH, SubSignal[name]), name)
        for signal in (Signal.CONNECT, Signal.PING, Signal.DISCONNECT):
            self.assertIsNotNone(COMMANDS.lookup(signal, 0))
        for name in ("MN", "RMN", "FN", "FRN", "NONE"):
            self.assertIsNone(COMMANDS.lookup(Signal.PUBLISH, SubSignal[name]), name)


# -- strategies --------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
int32 = st.integers(-(1 << 31), (1 << 31) - 1)
int64 = st.integers(-(1 << 63), (1 << 63) - 1)
small = st.integers(0, 1 << 40)
uint32 = st.integers(0, (1 << 31) - 1)

conversations = st.builds(Conversation, int32, text, int32)
contents = st.builds(
    MessageContent, int32, text, text, text, st.binary(max_size=12), int32, text, int32,
    int32, int32, st.lists(text, max_size=3).map(tuple))
messages = st.builds(
    Message, conversations, text, contents, int64, int64, text,
    st.lists(text, max_size=3).map(tuple), st.none() | int64)
users = st.builds(User, text, text, text, text, text, text, text, text, text, int64, int32,
                  text, int32)
friends = st.builds(Friend, text, int32, int64, text)
friendRequests = st.builds(FriendRequest, text, text, text, int32, int64, st.booleans(),
                           st.booleans())
groupInfos = st.builds(GroupInfo, text, text, text, text, int32, int32, text, int64, int64)
groupMembers = st.builds(GroupMember, text, text, int32, int64)
tuples = lambda s: st.lists(s, max_size=3).map(tuple)  # noqa: E731
lines = tuples(int32)
notify = st.none() | contents
jsonScalars = st.booleans() | st.integers(-(1 << 53), 1 << 53) | text
jsonValues = st.recursive(
    jsonScalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner,
                                                                              max_size=3),
    max_leaves=8)
jsonContainers = st.lists(jsonValues, max_size=3) | st.dictionaries(text, jsonValues,
                                                                     max_size=3)

requests = st.one_of(
    st.builds(ConnectRequest, text, text, text),
    st.builds(PingRequest, st.none() | int64),
    st.builds(DisconnectRequest, st.booleans()),
    st.builds(SendMessage, messages),
    st.builds(PullMessages, st.integers(0, (1 << 63) - 1), int32),
    st.builds(RecallMessage, int64),
    st.builds(LoadHistory, conversations, int64, int32),
    st.builds(SearchUsers, text, int32, int32),
    st.builds(PullUsers, tuples(st.tuples(text, int64))),
    st.builds(ModifyMyInfo, tuples(st.tuples(int32, text))),
    st.builds(AddFriend, text, text),
    st.builds(SetFriendAlias, text, text),
    st.builds(HandleFriendRequest, text, int32),
    st.builds(PullFriendRequests, st.integers(0, (1 << 62))),
    st.builds(SyncFriendRequestUnread, int64),
    st.builds(PullFriends, int64),
    st.builds(CreateGroup, groupInfos, tuples(groupMembers), lines, notify),
    st.builds(PullGroupInfo, tuples(text)),
    st.builds(PullGroupMembers, text, int64),
    st.builds(AddGroupMembers, text, tuples(groupMembers), lines, notify),
    st.builds(KickGroupMembers, text, tuples(text), lines, notify),
    st.builds(QuitGroup, text, lines, notify),
    st.builds(DismissGroup, text, lines, notify),
    st.builds(ModifyGroupInfo, text, int32, text, lines, notify),
    st.builds(GetUploadToken, st.integers(0, 255)),
    st.builds(GetUploadUrl, int32, text),
)

#: (subsignal, response strategy)
responses = st.one_of(
    st.tuples(st.just(SubSignal.MS), st.builds(SendResult, int64, int64)),
    st.tuples(st.just(SubSignal.MP), st.builds(PullResult, tuples(messages), int64, int64)),
    st.tuples(st.just(SubSignal.LRM), st.builds(HistoryResult, tuples(messages))),
    st.tuples(st.just(SubSignal.US), st.builds(UserList, tuples(users))),
    st.tuples(st.just(SubSignal.UPUI), st.builds(PullUsersResult, tuples(st.one_of(
        st.tuples(users, st.sampled_from([0, 2])),
        st.tuples(text.map(User), st.just(1)))))),
    st.tuples(st.just(SubSignal.FP), st.builds(FriendList, tuples(friends))),
    st.tuples(st.just(SubSignal.FRP), st.builds(FriendRequestList, tuples(friendRequests))),
    st.tuples(st.just(SubSignal.GC), st.builds(GroupCreated, text)),
    st.tuples(st.just(SubSignal.GPGI), st.builds(GroupInfoList, tuples(groupInfos))),
    st.tuples(st.just(SubSignal.GPGM), st.builds(GroupMemberList, tuples(groupMembers))),
    st.tuples(st.just(SubSignal.GQNUT), st.builds(UploadToken, text, text, text, int32)),
    st.tuples(st.just(SubSignal.GMURL), st.builds(UploadUrl, text, text, int32, text)),
    st.tuples(st.sampled_from([SubSignal.FAR, SubSignal.FALS, SubSignal.FHR, SubSignal.FRUS,
                               SubSignal.GAM, SubSignal.GKM, SubSignal.GQ, SubSignal.GD,
                               SubSignal.GMI, SubSignal.MMI, SubSignal.MR]), st.none()),
    st.tuples(st.just(PLUGIN_SUB), jsonValues),
)

pushes = st.one_of(
    st.builds(MessageNotify, int32, int64, text),
    st.builds(RecallNotify, int64, text),
    st.builds(FriendNotify, int64),
    st.builds(FriendRequestNotify, int64),
    st.builds(TransparentMessage, messages),
    st.builds(PluginPush, st.just(PLUGIN_SUB), jsonValues),
)


# -- what the WebSocket cannot carry -----------------------------------------------

def _noLocalId(messages):
    # WS carries localMessageId as a string; 0 means none.
    return tuple(attr.evolve(m, localId=m.localId or None) for m in messages)


def wsRequest(request):
    """
    C{request} as it comes out of the WebSocket.
    """
    if isinstance(request, PullUsers):
        return PullUsers(tuple((userId, 0) for userId, _ in request.requests))
    if isinstance(request, CreateGroup):
        return attr.evolve(request, info=attr.evolve(request.info, type=0, memberUpdateDt=0))
    return request


def wsResponse(sub, response):
    """
    C{response} as it comes out of the WebSocket.
    """
    if response is None:
        return 200
    if isinstance(response, PullResult):
        return attr.evolve(response, messages=_noLocalId(response.messages))
    if isinstance(response, HistoryResult):
        return HistoryResult(_noLocalId(response.messages))
    if isinstance(response, PullUsersResult):
        return PullUsersResult(tuple((u, 0) for u, code in response.entries if code == 0))
    if isinstance(response, FriendRequestList):
        return FriendRequestList(tuple(attr.evolve(r, fromReadStatus=False, toReadStatus=False)
                                       for r in response.requests))
    if isinstance(response, GroupInfoList):
        return GroupInfoList(tuple(attr.evolve(g, memberUpdateDt=0) for g in response.groups))
    if isinstance(response, GroupCreated):
        return 200
    return response


def wsPush(push):
    """
    C{push} as it comes out of the WebSocket.
    """
    if isinstance(push, MessageNotify):
        return attr.evolve(push, target="")
    if isinstance(push, TransparentMessage):
        return TransparentMessage(_noLocalId((push.message,))[0])
    return push


class RoundTripTests(SynchronousTestCase):
    """
    Client encoders and server decoders (and the reverse) agree.
    """

    @given(requests)
    def test_requestTcp(self, request):
        """
        A request encoded by the client-side TCP encoder decodes back.
        """
        frame = FrameDecoder().feed(client.encodeRequestFrame(request, 5))[0]
        self.assertEqual(decodeTcpFrame(frame), request)

    @given(requests)
    def test_requestWs(self, request):
        """
        A request encoded by the client-side WS encoder decodes back (minus
        what the WebSocket shapes cannot carry).
        """
        self.assertEqual(decodeWsText(client.encodeRequestEnvelope(request, 5)),
                         wsRequest(request))

    @given(jsonContainers)
    def test_pluginRequest(self, value):
        """
        Plugin JSON requests survive both transports.
        """
        request = JsonRequest(value)
        c = COMMANDS.lookup(Signal.PUBLISH, PLUGIN_SUB)
        self.assertEqual(c.decodeTcp(client.encodeRequestTcp(request)), request)
        text = client.encodeRequestEnvelope(request, 1, PLUGIN_SUB)
        self.assertEqual(decodeWsText(text), request)

    @given(responses, st.integers(0, 0xFFFF))
    def test_replyTcp(self, subAndResponse, messageId):
        """
        A server reply decodes back with the client-side decoder.
        """
        sub, response = subAndResponse
        frame = COMMANDS.lookup(Signal.PUBLISH, sub).replyTcp(messageId, 0, response)
        [frame] = FrameDecoder().feed(encodeFrame(frame))
        self.assertEqual((frame.signal, frame.subsignal, frame.messageId),
                         (Signal.PUB_ACK, sub, messageId))
        self.assertEqual(client.decodeReplyFrame(frame), (0, response))

    @given(responses)
    def test_replyWs(self, subAndResponse):
        """
        A server WS reply decodes back (minus what WS cannot carry).
        """
        sub, response = subAndResponse
        envelope = COMMANDS.lookup(Signal.PUBLISH, sub).replyWs(3, 0, response)
        got = client.decodeServerEnvelope(encodeEnvelope(envelope, COMMANDS.pluginNames))
        expected = response if sub == PLUGIN_SUB else wsResponse(sub, response)
        self.assertEqual(client.decodeReplyWs(got.subsignal, got.content), expected)

    @given(responses, st.sampled_from(list(ErrorCode)[1:]))
    def test_replyFailure(self, subAndResponse, code):
        """
        A failure code comes back with no response.
        """
        sub = subAndResponse[0]
        c = COMMANDS.lookup(Signal.PUBLISH, sub)
        self.assertEqual(client.decodeReplyFrame(c.replyTcp(1, code, None)), (code, None))
        result = client.decodeReplyWs(sub, c.replyWs(1, code, None).content)
        self.assertIn(result, (None, 400))

    @given(st.builds(ConnectAck, st.integers(1, 8), int64, int64, int64, int64, int64))
    def test_connectAck(self, ack):
        """
        CONNECT_ACK comes back (WS keeps only the message and friend heads).
        """
        c = COMMANDS.lookup(Signal.CONNECT, 0)
        frame = c.replyTcp(0, 0, ack)
        expected = ack if ack.code == 1 else ConnectAck(ack.code)
        self.assertEqual(client.decodeReplyFrame(frame), (0, expected))
        envelope = client.decodeServerEnvelope(encodeEnvelope(c.replyWs(0, 0, ack)))
        self.assertEqual(client.decodeReplyWs(envelope.subsignal, envelope.content,
                                              envelope.signal),
                         ConnectAck(ack.code, ack.msgHead, ack.friendHead)
                         if ack.code == 1 else ConnectAck(ack.code))

    @given(int64)
    def test_pingReply(self, interval):
        """
        The PING reply text comes back.
        """
        frame = COMMANDS.lookup(Signal.PING, 0).replyTcp(9, 0, PingReply(interval))
        self.assertEqual(client.decodeReplyFrame(frame), (0, PingReply(interval)))

    @given(pushes)
    def test_pushTcp(self, push):
        """
        Every push decodes back from its TCP frame.
        """
        [frame] = FrameDecoder().feed(encodePushTcp(push))
        self.assertEqual(frame.messageId, 0)
        self.assertTrue(client.isPush(frame.signal, frame.subsignal, frame.messageId))
        self.assertEqual(client.decodePushTcp(frame), push)

    @given(pushes)
    def test_pushWs(self, push):
        """
        Every push decodes back from its WS text (minus what WS cannot
        carry).
        """
        envelope = client.decodeServerEnvelope(encodePushWs(push))
        self.assertEqual(client.decodePushWs(envelope), wsPush(push))

    @given(pushes)
    def test_encodePushBoth(self, push):
        """
        L{encodePush} is the pair of both encodings.
        """
        self.assertEqual(encodePush(push),
                         (encodePushTcp(push), encodePushWs(push)))


# -- fuzzing -----------------------------------------------------------------------

ALL_CODECS = sorted(set(BUILTIN.commands()) | {PLUGIN_COMMAND},
                    key=lambda c: (c.signal, c.subsignal))

#: Keys the web client uses, so that fuzzed objects reach the converters.
KEYS = sorted(set(
    "userName password clientIdentifier interval clearSession conversationType target "
    "line from content type searchableContent pushContent binaryContent mediaType "
    "remoteMediaUrl mentionedType mentionedTargets messageId messageUid timestamp to tos "
    "pullType sendMessageCount keyword fuzzy page reason targetUserId targetUid status "
    "version groupInfo groupMembers memberId alias groupId memberIds value lines "
    "notifyContent beforeUid count conversation key name portrait owner extra updateDt "
    "memberCount persistFlag expireDuration".split()))

fuzzScalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
               | st.sampled_from(["", "0", "12", "-1", "1e3", "9" * 30, "\ud800", "AQID"]))
fuzzJson = st.recursive(
    fuzzScalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(KEYS) | st.text(max_size=3), inner, max_size=6),
    max_leaves=20)


def _mutations(data, flips):
    data = bytearray(data)
    for position, value in flips:
        if data:
            data[position % len(data)] = value
    return bytes(data)


class FuzzTests(SynchronousTestCase):
    """
    Every decoder returns a request or raises L{WireError}, nothing else,
    and whatever it returns can be encoded again.
    """

    def check(self, decode, value):
        try:
            request = decode(value)
        except WireError:
            return
        if not isinstance(request, JsonRequest):
            client.encodeRequestTcp(request)
            client.encodeRequestWs(request)

    @given(st.sampled_from(ALL_CODECS), st.binary(max_size=64))
    def test_anyBytes(self, codec, body):
        """
        Arbitrary TCP bodies.
        """
        self.check(codec.decodeTcp, body)

    @given(st.sampled_from(ALL_CODECS), requests,
           st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 255)), max_size=3),
           st.integers(0, 100))
    def test_mutatedBodies(self, codec, request, flips, cut):
        """
        Valid request bodies with bytes changed or cut off, fed to any codec.
        """
        body = _mutations(client.encodeRequestTcp(request), flips)
        self.check(codec.decodeTcp, body)
        self.check(codec.decodeTcp, body[:cut])

    @given(st.sampled_from(ALL_CODECS), fuzzJson)
    def test_anyJson(self, codec, content):
        """
        Arbitrary JSON-ish content values, with the client's keys.
        """
        self.check(codec.decodeWs, content)

    @given(st.sampled_from(ALL_CODECS), requests, st.sampled_from(KEYS), fuzzScalars)
    def test_perturbedWs(self, codec, request, key, value):
        """
        Valid WS contents with one key's value replaced, fed to any codec.
        """
        content = json.loads(json.dumps(client.encodeRequestWs(request)))

        def perturb(node):
            if isinstance(node, dict):
                if key in node:
                    node[key] = value
                for v in node.values():
                    perturb(v)
            elif isinstance(node, list):
                for v in node:
                    perturb(v)
        perturb(content)
        self.check(codec.decodeWs, content)

    @given(st.binary(max_size=40), st.integers(0, 127), st.sampled_from(list(Signal)[1:]),
           st.integers(0, 3))
    def test_clientDecoders(self, body, sub, signal, messageId):
        """
        The client-side decoders also raise only L{WireError}.
        """
        for call in (lambda: client.decodeReplyTcp(sub, body, signal),
                     lambda: client.decodePushTcp(Frame(signal, sub, messageId, body)),
                     lambda: client.decodeReplyWs(sub, body.decode("latin-1"), signal),
                     lambda: client.decodePushWs(Envelope(signal, sub, messageId,
                                                          body.decode("latin-1")))):
            try:
                call()
            except WireError:
                pass
