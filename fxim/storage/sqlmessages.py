# -*- test-case-name: fxim.test.test_storage -*-
"""
Message queries of the SQL stores: storing a batch (group commit), pulls,
history, recall.  Conventions as in L{fxim.storage.sql}.
"""

import json

import attr

from fxim.model import Conversation, Message, MessageContent
from fxim.storage.records import (
    PullBatch, StoredMessage, estimateSize, peerOf, uniqueReceivers,
)
from fxim.storage.sql import MAX_UID, _all, _one, insertMany_txn

MESSAGE_COLUMNS = (
    "uid", "conv_type", "conv_target", "conv_line", "from_user", "sent_at",
    "to_user", "to_users", "local_id", "content_type", "searchable_content",
    "push_content", "content", "data", "media_type", "remote_media_url",
    "persist_flag", "expire_duration", "mentioned_type",
    "mentioned_targets", "size",
)
_CONTENT_COLUMNS = MESSAGE_COLUMNS[9:]
_COLUMNS = ", ".join("m." + c for c in MESSAGE_COLUMNS)
_SELECT = "SELECT %s FROM messages m" % (_COLUMNS,)
_PULL_CHUNK = 500


@attr.s(slots=True, auto_attribs=True)
class PendingStore:
    """
    One C{storeMessage} call waiting for the next batch.
    """

    message: Message
    receivers: list
    dedupKey: object
    now: int


def _jsonList(values):
    return json.dumps(list(values)) if values else "[]"


def _contentValues(c, size):
    return [c.type, c.searchableContent, c.pushContent, c.content,
            bytes(c.data), c.mediaType, c.remoteMediaUrl, c.persistFlag,
            c.expireDuration, c.mentionedType,
            _jsonList(c.mentionedTargets), size]


def _messageValues(m):
    c = m.conversation
    return [m.uid, c.type, c.target, c.line, m.fromUser, m.timestamp,
            m.toUser, _jsonList(m.to), m.localId] + _contentValues(
                m.content, estimateSize(m))


def _message(row):
    (uid, convType, target, line, fromUser, sentAt, toUser, toUsers,
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
        uid=uid, timestamp=sentAt, toUser=toUser,
        to=tuple(json.loads(toUsers)), localId=localId)


def getMessage_txn(txn, d, messageUid):
    row = _one(txn, d, _SELECT + " WHERE m.uid = ?", (messageUid,))
    return None if row is None else _message(row)


def seqsOf_txn(txn, d, messageUid):
    return dict(_all(txn, d, "SELECT uid, seq FROM inboxes"
                     " WHERE message_uid = ?", (messageUid,)))


def getReceivers_txn(txn, d, messageUid):
    return [row[0] for row in _all(
        txn, d, "SELECT uid FROM inboxes WHERE message_uid = ? ORDER BY uid",
        (messageUid,))]


def _dedupKey(item):
    key = item.dedupKey
    if key is None or key[2] is None:
        return None
    return tuple(key)


def storeBatch_txn(txn, d, items):
    """
    Store a batch of messages in the current transaction.

    Within the batch the first message with a given uid or dedup key wins.
    Locks are taken in one global order (dedup keys sorted, then user
    heads sorted by uid) so that concurrent batches of several nodes
    cannot deadlock.

    @param items: a list of L{PendingStore}.
    @return: a list with, for each item, a L{StoredMessage} or the
        exception (L{KeyError}: uid already stored) to fail it with.
    """
    results = [None] * len(items)
    firstWithKey, duplicates, candidates, uids = {}, {}, [], set()
    for i, it in enumerate(items):
        key = _dedupKey(it)
        if key is not None and key in firstWithKey:
            duplicates[i] = key
        elif it.message.uid in uids:
            results[i] = KeyError(it.message.uid)
        else:
            uids.add(it.message.uid)
            if key is not None:
                firstWithKey[key] = i
            candidates.append(i)
    if firstWithKey:
        claimed = insertMany_txn(
            txn, d, "INSERT INTO dedup_keys (uid, cid, local_id,"
            " message_uid, created_at)", 5,
            [key + (items[i].message.uid, items[i].now)
             for key, i in sorted(firstWithKey.items())],
            "ON CONFLICT DO NOTHING RETURNING uid, cid, local_id")
        claimed = {tuple(row) for row in claimed}
        for key, i in firstWithKey.items():
            if key not in claimed:
                duplicates[i] = key
        candidates = [i for i in candidates if i not in duplicates]
    inserted = {row[0] for row in insertMany_txn(
        txn, d, "INSERT INTO messages (%s)" % (", ".join(MESSAGE_COLUMNS),),
        len(MESSAGE_COLUMNS),
        [_messageValues(items[i].message) for i in candidates],
        "ON CONFLICT (uid) DO NOTHING RETURNING uid")}
    stored = []
    for i in candidates:
        if items[i].message.uid in inserted:
            stored.append(i)
            continue
        results[i] = KeyError(items[i].message.uid)
        key = _dedupKey(items[i])
        if key is not None:
            txn.execute(d.q("DELETE FROM dedup_keys WHERE uid = ? AND"
                            " cid = ? AND local_id = ?"), key)
    if stored:
        _insertStored_txn(txn, d, items, stored, results)
    for i, key in duplicates.items():
        row = _one(txn, d, "SELECT message_uid FROM dedup_keys WHERE"
                   " uid = ? AND cid = ? AND local_id = ?", key)
        if row is None:
            results[i] = KeyError(items[i].message.uid)
        else:
            results[i] = StoredMessage(getMessage_txn(txn, d, row[0]),
                                       seqsOf_txn(txn, d, row[0]), True)
    return results


