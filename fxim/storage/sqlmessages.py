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
_PULL_CHUNK = 200


@attr.s(slots=True, auto_attribs=True)
class PendingStore:
    """
    One C{storeMessage} call waiting for the next batch.
    """

    message: Message
    receivers: list
    dedupKey: object
    now: int


def _contentValues(c, size):
    return [c.type, c.searchableContent, c.pushContent, c.content,
            bytes(c.data), c.mediaType, c.remoteMediaUrl, c.persistFlag,
            c.expireDuration, c.mentionedType,
            json.dumps(list(c.mentionedTargets)), size]


def _messageValues(m):
    c = m.conversation
    return [m.uid, c.type, c.target, c.line, m.fromUser, m.timestamp,
            m.toUser, json.dumps(list(m.to)), m.localId] + _contentValues(
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


def _existingUids(txn, d, uids):
    found = set()
    for start in range(0, len(uids), 500):
        chunk = uids[start:start + 500]
        found.update(row[0] for row in _all(
            txn, d, "SELECT uid FROM messages WHERE uid IN (%s)" % (
                ", ".join("?" * len(chunk)),), chunk))
    return found


def storeBatch_txn(txn, d, items):
    """
    Store a batch of messages in the current transaction.

    Locks are taken in one global order (dedup keys sorted, then user
    heads sorted by uid) so that concurrent batches of several nodes
    cannot deadlock.

    @param items: a list of L{PendingStore}.
    @return: a list with, for each item, a L{StoredMessage} or the
        exception (L{KeyError}: uid already stored) to fail it with.
    """
    results = [None] * len(items)
    existing = _existingUids(txn, d, [it.message.uid for it in items])
    keyed = []
    for i, it in enumerate(items):
        if it.message.uid in existing:
            results[i] = KeyError(it.message.uid)
        elif it.dedupKey is not None and it.dedupKey[2] is not None:
            keyed.append(i)
    duplicates = {}
    keyed.sort(key=lambda i: tuple(items[i].dedupKey))
    for i in keyed:
        uid, cid, localId = items[i].dedupKey
        claimed = _all(
            txn, d, "INSERT INTO dedup_keys (uid, cid, local_id,"
            " message_uid, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING message_uid",
            (uid, cid, localId, items[i].message.uid, items[i].now))
        if not claimed:
            duplicates[i] = (uid, cid, localId)
    stored, seen = [], set()
    for i, it in enumerate(items):
        if results[i] is not None or i in duplicates:
            continue
        if it.message.uid in seen:
            results[i] = KeyError(it.message.uid)
            if i in keyed:
                txn.execute(d.q("DELETE FROM dedup_keys WHERE uid = ? AND"
                                " cid = ? AND local_id = ?"),
                            tuple(it.dedupKey))
            continue
        seen.add(it.message.uid)
        stored.append(i)
    if stored:
        _insertStored_txn(txn, d, items, stored, results)
    for i, key in duplicates.items():
        row = _one(txn, d, "SELECT message_uid FROM dedup_keys WHERE"
                   " uid = ? AND cid = ? AND local_id = ?", key)
        results[i] = StoredMessage(getMessage_txn(txn, d, row[0]),
                                   seqsOf_txn(txn, d, row[0]), True)
    return results


def _insertStored_txn(txn, d, items, stored, results):
    insertMany_txn(txn, d, "INSERT INTO messages (%s)" % (
        ", ".join(MESSAGE_COLUMNS),), len(MESSAGE_COLUMNS),
        [_messageValues(items[i].message) for i in stored])
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
    entries, total, after = [], 0, afterSeq
    while True:
        rows = _all(txn, d, "SELECT i.seq, %s FROM inboxes i JOIN messages m"
                    " ON m.uid = i.message_uid WHERE i.uid = ? AND i.seq > ?"
                    " ORDER BY i.seq LIMIT ?" % (_COLUMNS,),
                    (uid, after, _PULL_CHUNK))
        for row in rows:
            size = row[-1]
            if entries and total + size > maxBytes:
                return PullBatch(entries, getHead_txn(txn, d, uid))
            entries.append((row[0], _message(row[1:])))
            total += size
        if len(rows) < _PULL_CHUNK:
            return PullBatch(entries, getHead_txn(txn, d, uid))
        after = rows[-1][0]


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
