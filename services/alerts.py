"""Alerts: a chat's terms, matched against every new article as it is stored, told at once through the outbox.

* A chat sets, lists and removes its alerts (set_alert, chat_alerts, remove_alert; /alert in handlers/alerts.py).
* Whatever stores articles (the poller, `newsbot sources poll`, `newsbot ingest`) calls AlertMatcher.record with
  the articles it created, in the transaction that stores them: a stored article's matches are never lost. The
  matcher keeps an index of every alert (model.alert_index) in the process and brings it up to date when the
  alerts table changed (alerts_version: one aggregate query per store).
* A match reaches a chat that follows the article's source (or any source, for an article without one), whether
  or not it subscribes to bulletins, unless it blocked the bot; one article once per chat, however many of its
  alerts match.
* AlertService.prepare_due, run by the bulletin job before the engine, writes each waiting chat's matches into
  one "alert" delivery row (and moves the chat's last_alert_at) in one transaction; the delivery engine sends it
  like a bulletin. A chat's next alert message waits until `min_interval` after its previous one, so matches
  arriving closer together are bundled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from compose.alerts import render_alert
from compose.i18n import use_language
from model.alert_index import AlertIndex, IndexedAlert
from model.selection import reads_source
from model.terms import MatchText, Term, TermError, parse_term, parse_terms
from services.links import BotLinks
from storage import alerts as alert_repo
from storage import deliveries as delivery_repo
from storage import follows as follow_repo
from storage.models import Article, Subscriber
from storage.session import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

MAX_ALERTS = 20  # per chat
MAX_ALERT_TERMS = 10  # per alert
MAX_ALERT_HEADLINES = 20  # per alert message; more matches wait for the next one
PREPARE_PAGE = 200  # chats prepared per transaction
ALERT_KIND = "alert"  # deliveries.kind of alert messages

# Alerts added or removed by this process. With the table's version (storage.alerts.alerts_version) it tells
# the matchers of this process that their index is out of date even when the version alone cannot (an SQLite id
# reused while the clock stood still). Only the bot changes alerts, and its poller matches in the same process.
_changes_here = 0

# ---------------------------------------------------------------------------- a chat's alerts


class AlertRefused(Exception):
    """What a chat asked for cannot be done; the handler says why (see the subclasses)."""


@dataclass
class BadTerm(AlertRefused):
    term: str
    reason: str


class OnlyExcludes(AlertRefused):
    pass


@dataclass
class TooManyTerms(AlertRefused):
    most: int


@dataclass
class TooManyAlerts(AlertRefused):
    most: int


@dataclass
class DuplicateAlert(AlertRefused):
    number: int
    terms: list[str]


@dataclass(frozen=True, slots=True)
class ChatAlert:
    number: int  # its place in the chat's list, from 1
    alert_id: int
    terms: list[str]  # Term.display() forms


def read_terms(text: str) -> list[Term]:
    """The terms of `/alert <text>`; raises AlertRefused for anything that cannot make an alert."""
    try:
        terms = parse_terms(text)
    except TermError as exc:
        raise BadTerm(exc.term, str(exc)) from None
    if len(terms) > MAX_ALERT_TERMS:
        raise TooManyTerms(MAX_ALERT_TERMS)
    if terms and all(term.exclude for term in terms):
        raise OnlyExcludes()
    return terms


async def chat_alerts(session: AsyncSession, subscriber: Subscriber) -> list[ChatAlert]:
    return [
        ChatAlert(number, alert.id, list(alert.terms))
        for number, alert in enumerate(await alert_repo.chat_alerts(session, subscriber.id), start=1)
    ]


async def set_alert(
    session: AsyncSession, subscriber: Subscriber, terms: Sequence[Term], *, now: datetime
) -> ChatAlert:
    """A new alert for the chat; raises DuplicateAlert or TooManyAlerts."""
    written = [term.display() for term in terms]
    existing = await chat_alerts(session, subscriber)
    for alert in existing:
        if sorted(alert.terms) == sorted(written):
            raise DuplicateAlert(alert.number, alert.terms)
    if len(existing) >= MAX_ALERTS:
        raise TooManyAlerts(MAX_ALERTS)
    row = await alert_repo.add_alert(session, subscriber.id, written, now=now)
    _changed_here()
    return ChatAlert(len(existing) + 1, row.id, written)


async def remove_alert(session: AsyncSession, subscriber: Subscriber, alert_id: int) -> bool:
    """Remove one of the chat's alerts (and its matches not yet sent); False when it has no such alert."""
    removed = await alert_repo.remove_alert(session, subscriber.id, alert_id)
    _changed_here()
    return removed


def _changed_here() -> None:
    global _changes_here
    _changes_here += 1


# ---------------------------------------------------------------------------- matching new articles


