# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
L{SQLStore}: the store a node passes around -- every per-domain SQL store
(users, sessions and login codes, friends, groups, messages) on one pair of
connection pools (SQLite or PostgreSQL).
"""

from __future__ import annotations

from typing import Optional

from zope.interface import implementer

from fxim.interfaces import (
    IFriendStore, IGroupStore, ILoginCodeStore, IMessageStore, ISessionStore,
    IUserStore,
)
from fxim.storage.database import Pool
from fxim.storage.dialect import Dialect
from fxim.storage.friends import SQLFriendStore
from fxim.storage.groups import SQLGroupStore
from fxim.storage.messages import SQLMessageStore
from fxim.storage.sessions import SQLSessionStore
from fxim.storage.users import SQLUserStore


@implementer(IUserStore, ISessionStore, ILoginCodeStore, IMessageStore,
             IFriendStore, IGroupStore)
class SQLStore(SQLUserStore, SQLSessionStore, SQLFriendStore, SQLGroupStore,
               SQLMessageStore):
    """
    All six stores on one SQL database.  Services are given it typed as
    the narrow interface they use.
    """

    def __init__(self, dialect: Dialect, writePool: Pool, readPool: Optional[Pool] = None,
                 maxInflight: int = 1) -> None:
        """
        @param writePool: the L{twisted.enterprise.adbapi.ConnectionPool}
            for writes (for SQLite: exactly one connection).
        @param readPool: the pool for reads (default: C{writePool}; for
            SQLite an L{fxim.storage.sqlite.InlineReader}).
        @param maxInflight: see L{SQLMessageStore}.
        """
        super().__init__(dialect, writePool, readPool, maxInflight)
