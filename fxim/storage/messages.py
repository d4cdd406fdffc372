# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
Messages (L{fxim.interfaces.IMessageStore}): their C{*_txn} queries
(storing a batch, pulls, history, recall, the send context), the SQL store
L{SQLMessageStore} with group commit for C{storeMessage}, and its
in-memory twin L{MemoryMessageStore}.

Group commit: at most C{maxInflight} (1 on SQLite) message-storing
transactions run at a time per store.  Calls arriving while they run wait
in a queue; when one commits, the next transaction takes the whole queue
(up to C{maxBatch}) and stores it with one COMMIT, and each caller of the
committed batch gets its Deferred fired.  If a batch fails as a
whole (which the SQL avoids for known per-message errors), its messages are
retried one transaction each so one bad message cannot fail the others.
On PostgreSQL a batch is one statement on the asynchronous connections
(L{fxim.storage.pgbatch}) while they are available.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import attr
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from fxim.interfaces import IMessageStore
from fxim.model import (
    Conversation, ConversationType, FriendState, GroupMember, MemberType, Message,
    MessageContent, User,
)
from fxim.storage.database import ReadBusy, SQLDatabase, all_txn, insertMany_txn, one_txn
from fxim.storage import pgbatch
from fxim.storage.pgasync import Interrupted, Unavailable
from fxim.storage.dialect import Dialect
from fxim.storage.fired import fired
from fxim.storage.friends import getFriend_txn
from fxim.storage.groups import getMembers_txn
from fxim.storage.records import PullBatch, SendContext, StoredMessage
from fxim.storage.users import getUser_txn

_log = Logger()

#: Largest signed 64-bit value: C{beforeUid=0} means "below this".
MAX_UID = 2 ** 63 - 1

#: A dedup key: C{(uid, cid, localId)}.
DedupKey = Tuple[str, str, Optional[int]]

MESSAGE_COLUMNS = (
    "uid", "conv_type", "conv_target", "conv_line", "from_user", "sent_at",
    "to_user", "to_users", "local_id", "content_type", "searchable_content",
    "push_content", "content", "data", "media_type", "remote_media_url",
    "persist_flag", "expire_duration", "mentioned_type",
    "mentioned_targets", "size",
)
CONTENT_COLUMNS = MESSAGE_COLUMNS[9:]
#: Where a message row (and L{messageValues}) has the content type.
_TYPE_VALUE = MESSAGE_COLUMNS.index("content_type")
_COLUMNS = ", ".join("m." + c for c in MESSAGE_COLUMNS)
_SELECT = "SELECT %s FROM messages m" % (_COLUMNS,)
_PULL_CHUNK = 500
#: A pull of at most this many waiting messages -- the common case of an
#: online device following its MNs -- runs where small reads run (on
#: SQLite, inline on the reactor thread: no thread hop); a longer one, a
#: device catching up, where big reads run (L{pullMessages_txn}).
INLINE_PULL_MESSAGES = 16

#: L{fxim.storage.pgbatch}'s statement for this table.
_BATCH_STATEMENT = pgbatch.statement(MESSAGE_COLUMNS)

#: What storing one message gives: a L{StoredMessage}, or the exception
#: or L{Failure} to fail its caller with.
Outcome = Union[StoredMessage, Exception, Failure, None]


@attr.s(slots=True, auto_attribs=True)
class PendingStore:
    """
    One C{storeMessage} call waiting for the next batch.
    """

    message: Message
    receivers: List[str]
    dedupKey: Optional[DedupKey]
    now: int


#: Fixed per-message overhead counted by L{estimateSize}.
MESSAGE_OVERHEAD = 32


def estimateSize(message: Message) -> int:
    """
    A cheap estimate of a message's encoded size, used to cap pulls: its
    content bytes and the UTF-8 length of its text fields, plus a fixed
    overhead.  Every store uses this same function.
    """
    c = message.content
    texts = (
        c.searchableContent, c.pushContent, c.content, c.remoteMediaUrl,
        message.fromUser, message.conversation.target, message.toUser,
    ) + tuple(message.to) + tuple(c.mentionedTargets)
    return (
        MESSAGE_OVERHEAD + len(c.data)
        + sum(len(t.encode("utf-8")) for t in texts)
    )


def peerOf(message: Message, receiver: str) -> str:
    """
    The conversation target of C{message} as seen from C{receiver}'s
    inbox: for a private conversation the other party (the sender, unless
    C{receiver} sent it), else the conversation target (group id...).
    """
    conversation = message.conversation
    if conversation.type == ConversationType.PRIVATE and message.fromUser != receiver:
        return message.fromUser
    return conversation.target


def uniqueReceivers(receivers: Iterable[str]) -> List[str]:
    """
    @return: C{receivers} as a list without repeats, in first-seen order.
    """
    return list(dict.fromkeys(receivers))


def _jsonList(values: Iterable[Any]) -> str:
    return json.dumps(list(values)) if values else "[]"


def contentValues(c: MessageContent, size: int) -> List[Any]:
    return [c.type, c.searchableContent, c.pushContent, c.content,
            bytes(c.data), c.mediaType, c.remoteMediaUrl, c.persistFlag,
            c.expireDuration, c.mentionedType,
            _jsonList(c.mentionedTargets), size]


