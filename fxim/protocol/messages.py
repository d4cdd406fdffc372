# -*- test-case-name: fxim.test.unit.test_codecs, fxim.test.unit.test_replysize -*-
"""
The message commands (MS, MP, MR, LRM) and pushes (MN, RMN, transparent
messages), and how big an MP reply is on each transport (L{fitPull}).
"""

import json
import struct
from typing import Any, Callable, Dict, List, Sequence, Tuple

from fxim.errors import WireError
from fxim.model import Conversation
from fxim.protocol.command import Command, Notification
from fxim.wire import im_pb2 as pb
from fxim.wire.codecs_convert import (
    contentToJson, conversationFromPb, conversationToPb, dumps, jint, jint32, jobj, jstr,
    messageFromJson, messageFromPb, messagePieceJson, messagePiecePb, messageToJson,
    messageToPb, messagesFromJsonList, parsePb, pb_, ps, pullResultJson, pullResultPb,
)
from fxim.wire.envelope import Envelope, encodeEnvelope
from fxim.wire.frame import HEADER_LENGTH
from fxim.wire.requests import (
    HistoryResult, LoadHistory, MessageNotify, PullMessages, PullResult, RecallMessage,
    RecallNotify, SendMessage, SendResult, TransparentMessage,
)
from fxim.wire.signals import Signal, SubSignal
from fxim.wire.sanitize import checkNothing, checkSend

_MS_ACK = struct.Struct(">qq")


# -- MS ------------------------------------------------------------------------

def _msToWs(r: SendMessage) -> Dict[str, Any]:
    m = r.message
    c = m.conversation
    d: Dict[str, Any] = {
        "conversationType": c.type, "target": c.target, "line": c.line,
        "from": m.fromUser, "content": contentToJson(m.content),
    }
    if m.localId is not None:
        d["messageId"] = m.localId
    d.update({"direction": 0, "status": 0, "messageUid": m.messageUid,
              "timestamp": m.timestamp, "to": m.toUser})
    if m.to:
        d["tos"] = list(m.to)
    return d


def _msToTcp(r: SendMessage) -> bytes:
    m = pb.Message()
    messageToPb(r.message, m)
    return m.SerializeToString()


def _msAckFromTcp(body: bytes) -> SendResult:
    if len(body) != 16:
        raise WireError(f"MS ack body of {len(body)} bytes")
    return SendResult(*_MS_ACK.unpack(body))


class SendMessageCommand(Command):
    """
    MS: a protobuf C{Message} / the web client's message object; answered
    with the stored message's uid and timestamp.
    """

    subsignal = int(SubSignal.MS)
    request = SendMessage
    response = SendResult
    checkRequest = staticmethod(checkSend)
    requestFromTcp = staticmethod(lambda body: SendMessage(messageFromPb(parsePb(pb.Message, body))))
    requestFromWs = staticmethod(lambda c: SendMessage(messageFromJson(c, False)))
    responseToTcp = staticmethod(lambda r: _MS_ACK.pack(r.messageUid, r.timestamp))
    responseToWs = staticmethod(lambda r: '{"messageId":"%d","timestamp":%d}' % (r.messageUid, r.timestamp))
    requestToTcp = staticmethod(_msToTcp)
    requestToWs = staticmethod(_msToWs)
    responseFromTcp = staticmethod(_msAckFromTcp)
    responseFromWs = staticmethod(lambda v: SendResult(jint(jobj(v).get("messageId")),
                                                       jint(v.get("timestamp"))))


# -- MP ------------------------------------------------------------------------

def _mpFromTcp(body: bytes) -> PullMessages:
    m = parsePb(pb.PullMessageRequest, body)
    return PullMessages(m.id, m.type)


def _mpFromWs(content: Any) -> PullMessages:
    o = jobj(content)
    seq = jint(o.get("messageId"))
    mode = jint32(o.get("pullType"))
    if mode == 1:
        after = seq - 1
    elif mode == 0:
        after = seq + jint(o.get("sendMessageCount"))
    else:
        after = seq
    return PullMessages(max(0, min(after, (1 << 63) - 1)), jint32(o.get("type")))


def _pullFromTcp(body: bytes) -> PullResult:
    m = parsePb(pb.PullMessageResult, body)
    return PullResult(tuple(messageFromPb(x) for x in m.message), m.current, m.head)


def _pullFromWs(v: Any) -> PullResult:
    o = jobj(v)
    return PullResult(messagesFromJsonList(o.get("messageResponseList")),
                      jint(o.get("current")), jint(o.get("head")))


