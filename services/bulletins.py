"""Bulletins: decide who is due and write each bulletin as a delivery row; the delivery engine sends them.

For each due subscriber, the transaction that inserts its PENDING delivery (the new headlines, rendered) also
moves its schedule on (compare-and-set on next_bulletin_at, so two processes cannot both do it). Only then
does the engine (delivery/engine.py) send the row. A crash after the commit leaves a row the next run sends;
nothing is skipped, and the schedule never produces a second row for the same slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from compose.bulletins import bulletin_heading, render_bulletin
from compose.i18n import use_language
from delivery.engine import DeliveryEngine, RunSummary
from model.selection import ArticleFacts, Selection
from services import selection
from services.links import BotLinks
from services.schedule import next_bulletin_at
from storage import articles as article_repo
from storage import deliveries as delivery_repo
from storage import subscribers as subscriber_repo
from storage.models import Article, Subscriber
from storage.session import Database
from storage.subscribers import BulletinTarget
from storage.types import utcnow

log = logging.getLogger(__name__)

PREPARE_PAGE = 500  # due subscribers prepared per transaction
# Composing a page's bulletins is plain Python (the articles are read once per page): it lets the event loop run
# other tasks after this many subscribers. Sends share the loop, and a page composed in one go held them back by
# ~25 ms, 25 sends at 1,000 a second, which then left in a burst.
COMPOSE_BETWEEN_YIELDS = 25
# Pacing preparation by sending (prepare_due's keep_pace): the longest wait per page.
PACE_WAIT_LIMIT = 2.0
# How far past the "new since" mark a bulletin looks for articles a narrow selection admits.
MAX_BULLETIN_SCAN = 2000


class BulletinService:
    def __init__(
        self,
        db: Database,
        engine: DeliveryEngine,
        *,
        bulletin_size: int,
        clock: Callable[[], datetime] = utcnow,
        links: BotLinks | None = None,
    ) -> None:
        self.db = db
        self.engine = engine
        self.bulletin_size = bulletin_size
        self.clock = clock
        self.links = links or BotLinks()
        self._run_lock = asyncio.Lock()
        # Called after each run_due with its summary and duration in seconds (the bot's metrics).
        self.run_observer: Callable[[RunSummary, float], None] | None = None

    def request_stop(self) -> None:
        """Prepare and claim nothing more; sends already in flight finish and are recorded."""
        self.engine.request_stop()

    def resume(self) -> None:
        """Undo request_stop once wait_idle has returned (leadership regained): runs prepare and claim again."""
        self.engine.resume()

    async def wait_idle(self) -> None:
        """Return once no scheduled run is in progress (used at shutdown, after request_stop)."""
        async with self._run_lock:
            pass

    @property
    def _stopping(self) -> bool:
        return self.engine.stopping

    # ------------------------------------------------------------ preparing

    async def prepare_due(self, *, keep_pace: bool = False) -> int:
        """Write a delivery row for every subscriber whose next bulletin time has passed.

        Due subscribers are taken a page at a time, each page in one transaction (a transaction per
        subscriber managed 268 a second, pages about 3,600: bench/prepare_bench.py). Within a page, each
        subscriber's row is still written together with the move of its schedule. A page commits before the
        next is read, so a crash keeps what was prepared and the next run goes on from there.

        With `keep_pace` (sending runs meanwhile, in this process), a page is prepared only when the rows
        not yet sent are fewer than the engine's backlog allowance: preparing 100,000 bulletins all at once
        took the event loop from the sends for half a minute (300 a second instead of 1,000), while spread
        over the run the same work leaves the rate intact.
        """
        now = self.clock()
        prepared = 0
        done_at_start = self.engine.rows_done
        after: tuple[datetime, int] | None = None
        while not self._stopping:
            async with self.db.session() as session:
                page = await subscriber_repo.due_subscribers(session, now, limit=PREPARE_PAGE, after=after)
            if not page:
                break
            after = page[-1]
            prepared += await self._prepare_page([subscriber_id for _, subscriber_id in page], now)
            self.engine.rows_added()
            if keep_pace and len(page) == PREPARE_PAGE:  # another page may follow
                await self._wait_for_sending(prepared, done_at_start)
        return prepared

    async def _wait_for_sending(self, prepared: int, done_at_start: int) -> None:
        """Wait until sending is within the engine's backlog allowance of what this run prepared, or at most
        PACE_WAIT_LIMIT seconds: a sender held up (Telegram's 429s, an outage) slows preparing, never stops it."""
        allowance = self.engine.backlog_allowance()
        if allowance is not None:
            await self.engine.wait_until_done(done_at_start + prepared - allowance, timeout=PACE_WAIT_LIMIT)

    async def _prepare_page(self, subscriber_ids: Sequence[int], now: datetime) -> int:
        compose = _PageComposer(self.bulletin_size, now, self.links)
        moves: list[subscriber_repo.ScheduleMove] = []
        bulletins: list[delivery_repo.NewBulletin] = []
        async with self.db.session() as session:
            page = await subscriber_repo.bulletin_targets(session, subscriber_ids)
            chosen = await selection.selections(session, page)
            for index, subscriber in enumerate(page, start=1):
                if index % COMPOSE_BETWEEN_YIELDS == 0:
                    await asyncio.sleep(0)
                slot = subscriber.next_bulletin_at
                if not subscriber.active or slot is None or slot > now:
                    continue
                try:
                    # From now, not from the missed slot: after downtime one catch-up bulletin, not one per slot.
                    following = next_bulletin_at(subscriber.local_times, ZoneInfo(subscriber.timezone), now)
                    composed = await compose(session, subscriber, chosen[subscriber.id], slot_at=slot)
                except (ValueError, KeyError) as exc:  # a zone this machine's tz database lacks
                    log.error("bulletin for subscriber %s skipped: %s", subscriber.id, exc)
                    continue
                if composed.bulletin is None:
                    moves.append(subscriber_repo.ScheduleMove(subscriber.id, following))
                    continue
                moves.append(subscriber_repo.ScheduleMove(subscriber.id, following, composed.mark))
                bulletins.append(composed.bulletin)
            moved = await subscriber_repo.advance_due_schedules(session, moves, now=now)
            # A subscriber another process moved first gets its bulletin from that process, not this one.
            bulletins = [bulletin for bulletin in bulletins if bulletin.subscriber_id in moved]
            await delivery_repo.insert_bulletins(session, bulletins, kind="scheduled", now=now)
        return len(bulletins)

    async def prepare_now(self, session: AsyncSession, subscriber: Subscriber, *, kind: str) -> int | None:
        """A bulletin outside the schedule (/bulletin): its delivery id, or None when nothing is new.

        It moves the subscriber's "new since" mark, so the next scheduled bulletin does not repeat it.
        """
        now = self.clock()
        chosen = await selection.selection_for(session, subscriber)
        compose = _PageComposer(self.bulletin_size, now, self.links)
        composed = await compose(session, BulletinTarget.of(subscriber), chosen, slot_at=None)
        if composed.bulletin is None:
            return None
        await subscriber_repo.move_marks(session, {subscriber.id: composed.mark}, now=now)
        [delivery_id] = await delivery_repo.insert_bulletins(session, [composed.bulletin], kind=kind, now=now)
        return delivery_id

    async def prepare_for_everyone(self) -> int:
        """A bulletin now for every active subscriber with something new (`newsbot bulletin send --all`),
        a page of subscribers per transaction. Like /bulletin, it moves their "new since" marks."""
        now = self.clock()
        prepared = 0
        after = 0
        while not self._stopping:
            compose = _PageComposer(self.bulletin_size, now, self.links)
            bulletins: list[delivery_repo.NewBulletin] = []
            marks: dict[int, int] = {}
            async with self.db.session() as session:
                page = await subscriber_repo.active_subscribers_page(session, after=after, limit=PREPARE_PAGE)
                if not page:
                    break
                after = page[-1].id
                chosen = await selection.selections(session, page)
                for subscriber in page:
                    try:
                        target = BulletinTarget.of(subscriber)
                        composed = await compose(session, target, chosen[subscriber.id], slot_at=None)
                    except (ValueError, KeyError) as exc:
                        log.error("bulletin for subscriber %s skipped: %s", subscriber.id, exc)
                        continue
                    if composed.bulletin is not None:
                        bulletins.append(composed.bulletin)
                        marks[subscriber.id] = composed.mark
                await subscriber_repo.move_marks(session, marks, now=now)
                await delivery_repo.insert_bulletins(session, bulletins, kind="broadcast", now=now)
            prepared += len(bulletins)
        return prepared

    # ------------------------------------------------------------ sending

    async def run_due(self, *, wait_for_retries: bool = True) -> RunSummary:
        """Prepare what is due and send everything pending. Runs never overlap within one process."""
        async with self._run_lock:
            started = time.monotonic()
            # Sending starts with the first prepared page instead of after the last: at 1,000 messages a second
            # the first bulletins leave within a second or two of their slot, and preparing overlaps sending.
            preparing = asyncio.create_task(self.prepare_due(keep_pace=True), name="prepare-bulletins")
            try:
                summary = await self.engine.run(
                    wait_for_retries=wait_for_retries, more_coming=lambda: not preparing.done()
                )
            finally:
                prepared = await preparing  # its error, if any, is the run's
            summary.prepared = prepared
            if prepared or summary.sent or summary.failed or summary.blocked or summary.retried:
                log.info(summary.line())
            if self.run_observer is not None:
                self.run_observer(summary, time.monotonic() - started)
            return summary

    async def send_now(self, delivery_ids: Sequence[int]) -> RunSummary:
        """Send specific rows at once (a user's /bulletin): not queued behind a scheduled run."""
        return await self.engine.run(only_ids=delivery_ids, wait_for_retries=False, urgent=True)


@dataclass(frozen=True, slots=True)
class _Composed:
    bulletin: delivery_repo.NewBulletin | None  # None: nothing new that the chat reads
    mark: int  # the chat's new "new since" mark: the newest article looked at


class _Window:
    """The articles above one "new since" mark, newest first, loaded a chunk at a time as selections need them."""

    def __init__(self, mark: int, first_chunk: int) -> None:
        self.mark = mark
        self.first_chunk = first_chunk
        self.loaded: list[tuple[Article, ArticleFacts]] = []
        self.exhausted = False

    async def more(self, session: AsyncSession) -> bool:
        """Load the next chunk; False when there is nothing more (or the scan limit is reached)."""
        if self.exhausted or len(self.loaded) >= MAX_BULLETIN_SCAN:
            return False
        before = self.loaded[-1][0].id if self.loaded else None
        size = self.first_chunk if not self.loaded else selection.SCAN_CHUNK
        chunk = await article_repo.articles_after(session, self.mark, size, before_id=before)
        if len(chunk) < size:
            self.exhausted = True
        self.loaded += zip(chunk, await selection.facts(session, chunk), strict=True)
        return bool(chunk)


class _PageComposer:
    """Bulletins for one page of subscribers. They mostly share their "new since" mark, edition, zone, language and
    selection, so the articles are queried once per mark, picked once per mark and selection, and rendered once
    per mark, selection, language and heading (each in the chat's language)."""

    def __init__(self, bulletin_size: int, now: datetime, links: BotLinks) -> None:
        self.bulletin_size = bulletin_size
        self.now = now
        self.links = links
        self._windows: dict[int, _Window] = {}
        self._picks: dict[tuple[int, Selection], list[Article]] = {}
        self._texts: dict[tuple[int, Selection, str, str, str | None], str] = {}

    async def _pick(self, session: AsyncSession, mark: int, chosen: Selection) -> tuple[list[Article], _Window]:
        window = self._windows.get(mark)
        if window is None:
            window = self._windows[mark] = _Window(mark, self.bulletin_size)
        key = (mark, chosen)
        picked = self._picks.get(key)
        if picked is None:
            picked = []
            index = 0
            while len(picked) < self.bulletin_size:
                if index == len(window.loaded) and not await window.more(session):
                    break
                article, facts = window.loaded[index]
                index += 1
                if chosen.admits(facts):
                    picked.append(article)
            self._picks[key] = picked
        return picked, window

    async def __call__(
        self, session: AsyncSession, subscriber: BulletinTarget, chosen: Selection, *, slot_at: datetime | None
    ) -> _Composed:
        """The subscriber's bulletin (None when nothing new passes its selection). Raises KeyError for an unknown
        zone."""
        local_now = self.now.astimezone(ZoneInfo(subscriber.timezone))
        mark = subscriber.last_article_id
        articles, window = await self._pick(session, mark, chosen)
        if not articles:
            return _Composed(None, mark)
        links_to = self.links.for_chat(subscriber.chat_type)
        with use_language(subscriber.language) as language:
            key = (mark, chosen, language, bulletin_heading(local_now), links_to)
            if key not in self._texts:
                self._texts[key] = render_bulletin(
                    articles, local_now=local_now, note=selection.note(chosen), bot_username=links_to
                )
        bulletin = delivery_repo.NewBulletin(
            subscriber.id,
            subscriber.chat_id,
            self._texts[key],
            [a.id for a in articles],
            slot_at,
            thread_id=subscriber.thread_id or None,
        )
        return _Composed(bulletin, window.loaded[0][0].id)