def messageValues(m: Message) -> List[Any]:
    c = m.conversation
    return [m.messageUid, c.type, c.target, c.line, m.fromUser, m.timestamp,
            m.toUser, _jsonList(m.to), m.localId] + contentValues(
                m.content, estimateSize(m))


def _message(row: Sequence[Any]) -> Message:
    (userId, convType, target, line, fromUser, sentAt, toUser, toUsers,
     localId, ctype, searchable, push, content, data, mediaType, url,
     persistFlag, expire, mentionedType, mentioned, _) = row[:21]
    return Message(
        conversation=Conversation(convType, target, line),
        fromUser=fromUser,
        content=MessageContent(
            type=ctype, searchableContent=searchable, pushContent=push,
            content=content, data=bytes(data), mediaType=mediaType,
            remoteMediaUrl=url, persistFlag=persistFlag,
            expireDuration=expire, mentionedType=mentionedType,
            mentionedTargets=tuple(json.loads(mentioned))),
        messageUid=userId, timestamp=sentAt, toUser=toUser,
        to=tuple(json.loads(toUsers)), localId=localId)


class DecodedMessages:
    """
    The messages pulls decoded lately, by uid, so that the members of a
    group pulling the same message share one decoded L{Message} (and so
    one encoding of it: L{fxim.protocol.messages.fitPull}).

    An entry is used only while the row still has the content type and
    size it was decoded with.  Every in-place change of a stored message
    (a recall, an erased account) changes its type, so a change made by
    another node is seen at once.  Plain dict operations only (atomic
    under the GIL): pool threads may read it too.

    @ivar maxEntries: kept at most; when full it starts again empty.
    """

    def __init__(self, maxEntries: int = 4096) -> None:
        self.maxEntries = maxEntries
        self._entries: Dict[int, Tuple[int, int, Message]] = {}

    def decode(self, row: Sequence[Any]) -> Message:
        """
        @param row: the L{MESSAGE_COLUMNS} of one message.
        @return: its L{Message}, decoded or the one decoded before.
        """
        uid, contentType, size = row[0], row[_TYPE_VALUE], row[20]
        found = self.cached(uid, contentType, size)
        if found is not None:
            return found
        message = _message(row)
        self.remember(uid, contentType, size, message)
        return message

    def cached(self, uid: int, contentType: int, size: int) -> Optional[Message]:
        """
        @return: the message decoded for the row with C{uid} while it had
            C{contentType} and C{size}, or L{None}.
        """
        found = self._entries.get(uid)
        if found is not None and found[0] == contentType and found[1] == size:
            return found[2]
        return None

    def remember(self, uid: int, contentType: int, size: int, message: Message) -> None:
        """
        Keep C{message} as the decoding of the row with C{uid},
        C{contentType} and C{size}: a message being stored, so that its
        receivers' pulls do not decode the row just written.
        """
        if len(self._entries) >= self.maxEntries:
            self._entries = {}
        self._entries[uid] = (contentType, size, message)


def getMessage_txn(txn: Any, d: Dialect, messageUid: int) -> Optional[Message]:
    row = one_txn(txn, d, _SELECT + " WHERE m.uid = ?", (messageUid,))
    return None if row is None else _message(row)


def seqsOf_txn(txn: Any, d: Dialect, messageUid: int) -> Dict[str, int]:
    return dict(all_txn(txn, d, "SELECT uid, seq FROM inboxes"
                        " WHERE message_uid = ?", (messageUid,)))


def getReceivers_txn(txn: Any, d: Dialect, messageUid: int) -> List[str]:
    return [row[0] for row in all_txn(
        txn, d, "SELECT uid FROM inboxes WHERE message_uid = ? ORDER BY uid",
        (messageUid,))]


def _dedupKey(item: PendingStore) -> Optional[DedupKey]:
    key = item.dedupKey
    if key is None or key[2] is None:
        return None
    return (key[0], key[1], key[2])


@attr.s(slots=True, auto_attribs=True)
class BatchPlan:
    """
    What a batch's messages need of the database, from the batch alone.

    @ivar results: one outcome per item, set so far for the items the
        batch itself refuses (a uid twice).
    @ivar firstWithKey: the item that claims each dedup key.
    @ivar duplicates: items whose dedup key an earlier item of the batch
        has (resends): they get that item's message.
    @ivar candidates: the items to store.
    """

    results: List[Outcome]
    firstWithKey: Dict[DedupKey, int]
    duplicates: Dict[int, DedupKey]
    candidates: List[int]


def planBatch(items: Sequence[PendingStore]) -> BatchPlan:
    """
    @return: the L{BatchPlan} of C{items}: within the batch the first
        message with a given uid or dedup key wins.
    """
    plan = BatchPlan([None] * len(items), {}, {}, [])
    messageUids = set()
    for i, it in enumerate(items):
        key = _dedupKey(it)
        if key is not None and key in plan.firstWithKey:
            plan.duplicates[i] = key
        elif it.message.messageUid in messageUids:
            plan.results[i] = KeyError(it.message.messageUid)
        else:
            messageUids.add(it.message.messageUid)
            if key is not None:
                plan.firstWithKey[key] = i
            plan.candidates.append(i)
    return plan


