"""Which alerts an article matches, without testing every alert against it.

Each alert is filed under one anchor of each of its include terms: a single word under that word, a single
prefix under the prefix, a phrase under its longest exact word (the longest word of a phrase is the one least
often found: "central bank" is filed under "central", never under "of" in "bank of england"). An article's
distinct tokens are then looked up, each as a word and as every filed prefix length, and only the alerts found
are checked. A word or prefix anchor is itself the match; a phrase is verified with MatchText. An alert's
exclude terms are checked only for the alerts an include term found.

Pure and free of storage, so services (the store hook) and the benchmark share it; the model layer because it is
the rule of what an alert matches, as model.terms is for one term.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from model.terms import MatchText, Term

__all__ = ["AlertIndex", "IndexedAlert"]


@dataclass(frozen=True, slots=True)
class IndexedAlert:
    alert_id: int
    subscriber_id: int
    terms: tuple[Term, ...]


# (position of the alert in the index, the term to verify, or None when finding the anchor is the match)
_Entry = tuple[int, Term | None]


class AlertIndex:
    def __init__(self, alerts: Iterable[IndexedAlert] = ()) -> None:
        self._alerts: list[IndexedAlert] = []
        self._excludes: list[tuple[Term, ...]] = []
        self._words: dict[str, list[_Entry]] = {}
        self._prefixes: dict[str, list[_Entry]] = {}
        self._prefix_lengths: list[int] = []
        self.add(alerts)

    def __len__(self) -> int:
        return len(self._alerts)

    @property
    def max_alert_id(self) -> int:
        return max((alert.alert_id for alert in self._alerts), default=0)

    def add(self, alerts: Iterable[IndexedAlert]) -> None:
        """File more alerts. One without an include term is never matched (it would match almost everything)."""
        lengths = set(self._prefix_lengths)
        for alert in alerts:
            includes = [term for term in alert.terms if not term.exclude]
            if not includes:
                continue
            position = len(self._alerts)
            self._alerts.append(alert)
            self._excludes.append(tuple(term for term in alert.terms if term.exclude))
            for term in includes:
                if len(term.words) == 1:
                    table = self._prefixes if term.prefix else self._words
                    table.setdefault(term.words[0], []).append((position, None))
                    if term.prefix:
                        lengths.add(len(term.words[0]))
                    continue
                exact = term.words[:-1] if term.prefix else term.words
                anchor = max(exact, key=len)
                self._words.setdefault(anchor, []).append((position, term))
        self._prefix_lengths = sorted(lengths)

    def match(self, text: MatchText) -> list[IndexedAlert]:
        """The alerts the text matches, in the order they were added."""
        matched: set[int] = set()
        refused: set[int] = set()
        words, prefixes, lengths = self._words, self._prefixes, self._prefix_lengths

        def consider(entries: list[_Entry]) -> None:
            for position, verify in entries:
                if position in matched or position in refused:
                    continue
                if verify is not None and not text.contains(verify):
                    continue
                excludes = self._excludes[position]
                if excludes and any(text.contains(term) for term in excludes):
                    refused.add(position)
                else:
                    matched.add(position)

        for token in text.vocabulary:
            entries = words.get(token)
            if entries is not None:
                consider(entries)
            for length in lengths:
                if length > len(token):
                    break
                entries = prefixes.get(token[:length])
                if entries is not None:
                    consider(entries)
        return [self._alerts[position] for position in sorted(matched)]
