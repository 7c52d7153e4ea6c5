"""Bulletins: decide who is due, write each bulletin as a delivery row, then send the rows.

Order of events for one subscriber (each step its own transaction):
1. prepare: pick the new headlines, render them, insert a PENDING delivery and move the schedule on,
   all in one commit (compare-and-set on next_bulletin_at, so two processes cannot both do it);
2. claim: the row becomes SENDING with a claim time;
3. send, then record SENT with Telegram's message_id.
A crash after 1 leaves a PENDING row that the next run sends; a crash during 3 leaves a SENDING row that is
sent again once its lease expires (the only window where a duplicate is possible).
"""

from __future__ import annotations

import asyncio
import html
import logging
import random
import re
import time as monotonic_time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.schedule import next_bulletin_at
from compose.bulletins import render_bulletin
from storage import repositories as repo
from storage.models import Delivery, DeliveryStatus, Subscriber
from storage.session import Database

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
CLAIM_BATCH = 50
_TAG = re.compile(r"<[^>]+>")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class RunSummary:
    prepared: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    blocked: int = 0
    started: float = field(default_factory=monotonic_time.monotonic)

    def line(self) -> str:
        duration = monotonic_time.monotonic() - self.started
        rate = self.sent / duration if duration > 0 else 0.0
        return (
            f"bulletin run: prepared={self.prepared} sent={self.sent} retried={self.retried} "
            f"failed={self.failed} blocked={self.blocked} duration={duration:.2f}s rate={rate:.1f}/s"
        )