def storeBatch_txn(txn: Any, d: Dialect, items: Sequence[PendingStore],
                   decoded: Optional[DecodedMessages] = None) -> List[Outcome]:
    """
    Store a batch of messages in the current transaction.

    Within the batch the first message with a given uid or dedup key wins.
    Locks are taken in one global order (dedup keys sorted, then user
    heads sorted by uid) so that concurrent batches of several nodes
    cannot deadlock.

    @param items: a list of L{PendingStore}.
    @param decoded: where to keep the stored messages as their rows'
        decodings (a row is read only once committed).
    @return: a list with, for each item, a L{StoredMessage} or the
        exception (L{KeyError}: uid already stored) to fail it with.
    """
    plan = planBatch(items)
    results, firstWithKey = plan.results, plan.firstWithKey
    duplicates, candidates = plan.duplicates, plan.candidates
    if firstWithKey:
        claimedRows = insertMany_txn(
            txn, d, "INSERT INTO dedup_keys (uid, cid, local_id,"
            " message_uid, created_at)", 5,
            [key + (items[i].message.messageUid, items[i].now)
             for key, i in sorted(firstWithKey.items())],
            "ON CONFLICT DO NOTHING RETURNING uid, cid, local_id")
        claimed = {tuple(row) for row in claimedRows}
        for key, i in firstWithKey.items():
            if key not in claimed:
                duplicates[i] = key
        candidates = [i for i in candidates if i not in duplicates]
    rows = [messageValues(items[i].message) for i in candidates]
    inserted = {row[0] for row in insertMany_txn(
        txn, d, "INSERT INTO messages (%s)" % (", ".join(MESSAGE_COLUMNS),),
        len(MESSAGE_COLUMNS), rows, "ON CONFLICT (uid) DO NOTHING RETURNING uid")}
    stored = []
    released: List[DedupKey] = []
    for i, row in zip(candidates, rows):
        if items[i].message.messageUid in inserted:
            stored.append(i)
            if decoded is not None:
                decoded.remember(row[0], row[_TYPE_VALUE], row[-1], items[i].message)
            continue
        results[i] = KeyError(items[i].message.messageUid)
        taken = _dedupKey(items[i])
        if taken is not None:
            released.append(taken)
    if stored:
        _insertStored_txn(txn, d, items, stored, results)
    return settleBatch_txn(txn, d, items, duplicates, released, results)


def settleBatch_txn(txn: Any, d: Dialect, items: Sequence[PendingStore],
                    duplicates: Dict[int, DedupKey], released: Sequence[DedupKey],
                    results: List[Outcome]) -> List[Outcome]:
    """
    The end of storing a batch: give back the dedup keys of messages not
    stored after all (C{released}), and give each resend in
    C{duplicates} the message its key has (or L{KeyError} if none).

    @return: C{results}, completed.
    """
    for key in released:
        txn.execute(d.q("DELETE FROM dedup_keys WHERE uid = ? AND"
                        " cid = ? AND local_id = ?"), key)
    for i, key in duplicates.items():
        row = one_txn(txn, d, "SELECT message_uid FROM dedup_keys WHERE"
                      " uid = ? AND cid = ? AND local_id = ?", key)
        if row is None:
            results[i] = KeyError(items[i].message.messageUid)
        else:
            original = getMessage_txn(txn, d, row[0])
            assert original is not None  # the dedup key row is its message's
            results[i] = StoredMessage(original, seqsOf_txn(txn, d, row[0]), True)
    return results


def _insertStored_txn(txn: Any, d: Dialect, items: Sequence[PendingStore], stored: List[int],
                      results: List[Outcome]) -> None:
    receivers = {i: uniqueReceivers(items[i].receivers) for i in stored}
    counts = _shares(receivers, stored)
    heads: Dict[str, int] = {}
    if counts:
        heads = dict(insertMany_txn(
            txn, d, "INSERT INTO user_heads (uid, head)", 2,
            sorted(counts.items()),
            "ON CONFLICT (uid) DO UPDATE SET"
            " head = user_heads.head + excluded.head RETURNING uid, head"))
    _giveSeqs(items, stored, receivers, counts, heads, results)
    inbox = []
    for i in stored:
        m = items[i].message
        for r, seq in results[i].seqs.items():  # type: ignore[union-attr]
            inbox.append((r, seq, m.messageUid, m.conversation.type,
                          peerOf(m, r), m.conversation.line))
    if inbox:
        insertMany_txn(txn, d, "INSERT INTO inboxes (uid, seq, message_uid,"
                       " conv_type, peer, conv_line)", 6, inbox)


def _shares(receivers: Dict[int, List[str]], stored: List[int]) -> Dict[str, int]:
    """
    @param receivers: each item's receivers, without repeats.
    @return: how many of the C{stored} items each receiver gets.
    """
    counts: Dict[str, int] = {}
    for i in stored:
        for r in receivers[i]:
            counts[r] = counts.get(r, 0) + 1
    return counts


