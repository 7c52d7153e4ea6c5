"""What a chat reads: its sources, topics and keyword filter, applied to articles.

Pure rules over plain values; services load the chat's choices and the articles' carriers from storage.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from model.terms import MatchText, Term, passes
from model.topics import topic_key


def reads_source(carriers: Collection[int], followed: frozenset[int]) -> bool:
    """Whether a chat following `followed` reads an article carried by `carriers`: when one of them is followed,
    or when no feed carried it (ingested text, which every chat reads)."""
    return not carriers or not followed.isdisjoint(carriers)


@dataclass(frozen=True, slots=True)
class Selection:
    """One chat's reading choice. Chats with equal selections read the same articles (bulletins are rendered
    once per distinct selection)."""

    sources: frozenset[int]  # the sources it follows (effective set)
    topics: frozenset[str] = frozenset()  # topic keys; empty: every topic
    terms: tuple[Term, ...] = ()  # keyword filter; empty: no filter
    # The chat chose its own set of sources (it unfollowed a public one).
    chosen_sources: bool = False

    @property
    def narrowed(self) -> bool:
        """The chat chose something (its sources, topics or keywords): replies say so in one line."""
        return self.chosen_sources or bool(self.topics) or bool(self.terms)

    def without_preferences(self) -> Selection:
        """Only the sources it may read (`/headlines all`): no topics, no keywords."""
        return Selection(self.sources)

    def admits(self, article: ArticleFacts) -> bool:
        if not reads_source(article.carriers, self.sources):
            return False
        if self.topics and not (article.topic_keys & self.topics):
            return False
        return not self.terms or passes(self.terms, article.text)


@dataclass(slots=True)
class ArticleFacts:
    """What a selection looks at in an article, prepared once for every chat that reads it."""

    article_id: int
    # The sources that carried it; empty for articles that came from no feed (ingested text): everyone reads those.
    carriers: frozenset[int]
    topic_keys: frozenset[str]
    title: str
    body: str
    _text: MatchText | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls, article_id: int, carriers: Collection[int], topics: Sequence[str], title: str, body: str
    ) -> ArticleFacts:
        return cls(article_id, frozenset(carriers), frozenset(topic_key(t) for t in topics), title, body)

    @property
    def text(self) -> MatchText:
        """Tokenised lazily: only chats with a keyword filter need it, and then only once per article."""
        if self._text is None:
            self._text = MatchText.of(self.title, self.body)
        return self._text
