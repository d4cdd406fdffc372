# -*- test-case-name: fxim.test.unit.test_moderation -*-
"""
L{ModerationService}: applies the word filter's action to messages (a
before-send hook) and to nicknames and group names, and records message
reports.

Actions: C{reject} (the sender gets C{SENSITIVE_MATCHED}), C{drop}
(messages only: acked, never stored or delivered), C{mask} (each matched
character becomes C{*}), C{pass} (delivered unchanged; counted and
logged).
"""

from typing import Any, Optional

import attr
from twisted.logger import Logger

from fxim.errors import ErrorCode, SignalError
from fxim.model import Message
from fxim.moderation.words import WordFilter, loadWords

_log = Logger()

MESSAGE_ACTIONS = ("reject", "drop", "mask", "pass")
NAME_ACTIONS = ("reject", "mask", "pass")

#: Message content fields the filter reads.
TEXT_FIELDS = ("searchableContent", "pushContent")

#: Longest report reason.
MAX_REASON = 512


class ModerationService:
    """
    @param words: the L{WordFilter}.
    @param wordListPath: where L{reload} reads from (None: no file).
    """

    def __init__(self, clock: Any, reports: Any, store: Any, words: Optional[WordFilter] = None, *,
                 wordListPath: Optional[str] = None, messageAction: str = "reject",
                 nameAction: str = "reject") -> None:
        if messageAction not in MESSAGE_ACTIONS:
            raise ValueError("the message action is one of " + ", ".join(MESSAGE_ACTIONS))
        if nameAction not in NAME_ACTIONS:
            raise ValueError("the name action is one of " + ", ".join(NAME_ACTIONS))
        self.clock = clock
        self.reports = reports
        self.store = store
        self.words = words if words is not None else WordFilter(())
        self.wordListPath = wordListPath
        self.messageAction = messageAction
        self.nameAction = nameAction
        #: Matches per action since start.
        self.matched = {a: 0 for a in MESSAGE_ACTIONS}

    def now(self) -> int:
        return int(self.clock.seconds() * 1000)

    def reload(self) -> int:
        """
        Read the word list file again (the old list stays if that fails).

        @return: the number of words.
        @raise ValueError: if there is no file or it cannot be read.
        """
        if not self.wordListPath:
            raise ValueError("no --word-list-file is configured")
        self.words = loadWords(self.wordListPath)
        _log.info("word list reloaded: {n} word(s)", n=len(self.words))
        return len(self.words)

    async def beforeSend(self, userId: str, cid: str, message: Message):
        """
        The before-send hook: L{None} drops, a message passes (maybe masked).
        """
        content = message.content
        words = self.words
        if not any(words.matches(getattr(content, f)) for f in TEXT_FIELDS):
            return message
        action = self.messageAction
        self.matched[action] += 1
        _log.info("sensitive word in a message from {uid}: {action}", uid=userId, action=action)
        if action == "reject":
            raise SignalError(ErrorCode.SENSITIVE_MATCHED, "sensitive word")
        if action == "drop":
            return None
        if action == "mask":
            masked: Any = {f: words.mask(getattr(content, f)) for f in TEXT_FIELDS}
            return attr.evolve(message, content=attr.evolve(content, **masked))
        return message

    def filterName(self, kind: str, name: str) -> str:
        """
        Check a nickname or group name.

        @return: the name to store (masked with C{mask}).
        @raise SignalError: C{SENSITIVE_MATCHED} with C{reject}.
        """
        if not name or not self.words.matches(name):
            return name
        _log.info("sensitive word in a {kind}: {action}", kind=kind, action=self.nameAction)
        if self.nameAction == "reject":
            raise SignalError(ErrorCode.SENSITIVE_MATCHED, f"sensitive word in the {kind}")
        if self.nameAction == "mask":
            return self.words.mask(name)
        return name

    async def report(self, userId: str, value: Any) -> int:
        """
        Record that C{uid} reports a message it received:
        C{{"messageUid": int, "reason": str}}.

        @return: the report id.
        @raise SignalError: C{INVALID_PARAMETER} malformed, C{NOT_EXIST} no
            such message among the reporter's.
        """
        if not isinstance(value, dict):
            raise SignalError(ErrorCode.INVALID_PARAMETER, "expected a JSON object")
        messageUid, reason = value.get("messageUid"), value.get("reason", "")
        if isinstance(messageUid, str) and messageUid.isdigit():
            messageUid = int(messageUid)
        if not isinstance(messageUid, int) or isinstance(messageUid, bool) or messageUid <= 0:
            raise SignalError(ErrorCode.INVALID_PARAMETER, "messageUid must be a positive integer")
        if not isinstance(reason, str) or len(reason) > MAX_REASON or "\0" in reason:
            raise SignalError(ErrorCode.INVALID_PARAMETER, "reason must be a short string")
        if userId not in await self.store.getReceivers(messageUid):
            raise SignalError(ErrorCode.NOT_EXIST, "no such message")
        reportId = await self.reports.add(userId, messageUid, reason, self.now())
        _log.info("{uid} reported message {message}", uid=userId, message=messageUid)
        return reportId