def _giveSeqs(items: Sequence[PendingStore], stored: List[int], receivers: Dict[int, List[str]],
              counts: Dict[str, int], heads: Dict[str, int], results: List[Outcome]) -> None:
    """
    Give each stored item its L{StoredMessage}: a receiver's seqs, in
    batch order, are the C{counts} ones the batch added below its new head
    (C{heads}).
    """
    nextSeq = {r: heads[r] - n + 1 for r, n in counts.items()}
    for i in stored:
        seqs = {}
        for r in receivers[i]:
            seqs[r] = nextSeq[r]
            nextSeq[r] += 1
        results[i] = StoredMessage(items[i].message, seqs, False)


def purgeDedupKeys_txn(txn: Any, d: Dialect, olderThan: int) -> int:
    txn.execute(d.q("DELETE FROM dedup_keys WHERE created_at < ?"),
                (olderThan,))
    return txn.rowcount


def getHead_txn(txn: Any, d: Dialect, userId: str) -> int:
    row = one_txn(txn, d, "SELECT head FROM user_heads WHERE uid = ?", (userId,))
    return 0 if row is None else row[0]


#: The first read of every pull, in one query: the head and the first
#: L{INLINE_PULL_MESSAGES} + 1 waiting messages (parameters: after, user,
#: limit).  An inbox row whose message is gone has a NULL size: skipped,
#: as the inner join of L{_pullTo_txn} skips it.
_FIRST_ROWS = ("SELECT h.head, i.seq, %s FROM user_heads h"
               " LEFT JOIN inboxes i ON i.uid = h.uid AND i.seq > ? AND i.seq <= h.head"
               " LEFT JOIN messages m ON m.uid = i.message_uid"
               " WHERE h.uid = ? ORDER BY i.seq LIMIT ?") % (_COLUMNS,)


def _firstRows_txn(txn: Any, d: Dialect, userId: str, after: int) -> Tuple[int, List[Any]]:
    """
    @return: C{(head, rows)}: the user's head and the rows of L{_FIRST_ROWS}.
    """
    rows = all_txn(txn, d, _FIRST_ROWS, (after, userId, INLINE_PULL_MESSAGES + 1))
    return (rows[0][0] if rows else 0), rows


def _collect(rows: Sequence[Any], entries: List[Tuple[int, Message]], total: int,
             maxBytes: int, decode: Callable[[Sequence[Any]], Message],
             skip: int = 0) -> Optional[int]:
    """
    Append the messages of C{rows} (C{skip} columns, then the seq and the
    L{MESSAGE_COLUMNS}) to C{entries} while they fit in C{maxBytes} (the
    first always does).

    @return: the bytes in C{entries} now, or L{None} if one did not fit.
    """
    for row in rows:
        size = row[-1]
        if size is None:
            continue
        if entries and total + size > maxBytes:
            return None
        entries.append((row[skip], decode(row[skip + 1:])))
        total += size
    return total


def pullMessages_txn(txn: Any, d: Dialect, userId: str, afterSeq: int, maxBytes: int,
                     decoded: Optional[DecodedMessages] = None) -> PullBatch:
    """
    The head and the first waiting messages in one query (most pulls need
    no other), then the rest in seq ranges of C{_PULL_CHUNK} (seqs are
    gapless, so a range bounds the rows read whatever plan the database
    picks), up to that head.
    """
    decode = _message if decoded is None else decoded.decode
    after = max(afterSeq, 0)
    head, rows = _firstRows_txn(txn, d, userId, after)
    entries: List[Tuple[int, Message]] = []
    total = _collect(rows, entries, 0, maxBytes, decode, 1)
    if total is None or len(rows) <= INLINE_PULL_MESSAGES:
        return PullBatch(entries, head)
    return _pullTo_txn(txn, d, userId, rows[-1][1], maxBytes, head, decoded, entries, total)


#: L{_FIRST_ROWS} with only what finds a message among the decoded ones.
_FIRST_KEYS = _FIRST_ROWS.replace(_COLUMNS, "m.uid, m.content_type, m.size", 1)


def pullWaiting_txn(txn: Any, d: Dialect, userId: str, afterSeq: int,
                    maxBytes: int, decoded: Optional[DecodedMessages] = None) -> Optional[PullBatch]:
    """
    L{pullMessages_txn} if at most L{INLINE_PULL_MESSAGES} messages are
    waiting, else L{None}: one indexed query.

    With C{decoded}, that query reads only each message's uid, type and
    size, and the messages not decoded already are read by uid (an
    online device's pull mostly finds what was just stored).
    """
    after = max(afterSeq, 0)
    if decoded is None:
        head, rows = _firstRows_txn(txn, d, userId, after)
        if len(rows) > INLINE_PULL_MESSAGES:
            return None
        entries: List[Tuple[int, Message]] = []
        _collect(rows, entries, 0, maxBytes, _message, 1)
        return PullBatch(entries, head)
    rows = all_txn(txn, d, _FIRST_KEYS, (after, userId, INLINE_PULL_MESSAGES + 1))
    if len(rows) > INLINE_PULL_MESSAGES:
        return None
    picked, missing = _pickDecoded(rows, maxBytes, decoded)
    found: Sequence[Any] = ()
    if missing:
        found = all_txn(txn, d, _missingQuery(len(missing)), missing)
    return _pickedBatch(rows, picked, found, decoded)


