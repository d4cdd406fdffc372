# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
Sessions (L{fxim.interfaces.ISessionStore}) and SMS login codes
(L{fxim.interfaces.ILoginCodeStore}): their C{*_txn} queries, the SQL
store L{SQLSessionStore} and its in-memory twin L{MemorySessionStore}.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from twisted.internet.defer import Deferred
from zope.interface import implementer

from fxim.interfaces import ILoginCodeStore, ISessionStore
from fxim.model import Session
from fxim.storage.database import SQLDatabase, all_txn, one_txn, upsert
from fxim.storage.dialect import Dialect
from fxim.storage.fired import fired
from fxim.storage.records import CodeState

_SESSION_SELECT = ("SELECT uid, cid, secret, db_secret, created_at,"
                   " expires_at, platform FROM sessions")
_PUT_SESSION = upsert("sessions", ("uid", "cid"), (
    "secret", "db_secret", "created_at", "expires_at", "platform"))
_PUT_CODE_STATE = upsert("login_codes", ("mobile",), (
    "code", "expires_at", "attempts", "last_sent_at", "day_start", "sent_today"))


def createSession_txn(txn: Any, d: Dialect, s: Session) -> Session:
    txn.execute(d.q(_PUT_SESSION),
                (s.userId, s.cid, s.secret, s.dbSecret, s.createdAt, s.expiresAt,
         s.platform))
    return s


def getSession_txn(txn: Any, d: Dialect, userId: str, cid: str) -> Optional[Session]:
    row = one_txn(txn, d, _SESSION_SELECT + " WHERE uid = ? AND cid = ?", (userId, cid))
    return None if row is None else Session(*row)


def listSessions_txn(txn: Any, d: Dialect, userId: str) -> List[Session]:
    return [Session(*row) for row in all_txn(
        txn, d, _SESSION_SELECT + " WHERE uid = ? ORDER BY cid", (userId,))]


def deleteSession_txn(txn: Any, d: Dialect, userId: str, cid: str) -> bool:
    txn.execute(d.q("DELETE FROM sessions WHERE uid = ? AND cid = ?"), (userId, cid))
    return txn.rowcount > 0


def getCodeState_txn(txn: Any, d: Dialect, mobile: str) -> Optional[CodeState]:
    row = one_txn(txn, d, "SELECT code, expires_at, attempts, last_sent_at,"
                  " day_start, sent_today FROM login_codes WHERE mobile = ?",
                  (mobile,))
    return None if row is None else CodeState(*row)


def putCodeState_txn(txn: Any, d: Dialect, mobile: str, s: CodeState) -> None:
    txn.execute(d.q(_PUT_CODE_STATE),
                (mobile, s.code, s.expiresAt, s.attempts, s.lastSentAt, s.dayStart,
         s.sentToday))


@implementer(ISessionStore, ILoginCodeStore)
class SQLSessionStore(SQLDatabase):
    """
    L{ISessionStore} and L{ILoginCodeStore} on an SQL database.
    """

    def createSession(self, session: Session) -> Deferred[Session]:
        return self._runWrite(createSession_txn, session)

    def getSession(self, userId: str, cid: str) -> Deferred[Optional[Session]]:
        return self._runRead(getSession_txn, userId, cid)

    def listSessions(self, userId: str) -> Deferred[List[Session]]:
        return self._runRead(listSessions_txn, userId)

    def deleteSession(self, userId: str, cid: str) -> Deferred[bool]:
        return self._runWrite(deleteSession_txn, userId, cid)

    def getCodeState(self, mobile: str) -> Deferred[Optional[CodeState]]:
        return self._runRead(getCodeState_txn, mobile)

    def putCodeState(self, mobile: str, state: CodeState) -> Deferred[None]:
        return self._runWrite(putCodeState_txn, mobile, state)


@implementer(ISessionStore, ILoginCodeStore)
class MemorySessionStore:
    """
    L{ISessionStore} and L{ILoginCodeStore} in memory.

    @ivar sessions: C{(uid, cid)} -> L{Session}.
    @ivar codes: mobile -> L{CodeState}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sessions: Dict[Tuple[str, str], Session] = {}
        self.codes: Dict[str, CodeState] = {}

    @fired
    def createSession(self, session: Session) -> Session:
        self.sessions[(session.userId, session.cid)] = session
        return session

    @fired
    def getSession(self, userId: str, cid: str) -> Optional[Session]:
        return self.sessions.get((userId, cid))

    @fired
    def listSessions(self, userId: str) -> List[Session]:
        return sorted((s for s in self.sessions.values() if s.userId == userId),
                      key=lambda s: s.cid)

    @fired
    def deleteSession(self, userId: str, cid: str) -> bool:
        return self.sessions.pop((userId, cid), None) is not None

    @fired
    def getCodeState(self, mobile: str) -> Optional[CodeState]:
        return self.codes.get(mobile)

    @fired
    def putCodeState(self, mobile: str, state: CodeState) -> None:
        self.codes[mobile] = state
