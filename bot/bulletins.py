"""Bulletins: decide who is due and write each bulletin as a delivery row; the delivery engine sends them.

For each due subscriber, the transaction that inserts its PENDING delivery (the new headlines, rendered) also
moves its schedule on (compare-and-set on next_bulletin_at, so two processes cannot both do it). Only then
does the engine (bot/delivery.py) send the row. A crash after the commit leaves a row the next run sends;
nothing is skipped, and the schedule never produces a second row for the same slot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import DeliveryEngine, RunSummary
from bot.schedule import next_for_subscriber
from compose.bulletins import bulletin_heading, render_bulletin
from storage import repositories as repo
from storage.models import Article, Delivery, Subscriber
from storage.session import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

PREPARE_PAGE = 500  # due subscribers prepared per transaction


class BulletinService:
    def __init__(
        self, db: Database, engine: DeliveryEngine, *, bulletin_size: int, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db = db
        self.engine = engine
        self.bulletin_size = bulletin_size
        self.clock = clock
        self._run_lock = asyncio.Lock()

    def request_stop(self) -> None:
        """Prepare and claim nothing more; sends already in flight finish and are recorded."""
        self.engine.request_stop()

    async def wait_idle(self) -> None:
        """Return once no scheduled run is in progress (used at shutdown, after request_stop)."""
        async with self._run_lock:
            pass

    @property
    def _stopping(self) -> bool:
        return self.engine.stopping

    # ------------------------------------------------------------ preparing

    async def prepare_due(self) -> int:
        """Write a delivery row for every subscriber whose next bulletin time has passed.

        Due subscribers are taken a page at a time, each page in one transaction: at 100,000 subscribers one
        transaction each would take minutes before the first message leaves. Within a page each subscriber's
        row is still written together with the move of its schedule. A page commits before the next is read,
        so a crash keeps what was prepared and the next run goes on from there.
        """
        now = self.clock()
        prepared = 0
        after: tuple[datetime, int] | None = None
        while not self._stopping:
            async with self.db.session() as session:
                page = await repo.due_subscribers(session, now, limit=PREPARE_PAGE, after=after)
            if not page:
                break
            after = page[-1]
            prepared += await self._prepare_page([subscriber_id for _, subscriber_id in page], now)
        return prepared

    async def _prepare_page(self, subscriber_ids: Sequence[int], now: datetime) -> int:
        # Subscribers of one page mostly share their "new since" mark, edition and zone: query and render once.
        articles_after: dict[int, list[Article]] = {}
        texts: dict[tuple[int, str], str] = {}
        moves: list[repo.ScheduleMove] = []
        bulletins: list[repo.NewBulletin] = []
        async with self.db.session() as session:
            for subscriber in await repo.subscribers_by_ids(session, subscriber_ids):
                slot = subscriber.next_bulletin_at
                if not subscriber.active or slot is None or slot > now:
                    continue
                try:
                    # From now, not from the missed slot: after downtime one catch-up bulletin, not one per slot.
                    following = next_for_subscriber(subscriber, now)
                    local_now = now.astimezone(ZoneInfo(subscriber.timezone))
                except (ValueError, KeyError) as exc:  # a zone this machine's tz database lacks
                    log.error("bulletin for subscriber %s skipped: %s", subscriber.id, exc)
                    continue
                mark = subscriber.last_article_id
                if mark not in articles_after:
                    articles_after[mark] = await repo.articles_after(session, mark, self.bulletin_size)
                articles = articles_after[mark]
                if not articles:
                    moves.append(repo.ScheduleMove(subscriber.id, following))
                    continue
                moves.append(repo.ScheduleMove(subscriber.id, following, max(a.id for a in articles)))
                key = (mark, bulletin_heading(local_now))
                if key not in texts:
                    texts[key] = render_bulletin(articles, local_now=local_now)
                bulletins.append(
                    repo.NewBulletin(subscriber.id, subscriber.chat_id, texts[key], [a.id for a in articles], slot)
                )
            moved = await repo.advance_due_schedules(session, moves, now=now)
            # A subscriber another process moved first gets its bulletin from that process, not this one.
            bulletins = [bulletin for bulletin in bulletins if bulletin.subscriber_id in moved]
            await repo.insert_bulletins(session, bulletins, kind="scheduled", now=now)
        return len(bulletins)

    async def prepare_now(self, session: AsyncSession, subscriber: Subscriber, *, kind: str) -> Delivery | None:
        """A bulletin outside the schedule (/bulletin, `bulletin send --all`); None when nothing is new.

        It moves the subscriber's "new since" mark, so the next scheduled bulletin does not repeat it.
        """
        now = self.clock()
        articles = await repo.articles_after(session, subscriber.last_article_id, self.bulletin_size)
        if not articles:
            return None
        subscriber.last_article_id = max(a.id for a in articles)
        subscriber.last_bulletin_at = now
        text = render_bulletin(articles, local_now=now.astimezone(ZoneInfo(subscriber.timezone)))
        delivery = repo.new_delivery(subscriber, kind=kind, text=text, articles=articles, slot_at=None, now=now)
        session.add(delivery)
        await session.flush()
        return delivery

    async def prepare_for_everyone(self) -> int:
        async with self.db.session() as session:
            ids = await repo.active_subscriber_ids(session)
        prepared = 0
        for subscriber_id in ids:
            async with self.db.session() as session:
                subscriber = await session.get(Subscriber, subscriber_id)
                if subscriber is not None and subscriber.active:
                    if await self.prepare_now(session, subscriber, kind="broadcast") is not None:
                        prepared += 1
        return prepared

    # ------------------------------------------------------------ sending

    async def run_due(self, *, wait_for_retries: bool = True) -> RunSummary:
        """Prepare what is due and send everything pending. Runs never overlap within one process."""
        async with self._run_lock:
            prepared = await self.prepare_due()
            summary = await self.engine.run(wait_for_retries=wait_for_retries)
            summary.prepared = prepared
            if prepared or summary.sent or summary.failed or summary.blocked or summary.retried:
                log.info(summary.line())
            return summary

    async def send_now(self, delivery_ids: Sequence[int]) -> RunSummary:
        """Send specific rows at once (a user's /bulletin): not queued behind a scheduled run."""
        return await self.engine.run(only_ids=delivery_ids, wait_for_retries=False, urgent=True)
