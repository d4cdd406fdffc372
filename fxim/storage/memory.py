# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
L{MemoryStore}: every store interface in memory, for unit tests and plugin
authors -- the in-memory twins of L{fxim.storage.users},
L{fxim.storage.sessions}, L{fxim.storage.friends},
L{fxim.storage.groups} and L{fxim.storage.messages} on shared tables.
Every method returns an already-fired L{Deferred}; nothing survives the
process.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from fxim.interfaces import (
    IFriendStore, IGroupStore, ILoginCodeStore, IMessageStore, ISessionStore,
    IUserStore,
)
from fxim.storage.friends import MemoryFriendStore
from fxim.storage.groups import MemoryGroupStore
from fxim.storage.messages import MemoryMessageStore
from fxim.storage.sessions import MemorySessionStore
from fxim.storage.users import MemoryUserStore


@implementer(IUserStore, ISessionStore, ILoginCodeStore, IMessageStore,
             IFriendStore, IGroupStore)
class MemoryStore(MemoryUserStore, MemorySessionStore, MemoryFriendStore,
                  MemoryGroupStore, MemoryMessageStore):
    """
    All six stores in memory.
    """

    def close(self) -> Deferred[None]:
        """
        Nothing to release.  @return: a fired L{Deferred}.
        """
        return succeed(None)
