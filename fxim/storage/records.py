# -*- test-case-name: fxim.test.unit.test_storage -*-
"""
Records returned by the stores, besides the domain records of
L{fxim.model}.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

import attr

from fxim.model import GroupMember, MemberType, Message, User


@attr.s(frozen=True, slots=True, auto_attribs=True)
class CodeState:
    """
    The SMS login code state of one mobile number
    (L{fxim.interfaces.ILoginCodeStore}).

    @ivar code: the code last sent.
    @ivar expiresAt: when C{code} stops being accepted, in ms.
    @ivar attempts: wrong attempts against C{code}.
    @ivar lastSentAt: when a code was last sent, in ms.
    @ivar dayStart: start (ms) of the day C{sentToday} counts.
    @ivar sentToday: codes sent since C{dayStart}.
    """

    code: str
    expiresAt: int
    attempts: int
    lastSentAt: int
    dayStart: int
    sentToday: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class StoredMessage:
    """
    The outcome of L{fxim.interfaces.IMessageStore.storeMessage}.

    @ivar message: the stored message (for a duplicate: the original one,
        with its original uid and timestamp).
    @ivar seqs: receiver uid -> the seq its inbox gave the message.
    @ivar duplicate: C{True} if the dedup key had been seen before and
        nothing was stored.
    """

    message: Message
    seqs: Dict[str, int]
    duplicate: bool = False


@attr.s(frozen=True, slots=True, auto_attribs=True)
class PullBatch:
    """
    The outcome of L{fxim.interfaces.IMessageStore.pullMessages}.

    @ivar entries: C{(seq, Message)} pairs, oldest first.
    @ivar head: the user's highest seq when the batch was read.
    """

    entries: List[Tuple[int, Message]]
    head: int


@attr.s(frozen=True, slots=True, auto_attribs=True)
class SendContext:
    """
    What sending a message needs to check, read in one interaction
    (L{fxim.interfaces.IMessageStore.getSendContext}).

    @ivar sender: the sending L{User}, or None.
    @ivar target: the private target's L{User} (None if unknown, or for a
        group or a message to oneself).
    @ivar blacklisted: whether the private target blacklisted the sender.
    @ivar members: the group's non-removed members (None for private).
    """

    sender: Optional[User]
    target: Optional[User] = None
    blacklisted: bool = False
    members: Optional[List[GroupMember]] = None


class UnknownUsers(Exception):
    """
    A group write named member ids that are no user; nothing was written.

    @ivar uids: the unknown ids, in the order given.
    """

    def __init__(self, userIds: Iterable[str]) -> None:
        self.userIds = list(userIds)
        Exception.__init__(self, "no such users: %s" % (", ".join(self.userIds),))


class TooManyGroups(Exception):
    """
    C{createGroup} refused: the owner already owns C{maxOwned} groups.
    """


def activeMemberIds(members: Iterable[GroupMember]) -> List[str]:
    """
    The ids of C{members} that are being put as members (not removed):
    those must be users.
    """
    return [m.memberId for m in members if m.type != MemberType.REMOVED]
