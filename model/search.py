"""What a user typed after /search (or in inline mode), parsed into terms the storage layer can quote safely.

A query is words, "quoted phrases" and -exclusions (-word or -"a phrase"). Every term is reduced to its words:
runs of letters and digits of any script (NFC-normalised, lower-cased), so punctuation, quotes and operators of
a full-text syntax (AND, NEAR, *, :, &, !) never reach the database as syntax. A word with inner punctuation
("covid-19", "U.S.") is a phrase of its parts, which is how both full-text indexes split it.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

MAX_QUERY_CHARS = 200  # longer input is refused, not cut: a cut query would search for something else
# SearchQuery.text() of any accepted query fits this: at worst each 3 characters typed ("a-b") become 5 ('"a b"').
MAX_SAVED_QUERY_CHARS = 2 * MAX_QUERY_CHARS
MAX_TERMS = 12  # words, phrases and exclusions together
MAX_TERM_WORDS = 8  # words kept in one phrase

# A quoted phrase (an unclosed quote runs to the end), or a run of anything but spaces and quotes. Either may
# carry a leading '-'. Typographic quotes count as quotes.
_CHUNK = re.compile(r'(-?)(?:["“”„«»]([^"“”„«»]*)["“”„«»]?|([^\s"“”„«»]+))')
# Letters and digits of any script: \w without the underscore.
_WORD = re.compile(r"[^\W_]+")


class QueryProblem(enum.Enum):
    """Why a query cannot be run."""

    EMPTY = "empty"  # nothing typed
    TOO_LONG = "too_long"  # over MAX_QUERY_CHARS
    NO_WORDS = "no_words"  # only punctuation, symbols or emoji
    ONLY_EXCLUSIONS = "only_exclusions"  # nothing to look for, only things to leave out


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Terms to find (all of them) and terms to leave out (any of them). A term is a tuple of words: one word,
    or a phrase whose words must come in that order, next to each other."""

    include: tuple[tuple[str, ...], ...]
    exclude: tuple[tuple[str, ...], ...] = ()

    def text(self) -> str:
        """The query written back in its own syntax: words, "phrases" and -exclusions."""
        parts = [_term_text(term) for term in self.include]
        parts += ["-" + _term_text(term) for term in self.exclude]
        return " ".join(parts)


def _term_text(term: tuple[str, ...]) -> str:
    return term[0] if len(term) == 1 else '"' + " ".join(term) + '"'


def parse_query(text: str, *, max_chars: int = MAX_QUERY_CHARS) -> SearchQuery | QueryProblem:
    """The query in `text`, or why there is none. Repeated terms count once; more than MAX_TERMS are dropped.

    `max_chars` is for what the user typed; a query written back by SearchQuery.text() can be longer (a
    hyphenated word becomes a quoted phrase) and is read back with MAX_SAVED_QUERY_CHARS.
    """
    stripped = text.strip()
    if not stripped:
        return QueryProblem.EMPTY
    if len(stripped) > max_chars:
        return QueryProblem.TOO_LONG
    normalised = unicodedata.normalize("NFC", stripped).lower()
    include: list[tuple[str, ...]] = []
    exclude: list[tuple[str, ...]] = []
    for match in _CHUNK.finditer(normalised):
        minus, phrase, word = match.groups()
        words = tuple(_WORD.findall(phrase if phrase is not None else word))[:MAX_TERM_WORDS]
        if not words:
            continue
        target = exclude if minus else include
        if words not in include and words not in exclude and len(include) + len(exclude) < MAX_TERMS:
            target.append(words)
    if include:
        return SearchQuery(tuple(include), tuple(exclude))
    return QueryProblem.ONLY_EXCLUSIONS if exclude else QueryProblem.NO_WORDS
