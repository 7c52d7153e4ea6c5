"""The delivery engine: send every pending bulletin row exactly once, as fast as Telegram allows.

Pipeline inside one process:
    claimer ──(bounded queue)──> N workers ──> recorder
* the claimer takes batches of due rows in one statement (PENDING, or SENDING with an expired lease), marking
  them SENDING; on PostgreSQL with FOR UPDATE SKIP LOCKED, so several processes share a run;
* each worker waits for a slot in the shared flood limits, posts the message and settles the outcome;
* the recorder writes successful sends in small batches (at most RECORD_EVERY rows or RECORD_INTERVAL
  seconds old), because one transaction per message would cost more CPU than the send itself.

What a crash can do: rows claimed but not yet recorded as SENT are retried when their lease expires. So the
only messages that can arrive twice after a `kill -9` are those in flight or sent in the last RECORD_INTERVAL
seconds (at 30 messages/s, about two). An orderly stop (SIGTERM) claims nothing more, hands unsent claimed
rows back, lets requests in flight finish, and records everything: nothing is sent twice.
"""

from __future__ import annotations

import asyncio
import html
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, update

from delivery.ratelimit import BULK, REPLY, FloodLimits
from delivery.transport import BotApiTransport, SendResult
from storage import repositories as repo
from storage.models import Delivery, DeliveryStatus
from storage.session import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

RECORD_EVERY = 64
RECORD_INTERVAL = 0.05
_TAG = re.compile(r"<[^>]+>")
_DELIVERIES = Delivery.__table__


@dataclass(frozen=True, slots=True)
class DeliveryLimits:
    """Telegram's limits as configured (MAX_MESSAGES_PER_SECOND and friends)."""

    per_second: int | None = 30  # None: no global limit (tests, benchmarks)
    per_chat_per_second: int = 1
    per_group_per_minute: int = 20
    paid_broadcast: bool = False  # sets allow_paid_broadcast; allows up to 1000/s

    def flood_limits(self) -> FloodLimits:
        return FloodLimits(
            self.per_second,
            per_chat_per_second=self.per_chat_per_second,
            per_group_per_minute=self.per_group_per_minute,
        )