#: A message picked for a pull: its seq, uid and decoding (L{None}: to read).
Picked = Tuple[int, int, Optional[Message]]


def _pickDecoded(rows: Sequence[Any], maxBytes: int,
                 decoded: DecodedMessages) -> Tuple[List[Picked], List[int]]:
    """
    The messages of L{_FIRST_KEYS} C{rows} that fit in C{maxBytes}, as
    found among the C{decoded} ones.

    @return: C{(picked, uids of the picked messages to read)}.
    """
    picked: List[Picked] = []
    missing: List[int] = []
    total = 0
    for _, seq, uid, contentType, size in rows:
        if size is None:
            continue
        if picked and total + size > maxBytes:
            break
        message = decoded.cached(uid, contentType, size)
        if message is None:
            missing.append(uid)
        picked.append((seq, uid, message))
        total += size
    return picked, missing


def _missingQuery(count: int) -> str:
    """
    The statement reading C{count} messages by uid (C{?} placeholders).
    """
    return _SELECT + " WHERE m.uid IN (%s)" % (", ".join("?" * count),)


def _pickedBatch(rows: Sequence[Any], picked: List[Picked], found: Sequence[Any],
                 decoded: DecodedMessages) -> PullBatch:
    """
    The L{PullBatch} of L{_pickDecoded}'s C{picked} messages, those not
    decoded taken from the message rows C{found}.
    """
    byUid: Dict[int, Message] = {row[0]: decoded.decode(row) for row in found}
    entries = []
    for seq, uid, message in picked:
        if message is None:
            message = byUid.get(uid)
            if message is None:  # deleted since the first query
                continue
        entries.append((seq, message))
    return PullBatch(entries, rows[0][0] if rows else 0)


def _pullTo_txn(txn: Any, d: Dialect, userId: str, afterSeq: int, maxBytes: int,
                head: int, decoded: Optional[DecodedMessages] = None,
                entries: Optional[List[Tuple[int, Message]]] = None,
                total: int = 0) -> PullBatch:
    decode = _message if decoded is None else decoded.decode
    if entries is None:
        entries = []
    after = max(afterSeq, 0)
    while after < head:
        upTo = min(after + _PULL_CHUNK, head)
        rows = all_txn(txn, d, "SELECT i.seq, %s FROM inboxes i JOIN messages m"
                       " ON m.uid = i.message_uid WHERE i.uid = ? AND i.seq > ?"
                       " AND i.seq <= ? ORDER BY i.seq" % (_COLUMNS,),
                       (userId, after, upTo))
        more = _collect(rows, entries, total, maxBytes, decode)
        if more is None:
            break
        total, after = more, upTo
    return PullBatch(entries, head)


def replaceContent_txn(txn: Any, d: Dialect, messageUid: int,
                       content: MessageContent) -> Optional[Message]:
    old = getMessage_txn(txn, d, messageUid)
    if old is None:
        return None
    new = attr.evolve(old, content=content)
    txn.execute(d.q("UPDATE messages SET %s WHERE uid = ?" % (
        ", ".join("%s = ?" % (c,) for c in CONTENT_COLUMNS),)),
        contentValues(content, estimateSize(new)) + [messageUid])
    return new


def loadHistory_txn(txn: Any, d: Dialect, viewer: str, conversation: Conversation,
                    beforeUid: int, count: int) -> List[Message]:
    rows = all_txn(txn, d, _SELECT + " JOIN inboxes i ON i.message_uid = m.uid"
                   " WHERE i.uid = ? AND i.conv_type = ? AND i.peer = ?"
                   " AND i.conv_line = ? AND i.message_uid < ?"
                   " ORDER BY i.message_uid DESC LIMIT ?",
                   (viewer, conversation.type, conversation.target,
                 conversation.line, beforeUid or MAX_UID, count))
    return [_message(row) for row in rows]


def getSendContext_txn(txn: Any, d: Dialect, userId: str, conversationType: int,
                       target: str) -> SendContext:
    """
    Everything sending a message checks, in one interaction: the sender,
    and the private target and its blacklist entry, or the group's members.
    """
    sender = getUser_txn(txn, d, userId)
    if conversationType == ConversationType.GROUP:
        return SendContext(sender, members=getMembers_txn(txn, d, target, False))
    if not target or target == userId:
        return SendContext(sender)
    friend = getFriend_txn(txn, d, target, userId)
    return SendContext(sender, getUser_txn(txn, d, target),
                       friend is not None and friend.state == FriendState.BLACKED)


