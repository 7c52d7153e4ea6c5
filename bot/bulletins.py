"""Bulletins: decide who is due and write each bulletin as a delivery row; the delivery engine sends them.

For one subscriber, one transaction picks the new headlines, renders them, inserts a PENDING delivery and
moves the schedule on (compare-and-set on next_bulletin_at, so two processes cannot both do it). Only then
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
from compose.bulletins import render_bulletin
from storage import repositories as repo
from storage.models import Delivery, Subscriber
from storage.session import Database
from storage.types import utcnow

log = logging.getLogger(__name__)


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
        """Write a delivery row for every subscriber whose next bulletin time has passed."""
        now = self.clock()
        async with self.db.session() as session:
            due_ids = await repo.due_subscriber_ids(session, now)
        prepared = 0
        for subscriber_id in due_ids:
            if self._stopping:
                break
            async with self.db.session() as session:
                subscriber = await session.get(Subscriber, subscriber_id)
                if subscriber is None or not subscriber.active or subscriber.next_bulletin_at is None:
                    continue
                if subscriber.next_bulletin_at > now:
                    continue
                if await self._prepare_scheduled(session, subscriber, now):
                    prepared += 1
        return prepared

    async def _prepare_scheduled(self, session: AsyncSession, subscriber: Subscriber, now: datetime) -> bool:
        slot = subscriber.next_bulletin_at
        zone = ZoneInfo(subscriber.timezone)
        # Computed from now, not from the missed slot: after downtime one catch-up bulletin, not one per slot.
        following = next_for_subscriber(subscriber, now)
        articles = await repo.articles_after(session, subscriber.last_article_id, self.bulletin_size)
        if not articles:
            await repo.advance_schedule(session, subscriber.id, expected_next=slot, new_next=following)
            return False
        advanced = await repo.advance_schedule(
            session,
            subscriber.id,
            expected_next=slot,
            new_next=following,
            last_article_id=max(a.id for a in articles),
            bulletin_at=now,
        )
        if not advanced:
            return False  # another process took this slot
        text = render_bulletin(articles, local_now=now.astimezone(zone))
        session.add(repo.new_delivery(subscriber, kind="scheduled", text=text, articles=articles, slot_at=slot, now=now))
        return True

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
