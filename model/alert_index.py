"""Which alerts an article matches, without testing every alert against it.

Each alert is filed under one anchor of each of its include terms: a single word under that word, a single
prefix under the prefix, a phrase under two of its consecutive words (the longest pair, a proxy for
the rarest: "the bank of england" under "of england"), or, for one word and a prefix ("central ban*"), under
that word. An article's distinct tokens are
looked up as words and at every filed prefix length, and its pairs of consecutive tokens as pairs; only the
alerts found are considered. An anchor that is the whole term (a word, a prefix, a two-word phrase) is itself
the match; a longer phrase is verified with MatchText. An alert's exclude terms are checked only for the alerts
an include term found. The cost is the article's length plus the alerts it finds, whatever the other alerts.

Pure and free of storage, so services (the store hook) and the benchmark share it; the model layer because it is
the rule of what an alert matches, as model.terms is for one term.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from model.terms import MatchText, Term

__all__ = ["AlertIndex", "IndexedAlert"]


@dataclass(frozen=True, slots=True)
class IndexedAlert:
    alert_id: int
    subscriber_id: int
    terms: tuple[Term, ...]


# (position of the alert in the index, the term to verify) for the alerts a hit does not settle alone
_Entry = tuple[int, Term | None]


@dataclass(slots=True)
class _Bucket:
    """The alerts filed under one anchor: those a hit matches outright (the anchor is their word or prefix and
    they exclude nothing), taken in one set update, and the others, checked one by one."""

    settled: list[int] = field(default_factory=list)
    checked: list[_Entry] = field(default_factory=list)


class AlertIndex:
    def __init__(self, alerts: Iterable[IndexedAlert] = ()) -> None:
        self._alerts: list[IndexedAlert] = []
        self._excludes: list[tuple[Term, ...]] = []
        self._words: dict[str, _Bucket] = {}
        self._pairs: dict[str, _Bucket] = {}  # "first second": two consecutive words of a phrase
        self._prefixes: dict[str, _Bucket] = {}
        self._prefix_lengths: list[int] = []
        self.add(alerts)

    def __len__(self) -> int:
        return len(self._alerts)

    def add(self, alerts: Iterable[IndexedAlert]) -> None:
        """File more alerts. One without an include term is never matched (it would match almost everything)."""
        lengths = set(self._prefix_lengths)
        for alert in alerts:
            includes = [term for term in alert.terms if not term.exclude]
            if not includes:
                continue
            position = len(self._alerts)
            self._alerts.append(alert)
            excludes = tuple(term for term in alert.terms if term.exclude)
            self._excludes.append(excludes)
            for term in includes:
                if len(term.words) == 1:
                    key, verify = term.words[0], None
                    table = self._prefixes if term.prefix else self._words
                    if term.prefix:
                        lengths.add(len(key))
                else:
                    exact = term.words[:-1] if term.prefix else term.words
                    if len(exact) == 1:
                        key, verify, table = exact[0], term, self._words
                    else:
                        first = max(range(len(exact) - 1), key=lambda i: len(exact[i]) + len(exact[i + 1]))
                        key, table = f"{exact[first]} {exact[first + 1]}", self._pairs
                        verify = None if len(term.words) == 2 and not term.prefix else term
                bucket = table.get(key)
                if bucket is None:
                    bucket = table[key] = _Bucket()
                if verify is None and not excludes:
                    bucket.settled.append(position)
                else:
                    bucket.checked.append((position, verify))
        self._prefix_lengths = sorted(lengths)

    def match(self, text: MatchText) -> list[IndexedAlert]:
        """The alerts the text matches, in the order they were added."""
        matched: set[int] = set()
        refused: set[int] = set()
        buckets: list[_Bucket] = []
        words, prefixes, lengths = self._words, self._prefixes, self._prefix_lengths
        if self._pairs:
            for pair in text.pairs:
                bucket = self._pairs.get(pair)
                if bucket is not None:
                    buckets.append(bucket)
        for token in text.vocabulary:
            bucket = words.get(token)
            if bucket is not None:
                buckets.append(bucket)
            for length in lengths:
                if length > len(token):
                    break
                bucket = prefixes.get(token[:length])
                if bucket is not None:
                    buckets.append(bucket)
        for bucket in buckets:
            matched.update(bucket.settled)
        for bucket in buckets:
            for position, verify in bucket.checked:
                if position in matched or position in refused:
                    continue
                if verify is not None and not text.contains(verify):
                    continue
                excludes = self._excludes[position]
                if excludes and any(text.contains(term) for term in excludes):
                    refused.add(position)
                else:
                    matched.add(position)
        alerts = self._alerts
        return [alerts[position] for position in sorted(matched)]