@dataclass
class RunSummary:
    prepared: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    blocked: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def duration(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        return self.sent / self.duration if self.duration > 0 else 0.0

    def line(self) -> str:
        return (
            f"delivery run: prepared={self.prepared} sent={self.sent} retried={self.retried} failed={self.failed} "
            f"blocked={self.blocked} duration={self.duration:.2f}s rate={self.rate:.1f}/s"
        )


@dataclass(slots=True)
class _Claimed:
    id: int
    chat_id: int
    text: str
    attempts: int


class DeliveryEngine:
    def __init__(
        self,
        db: Database,
        transport: BotApiTransport,
        *,
        limits: DeliveryLimits = DeliveryLimits(),
        flood: FloodLimits | None = None,
        workers: int = 32,
        claim_batch: int = 256,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 5,
        retry_horizon: float = 120.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.transport = transport
        self.limits = limits
        # Shared with python-telegram-bot's rate limiter when replies and bulletins run in one process.
        self.flood = flood or limits.flood_limits()
        self.workers = workers
        # Under a rate limit, claim about two seconds of work at a time: a big claim is a long stretch of
        # event-loop work that delays the sends due meanwhile, and late sends bunch up at Telegram's end.
        self.claim_batch = min(claim_batch, max(16, 2 * limits.per_second)) if limits.per_second else claim_batch
        self.lease = lease
        self.max_attempts = max_attempts
        self.retry_horizon = retry_horizon
        self.clock = clock
        self._stopping = False

    def request_stop(self) -> None:
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    # ------------------------------------------------------------------ the run

    async def run(
        self, *, only_ids: Sequence[int] | None = None, wait_for_retries: bool = True, urgent: bool = False
    ) -> RunSummary:
        """Send what is due. With `wait_for_retries`, stay until rows postponed by a 429 or a transient error
        within `retry_horizon` seconds are sent too. `urgent` rows (a user asked) go before bulletins."""
        summary = RunSummary()
        started_at = self.clock()
        priority = REPLY if urgent else BULK
        queue: asyncio.Queue[_Claimed | None] = asyncio.Queue(maxsize=self.workers * 2)
        # Rows this run has claimed and not yet settled in the database. The claimer skips them: a row that
        # waits in this process longer than the lease must not be claimed a second time by this process.
        held: set[int] = set()
        recorder = _Recorder(self.db, held)
        unsent: list[int] = []
        worker_count = self.workers if only_ids is None else max(1, min(self.workers, len(only_ids)))
        workers = [
            asyncio.create_task(
                self._work(queue, recorder, summary, unsent, held, priority), name=f"delivery-worker-{n}"
            )
            for n in range(worker_count)
        ]
        try:
            await self._feed(queue, recorder, only_ids, held, wait_for_retries)
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
            await recorder.close()
            if unsent:
                async with self.db.session() as session:
                    await repo.release_claims(session, unsent)
            summary.finished = time.monotonic()
        if not urgent and (summary.sent or summary.retried or summary.failed or summary.blocked):
            await self._record(summary, started_at)
        return summary

    async def _record(self, summary: RunSummary, started_at: datetime) -> None:
        async with self.db.session() as session:
            await repo.record_run(
                session,
                started_at=started_at,
                finished_at=self.clock(),
                sent=summary.sent,
                retried=summary.retried,
                failed=summary.failed,
                blocked=summary.blocked,
                messages_per_second=round(summary.rate, 2),
            )

    async def _feed(
        self,
        queue: asyncio.Queue[_Claimed | None],
        recorder: _Recorder,
        only_ids: Sequence[int] | None,
        held: set[int],
        wait: bool,
    ) -> None:
        while not self._stopping:
            batch = await self._claim(only_ids, held)
            for row in batch:
                await queue.put(row)
            if batch:
                continue
            # Nothing claimable now. Let the work in hand finish: it may postpone rows for a retry.
            await queue.join()
            await recorder.flush()
            if not wait or self._stopping:
                return
            async with self.db.session() as session:
                retry_at = await repo.next_retry_at(session, only_ids=only_ids)
            if retry_at is None:
                return
            delay = (retry_at - self.clock()).total_seconds()
            if delay > self.retry_horizon:
                return  # a later run picks it up
            await self._sleep(max(delay, 0.01))

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake within a fraction of a second when a stop is requested."""
        end = time.monotonic() + seconds
        while not self._stopping and (remaining := end - time.monotonic()) > 0:
            await asyncio.sleep(min(remaining, 0.2))

    async def _claim(self, only_ids: Sequence[int] | None, held: set[int]) -> list[_Claimed]:
        now = self.clock()
        candidates = (
            select(Delivery.id)
            .where(
                or_(
                    Delivery.status == DeliveryStatus.PENDING.value,
                    (Delivery.status == DeliveryStatus.SENDING.value) & (Delivery.claimed_at < now - self.lease),
                ),
                or_(Delivery.not_before.is_(None), Delivery.not_before <= now),
            )
            .order_by(Delivery.id)
            .limit(self.claim_batch)
        )
        if only_ids is not None:
            candidates = candidates.where(Delivery.id.in_(list(only_ids)))
        if held:
            candidates = candidates.where(Delivery.id.not_in(list(held)))
        if self.db.engine.dialect.name == "postgresql":
            # The one dialect-specific clause: lets several processes claim disjoint batches.
            candidates = candidates.with_for_update(skip_locked=True)
        statement = (
            update(_DELIVERIES)
            .where(_DELIVERIES.c.id.in_(candidates.scalar_subquery()))
            .values(status=DeliveryStatus.SENDING.value, claimed_at=now, attempts=_DELIVERIES.c.attempts + 1)
            .returning(_DELIVERIES.c.id, _DELIVERIES.c.chat_id, _DELIVERIES.c.text, _DELIVERIES.c.attempts)
        )
        async with self.db.session() as session:
            rows = (await session.execute(statement)).all()
        claimed = sorted((_Claimed(*row) for row in rows), key=lambda row: row.id)
        held.update(row.id for row in claimed)
        return claimed

    async def _work(
        self,
        queue: asyncio.Queue[_Claimed | None],
        recorder: _Recorder,
        summary: RunSummary,
        unsent: list[int],
        held: set[int],
        priority: int,
    ) -> None:
        while True:
            row = await queue.get()
            try:
                if row is None:
                    return
                if not await self._deliver(row, recorder, summary, priority):
                    unsent.append(row.id)
                elif not recorder.is_unflushed(row.id):
                    held.discard(row.id)  # settled in the database; sent rows leave `held` when flushed
            except Exception:  # one bad row must not stop the run; it stays claimed and is retried after the lease
                log.exception("delivery %s: unexpected error", row.id if row else None)
            finally:
                queue.task_done()

    # ------------------------------------------------------------------ one message

    async def _deliver(self, row: _Claimed, recorder: _Recorder, summary: RunSummary, priority: int) -> bool:
        """Send one row and settle it. False when a stop came before its first request (the row is handed back)."""
        chat_id, text, parse_mode = row.chat_id, row.text, "HTML"
        for attempt in range(3):  # the original; once more after a chat migration; once more as plain text
            if attempt == 0 and self._stopping:
                return False
            slot = await self.flood.acquire(chat_id, priority)
            if attempt == 0 and self._stopping:
                return False
            if slot is not None:
                slot.started()
            result = await self.transport.send_message(
                chat_id, text, parse_mode=parse_mode, paid_broadcast=self.limits.paid_broadcast
            )
            if result.ok:
                recorder.sent(row.id, result.message_id, self.clock(), None if parse_mode else "sent as plain text")
                summary.sent += 1
                return True
            if result.migrate_to_chat_id is not None:
                await self._move_chat(row, chat_id, result.migrate_to_chat_id)
                chat_id = result.migrate_to_chat_id
                continue
            if _cannot_parse(result) and parse_mode is not None:
                log.error("BUG: Telegram rejected our HTML for delivery %s (%s); resending as plain text", row.id, result.description)
                text, parse_mode = html.unescape(_TAG.sub("", text)), None
                continue
            await self._settle_failure(row, chat_id, result, summary)
            return True
        await self._finish(row.id, DeliveryStatus.FAILED, "gave up after a chat migration and a plain-text resend")
        summary.failed += 1
        return True

    async def _settle_failure(self, row: _Claimed, chat_id: int, result: SendResult, summary: RunSummary) -> None:
        now = self.clock()
        if result.retry_after is not None:
            # Flood control is not the row's fault: it does not use up an attempt.
            await self._postpone(row.id, now + timedelta(seconds=result.retry_after), f"429: retry after {result.retry_after:g}s", refund=True)
            summary.retried += 1
        elif _chat_is_gone(result):
            async with self.db.session() as session:
                await repo.mark_chat_gone(session, chat_id, now=now)
                await session.execute(
                    update(_DELIVERIES)
                    .where(_DELIVERIES.c.id == row.id)
                    .values(status=DeliveryStatus.CANCELLED.value, last_error=f"{result.status}: {result.description}")
                )
            summary.blocked += 1
        elif _is_transient(result) and row.attempts < self.max_attempts:
            await self._postpone(row.id, now + timedelta(seconds=_backoff(row.attempts)), _describe(result))
            summary.retried += 1
        else:
            await self._finish(row.id, DeliveryStatus.FAILED, _describe(result))
            summary.failed += 1
            log.warning("delivery %s to chat %s failed: %s", row.id, chat_id, _describe(result))

    async def _postpone(self, delivery_id: int, when: datetime, reason: str, *, refund: bool = False) -> None:
        values: dict[str, object] = {"status": DeliveryStatus.PENDING.value, "not_before": when, "last_error": reason}
        if refund:
            values["attempts"] = _DELIVERIES.c.attempts - 1
        async with self.db.session() as session:
            await session.execute(update(_DELIVERIES).where(_DELIVERIES.c.id == delivery_id).values(**values))

    async def _finish(self, delivery_id: int, status: DeliveryStatus, reason: str) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(_DELIVERIES).where(_DELIVERIES.c.id == delivery_id).values(status=status.value, last_error=reason)
            )

    async def _move_chat(self, row: _Claimed, old_chat_id: int, new_chat_id: int) -> None:
        async with self.db.session() as session:
            await repo.move_chat(session, old_chat_id, new_chat_id)
            await session.execute(update(_DELIVERIES).where(_DELIVERIES.c.id == row.id).values(chat_id=new_chat_id))


class _Recorder:
    """Writes SENT outcomes in small batches, one transaction each."""

    def __init__(self, db: Database, held: set[int]) -> None:
        self.db = db
        self._held = held
        self._pending: list[dict[str, object]] = []
        self._unflushed: set[int] = set()
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def sent(self, delivery_id: int, message_id: int | None, when: datetime, note: str | None) -> None:
        self._pending.append({"row_id": delivery_id, "message_id": message_id, "sent_at": when, "note": note})
        self._unflushed.add(delivery_id)
        if len(self._pending) >= RECORD_EVERY:
            self._spawn_flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(RECORD_INTERVAL, self._spawn_flush)

    def _spawn_flush(self) -> None:
        task = asyncio.create_task(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._lock:
            rows, self._pending = self._pending, []
            if not rows:
                return
            statement = (
                update(_DELIVERIES)
                .where(_DELIVERIES.c.id == bindparam("row_id"))
                .values(
                    status=DeliveryStatus.SENT.value,
                    message_id=bindparam("message_id"),
                    sent_at=bindparam("sent_at"),
                    # Keep the error of an earlier failed try, unless this send has its own note.
                    last_error=func.coalesce(bindparam("note"), _DELIVERIES.c.last_error),
                )
            )
            async with self.db.session() as session:
                await (await session.connection()).execute(statement, rows)
            for row in rows:
                self._unflushed.discard(row["row_id"])  # type: ignore[arg-type]
                self._held.discard(row["row_id"])  # type: ignore[arg-type]

    def is_unflushed(self, delivery_id: int) -> bool:
        return delivery_id in self._unflushed

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush()


def _cannot_parse(result: SendResult) -> bool:
    return result.status == 400 and "can't parse entities" in result.description.lower()


def _chat_is_gone(result: SendResult) -> bool:
    if result.status == 403:
        return True
    text = result.description.lower()
    return result.status == 400 and ("chat not found" in text or "user is deactivated" in text or "peer_id_invalid" in text)


def _is_transient(result: SendResult) -> bool:
    return result.status is None or result.status >= 500


def _describe(result: SendResult) -> str:
    return f"{result.status}: {result.description}" if result.status else result.description


def _backoff(attempts: int) -> float:
    """Exponential with jitter: 1-2 s, 2-4 s, 4-8 s, ... capped at 5 minutes."""
    base = min(2.0 ** max(attempts - 1, 0), 300.0)
    return base + random.random() * base

