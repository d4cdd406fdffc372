# -*- test-case-name: fxim.test.unit.test_pgbatch -*-
"""
A batch of messages stored on PostgreSQL in one statement.

L{fxim.storage.messages.storeBatch_txn} stores a batch in five or six
round trips (C{BEGIN}, the dedup keys, the messages, the heads, the
inboxes, C{COMMIT}), each on a pool thread that must get the GIL back
from the busy reactor.  Each step needs only the rows the step before it
returned, so PostgreSQL can chain them in one statement of data-modifying
C{WITH} queries: in autocommit that is one round trip, committed when it
answers, and it can run on the asynchronous connections
(L{fxim.storage.pgasync}) without a thread.

The statement does what the transaction does, in the same lock order
(dedup keys, then heads, each sorted by code point as Python sorts them,
hence C{COLLATE "C"}): a message whose dedup key is taken is not
inserted, heads grow by each user's share of the stored messages, and
each user's inbox rows get the seqs below the new head in batch order.
Two rare cases need a second step, after the commit
(L{fxim.storage.messages.settleBatch_txn}): resends (their key was
taken) get their original, and a message whose uid is already stored
gives back the key it claimed.  (Checking the uid before claiming would
cost every batch a lookup for what a uid made by L{fxim.ids} never
meets.)
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Set, Tuple

import attr

from fxim.storage.database import jsonRowsParam

#: The statement (C{%s}: the dedup keys, the messages, the inbox rows,
#: each a JSON array of rows of its table; an inbox row's C{seq} is its
#: place in the batch).  It answers C{('k', NULL, uid)} per key claimed,
#: C{('m', NULL, uid)} per message inserted and C{('h', user, head)} per
#: user whose head grew: one row per user, not per inbox row (a message
#: to a group of 2,000 has 2,000), and the seqs follow from the heads as
#: they do in L{fxim.storage.messages.storeBatch_txn}.
STATEMENT = """
WITH k AS (
    SELECT * FROM json_populate_recordset(NULL::dedup_keys, %s)
), dk AS (
    INSERT INTO dedup_keys (uid, cid, local_id, message_uid, created_at)
    SELECT k.uid, k.cid, k.local_id, k.message_uid, k.created_at FROM k
    ORDER BY k.uid COLLATE "C", k.cid COLLATE "C", k.local_id
    ON CONFLICT DO NOTHING RETURNING message_uid
), m AS (
    INSERT INTO messages ({columns})
    SELECT {columns} FROM json_populate_recordset(NULL::messages, %s) r
    WHERE r.uid NOT IN (SELECT message_uid FROM k) OR r.uid IN (SELECT message_uid FROM dk)
    ON CONFLICT (uid) DO NOTHING RETURNING uid
), rc AS (
    SELECT r.uid, r.message_uid, r.conv_type, r.peer, r.conv_line,
           count(*) OVER (PARTITION BY r.uid) AS n,
           row_number() OVER (PARTITION BY r.uid ORDER BY r.seq) AS nth
    FROM json_populate_recordset(NULL::inboxes, %s) r
    WHERE r.message_uid IN (SELECT uid FROM m)
), h AS (
    INSERT INTO user_heads (uid, head)
    SELECT uid, count(*) FROM rc GROUP BY uid ORDER BY uid COLLATE "C"
    ON CONFLICT (uid) DO UPDATE SET head = user_heads.head + excluded.head
    RETURNING uid, head
), ib AS (
    INSERT INTO inboxes (uid, seq, message_uid, conv_type, peer, conv_line)
    SELECT rc.uid, h.head - rc.n + rc.nth, rc.message_uid, rc.conv_type, rc.peer, rc.conv_line
    FROM rc JOIN h ON h.uid = rc.uid
)
SELECT 'k', NULL::text, message_uid FROM dk
UNION ALL SELECT 'm', NULL, uid FROM m
UNION ALL SELECT 'h', uid, head FROM h
"""

_KEY_NAMES = ("uid", "cid", "local_id", "message_uid", "created_at")
_INBOX_NAMES = ("uid", "seq", "message_uid", "conv_type", "peer", "conv_line")


@attr.s(slots=True, auto_attribs=True)
class Answer:
    """
    What the statement did, by message uid.

    @ivar claimed: the messages whose dedup key it inserted.
    @ivar inserted: the messages it inserted.
    @ivar heads: each receiver's head after the batch.
    """

    claimed: Set[int]
    inserted: Set[int]
    heads: Dict[str, int]


def statement(columns: Sequence[str]) -> str:
    """
    @return: L{STATEMENT} for the message table's C{columns}.
    """
    return STATEMENT.format(columns=", ".join(columns))


def parameters(keys: Sequence[Sequence[Any]], messages: Sequence[Sequence[Any]],
               columns: Sequence[str], inbox: Sequence[Sequence[Any]]) -> Tuple[str, str, str]:
    """
    @param keys: the dedup key rows (uid, cid, local id, message uid,
        created at) to claim.
    @param messages: the message rows (C{columns}) to insert.
    @param inbox: the inbox rows (user, place in the batch, message uid,
        conversation type, peer, line).
    @return: the statement's three parameters.
    """
    return (jsonRowsParam(_KEY_NAMES, keys), jsonRowsParam(columns, messages),
            jsonRowsParam(_INBOX_NAMES, inbox))


def answer(rows: Sequence[Sequence[Any]]) -> Answer:
    """
    @return: the L{Answer} the statement's C{rows} give.
    """
    result = Answer(set(), set(), {})
    for kind, user, value in rows:
        if kind == "h":
            result.heads[user] = value
        elif kind == "m":
            result.inserted.add(value)
        else:
            result.claimed.add(value)
    return result