def _insertStored_txn(txn, d, items, stored, results):
    receivers = {i: uniqueReceivers(items[i].receivers) for i in stored}
    counts = {}
    for i in stored:
        for r in receivers[i]:
            counts[r] = counts.get(r, 0) + 1
    nextSeq = {}
    if counts:
        rows = insertMany_txn(
            txn, d, "INSERT INTO user_heads (uid, head)", 2,
            sorted(counts.items()),
            "ON CONFLICT (uid) DO UPDATE SET"
            " head = user_heads.head + excluded.head RETURNING uid, head")
        nextSeq = {uid: head - counts[uid] + 1 for uid, head in rows}
    inbox = []
    for i in stored:
        m = items[i].message
        seqs = {}
        for r in receivers[i]:
            seqs[r] = nextSeq[r]
            nextSeq[r] += 1
            inbox.append((r, seqs[r], m.uid, m.conversation.type,
                          peerOf(m, r), m.conversation.line))
        results[i] = StoredMessage(m, seqs, False)
    if inbox:
        insertMany_txn(txn, d, "INSERT INTO inboxes (uid, seq, message_uid,"
                       " conv_type, peer, conv_line)", 6, inbox)


def purgeDedupKeys_txn(txn, d, olderThan):
    txn.execute(d.q("DELETE FROM dedup_keys WHERE created_at < ?"),
                (olderThan,))
    return txn.rowcount


def getHead_txn(txn, d, uid):
    row = _one(txn, d, "SELECT head FROM user_heads WHERE uid = ?", (uid,))
    return 0 if row is None else row[0]


def pullMessages_txn(txn, d, uid, afterSeq, maxBytes):
    """
    Read the inbox in seq ranges of C{_PULL_CHUNK} (seqs are gapless, so a
    range bounds the rows read whatever plan the database picks), up to
    the head read first.
    """
    head = getHead_txn(txn, d, uid)
    entries, total, after = [], 0, max(afterSeq, 0)
    while after < head:
        upTo = min(after + _PULL_CHUNK, head)
        rows = _all(txn, d, "SELECT i.seq, %s FROM inboxes i JOIN messages m"
                    " ON m.uid = i.message_uid WHERE i.uid = ? AND i.seq > ?"
                    " AND i.seq <= ? ORDER BY i.seq" % (_COLUMNS,),
                    (uid, after, upTo))
        for row in rows:
            size = row[-1]
            if entries and total + size > maxBytes:
                return PullBatch(entries, head)
            entries.append((row[0], _message(row[1:])))
            total += size
        after = upTo
    return PullBatch(entries, head)


def replaceContent_txn(txn, d, messageUid, content):
    old = getMessage_txn(txn, d, messageUid)
    if old is None:
        return None
    new = attr.evolve(old, content=content)
    txn.execute(d.q("UPDATE messages SET %s WHERE uid = ?" % (
        ", ".join("%s = ?" % (c,) for c in _CONTENT_COLUMNS),)),
        _contentValues(content, estimateSize(new)) + [messageUid])
    return new


def loadHistory_txn(txn, d, viewer, conversation, beforeUid, count):
    rows = _all(txn, d, _SELECT + " JOIN inboxes i ON i.message_uid = m.uid"
                " WHERE i.uid = ? AND i.conv_type = ? AND i.peer = ?"
                " AND i.conv_line = ? AND i.message_uid < ?"
                " ORDER BY i.message_uid DESC LIMIT ?",
                (viewer, conversation.type, conversation.target,
                 conversation.line, beforeUid or MAX_UID, count))
    return [_message(row) for row in rows]