class AlertMatcher:
    """The alerts index of this process, and recording the matches of newly stored articles."""

    def __init__(self) -> None:
        self._index = AlertIndex()
        self._version: alert_repo.AlertsVersion | None = None
        self._changes_seen = -1  # _changes_here when the index was last brought up to date
        self._terms: dict[str, Term] = {}  # parsed term strings: alerts share many
        self._refreshing = asyncio.Lock()

    async def record(self, session: AsyncSession, articles: Sequence[Article], *, now: datetime) -> int:
        """Record which chats' alerts the newly created `articles` match, in the caller's transaction; how many
        matches were recorded."""
        if not articles:
            return 0
        index = await self._current(session)
        if not len(index):
            return 0
        by_id = {article.id: article for article in articles}
        found: dict[tuple[int, int], int] = {}  # (chat, article) -> the first alert that matched
        for article in articles:
            text = MatchText.of(article.title, article.lead, article.body)
            for alert in index.match(text):
                found.setdefault((alert.subscriber_id, article.id), alert.alert_id)
        if not found:
            return 0
        chats = await alert_repo.reachable_chats(session, {chat for chat, _ in found})
        follows: dict[int, frozenset[int]] = {}
        ordered = sorted(chats)
        for start in range(0, len(ordered), 500):  # a bounded number of parameters per query
            follows.update(await follow_repo.followed_sources(session, ordered[start : start + 500]))
        carried = await follow_repo.carriers(session, list(by_id))
        matches = []
        for (chat, article_id), alert_id in found.items():
            if chat not in chats:
                continue
            sources = set(carried.get(article_id, ()))
            source_id = by_id[article_id].source_id
            if source_id is not None:
                sources.add(source_id)
            if not reads_source(sources, follows.get(chat, frozenset())):
                continue  # a source the chat does not read
            matches.append(alert_repo.NewMatch(chat, article_id, alert_id))
        await alert_repo.insert_matches(session, matches, now=now)
        log.debug("alerts: %d new articles, %d matches recorded", len(articles), len(matches))
        return len(matches)

    async def refresh(self, db: Database) -> None:
        """Bring the index up to date in a read transaction of its own: a rebuild after alerts were removed (a
        second or two with 100,000 alerts) then does not hold the write transaction that stores articles."""
        async with db.session() as session:
            await self._current(session)

    async def _current(self, session: AsyncSession) -> AlertIndex:
        """The index, brought up to date: alerts added since are filed; after a removal it is built anew."""
        async with self._refreshing:
            version = await alert_repo.alerts_version(session)
            known = self._version
            changes = _changes_here
            if version == known and changes == self._changes_seen:
                return self._index
            self._changes_seen = changes
            if known is not None and version.count > known.count:
                added = await alert_repo.alerts_changed_since(session, known)
                if len(added) == version.count - known.count and all(row.id > known.max_id for row in added):
                    self._index.add(self._indexed(row) for row in added)
                    self._version = version
                    return self._index
            rows = await alert_repo.alerts_after(session)
            self._terms = {}  # only the terms in use stay parsed
            self._index = AlertIndex(self._indexed(row) for row in rows)
            self._version = version
            log.debug("alert index built: %d alerts", len(self._index))
            return self._index

    def _indexed(self, row: alert_repo.AlertRow) -> IndexedAlert:
        terms = []
        for written in row.terms:
            term = self._terms.get(written)
            if term is None:
                try:
                    term = self._terms[written] = parse_term(written)
                except TermError:
                    log.warning("alert %s: term %r cannot be read; left out", row.id, written)
                    continue
            terms.append(term)
        return IndexedAlert(row.id, row.subscriber_id, tuple(terms))


# ---------------------------------------------------------------------------- alert messages


class AlertService:
    """Writes the alert messages that are due into the deliveries outbox (the engine sends them)."""

    def __init__(
        self,
        db: Database,
        *,
        min_interval: float,
        clock: Callable[[], datetime] = utcnow,
        links: BotLinks | None = None,
    ) -> None:
        self.db = db
        self.min_interval = timedelta(seconds=min_interval)
        self.clock = clock
        self.links = links or BotLinks()

    async def prepare_due(self) -> int:
        """An alert message for every chat whose matches wait and whose interval has passed; how many."""
        now = self.clock()
        prepared = 0
        after = 0
        while True:
            async with self.db.session() as session:
                due = await alert_repo.due_alert_chats(
                    session, now=now, min_interval=self.min_interval, after_id=after, limit=PREPARE_PAGE
                )
                if not due:
                    return prepared
                after = due[-1].subscriber_id
                prepared += await self._prepare_page(session, due, now)

    async def _prepare_page(self, session: AsyncSession, due: Sequence[alert_repo.DueChat], now: datetime) -> int:
        messages: list[delivery_repo.NewBulletin] = []
        match_ids: list[list[int]] = []
        for chat in due:
            waiting = (await alert_repo.waiting_matches(session, chat.subscriber_id))[:MAX_ALERT_HEADLINES]
            if not waiting:
                continue
            if not await alert_repo.take_alert_turn(session, chat.subscriber_id, previous=chat.last_alert_at, now=now):
                continue  # another process prepared this chat's alert
            terms = await alert_repo.alert_terms(session, {m.alert_id for m in waiting if m.alert_id is not None})
            sections: dict[int | None, list[Article]] = {}
            for match in waiting:
                sections.setdefault(match.alert_id, []).append(match.article)
            with use_language(chat.language):
                text = render_alert(
                    [(terms.get(alert_id) if alert_id else None, found) for alert_id, found in sections.items()],
                    bot_username=self.links.for_chat(chat.chat_type),
                )
            articles = [article.id for found in sections.values() for article in found]
            messages.append(
                delivery_repo.NewBulletin(
                    chat.subscriber_id, chat.chat_id, text, articles, None, thread_id=chat.thread_id or None
                )
            )
            match_ids.append([match.match_id for match in waiting])
        delivery_ids = await delivery_repo.insert_bulletins(session, messages, kind=ALERT_KIND, now=now)
        for delivery_id, ids in zip(delivery_ids, match_ids, strict=True):
            await alert_repo.mark_sent_in(session, ids, delivery_id)
        return len(messages)
