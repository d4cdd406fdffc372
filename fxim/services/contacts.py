# -*- test-case-name: fxim.test.unit.test_contacts -*-
"""
Who may see a user's contact details (mobile, e-mail).

A user's mobile and e-mail are shown to the user, to their friends, and
to someone who searched for exactly that mobile (they typed it; the user
allowed exact search by staying searchable).  Everybody else gets a
stranger's view: no mobile, no e-mail, and where the name or display name
is only the fallback a login gave it (the mobile or e-mail itself), a
masked form showing the last four characters.  See C{docs/friends.md}.
"""

from typing import AbstractSet, Any, Dict, Optional

import attr

from fxim.model import FriendState, User

#: Characters of a masked contact left visible (the end of it).
VISIBLE_TAIL = 4


def maskContact(value: str) -> str:
    """
    @return: C{value} with all but its last L{VISIBLE_TAIL} characters
        replaced by C{*} (a short value is masked entirely).
    """
    if len(value) <= VISIBLE_TAIL * 2:
        return "*" * len(value)
    return "*" * (len(value) - VISIBLE_TAIL) + value[-VISIBLE_TAIL:]


def strangerView(user: User, revealMobile: bool = False) -> User:
    """
    What a user who is not C{user}'s friend sees of C{user}.

    @param revealMobile: keep the mobile (an exact-mobile search hit).
    @return: C{user} without contact details; its C{updateDt} is 0 so a
        client that caches profiles by update time fetches the full one
        again once it may see it.
    """
    contacts = {c for c in (user.mobile, user.email) if c}
    changes: Dict[str, Any] = dict(email="", updateDt=0)
    if not revealMobile:
        changes["mobile"] = ""
    for field in ("name", "displayName"):
        value = getattr(user, field)
        if value in contacts and not (revealMobile and value == user.mobile):
            changes[field] = maskContact(value)
    return attr.evolve(user, **changes)


def visibleTo(user: User, viewer: str, friends: AbstractSet[str],
              searchedMobile: Optional[str] = None) -> User:
    """
    C{user} as C{viewer} may see it.

    @param friends: the uids C{viewer} is friends with.
    @param searchedMobile: the exact mobile C{viewer} searched for, if any.
    """
    if user.userId == viewer or user.userId in friends:
        return user
    return strangerView(user, revealMobile=bool(
        searchedMobile and user.mobile == searchedMobile))


async def friendsOf(store, userId: str) -> AbstractSet[str]:
    """
    @param store: an L{fxim.interfaces.IFriendStore}.
    @return: the uids C{uid} has as (not deleted) friends.
    """
    return {f.userId for f in await store.listFriends(userId, -1)
            if f.state != FriendState.DELETED}
