"""Reading choices: each chat's Selection (sources, topics, keywords) loaded from storage, and the articles it
admits. Bulletins, /bulletin and /headlines all read through here."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from compose.selection import selection_note
from model.selection import ArticleFacts, Selection
from model.terms import Term, TermError, parse_term
from model.topics import topic_key
from storage import articles as article_repo
from storage import follows as follow_repo
from storage.models import Article, Subscriber

log = logging.getLogger(__name__)


def note(selection: Selection, *, headlines: bool = False) -> str:
    """The line a reply ends with when the selection narrows what the chat reads ('' when it does not)."""
    return selection_note(
        sources=selection.chosen_sources,
        topics=len(selection.topics),
        keywords=len(selection.terms),
        headlines=headlines,
    )


SCAN_CHUNK = 200  # articles looked at per query when a selection skips some
MAX_SCAN = 2000  # how far back /headlines looks for articles a narrow selection admits


class ReadingChoice(Protocol):
    """What a chat chose to read, as stored: a Subscriber row, or a storage.subscribers.BulletinTarget."""

    @property
    def id(self) -> int: ...
    @property
    def follows_all(self) -> bool: ...
    @property
    def topics(self) -> Sequence[str]: ...
    @property
    def filter_terms(self) -> Sequence[str]: ...


def selection_of(subscriber: ReadingChoice, followed: frozenset[int]) -> Selection:
    """The chat's selection from its row and its effective followed sources."""
    terms: list[Term] = []
    for written in subscriber.filter_terms or []:
        try:
            terms.append(parse_term(written))
        except TermError:  # stored by an older rule: skipped rather than failing the chat's bulletins
            log.warning("subscriber %s: unreadable filter term %r skipped", subscriber.id, written)
    topics = frozenset(topic_key(topic) for topic in subscriber.topics or [])
    return Selection(followed, topics, tuple(terms), chosen_sources=not subscriber.follows_all)


async def selections(session: AsyncSession, subscribers: Sequence[ReadingChoice]) -> dict[int, Selection]:
    followed = await follow_repo.followed_sources(session, {s.id: s.follows_all for s in subscribers})
    return {s.id: selection_of(s, followed.get(s.id, frozenset())) for s in subscribers}


async def selection_for(session: AsyncSession, subscriber: Subscriber) -> Selection:
    return (await selections(session, [subscriber]))[subscriber.id]


async def everything_for(session: AsyncSession, subscriber: Subscriber) -> Selection:
    """`/headlines all`: every source the chat may read (public ones and its own), no topics, no keywords."""
    public = await follow_repo.public_source_ids(session)
    followed = (await follow_repo.followed_sources(session, [subscriber.id])).get(subscriber.id, frozenset())
    return Selection(public | followed)


async def facts(session: AsyncSession, articles: Sequence[Article]) -> list[ArticleFacts]:
    """Each article's facts, with the sources that carried it, in the order given."""
    carriers = await follow_repo.carriers(session, [a.id for a in articles])
    return [ArticleFacts.of(a.id, carriers.get(a.id, frozenset()), a.topics or [], a.title, a.body) for a in articles]


async def latest_admitted(
    session: AsyncSession, selection: Selection, count: int, *, before_id: int | None = None
) -> list[Article]:
    """The newest `count` articles the selection admits (older than `before_id` when given), newest first.

    Looks back at most MAX_SCAN articles: a very narrow selection gets what the recent news holds."""
    found: list[Article] = []
    scanned = 0
    while len(found) < count and scanned < MAX_SCAN:
        chunk = await article_repo.latest_articles(session, SCAN_CHUNK, before_id=before_id)
        if not chunk:
            break
        scanned += len(chunk)
        before_id = chunk[-1].id
        for article, article_facts in zip(chunk, await facts(session, chunk), strict=True):
            if selection.admits(article_facts):
                found.append(article)
                if len(found) == count:
                    break
    return found
