"""Search terms people type for keyword filters and alerts, and matching them against an article.

A term is a word (``sanction``), a word prefix (``sanction*``) or a phrase in double quotes (``"central bank"``,
``"central ban*"``), with an optional ``+`` (include, the default) or ``-`` (exclude) in front. Terms and
articles are compared as folded word tokens:

* folding case-folds, drops accents (NFKD, then the combining marks of the Latin, Greek, Cyrillic, Hebrew and
  Arabic scripts) and normalises compatibility forms (NFKC): ``Café`` and ``cafe`` are the same word, so are
  ``ＴＯＫＹＯ`` and ``tokyo``. The marks of other scripts are parts of their letters and stay (a Devanagari
  virama, the Japanese voicing marks: か and が are different words).
* a token is a run of letters and digits of any script (with the marks that belong to them); every other
  character separates tokens, so ``central-bank`` and ``Central, Bank`` both hold the phrase "central bank".
  Each CJK ideograph, kana and hangul syllable is a token by itself (those scripts do not separate words by
  spaces), so ``"東京"`` matches 東京都.

Nothing a user types becomes a regular expression: a word is a dictionary look-up, a prefix a binary search in
the article's sorted vocabulary, a phrase a walk over the positions of its rarest word (or a KMP scan when that
word is everywhere), so matching stays linear in the text's length whatever the term.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_TERM_CHARS",
    "TYPOGRAPHIC_QUOTES",
    "MatchText",
    "Term",
    "TermError",
    "fold",
    "parse_term",
    "parse_terms",
    "passes",
    "tokens",
]

MAX_TERM_CHARS = 100

# Phones turn straight quotes into typographic ones as people type; terms are written with the straight kind.
TYPOGRAPHIC_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "＂": '"'})

# The marks folding drops: accents and points of the Latin, Greek, Cyrillic, Hebrew and Arabic scripts. The
# marks of the Indic and other scripts are parts of their letters (a virama changes the word) and stay.
_ACCENT_BLOCKS = (
    (0x0300, 0x036F),  # combining diacritical marks
    (0x0483, 0x0489),  # Cyrillic
    (0x0591, 0x05C7),  # Hebrew points
    (0x0610, 0x061A),  # Arabic
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x1AB0, 0x1AFF),  # diacritical marks extended
    (0x1DC0, 0x1DFF),  # diacritical marks supplement
    (0x20D0, 0x20FF),  # for symbols
    (0xFE20, 0xFE2F),  # half marks
)
# Ideographs, kana and hangul: one token per character.
_CJK_RANGES = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul compatibility jamo
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul jamo extended A
    (0xAC00, 0xD7FF),  # Hangul syllables, jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width katakana
    (0x1B000, 0x1B16F),  # kana supplement and extensions
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(re.escape(chr(low)) + ("-" + re.escape(chr(high)) if high > low else "") for low, high in ranges)


def _ranges(codes: Iterable[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return ranges


def _mark_classes() -> tuple[str, str]:
    """Character classes of the marks folding drops, and of the marks that stay part of a word."""
    dropped: list[int] = []
    kept: list[int] = []
    # Every combining mark lies below U+30000 but the variation selectors supplement (U+E0100–U+E01EF).
    for code in [*range(0x300, 0x30000), *range(0xE0100, 0xE01F0)]:
        category = unicodedata.category(chr(code))
        if category[0] != "M":
            continue
        if category == "Mn" and any(low <= code <= high for low, high in _ACCENT_BLOCKS):
            dropped.append(code)
        else:
            kept.append(code)
    return _char_class(_ranges(dropped)), _char_class(_ranges(kept))


_DROPPED_MARKS, _WORD_MARKS = _mark_classes()
_CJK = _char_class(_CJK_RANGES)
_DROP = re.compile(f"[{_DROPPED_MARKS}]+")
# A CJK character alone, or a run of letters, digits and their marks (not "_", which \w includes).
_TOKEN = re.compile(f"[{_CJK}]|(?:[^\\W_{_CJK}]|[{_WORD_MARKS}])+")
_IS_CJK = re.compile(f"[{_CJK}]")
_ASCII_TOKEN = re.compile("[a-z0-9]+")  # the same, for ASCII text (most of it), several times faster


def fold(text: str) -> str:
    """The text case-folded, without accents (NFKD, combining marks dropped) and NFKC-normalised."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return unicodedata.normalize("NFKC", _DROP.sub("", decomposed))