@implementer(IMessageStore)
class SQLMessageStore(SQLDatabase):
    """
    L{IMessageStore} on an SQL database, with group commit for
    L{storeMessage} (see the module docstring).

    @ivar maxBatch: most messages stored in one transaction.
    @ivar maxInflight: most batch transactions running at once.
    @ivar batches: transactions run by group commit so far.
    @ivar batchedMessages: messages they stored.
    """

    maxBatch = 1000
    #: Most receivers of a message in a batch stored on L{batchQueries}:
    #: a batch with a message to a bigger group is stored on the pool
    #: (measured: on the asynchronous connection, fan-out to 2,000
    #: members gave 20% fewer deliveries per second).
    maxReceiversWithoutThread = 500

    def __init__(self, dialect: Dialect, writePool: Any, readPool: Any = None,
                 maxInflight: int = 1) -> None:
        """
        @param maxInflight: most message batches in concurrent
            transactions (1 for SQLite; a batch waits for the previous
            one's per-user head locks, so order and gaplessness hold).
        """
        super().__init__(dialect, writePool, readPool)
        self.maxInflight = maxInflight
        self._queue: List[Tuple[PendingStore, Deferred[StoredMessage]]] = []
        self._inflight = 0
        self._idleWaiters: List[Deferred[None]] = []
        self._closed = False
        #: what pulls decoded lately (a group's members share it)
        self._decoded = DecodedMessages()
        self.batches = 0
        self.batchedMessages = 0

    def close(self) -> Deferred[None]:
        """
        Wait for queued messages to be stored, then close the pools.
        Closing again does nothing.
        @return: L{Deferred} firing when closed.
        """
        if self._closed:
            return succeed(None)
        self._closed = True
        waiting: Deferred[None] = Deferred()
        if self._inflight:
            self._idleWaiters.append(waiting)
        else:
            waiting.callback(None)
        return waiting.addCallback(lambda _: SQLDatabase.close(self))

    # -- group commit ---------------------------------------------------------

    def storeMessage(self, message: Message, receivers: Iterable[str],
                     dedupKey: Optional[Sequence[Any]], now: int) -> Deferred[StoredMessage]:
        if self._closed:
            return fail(RuntimeError("store is closed"))
        d: Deferred[StoredMessage] = Deferred()
        key = tuple(dedupKey) if dedupKey is not None else None
        self._queue.append((PendingStore(message, list(receivers), key, now), d))  # type: ignore[arg-type]
        self._pump()
        return d

    def _pump(self) -> None:
        """
        Start batch transactions while fewer than C{maxInflight} run.
        """
        while self._queue and self._inflight < self.maxInflight:
            batch = self._queue[:self.maxBatch]
            del self._queue[:self.maxBatch]
            self._inflight += 1
            self.batches += 1
            self.batchedMessages += len(batch)
            items = [item for item, _ in batch]
            self._storeBatch(items).addCallback(self._flushed, batch, time.monotonic())
        if not self._inflight:
            waiters, self._idleWaiters = self._idleWaiters, []
            for w in waiters:
                w.callback(None)

    def _storeBatch(self, items: List[PendingStore]) -> Deferred[List[Outcome]]:
        """
        @return: L{Deferred} firing with one result (StoredMessage,
            exception or Failure) per item; it never fails.
        """
        if (self.batchQueries is not None and self.batchQueries.available()
                and max(len(it.receivers) for it in items) <= self.maxReceiversWithoutThread):
            return self._storeInOneStatement(items)
        return self._storeOnPool(items)

    def _storeInOneStatement(self, items: List[PendingStore]) -> Deferred[List[Outcome]]:
        """
        Store C{items} with L{fxim.storage.pgbatch}'s one statement on
        L{batchQueries}; on the pool if that statement could not run there.
        """
        queries = self.batchQueries
        assert queries is not None
        plan = planBatch(items)
        keys = [key + (items[i].message.messageUid, items[i].now)
                for key, i in plan.firstWithKey.items()]
        rows = [messageValues(items[i].message) for i in plan.candidates]
        receivers = {i: uniqueReceivers(items[i].receivers) for i in plan.candidates}
        inbox: List[Tuple[Any, ...]] = []
        for i in plan.candidates:
            m = items[i].message
            for r in receivers[i]:
                inbox.append((r, len(inbox), m.messageUid, m.conversation.type,
                              peerOf(m, r), m.conversation.line))

        def answered(answerRows: List[Any]) -> Any:
            done = pgbatch.answer(answerRows)
            results, duplicates = plan.results, dict(plan.duplicates)
            released: List[DedupKey] = []
            stored: List[int] = []
            for i, row in zip(plan.candidates, rows):
                m = items[i].message
                if m.messageUid in done.inserted:
                    self._decoded.remember(row[0], row[_TYPE_VALUE], row[-1], m)
                    stored.append(i)
                    continue
                key = _dedupKey(items[i])
                if key is None:
                    results[i] = KeyError(m.messageUid)
                elif m.messageUid in done.claimed:
                    # Its uid is another message's: give its key back.
                    results[i] = KeyError(m.messageUid)
                    released.append(key)
                else:
                    duplicates[i] = key
            _giveSeqs(items, stored, receivers, _shares(receivers, stored), done.heads,
                      results)
            if not duplicates and not released:
                return results

            def unsettled(failure: Failure) -> List[Outcome]:
                for i in duplicates:
                    results[i] = failure
                return results
            return self._runWrite(settleBatch_txn, items, duplicates, released,
                                  results).addErrback(unsettled)

        def failed(failure: Failure) -> Any:
            if failure.check(Interrupted):
                # It may have committed: a resend finds it by its dedup key.
                return [failure] * len(items)
            # Nothing was stored: a statement in autocommit is all or none.
            return self._storeOnPool(items)
        d = queries.query(_BATCH_STATEMENT, pgbatch.parameters(
            keys, rows, MESSAGE_COLUMNS, inbox))
        return d.addCallbacks(answered, failed)

    def _storeOnPool(self, items: List[PendingStore]) -> Deferred[List[Outcome]]:
        """
        Store C{items} with L{storeBatch_txn} on the write pool; one by one
        if the batch fails as a whole.
        """
        result = self._runWrite(storeBatch_txn, items, self._decoded)
        if len(items) == 1:
            return result.addErrback(lambda f: [f])

        def oneByOne(failure: Failure) -> Any:
            from fxim.health import outageKind
            if outageKind(failure.value) is not None:
                # The database is unreachable: one by one would fail too.
                return [failure] * len(items)
            _log.failure("storing a batch of {n} messages failed; storing"
                         " them one by one", failure, n=len(items))
            results: List[Outcome] = []

            def step(_: object = None) -> Any:
                if len(results) == len(items):
                    return results
                item = items[len(results)]
                d = self._runWrite(storeBatch_txn, [item], self._decoded)
                d.addCallbacks(lambda r: results.extend(r), lambda f: results.append(f))
                return d.addCallback(step)
            return step()
        return result.addErrback(oneByOne)

    def _flushed(self, results: List[Outcome],
                 batch: List[Tuple[PendingStore, Deferred[StoredMessage]]],
                 started: Optional[float] = None) -> None:
        self._inflight -= 1
        if started is not None:
            from fxim import metrics
            metrics.COMMIT_SECONDS.observe(time.monotonic() - started)
            metrics.BATCH_SIZE.observe(len(batch))
            metrics.MESSAGES_STORED.inc(sum(
                1 for r in results if not isinstance(r, (Failure, Exception))))
        self._pump()
        for (_, d), result in zip(batch, results):
            if isinstance(result, (Failure, Exception)):
                d.errback(result)
            else:
                d.callback(result)  # type: ignore[arg-type]

    # -- everything else --------------------------------------------------------

    def purgeDedupKeys(self, olderThan: int) -> Deferred[int]:
        return self._runWrite(purgeDedupKeys_txn, olderThan)

    def pullMessages(self, userId: str, afterSeq: int, maxBytes: int) -> Deferred[PullBatch]:
        if not self.readsInline:
            if self.queries is not None and self.queries.available():
                return self._pullWithoutThread(userId, afterSeq, maxBytes)
            return self._runRead(pullMessages_txn, userId, afterSeq, maxBytes, self._decoded)

        def big(batch: Optional[PullBatch]) -> Any:
            if batch is not None:
                return batch
            # A catch-up: not worth keeping its messages decoded.
            return self._runRead(pullMessages_txn, userId, afterSeq, maxBytes)
        return self._runRead(pullWaiting_txn, userId, afterSeq, maxBytes,
                             self._decoded).addCallback(big)

    def _pullWithoutThread(self, userId: str, afterSeq: int, maxBytes: int) -> Deferred[PullBatch]:
        """
        L{pullWaiting_txn}'s queries on L{queries} (PostgreSQL's
        asynchronous connections); a catch-up of more messages, or a pull
        those connections could not run, goes to the thread pool.
        """
        queries, decoded, q = self.queries, self._decoded, self.dialect.q
        assert queries is not None

        def onThread(reason: Any = None) -> Deferred[PullBatch]:
            if reason is not None:
                reason.trap(Unavailable)
            return self._runRead(pullMessages_txn, userId, afterSeq, maxBytes, decoded)

        def first(rows: List[Any]) -> Any:
            if len(rows) > INLINE_PULL_MESSAGES:
                return onThread()
            picked, missing = _pickDecoded(rows, maxBytes, decoded)
            if not missing:
                return _pickedBatch(rows, picked, (), decoded)
            return queries.query(q(_missingQuery(len(missing))), missing).addCallback(
                lambda found: _pickedBatch(rows, picked, found, decoded))
        d = queries.query(q(_FIRST_KEYS), (max(afterSeq, 0), userId, INLINE_PULL_MESSAGES + 1))
        return d.addCallback(first).addErrback(onThread)

    def pullNow(self, userId: str, afterSeq: int, maxBytes: int) -> Optional[PullBatch]:
        """
        L{pullMessages} answered on the calling thread, where reads run
        inline and few messages are waiting (an online device following
        its MNs): no L{Deferred}.

        @return: the L{PullBatch}, or L{None}: use L{pullMessages}.
        """
        if not self.readsInline:
            return None
        try:
            return self._readNow(pullWaiting_txn, userId, afterSeq, maxBytes, self._decoded)
        except ReadBusy:
            return None

    def getHead(self, userId: str) -> Deferred[int]:
        return self._runRead(getHead_txn, userId)

    def getMessage(self, messageUid: int) -> Deferred[Optional[Message]]:
        return self._runRead(getMessage_txn, messageUid)

    def getSendContext(self, userId: str, conversationType: int,
                       target: str) -> Deferred[SendContext]:
        return self._runRead(getSendContext_txn, userId, conversationType, target)

    def getReceivers(self, messageUid: int) -> Deferred[List[str]]:
        return self._runRead(getReceivers_txn, messageUid)

    def replaceContent(self, messageUid: int,
                       content: MessageContent) -> Deferred[Optional[Message]]:
        return self._runWrite(replaceContent_txn, messageUid, content)

    def loadHistory(self, viewer: str, conversation: Conversation, beforeUid: int,
                    count: int) -> Deferred[List[Message]]:
        return self._runRead(loadHistory_txn, viewer, conversation, beforeUid, count)


