"""The process's Prometheus metrics, in a registry of its own (several applications can live in one test process).

Nothing below bot/ imports prometheus_client: the delivery engine, the feed poller and the update processor call
plain observer callbacks that are wired to these metrics in bot/app.py, and bulletin runs are timed there.
Gauges that describe the database (the outbox) or the instance (leader) are computed when /metrics is scraped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from telegram import Update

from delivery.engine import RunSummary
from services.feeds import PollResult
from storage import health
from storage.session import Database

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# "leader" or "standby". Until leadership exists every instance is the leader; the leadership code sets its own.
RoleProvider = Callable[[], str]
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RUN_BUCKETS = (0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
SCRAPE_QUERY_TIMEOUT = 2.0
# Receipt times of updates not yet handled; more than this means they are being lost somewhere: start afresh.
_MAX_TRACKED = 10_000


def always_leader() -> str:
    return "leader"


def update_type(update: object) -> str:
    """The update's kind as Telegram names it (message, callback_query, ...), "other" when none is known."""
    if isinstance(update, Update):
        for kind in Update.ALL_TYPES:
            if getattr(update, kind, None) is not None:
                return kind
    return "other"


class Metrics:
    """The counters, histograms and gauges, and the observer callbacks that move them."""

    def __init__(self, *, role_provider: RoleProvider = always_leader) -> None:
        self.role_provider = role_provider
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.updates = Counter(
            "newsbot_updates",
            "Telegram updates by type and outcome (handled, error: a handler raised, duplicate: taken already)",
            ["type", "outcome"],
            registry=registry,
        )
        self.reply_latency = Histogram(
            "newsbot_reply_latency_seconds",
            "From receiving an update (the webhook request, or the processor taking a polled one) to its handler "
            "finishing",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.webhook_requests = Counter(
            "newsbot_webhook_requests", "Webhook requests by HTTP status answered", ["status"], registry=registry
        )
        self.deliveries = Counter(
            "newsbot_deliveries",
            "Outbox messages by outcome: sent, retried (network or 5xx), rate_limited (429), failed, blocked",
            ["outcome"],
            registry=registry,
        )
        self.outbox_pending = Gauge(
            "newsbot_outbox_pending", "Outbox rows not yet sent (pending or being sent)", registry=registry
        )
        self.bulletin_runs = Histogram(
            "newsbot_bulletin_run_seconds",
            "Bulletin runs (prepare what is due, send the outbox) and their duration; _count is the number of runs",
            buckets=RUN_BUCKETS,
            registry=registry,
        )
        self.source_polls = Counter(
            "newsbot_source_polls", "Source polls by outcome (ok, not_modified, failed)", ["outcome"], registry=registry
        )
        self.source_poll_seconds = Histogram(
            "newsbot_source_poll_seconds", "Duration of one poll of one source", buckets=RUN_BUCKETS, registry=registry
        )
        self.leader = Gauge("newsbot_leader", "1 when this instance is the leader, else 0", registry=registry)
        self._received: dict[int, float] = {}
        self._failed: set[int] = set()
        for outcome in ("sent", "retried", "rate_limited", "failed", "blocked"):
            self.deliveries.labels(outcome)  # present (at 0) from the start, so rate() sees the first increase

    # ------------------------------------------------------------------ updates

    def received(self, update_id: int, at: float) -> None:
        """A webhook update was received at `at` (time.monotonic()): its latency counts from then."""
        if len(self._received) >= _MAX_TRACKED:
            self._received.clear()
        self._received[update_id] = at

    def duplicate(self, update: object) -> None:
        self.updates.labels(update_type(update), "duplicate").inc()

    async def on_handler_error(self, update: object, _context: object) -> None:
        """A python-telegram-bot error handler: remembers that this update's handling failed."""
        if isinstance(update, Update):
            self._failed.add(update.update_id)

    def update_done(self, update: object, entered: float) -> None:
        """The update processor finished `update`, which it had taken at `entered` (time.monotonic())."""
        now = time.monotonic()
        outcome = "handled"
        if isinstance(update, Update):
            entered = self._received.pop(update.update_id, entered)
            if update.update_id in self._failed:
                self._failed.discard(update.update_id)
                outcome = "error"
        self.updates.labels(update_type(update), outcome).inc()
        self.reply_latency.observe(now - entered)

    # ------------------------------------------------------------------ deliveries, bulletins, sources

    def delivery_run(self, summary: RunSummary) -> None:
        """After every run of the delivery engine (scheduled bulletins and a user's /bulletin alike)."""
        counts = {
            "sent": summary.sent,
            "retried": summary.retried - summary.rate_limited,
            "rate_limited": summary.rate_limited,
            "failed": summary.failed,
            "blocked": summary.blocked,
        }
        for outcome, count in counts.items():
            if count:
                self.deliveries.labels(outcome).inc(count)

    def bulletin_run(self, _summary: RunSummary, seconds: float) -> None:
        self.bulletin_runs.observe(seconds)

    def source_polled(self, result: PollResult | None, seconds: float) -> None:
        """After each poll of one source (None: the source was removed meanwhile, not counted)."""
        if result is None:
            return
        outcome = "failed" if not result.ok else "not_modified" if result.not_modified else "ok"
        self.source_polls.labels(outcome).inc()
        self.source_poll_seconds.observe(seconds)

    # ------------------------------------------------------------------ exposition

    async def render(self, db: Database) -> bytes:
        """The Prometheus text, gauges brought up to date first (the outbox count: NaN when the database is down)."""
        self.leader.set(1 if self.role_provider() == "leader" else 0)
        try:
            async with asyncio.timeout(SCRAPE_QUERY_TIMEOUT), db.session() as session:
                pending: float = await health.outbox_pending(session)
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("metrics: cannot count the outbox: %s", exc)
            pending = math.nan
        self.outbox_pending.set(pending)
        return generate_latest(self.registry)