def tokens(text: str) -> list[str]:
    """The folded word tokens of the text, in order."""
    folded = fold(text)
    return (_ASCII_TOKEN if folded.isascii() else _TOKEN).findall(folded)


class TermError(ValueError):
    """A term that cannot be used; str() is a short reason to show the user, `term` the text refused (set by
    parse_terms: which of the terms it was)."""

    def __init__(self, reason: str, term: str = "") -> None:
        super().__init__(reason)
        self.term = term


@dataclass(frozen=True, slots=True)
class Term:
    words: tuple[str, ...]
    prefix: bool = False
    exclude: bool = False

    def display(self) -> str:
        """The canonical written form, which parse_term reads back as this term."""
        body = _join(self.words) + ("*" if self.prefix else "")
        if len(self.words) > 1:
            body = f'"{body}"'
        return f"-{body}" if self.exclude else body


def _join(words: Sequence[str]) -> str:
    """Words separated by spaces, but CJK characters written together (they are tokens one by one anyway)."""
    parts: list[str] = []
    for index, word in enumerate(words):
        if index and not (_IS_CJK.fullmatch(word) and _IS_CJK.fullmatch(words[index - 1])):
            parts.append(" ")
        parts.append(word)
    return "".join(parts)


def parse_term(text: str) -> Term:
    """One term: ``word``, ``word*``, ``"a phrase"`` or ``"a phras*"``, with an optional leading + or -."""
    text = text.translate(TYPOGRAPHIC_QUOTES).strip()
    if not text:
        raise TermError("empty term")
    if len(text) > MAX_TERM_CHARS:
        raise TermError(f"a term is at most {MAX_TERM_CHARS} characters")
    exclude = text[0] == "-"
    body = text[1:] if text[0] in "+-" else text
    if body.startswith('"'):
        if len(body) < 2 or '"' not in body[1:]:
            raise TermError("unbalanced quote")
        closing = body.index('"', 1)
        rest = body[closing + 1 :]
        if rest not in ("", "*"):
            raise TermError('a phrase ends at its closing quote ("…" or "…"*)')
        body = body[1:closing] + rest
    elif '"' in body:
        raise TermError("unbalanced quote")
    prefix = body.endswith("*")
    if prefix:
        body = body[:-1]
    if "*" in body:
        raise TermError("* only at the end of a word or phrase")
    words = tuple(tokens(body))
    if not words:
        raise TermError("a term needs letters or digits")
    term = Term(words, prefix, exclude)
    if len(term.display()) > MAX_TERM_CHARS:
        raise TermError(f"a term is at most {MAX_TERM_CHARS} characters")
    return term


def parse_terms(text: str) -> list[Term]:
    """Space-separated terms (double quotes group a phrase), each once, in the order written."""
    text = text.translate(TYPOGRAPHIC_QUOTES)
    found: list[Term] = []
    index, end = 0, len(text)
    while index < end:
        if text[index].isspace():
            index += 1
            continue
        start = index
        if text[index] in "+-":
            index += 1
        if index < end and text[index] == '"':
            closing = text.find('"', index + 1)
            if closing < 0:
                raise TermError("unbalanced quote", text[start:].strip())
            index = closing + 1
        while index < end and not text[index].isspace():
            index += 1
        try:
            term = parse_term(text[start:index])
        except TermError as exc:
            raise TermError(str(exc), text[start:index]) from None
        if term not in found:
            found.append(term)
    return found


