"""A chat's topics and keyword filter: what it may choose and how its choice changes.

Topics are compared by key (model.topics.topic_key); the chat keeps their display forms. Filter terms follow
model.terms; the chat keeps each term's canonical written form.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from model.terms import TYPOGRAPHIC_QUOTES, Term, TermError, parse_term, parse_terms
from model.topics import clean_topic, topic_digest, topic_key
from storage import articles as article_repo
from storage.models import Subscriber

TOPIC_DAYS = 7  # /topics lists the topics of this many last days
KNOWN_TOPIC_DAYS = 30  # a topic typed in /topics must have been carried by an article this recently
MAX_LISTED_TOPICS = 20
MAX_CHOSEN_TOPICS = 20
MAX_FILTER_TERMS = 20
MAX_TOPIC_ARGUMENT = 500  # characters after /topics


@dataclass(frozen=True, slots=True)
class TopicCount:
    name: str  # display form
    articles: int


async def popular_topics(
    session: AsyncSession, now: datetime, *, days: int = TOPIC_DAYS, limit: int = MAX_LISTED_TOPICS
) -> list[TopicCount]:
    """The most common topics of the last `days`, most common first (ties by name)."""
    return (await _tally(session, now - timedelta(days=days)))[:limit]


async def _tally(session: AsyncSession, since: datetime) -> list[TopicCount]:
    """Every topic of the articles stored since `since`, each under its most common spelling (the first seen
    among equals), most common first."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for topics in await article_repo.recent_topic_lists(session, since):
        for topic in topics:
            key = topic_key(topic)
            spellings.setdefault(key, Counter())[topic] += 1
            counts[key] += 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [TopicCount(spellings[key].most_common(1)[0][0], count) for key, count in ranked]


def chosen_keys(subscriber: Subscriber) -> set[str]:
    return {topic_key(t) for t in subscriber.topics or []}


def split_topic_names(text: str) -> list[str]:
    """`/topics` arguments: comma-separated names when there is a comma, else quoted names and single words."""
    text = text.translate(TYPOGRAPHIC_QUOTES)
    if "," in text:
        return [part.strip().strip('"') for part in text.split(",") if part.strip().strip('"')]
    names: list[str] = []
    rest = text.strip()
    while rest:
        if rest.startswith('"') and '"' in rest[1:]:
            closing = rest.index('"', 1)
            names.append(rest[1:closing])
            rest = rest[closing + 1 :].strip()
            continue
        word, _, rest = rest.partition(" ")
        names.append(word.strip('"'))
        rest = rest.strip()
    return [name for name in names if name]


@dataclass(frozen=True, slots=True)
class TopicChoice:
    chosen: list[str]  # display forms set, when every name was known
    unknown: list[str]  # names no recent article carries (nothing changed then)


async def choose_topics(
    session: AsyncSession, subscriber: Subscriber, names: Sequence[str], now: datetime
) -> TopicChoice:
    """Set the chat's topics to these names, if each is a topic of the last KNOWN_TOPIC_DAYS."""
    known = {topic_key(t.name): t.name for t in await _tally(session, now - timedelta(days=KNOWN_TOPIC_DAYS))}
    chosen: list[str] = []
    unknown: list[str] = []
    for name in names:
        display = clean_topic(name)
        key = topic_key(display) if display else ""
        if key in known:
            if known[key] not in chosen:
                chosen.append(known[key])
        else:
            unknown.append(name)
    if unknown or not chosen:
        return TopicChoice([], unknown)
    subscriber.topics = chosen[:MAX_CHOSEN_TOPICS]
    return TopicChoice(subscriber.topics, [])


def clear_topics(subscriber: Subscriber) -> None:
    subscriber.topics = []


def toggle_topic(subscriber: Subscriber, digest: str, offered: Sequence[str]) -> tuple[str, bool] | None:
    """Choose or drop the topic whose digest this is, among the chat's and the `offered` ones.

    (topic, now chosen), or None when no such topic is there any more (the button is old)."""
    current = list(subscriber.topics or [])
    for topic in current:
        if topic_digest(topic) == digest:
            subscriber.topics = [t for t in current if topic_key(t) != topic_key(topic)]
            return topic, False
    for topic in offered:
        if topic_digest(topic) == digest:
            if len(current) >= MAX_CHOSEN_TOPICS:
                return None
            subscriber.topics = [*current, topic]
            return topic, True
    return None


# ---------------------------------------------------------------------------- keyword filter


class FilterError(ValueError):
    """A change to the filter that cannot be made; str() is a short reason for the user."""


def filter_terms(subscriber: Subscriber) -> list[Term]:
    terms = []
    for written in subscriber.filter_terms or []:
        try:
            terms.append(parse_term(written))
        except TermError:
            continue
    return terms


def add_filter_terms(subscriber: Subscriber, text: str) -> list[Term]:
    """Add the terms written in `text` (`+word -word +"a phrase" prefix*`); the ones that were new.

    Raises FilterError (nothing changes) for an unusable term or when the filter would hold too many."""
    try:
        wanted = parse_terms(text)
    except TermError as exc:
        raise FilterError(str(exc)) from None
    if not wanted:
        raise FilterError("no term given")
    current = filter_terms(subscriber)
    fresh = [term for term in wanted if term not in current]
    # The same words the other way round (+x then -x): the new sign wins.
    flipped = {Term(t.words, t.prefix, not t.exclude) for t in fresh}
    kept = [term for term in current if term not in flipped]
    if len(kept) + len(fresh) > MAX_FILTER_TERMS:
        raise FilterError(f"a filter holds at most {MAX_FILTER_TERMS} terms")
    subscriber.filter_terms = [term.display() for term in [*kept, *fresh]]
    return fresh


def remove_filter_term(subscriber: Subscriber, text: str) -> Term | None:
    """Remove the term written in `text` (with or without its + or -); the term removed, or None."""
    try:
        target = parse_term(text)
    except TermError as exc:
        raise FilterError(str(exc)) from None
    current = filter_terms(subscriber)
    for term in current:
        if term.words == target.words and term.prefix == target.prefix:
            if text.strip().startswith(("+", "-")) and term.exclude != target.exclude:
                continue
            subscriber.filter_terms = [t.display() for t in current if t != term]
            return term
    return None


def clear_filter(subscriber: Subscriber) -> None:
    subscriber.filter_terms = []


# ---------------------------------------------------------------------------- the chat's language


def set_language(subscriber: Subscriber, language: str) -> None:
    """The chat's language from now on (/language), whatever the language_code of those who write in it."""
    subscriber.language = language
