# -*- test-case-name: fxim.test.e2e.test_moderation -*-
"""
Builds a node's moderation service; L{fxim.node.buildNode} hooks it into
messages, nicknames and group names.
"""

from typing import Any

from twisted.logger import Logger

from fxim.moderation.reports import openReports
from fxim.moderation.service import ModerationService
from fxim.moderation.words import WordFilter, loadWords

_log = Logger()


def buildModeration(config: Any, reactor: Any, store: Any) -> ModerationService:
    """
    The node's L{ModerationService}; with C{--word-list-file}, the word
    filter is meant to run on every message, nickname and group name.
    """
    words = loadWords(config.wordListFile) if config.wordListFile else WordFilter(())
    moderation = ModerationService(reactor, openReports(store), store, words,
                                   wordListPath=config.wordListFile,
                                   messageAction=config.wordActionMessage,
                                   nameAction=config.wordActionName)
    if config.wordListFile:
        _log.info("word filter on: {n} word(s), messages: {m}, names: {a}", n=len(words),
                  m=config.wordActionMessage, a=config.wordActionName)
    return moderation
