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
import collections
import contextlib
import html
import logging
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from delivery.ratelimit import BULK, REPLY, FloodLimits
from delivery.transport import BotApiTransport, SendResult
from storage import deliveries as delivery_repo
from storage.deliveries import ClaimedDelivery, SentDelivery
from storage.models import DeliveryStatus
from storage.session import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

RECORD_EVERY = 64
RECORD_INTERVAL = 0.05
# Requests in flight: enough to carry the rate limit at the measured round trip (Little's law: in flight =
# rate x latency), with headroom for jitter, never fewer than MIN_IN_FLIGHT nor more than the workers cap.
MIN_IN_FLIGHT = 4
IN_FLIGHT_HEADROOM = 1.5
ASSUMED_LATENCY = 0.1  # seconds, until the first answers are timed
LATENCY_WEIGHT = 0.05  # of each new measurement in the moving average
# How long the claimer waits for rows still being prepared before it looks again.
PREPARING_POLL = 0.05
# Preparing stays at most this many seconds of sends (at the rate limit) ahead of sending, and never fewer than
# MIN_BACKLOG rows: running further ahead only takes the event loop from the sends due now (see backlog_allowance).
BACKLOG_SECONDS = 5
MIN_BACKLOG = 1000
_TAG = re.compile(r"<[^>]+>")


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
    rate_limited: int = 0  # of the retried, those Telegram answered with 429
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
        self.workers = workers  # the cap on requests in flight (SEND_CONCURRENCY); the run uses what the rate needs
        self.in_flight = InFlightLimit(workers, limits.per_second)
        # Under a rate limit, claim about two seconds of work at a time: a big claim is a long stretch of
        # event-loop work that delays the sends due meanwhile, and late sends bunch up at Telegram's end.
        self.claim_batch = min(claim_batch, max(16, 2 * limits.per_second)) if limits.per_second else claim_batch
        self.lease = lease
        self.max_attempts = max_attempts
        self.retry_horizon = retry_horizon
        self.clock = clock
        self._stopping = False
        self._rows_added = asyncio.Event()
        # Rows this engine has taken to an outcome (sent, put off, failed, cancelled): preparation paces itself by it.
        self.rows_done = 0
        self._progress = asyncio.Event()
        # Called with each run's summary when it ends (the bot's metrics); they must not raise or block.
        self.observers: list[Callable[[RunSummary], None]] = []

    def request_stop(self) -> None:
        self._stopping = True
        self._progress.set()

    def rows_added(self) -> None:
        """Preparation committed new rows: a run waiting for them (more_coming) claims them now."""
        self._rows_added.set()

    def resume(self) -> None:
        """Claim again after a stop that was not a shutdown (an instance that lost leadership, then regained it).
        Call it only once the stopped run has returned."""
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    def backlog_allowance(self) -> int | None:
        """How many prepared rows may wait for this engine before preparing more only takes CPU from sending:
        a few seconds of sends at the rate limit (None without a limit: prepare freely)."""
        per_second = self.limits.per_second
        return max(MIN_BACKLOG, int(BACKLOG_SECONDS * per_second)) if per_second else None

    async def wait_until_done(self, rows: int, *, timeout: float) -> None:
        """Return once `rows_done` reaches `rows`, after `timeout` seconds at most, or at a stop."""
        give_up = time.monotonic() + timeout
        while self.rows_done < rows and not self._stopping:
            self._progress.clear()
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)

    # ------------------------------------------------------------------ the run

    async def run(
        self,
        *,
        only_ids: Sequence[int] | None = None,
        wait_for_retries: bool = True,
        urgent: bool = False,
        more_coming: Callable[[], bool] | None = None,
    ) -> RunSummary:
        """Send what is due. With `wait_for_retries`, stay until rows postponed by a 429 or a transient error
        within `retry_horizon` seconds are sent too. `urgent` rows (a user asked) go before bulletins. While
        `more_coming()` is true (bulletins still being prepared), an empty claim waits for new rows instead of
        ending the run, so sending starts with the first prepared page."""
        summary = RunSummary()
        started_at = self.clock()
        priority = REPLY if urgent else BULK
        queue: asyncio.Queue[ClaimedDelivery | None] = asyncio.Queue(maxsize=self.workers * 2)
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
            await self._feed(queue, recorder, only_ids, held, wait_for_retries, more_coming)
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
            await recorder.close()
            if unsent:
                async with self.db.session() as session:
                    await delivery_repo.release_claims(session, unsent)
            summary.finished = time.monotonic()
            for observe in self.observers:
                observe(summary)
        if not urgent and (summary.sent or summary.retried or summary.failed or summary.blocked):
            await self._record(summary, started_at)
        return summary

    async def _record(self, summary: RunSummary, started_at: datetime) -> None:
        async with self.db.session() as session:
            await delivery_repo.record_run(
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
        queue: asyncio.Queue[ClaimedDelivery | None],
        recorder: _Recorder,
        only_ids: Sequence[int] | None,
        held: set[int],
        wait: bool,
        more_coming: Callable[[], bool] | None = None,
    ) -> None:
        while not self._stopping:
            self._rows_added.clear()
            batch = await self._claim(only_ids, held)
            for row in batch:
                await queue.put(row)
            if batch:
                continue
            if more_coming is not None and more_coming():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._rows_added.wait(), PREPARING_POLL)
                continue
            # Nothing claimable now. Let the work in hand finish: it may postpone rows for a retry.
            await queue.join()
            await recorder.flush()
            if not wait or self._stopping:
                return
            async with self.db.session() as session:
                retry_at = await delivery_repo.next_retry_at(session, only_ids=only_ids)
            if retry_at is None:
                return
            delay = (retry_at - self.clock()).total_seconds()
            if delay > self.retry_horizon:
                return  # a later run picks it up
            await self._sleep(max(delay, 0.01))

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake within a fraction of a second when a stop is requested."""
        end = time.monotonic() + seconds
        # A stop is a flag set from anywhere (a signal, another task), not an Event to wait on.
        while not self._stopping and (remaining := end - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(remaining, 0.2))

    async def _claim(self, only_ids: Sequence[int] | None, held: set[int]) -> list[ClaimedDelivery]:
        async with self.db.session() as session:
            claimed = await delivery_repo.claim_due(
                session, now=self.clock(), lease=self.lease, limit=self.claim_batch, only_ids=only_ids, exclude=held
            )
        held.update(row.id for row in claimed)
        return claimed

    async def _work(
        self,
        queue: asyncio.Queue[ClaimedDelivery | None],
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
                    continue
                self.rows_done += 1
                self._progress.set()
                if not recorder.is_unflushed(row.id):
                    held.discard(row.id)  # settled in the database; sent rows leave `held` when flushed
            except Exception:  # one bad row must not stop the run; it stays claimed and is retried after the lease
                log.exception("delivery %s: unexpected error", row.id if row else None)
            finally:
                queue.task_done()

    # ------------------------------------------------------------------ one message

    async def _deliver(self, row: ClaimedDelivery, recorder: _Recorder, summary: RunSummary, priority: int) -> bool:
        """Send one row and settle it. False when a stop came before its first request (the row is handed back)."""
        chat_id, text = row.chat_id, row.text
        parse_mode: str | None = "HTML"  # None once Telegram refused our HTML: the text goes plain
        for attempt in range(3):  # the original; once more after a chat migration; once more as plain text
            if attempt == 0 and self._stopping:
                return False
            slot = await self.flood.acquire(chat_id, priority)
            if attempt == 0 and self._stopping:
                return False
            async with self.in_flight:
                sent_at = time.monotonic()
                result = await self.transport.send_message(
                    chat_id,
                    text,
                    parse_mode=parse_mode,
                    paid_broadcast=self.limits.paid_broadcast,
                    message_thread_id=row.thread_id,
                    # The flood window counts the request from when its body reaches the socket.
                    on_write=slot.started if slot is not None else None,
                )
                if result.status is not None:  # an answer came: its round trip is a latency sample
                    self.in_flight.observe(time.monotonic() - sent_at)
            if result.ok:
                recorder.sent(row.id, result.message_id, self.clock(), None if parse_mode else "sent as plain text")
                summary.sent += 1
                return True
            if result.migrate_to_chat_id is not None:
                await self._move_chat(row, chat_id, result.migrate_to_chat_id)
                chat_id = result.migrate_to_chat_id
                continue
            if _cannot_parse(result) and parse_mode is not None:
                log.error(
                    "BUG: Telegram rejected our HTML for delivery %s (%s); resending as plain text",
                    row.id,
                    result.description,
                )
                text, parse_mode = html.unescape(_TAG.sub("", text)), None
                continue
            await self._settle_failure(row, chat_id, result, summary)
            return True
        await self._finish(row.id, DeliveryStatus.FAILED, "gave up after a chat migration and a plain-text resend")
        summary.failed += 1
        return True

    async def _settle_failure(
        self, row: ClaimedDelivery, chat_id: int, result: SendResult, summary: RunSummary
    ) -> None:
        now = self.clock()
        if result.retry_after is not None:
            # Flood control is not the row's fault: it does not use up an attempt.
            await self._postpone(
                row.id,
                now + timedelta(seconds=result.retry_after),
                f"429: retry after {result.retry_after:g}s",
                refund=True,
            )
            summary.retried += 1
            summary.rate_limited += 1
        elif row.thread_id and _topic_is_gone(result):
            # The forum topic was closed or deleted: only this target stops, the group's others go on.
            async with self.db.session() as session:
                await delivery_repo.mark_topic_gone(session, row.subscriber_id, now=now)
                await delivery_repo.finish(session, row.id, DeliveryStatus.CANCELLED, _describe(result))
            summary.blocked += 1
        elif _chat_is_gone(result):
            async with self.db.session() as session:
                await delivery_repo.mark_chat_gone(session, chat_id, now=now)
                reason = f"{result.status}: {result.description}"
                await delivery_repo.finish(session, row.id, DeliveryStatus.CANCELLED, reason)
            summary.blocked += 1
        elif _is_transient(result) and row.attempts < self.max_attempts:
            await self._postpone(row.id, now + timedelta(seconds=_backoff(row.attempts)), _describe(result))
            summary.retried += 1
        else:
            await self._finish(row.id, DeliveryStatus.FAILED, _describe(result))
            summary.failed += 1
            log.warning("delivery %s to chat %s failed: %s", row.id, chat_id, _describe(result))

    async def _postpone(self, delivery_id: int, when: datetime, reason: str, *, refund: bool = False) -> None:
        async with self.db.session() as session:
            await delivery_repo.postpone(session, delivery_id, until=when, reason=reason, refund=refund)

    async def _finish(self, delivery_id: int, status: DeliveryStatus, reason: str) -> None:
        async with self.db.session() as session:
            await delivery_repo.finish(session, delivery_id, status, reason)

    async def _move_chat(self, row: ClaimedDelivery, old_chat_id: int, new_chat_id: int) -> None:
        async with self.db.session() as session:
            await delivery_repo.move_chat(session, old_chat_id, new_chat_id)
            await delivery_repo.retarget(session, row.id, new_chat_id)


class InFlightLimit:
    """How many sends may await Telegram's answer at once: rate limit x measured round trip x headroom.

    A fixed number either starves the rate limit when the round trip is long (32 in flight at 80 ms carry at most
    400 messages a second) or keeps far more requests and connections open than a slow rate needs. Without a
    rate limit, the cap.
    """

    def __init__(self, cap: int, per_second: int | None) -> None:
        self.cap = max(1, cap)
        self.per_second = per_second
        self.latency = ASSUMED_LATENCY
        self.limit = self._target()
        self._active = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def _target(self) -> int:
        if not self.per_second:
            return self.cap
        wanted = math.ceil(round(self.per_second * self.latency * IN_FLIGHT_HEADROOM, 6))
        return max(min(MIN_IN_FLIGHT, self.cap), min(self.cap, wanted))

    def observe(self, seconds: float) -> None:
        self.latency += LATENCY_WEIGHT * (seconds - self.latency)
        self.limit = self._target()
        self._wake()

    async def __aenter__(self) -> None:
        if self._active < self.limit and not self._waiters:
            self._active += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)  # first come, first served
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # handed a slot just as it was cancelled: pass it on
                self._active -= 1
                self._wake()
            raise

    async def __aexit__(self, *_: object) -> None:
        self._active -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._active < self.limit:
            future = self._waiters.popleft()
            if not future.done():
                self._active += 1  # handed to the waiter
                future.set_result(None)


class _Recorder:
    """Writes SENT outcomes in small batches, one transaction each."""

    def __init__(self, db: Database, held: set[int]) -> None:
        self.db = db
        self._held = held
        self._pending: list[SentDelivery] = []
        self._unflushed: set[int] = set()
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def sent(self, delivery_id: int, message_id: int | None, when: datetime, note: str | None) -> None:
        self._pending.append(SentDelivery(delivery_id, message_id, when, note))
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
            async with self.db.session() as session:
                await delivery_repo.record_sent(session, rows)
            for row in rows:
                self._unflushed.discard(row.delivery_id)
                self._held.discard(row.delivery_id)

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
    return result.status == 400 and (
        "chat not found" in text
        or "user is deactivated" in text
        or "peer_id_invalid" in text
        # a channel that took away the bot's right to post
        or "need administrator rights" in text
        or "not enough rights" in text
    )


def _topic_is_gone(result: SendResult) -> bool:
    text = result.description.lower()
    return result.status == 400 and any(
        sign in text for sign in ("message thread not found", "topic_closed", "topic_deleted", "topic_id_invalid")
    )


def _is_transient(result: SendResult) -> bool:
    return result.status is None or result.status >= 500


def _describe(result: SendResult) -> str:
    return f"{result.status}: {result.description}" if result.status else result.description


def _backoff(attempts: int) -> float:
    """Exponential with jitter: 1-2 s, 2-4 s, 4-8 s, ... capped at 5 minutes."""
    base = min(2.0 ** max(attempts - 1, 0), 300.0)
    return base + random.random() * base