class MatchText:
    """An article's text tokenised once, to test many terms against it."""

    __slots__ = ("_pairs", "_positions", "_sorted", "_tokens", "_words")

    def __init__(self, words: list[str | None]) -> None:
        # None separates the parts, so no phrase runs from a title into the text.
        self._tokens = words
        self._words = set(words)
        self._words.discard(None)
        # Built on first use: most texts are only asked about single words.
        self._sorted: list[str] | None = None  # for prefixes
        self._positions: dict[str, list[int]] | None = None  # for phrases
        self._pairs: set[str] | None = None

    @classmethod
    def of(cls, *parts: str) -> MatchText:
        words: list[str | None] = []
        for part in parts:
            if words:
                words.append(None)
            words.extend(tokens(part))
        return cls(words)

    @property
    def vocabulary(self) -> Collection[str]:
        """The distinct tokens of the text."""
        return self._words  # type: ignore[return-value]  # None was discarded

    @property
    def pairs(self) -> Collection[str]:
        """Every two consecutive tokens, written "first second" (as a two-word phrase's words joined by a space)."""
        if self._pairs is None:
            tokens = self._tokens
            self._pairs = {
                f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False) if a is not None and b is not None
            }
        return self._pairs

    def has_word(self, word: str) -> bool:
        return word in self._words

    def has_prefix(self, prefix: str) -> bool:
        if self._sorted is None:
            self._sorted = sorted(self.vocabulary)
        index = bisect_left(self._sorted, prefix)
        return index < len(self._sorted) and self._sorted[index].startswith(prefix)

    def _word_positions(self) -> dict[str, list[int]]:
        if self._positions is None:
            self._positions = {}
            for position, word in enumerate(self._tokens):
                if word is not None:
                    self._positions.setdefault(word, []).append(position)
        return self._positions

    def contains(self, term: Term) -> bool:
        """Whether the text holds the term's words (consecutive for a phrase); term.exclude is not looked at."""
        words = term.words
        if len(words) == 1:
            return self.has_prefix(words[0]) if term.prefix else self.has_word(words[0])
        exact = words[:-1] if term.prefix else words
        if not all(word in self._words for word in exact):
            return False
        if term.prefix and not self.has_prefix(words[-1]):
            return False
        positions = self._word_positions()
        anchor = min(range(len(exact)), key=lambda index: len(positions[exact[index]]))
        starts = positions[exact[anchor]]
        if len(starts) * len(words) <= len(self._tokens):
            return any(self._phrase_at(position - anchor, term) for position in starts)
        return self._scan(term)

    def _phrase_at(self, start: int, term: Term) -> bool:
        words, text = term.words, self._tokens
        if start < 0 or start + len(words) > len(text):
            return False
        last = len(words) - 1
        for offset, word in enumerate(words):
            token = text[start + offset]
            if token is None:
                return False
            if offset == last and term.prefix:
                if not token.startswith(word):
                    return False
            elif token != word:
                return False
        return True

    def _scan(self, term: Term) -> bool:
        """Knuth–Morris–Pratt over the tokens for the exact words, then the prefix after them: O(text + term)."""
        pattern = term.words[:-1] if term.prefix else term.words
        failure = [0] * len(pattern)
        matched = 0
        for index in range(1, len(pattern)):
            while matched and pattern[index] != pattern[matched]:
                matched = failure[matched - 1]
            if pattern[index] == pattern[matched]:
                matched += 1
            failure[index] = matched
        matched = 0
        text = self._tokens
        for index, token in enumerate(text):
            while matched and token != pattern[matched]:
                matched = failure[matched - 1]
            if token == pattern[matched]:
                matched += 1
            if matched == len(pattern):
                if not term.prefix:
                    return True
                following = text[index + 1] if index + 1 < len(text) else None
                if following is not None and following.startswith(term.words[-1]):
                    return True
                matched = failure[matched - 1]
        return False


def passes(terms: Sequence[Term], text: MatchText) -> bool:
    """True when no include term is given or one matches, and no exclude term matches."""
    includes = [term for term in terms if not term.exclude]
    if includes and not any(text.contains(term) for term in includes):
        return False
    return not any(text.contains(term) for term in terms if term.exclude)
