# -*- test-case-name: fxim.test.unit.test_moderation -*-
"""
L{WordFilter}: finds sensitive words in a text with an Aho-Corasick
automaton (C{pyahocorasick}), so the cost per text grows with the text,
not with the number of words.  Matching ignores case.
"""

from typing import Iterable, List, Tuple

import ahocorasick


def _fold(text: str) -> str:
    """
    Lower-case C{text} keeping every character at its index (characters
    whose lower case is longer stay as they are), so spans found in the
    folded text mark the same characters of the original.
    """
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


class WordFilter:
    """
    An immutable set of words and its automaton.
    """

    def __init__(self, words: Iterable[str]) -> None:
        self.words = sorted({_fold(w.strip()) for w in words if w and w.strip()})
        self._automaton = ahocorasick.Automaton()
        for word in self.words:
            self._automaton.add_word(word, len(word))
        if self.words:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return len(self.words)

    def spans(self, text: str) -> List[Tuple[int, int]]:
        """
        @return: the merged C{(start, end)} spans of every match, in order.
        """
        if not self.words or not text:
            return []
        found = sorted((end - length + 1, end + 1) for end, length in self._automaton.iter(_fold(text)))
        merged: List[Tuple[int, int]] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def matches(self, text: str) -> bool:
        """
        @return: whether C{text} contains a word.
        """
        if not self.words or not text:
            return False
        for _ in self._automaton.iter(_fold(text)):
            return True
        return False

    def mask(self, text: str) -> str:
        """
        @return: C{text} with every character of every match replaced by C{*}.
        """
        spans = self.spans(text)
        if not spans:
            return text
        chars = list(text)
        for start, end in spans:
            chars[start:end] = "*" * (end - start)
        return "".join(chars)


def loadWords(path: str) -> WordFilter:
    """
    Read a word list: UTF-8, one word per line; blank lines and lines
    starting with C{#} are ignored.

    @raise ValueError: if the file cannot be read or is not UTF-8.
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise ValueError(f"cannot read the word list {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"the word list {path} is not UTF-8") from None
    return WordFilter(line for line in lines if not line.lstrip().startswith("#"))