class PullMessagesCommand(Command):
    """
    MP: pull messages after a seq.
    """

    subsignal = int(SubSignal.MP)
    request = PullMessages
    response = PullResult
    checkRequest = staticmethod(checkNothing)
    requestFromTcp = staticmethod(_mpFromTcp)
    requestFromWs = staticmethod(_mpFromWs)
    responseToTcp = staticmethod(lambda r: pullResultPb(r.messages, r.current, r.head, r.encoded))
    responseToWs = staticmethod(lambda r: pullResultJson(r.messages, r.current, r.head,
                                                         r.encoded))
    requestToTcp = staticmethod(lambda r: pb_(pb.PullMessageRequest, id=r.afterSeq, type=r.pullType))
    requestToWs = staticmethod(lambda r: {"messageId": str(r.afterSeq), "type": r.pullType,
                                          "pullType": 0, "sendMessageCount": 0})
    responseFromTcp = staticmethod(_pullFromTcp)
    responseFromWs = staticmethod(_pullFromWs)


# -- MP reply size -------------------------------------------------------------
#
# The pull cap of storage counts stored bytes; what goes on the wire is
# bigger (protobuf framing on TCP; on WebSocket the JSON of every message,
# escaped once more because the envelope carries C{content} as a string).
# L{fitPull} counts exactly what each transport produces, so a capped MP
# reply fits, and always keeps at least one message so a client makes
# progress even past a message bigger than the limit alone.

def wsPieceSize(piece: str) -> int:
    """
    The UTF-8 bytes one message's JSON text adds to a WebSocket MP reply:
    the text as escaped inside the envelope's C{content} string, plus a
    comma.
    """
    return len(json.dumps(piece, ensure_ascii=False).encode("utf-8")) - 2 + 1


def tcpOverhead(current: int, head: int) -> int:
    """
    The PUB_ACK bytes of a TCP pull reply besides its messages: frame
    header, code byte and the cursor fields.
    """
    return HEADER_LENGTH + 1 + len(pb.PullMessageResult(current=current, head=head)
                                   .SerializeToString())


def wsOverhead(current: int, head: int) -> int:
    """
    The bytes of a WebSocket pull reply with no message (an upper bound
    for any C{current} not above C{head}).
    """
    envelope = Envelope(Signal.PUB_ACK, SubSignal.MP, 0xFFFF, pullResultJson((), head, head))
    return len(encodeEnvelope(envelope).encode("utf-8"))


_PIECES: Dict[str, Callable[[Any], Any]] = {"tcp": messagePiecePb, "ws": messagePieceJson}
_OVERHEADS: Dict[str, Callable[[int, int], int]] = {"tcp": tcpOverhead, "ws": wsOverhead}

#: Recent encodings per transport, by message object: the members of a
#: group pulling one message get the same decoded object from the store
#: (L{fxim.storage.messages.DecodedMessages}), so it is encoded once.  The
#: object is kept beside its piece, so its id is not reused meanwhile.
_ENCODED: Dict[str, Dict[int, Tuple[Any, Any]]] = {"tcp": {}, "ws": {}}
_MAX_ENCODED = 4096


def fitPull(messages: Sequence[Any], head: int, transport: str,
            limit: int) -> Tuple[int, Tuple[Any, ...]]:
    """
    How many of the oldest C{messages} fit in C{limit} bytes once
    C{transport} has encoded them as a pull reply (at least one when there
    is one, so a client always makes progress), and their encodings.

    @param head: the reply's head (bounds the size of the cursor fields).
    @param transport: C{"tcp"} or C{"ws"}; for others every message fits.
    @return: C{(count, pieces)}: the number of messages to send and the
        first C{count} messages encoded for L{pullResultPb} (TCP, bytes)
        or L{pullResultJson} (WebSocket, texts), so the reply does not
        encode them again; no pieces for other transports.
    """
    if transport not in _PIECES or not messages:
        return len(messages), ()
    # A TCP piece's size is its length (tag, length prefix and body).
    tcp = transport == "tcp"
    used = _OVERHEADS[transport](head, head)
    pieces: List[Any] = []
    encode, encoded = _PIECES[transport], _ENCODED[transport]
    for message in messages:
        found = encoded.get(id(message))
        if found is not None and found[0] is message:
            piece = found[1]
        else:
            piece = encode(message)
            if len(encoded) >= _MAX_ENCODED:
                encoded.clear()
            encoded[id(message)] = (message, piece)
        used += len(piece) if tcp else wsPieceSize(piece)
        if used > limit:
            if not pieces:
                pieces.append(piece)
            break
        pieces.append(piece)
    return len(pieces), tuple(pieces)


# -- MR ------------------------------------------------------------------------

class RecallMessageCommand(Command):
    """
    MR: recall a message by uid (code only).
    """

    subsignal = int(SubSignal.MR)
    request = RecallMessage
    requestFromTcp = staticmethod(lambda body: RecallMessage(parsePb(pb.INT64Buf, body).id))
    requestFromWs = staticmethod(lambda c: RecallMessage(jint(jobj(c).get("messageUid"))))
    requestToTcp = staticmethod(lambda r: pb_(pb.INT64Buf, id=r.messageUid))
    requestToWs = staticmethod(lambda r: {"messageUid": str(r.messageUid)})


# -- LRM -----------------------------------------------------------------------

def _lrmFromTcp(body: bytes) -> LoadHistory:
    m = parsePb(pb.LoadRemoteMessages, body)
    return LoadHistory(conversationFromPb(m.conversation), m.before_uid, m.count)