class BulletinService:
    def __init__(
        self,
        db: Database,
        *,
        bulletin_size: int,
        lease: timedelta = timedelta(seconds=60),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.bulletin_size = bulletin_size
        self.lease = lease
        self.clock = clock
        self._stopping = False
        self._run_lock = asyncio.Lock()

    def request_stop(self) -> None:
        """Claim nothing more; sends already in flight finish and are recorded."""
        self._stopping = True

    async def wait_idle(self) -> None:
        """Return once no scheduled run is in progress (used at shutdown, after request_stop)."""
        async with self._run_lock:
            pass

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

    async def _prepare_scheduled(self, session, subscriber: Subscriber, now: datetime) -> bool:  # type: ignore[no-untyped-def]
        slot = subscriber.next_bulletin_at
        zone = ZoneInfo(subscriber.timezone)
        # Computed from now, not from the missed slot: after downtime one catch-up bulletin, not one per slot.
        following = next_bulletin_at([t.local_time for t in subscriber.times], zone, now)
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

    async def prepare_now(self, session, subscriber: Subscriber, *, kind: str) -> Delivery | None:  # type: ignore[no-untyped-def]
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

    async def run_due(self, bot: Bot, *, wait_for_retries: bool = False) -> RunSummary:
        """Prepare what is due and send everything pending. Runs never overlap within one process."""
        async with self._run_lock:
            summary = RunSummary()
            summary.prepared = await self.prepare_due()
            await self._send_pending(bot, summary, only_ids=None, wait_for_retries=wait_for_retries)
            if summary.prepared or summary.sent or summary.failed or summary.blocked or summary.retried:
                log.info(summary.line())
            return summary

    async def send_now(self, bot: Bot, delivery_ids: Sequence[int]) -> RunSummary:
        """Send specific rows at once (a user's /bulletin): not queued behind a scheduled run."""
        summary = RunSummary()
        await self._send_pending(bot, summary, only_ids=delivery_ids, wait_for_retries=False)
        return summary

    async def _send_pending(
        self, bot: Bot, summary: RunSummary, *, only_ids: Sequence[int] | None, wait_for_retries: bool
    ) -> None:
        deadline = monotonic_time.monotonic() + 120
        while not self._stopping:
            async with self.db.session() as session:
                batch = await repo.claim_deliveries(
                    session, now=self.clock(), lease=self.lease, limit=CLAIM_BATCH, only_ids=only_ids
                )
            for position, delivery in enumerate(batch):
                if self._stopping:
                    await self._release([row.id for row in batch[position:]])
                    return
                await self._deliver(bot, delivery, summary)
            if batch:
                continue
            if not wait_for_retries:
                return
            async with self.db.session() as session:
                retry_at = await repo.next_retry_at(session)
            if retry_at is None or monotonic_time.monotonic() > deadline:
                return
            await asyncio.sleep(min(max((retry_at - self.clock()).total_seconds(), 0.05), 5))

    async def _release(self, delivery_ids: list[int]) -> None:
        """Hand claimed but unsent rows back, so the next run (or process) sends them without waiting a lease."""
        async with self.db.session() as session:
            await repo.release_claims(session, delivery_ids)

    async def _deliver(self, bot: Bot, delivery: Delivery, summary: RunSummary) -> None:
        outcome = await self._attempt(bot, delivery.chat_id, delivery.text)
        async with self.db.session() as session:
            row = await session.get(Delivery, delivery.id)
            if row is None:
                return
            now = self.clock()
            if outcome.moved_to is not None:
                await repo.move_chat(session, delivery.chat_id, outcome.moved_to)
                row.chat_id = outcome.moved_to
            if outcome.message_id is not None:
                row.status = DeliveryStatus.SENT.value
                row.message_id = outcome.message_id
                row.sent_at = now
                row.last_error = outcome.error
                summary.sent += 1
            elif outcome.chat_gone:
                await repo.mark_chat_gone(session, row.chat_id, now=now)
                row.status = DeliveryStatus.CANCELLED.value
                row.last_error = outcome.error
                summary.blocked += 1
            elif (outcome.retry_in is not None or outcome.transient) and row.attempts < MAX_ATTEMPTS:
                wait = outcome.retry_in if outcome.retry_in is not None else _backoff(row.attempts)
                row.status = DeliveryStatus.PENDING.value
                row.not_before = now + timedelta(seconds=wait)
                row.last_error = outcome.error
                summary.retried += 1
            else:
                row.status = DeliveryStatus.FAILED.value
                row.last_error = outcome.error
                summary.failed += 1
                log.warning("delivery %s to chat %s failed: %s", row.id, row.chat_id, outcome.error)

    async def _attempt(self, bot: Bot, chat_id: int, text: str) -> _Outcome:
        moved_to: int | None = None
        plain_fallback = False
        for _ in range(3):  # at most: the original, once after a chat migration, once as plain text
            try:
                if plain_fallback:
                    message = await bot.send_message(
                        chat_id, _as_plain_text(text), parse_mode=None, link_preview_options=_NO_PREVIEW
                    )
                else:
                    message = await bot.send_message(
                        chat_id, text, parse_mode=ParseMode.HTML, link_preview_options=_NO_PREVIEW
                    )
                return _Outcome(message_id=message.message_id, moved_to=moved_to, error="sent as plain text" if plain_fallback else None)
            except RetryAfter as exc:
                wait = _retry_seconds(exc)
                return _Outcome(retry_in=wait, moved_to=moved_to, error=f"429: retry after {wait:g}s")
            except ChatMigrated as exc:
                moved_to = chat_id = exc.new_chat_id
            except Forbidden as exc:
                return _Outcome(chat_gone=True, moved_to=moved_to, error=f"403: {exc.message}")
            except BadRequest as exc:
                text_lower = exc.message.lower()
                if "chat not found" in text_lower or "user is deactivated" in text_lower:
                    return _Outcome(chat_gone=True, moved_to=moved_to, error=f"400: {exc.message}")
                if "can't parse entities" in text_lower and not plain_fallback:
                    log.error("BUG: Telegram rejected our HTML (%s); resending as plain text", exc.message)
                    plain_fallback = True
                    continue
                return _Outcome(moved_to=moved_to, error=f"400: {exc.message}")
            except NetworkError as exc:  # includes TimedOut and 5xx answers
                return _Outcome(transient=True, moved_to=moved_to, error=f"network: {exc.message}")
            except TelegramError as exc:
                return _Outcome(moved_to=moved_to, error=f"telegram: {exc.message}")
        return _Outcome(moved_to=moved_to, error="gave up after chat migration")


@dataclass(slots=True)
class _Outcome:
    message_id: int | None = None
    chat_gone: bool = False
    retry_in: float | None = None  # Telegram said when (429)
    transient: bool = False  # network error or 5xx: back off by attempt count
    moved_to: int | None = None
    error: str | None = None


_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def _retry_seconds(error: RetryAfter) -> float:
    # python-telegram-bot 22 warns that retry_after becomes a timedelta; accept either.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _backoff(attempts: int) -> float:
    """Exponential with full jitter: 1-2 s, 2-4 s, 4-8 s, ... capped at 5 minutes."""
    base = min(2.0 ** max(attempts - 1, 0), 300.0)
    return base + random.random() * base


def _as_plain_text(html_text: str) -> str:
    return html.unescape(_TAG.sub("", html_text))