@implementer(IMessageStore)
class MemoryMessageStore:
    """
    L{IMessageStore} in memory; L{getSendContext} reads the tables of the
    L{fxim.storage.users.MemoryUserStore},
    L{fxim.storage.friends.MemoryFriendStore} and
    L{fxim.storage.groups.MemoryGroupStore} beside it.

    @ivar messages: message uid -> L{fxim.model.Message}.
    @ivar inboxes: user uid -> list of message uids (seq = index + 1;
        L{None} for a purged one).
    """

    users: Dict[str, User]
    friends: Dict[Tuple[str, str], Any]
    members: Dict[str, Dict[str, GroupMember]]

    def __init__(self) -> None:
        super().__init__()
        self.messages: Dict[int, Message] = {}
        self.inboxes: Dict[str, List[Optional[int]]] = {}
        self._receivers: Dict[int, Dict[str, int]] = {}
        self._dedup: Dict[Tuple[Any, ...], Tuple[int, int]] = {}

    def _seqsOf(self, messageUid: int) -> Dict[str, int]:
        return dict(self._receivers.get(messageUid, {}))

    @fired
    def storeMessage(self, message: Message, receivers: Iterable[str],
                     dedupKey: Optional[Sequence[Any]], now: int) -> StoredMessage:
        key = None
        if dedupKey is not None and dedupKey[2] is not None:
            key = tuple(dedupKey)
            seen = self._dedup.get(key)
            if seen is not None:
                return StoredMessage(self.messages[seen[0]], self._seqsOf(seen[0]), True)
        if message.messageUid in self.messages:
            raise KeyError(message.messageUid)
        self.messages[message.messageUid] = message
        seqs = {}
        for r in uniqueReceivers(receivers):
            inbox = self.inboxes.setdefault(r, [])
            inbox.append(message.messageUid)
            seqs[r] = len(inbox)
        self._receivers[message.messageUid] = seqs
        if key is not None:
            self._dedup[key] = (message.messageUid, now)
        return StoredMessage(message, dict(seqs), False)

    @fired
    def purgeDedupKeys(self, olderThan: int) -> int:
        """
        Forget dedup keys recorded before C{olderThan} (ms).
        @return: L{Deferred} firing with the number forgotten.
        """
        old = [k for k, (_, t) in self._dedup.items() if t < olderThan]
        for k in old:
            del self._dedup[k]
        return len(old)

    @fired
    def pullMessages(self, userId: str, afterSeq: int, maxBytes: int) -> PullBatch:
        inbox = self.inboxes.get(userId, [])
        entries: List[Tuple[int, Message]] = []
        total = 0
        for seq in range(max(afterSeq, 0) + 1, len(inbox) + 1):
            messageUid = inbox[seq - 1]
            if messageUid is None:
                continue  # i12: purged (a tombstone follows)
            message = self.messages[messageUid]
            size = estimateSize(message)
            if entries and total + size > maxBytes:
                break
            entries.append((seq, message))
            total += size
        return PullBatch(entries, len(inbox))

    @fired
    def getHead(self, userId: str) -> int:
        return len(self.inboxes.get(userId, ()))

    @fired
    def getMessage(self, messageUid: int) -> Optional[Message]:
        return self.messages.get(messageUid)

    @fired
    def getSendContext(self, userId: str, conversationType: int, target: str) -> SendContext:
        sender = self.users.get(userId)
        if conversationType == ConversationType.GROUP:
            return SendContext(sender, members=[
                m for m in self.members.get(target, {}).values()
                if m.type != MemberType.REMOVED])
        if not target or target == userId:
            return SendContext(sender)
        friend = self.friends.get((target, userId))
        return SendContext(sender, self.users.get(target),
                           friend is not None and friend.state == FriendState.BLACKED)

    @fired
    def getReceivers(self, messageUid: int) -> List[str]:
        return sorted(self._receivers.get(messageUid, ()))

    @fired
    def replaceContent(self, messageUid: int, content: MessageContent) -> Optional[Message]:
        old = self.messages.get(messageUid)
        if old is None:
            return None
        new = self.messages[messageUid] = attr.evolve(old, content=content)
        return new

    @fired
    def loadHistory(self, viewer: str, conversation: Conversation, beforeUid: int,
                    count: int) -> List[Message]:
        found = []
        for messageUid in set(self.inboxes.get(viewer, ())) - {None}:  # i12: None = purged
            assert messageUid is not None
            m = self.messages[messageUid]
            c = m.conversation
            if (c.type == conversation.type and c.line == conversation.line
                    and peerOf(m, viewer) == conversation.target
                    and (beforeUid == 0 or m.messageUid < beforeUid)):
                found.append(m)
        found.sort(key=lambda m: m.messageUid, reverse=True)
        return found[:count]
