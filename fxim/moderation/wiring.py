# -*- test-case-name: fxim.test.test_e2e_moderation -*-
"""
Builds a node's moderation service and hooks it into messages, nicknames
and group names.
"""

from typing import Any, Callable, List

from twisted.logger import Logger

from fxim.moderation.reports import openReports
from fxim.moderation.service import ModerationService
from fxim.moderation.words import WordFilter, loadWords

_log = Logger()


async def installModeration(server: Any, config: Any, reactor: Any, closers: List[Callable]) -> None:
    """
    C{server.moderation}; with C{--word-list-file}, the word filter runs
    on every message, nickname and group name.
    """
    words = loadWords(config.wordListFile) if config.wordListFile else WordFilter(())
    moderation = ModerationService(reactor, openReports(server.store), server.store, words,
                                   wordListPath=config.wordListFile,
                                   messageAction=config.wordActionMessage,
                                   nameAction=config.wordActionName)
    server.moderation = server.services["moderation"] = moderation
    if config.wordListFile:
        # The word filter runs before any external before-send hook.
        server.messages.beforeSend.insert(0, moderation.beforeSend)
        server.social.nameFilter = moderation.filterName
        server.groups.nameFilter = moderation.filterName
        _log.info("word filter on: {n} word(s), messages: {m}, names: {a}", n=len(words),
                  m=config.wordActionMessage, a=config.wordActionName)