def _lrmFromWs(content: Any) -> LoadHistory:
    o = jobj(content)
    c = jobj(o.get("conversation"), "conversation")
    ctype = c.get("conversationType")
    if ctype is None:
        ctype = c.get("type")
    conversation = Conversation(jint32(ctype), jstr(c.get("target")), jint32(c.get("line")))
    return LoadHistory(conversation, jint(o.get("beforeUid")), jint32(o.get("count")))


def _lrmToTcp(r: LoadHistory) -> bytes:
    m = pb.LoadRemoteMessages(before_uid=r.beforeUid, count=r.count)
    conversationToPb(r.conversation, m.conversation)
    return m.SerializeToString()


class LoadHistoryCommand(Command):
    """
    LRM: a conversation's stored messages before a uid.
    """

    subsignal = int(SubSignal.LRM)
    request = LoadHistory
    response = HistoryResult
    requestFromTcp = staticmethod(_lrmFromTcp)
    requestFromWs = staticmethod(_lrmFromWs)
    responseToTcp = staticmethod(lambda r: pullResultPb(r.messages, 0, 0))
    responseToWs = staticmethod(lambda r: dumps({
        "count": len(r.messages),
        "messageResponseList": [messageToJson(m) for m in r.messages]}))
    requestToTcp = staticmethod(_lrmToTcp)
    requestToWs = staticmethod(lambda r: {
        "beforeUid": str(r.beforeUid), "count": r.count,
        "conversation": {"conversationType": r.conversation.type,
                         "target": r.conversation.target,
                         "line": r.conversation.line}})
    responseFromTcp = staticmethod(
        lambda body: HistoryResult(_pullFromTcp(body).messages))
    responseFromWs = staticmethod(
        lambda v: HistoryResult(messagesFromJsonList(jobj(v).get("messageResponseList"))))


# -- pushes --------------------------------------------------------------------

def _mnToTcp(p: MessageNotify) -> bytes:
    m = pb.NotifyMessage(type=p.type, head=p.head)
    if p.target:
        m.target = p.target
    return m.SerializeToString()


class MessageNotification(Notification):
    """
    MN: the user's message head moved (WebSocket drops the target).
    """

    push = MessageNotify
    subsignal = int(SubSignal.MN)
    toTcp = staticmethod(_mnToTcp)
    toWs = staticmethod(lambda p: '{"messageHead":"%d","type":%d}' % (p.head, p.type))
    fromTcp = staticmethod(
        lambda body: (lambda m: MessageNotify(m.type, m.head, ps(m.target)))(
            parsePb(pb.NotifyMessage, body)))
    fromWs = staticmethod(
        lambda v: MessageNotify(jint(jobj(v).get("type")), jint(v.get("messageHead"))))


class RecallNotification(Notification):
    """
    RMN: a message was recalled.
    """

    push = RecallNotify
    subsignal = int(SubSignal.RMN)
    toTcp = staticmethod(lambda p: pb.NotifyRecallMessage(
        id=p.messageUid, from_user=p.fromUser).SerializeToString())
    toWs = staticmethod(lambda p: dumps({"fromUser": p.fromUser, "messageUid": str(p.messageUid)}))
    fromTcp = staticmethod(
        lambda body: (lambda m: RecallNotify(m.id, ps(m.from_user)))(
            parsePb(pb.NotifyRecallMessage, body)))
    fromWs = staticmethod(
        lambda v: RecallNotify(jint(jobj(v).get("messageUid")), jstr(v.get("fromUser"))))


def _transparentFromTcp(body: bytes) -> TransparentMessage:
    if body[:1] != b"\x00":
        raise WireError("transparent push with a non-zero code")
    m = parsePb(pb.PullMessageResult, body[1:])
    if len(m.message) != 1:
        raise WireError(f"transparent push with {len(m.message)} messages")
    return TransparentMessage(messageFromPb(m.message[0]))


def _transparentFromWs(value: Any) -> TransparentMessage:
    result = _pullFromWs(value)
    if len(result.messages) != 1:
        raise WireError(f"transparent push with {len(result.messages)} messages")
    return TransparentMessage(result.messages[0])


class TransparentNotification(Notification):
    """
    A transparent message: delivered, not stored, as an unsolicited
    PUB_ACK/MP with messageId 0.
    """

    push = TransparentMessage
    signal = int(Signal.PUB_ACK)
    subsignal = int(SubSignal.MP)
    toTcp = staticmethod(lambda p: b"\x00" + pullResultPb((p.message,), 0, 0))
    toWs = staticmethod(lambda p: pullResultJson((p.message,), 0, 0))
    fromTcp = staticmethod(_transparentFromTcp)
    fromWs = staticmethod(_transparentFromWs)


COMMANDS = (SendMessageCommand, PullMessagesCommand, RecallMessageCommand, LoadHistoryCommand)
NOTIFICATIONS = (MessageNotification, RecallNotification, TransparentNotification)
