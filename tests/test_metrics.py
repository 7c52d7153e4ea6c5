"""/metrics (and /healthz) end to end: the counters move as updates are handled, bulletins sent and sources polled,
read back by parsing the Prometheus text the listener serves; in webhook mode and beside long polling."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.metrics import Metrics
from fakebot import FakeBotAPI
from storage import articles as article_repo
from tests.conftest import Clock
from tests.factories import add_articles
from tests.feedserver import FeedServer
from tests.webhooks import parse_metrics, sample, serve_bot


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def test_an_update_moves_the_update_counters_and_the_latency(
    fake_api: FakeBotAPI, db_url: str, clock: Clock
) -> None:
    async with serve_bot(fake_api, db_url, clock) as served:
        before = await served.scrape()
        assert sample(before, "newsbot_updates_total", type="message", outcome="handled") == 0
        assert sample(before, "newsbot_leader") == 1
        assert sample(before, "newsbot_outbox_pending") == 0
        await served.ask(71, "/help")
        await served.wait_idle()
        after = await served.scrape()
    assert sample(after, "newsbot_updates_total", type="message", outcome="handled") == 1
    assert sample(after, "newsbot_reply_latency_seconds_count") == 1
    assert 0 < sample(after, "newsbot_reply_latency_seconds_sum") < 5
    assert sample(after, "newsbot_webhook_requests_total", status="200") == 1


async def test_a_bulletin_run_moves_runs_deliveries_and_the_outbox(
    fake_api: FakeBotAPI, db_url: str, clock: Clock
) -> None:
    clock.set(at(2026, 12, 1, 6, 0))
    async with serve_bot(fake_api, db_url, clock) as served:
        for chat_id in (81, 82, 83):
            await served.ask(chat_id, "/subscribe 07:00")
        await add_articles(served.bot.db, "One", "Two", now=at(2026, 12, 1, 5, 0))
        fake_api.fail_chat(82, "403")
        fake_api.fail_chat(83, "429", times=1, retry_after=30)
        clock.set(at(2026, 12, 1, 7, 0, 30))
        await served.bot.bulletins.prepare_due()
        assert sample(await served.scrape(), "newsbot_outbox_pending") == 3
        summary = await served.bot.run_bulletins()
        assert (summary.sent, summary.blocked, summary.retried) == (1, 1, 1)
        scraped = await served.scrape()
    assert sample(scraped, "newsbot_bulletin_run_seconds_count") == 1
    assert sample(scraped, "newsbot_deliveries_total", outcome="sent") == 1
    assert sample(scraped, "newsbot_deliveries_total", outcome="blocked") == 1
    assert sample(scraped, "newsbot_deliveries_total", outcome="rate_limited") == 1
    assert sample(scraped, "newsbot_deliveries_total", outcome="retried") == 0
    assert sample(scraped, "newsbot_outbox_pending") == 1  # the 429 waits for its retry


async def test_polling_mode_serves_metrics_and_health_on_their_own_listener(
    fake_api: FakeBotAPI, db_url: str, clock: Clock, server: FeedServer
) -> None:
    async with serve_bot(fake_api, db_url, clock, webhook=False) as served:
        await served.bot.ask(91, "/help")  # long-polled, not posted
        await served.bot.wait_idle()
        status, _ = await served.post({"update_id": 1})
        assert status == 404  # no webhook path without WEBHOOK_URL
        assert (await served.get("/healthz"))[0] == 200
        feed = server.serve_file("/feed.xml", "rss2-content-encoded.xml", content_type="application/rss+xml")
        broken = server.serve("/broken.xml", status=500)
        await served.bot.services.feeds.ensure_sources([feed, broken])
        await served.bot.services.feeds.poll()
        served.metrics.role_provider = lambda: "standby"
        scraped = await served.scrape()
    assert sample(scraped, "newsbot_updates_total", type="message", outcome="handled") == 1
    assert sample(scraped, "newsbot_reply_latency_seconds_count") == 1
    assert sample(scraped, "newsbot_source_polls_total", outcome="ok") >= 1
    assert sample(scraped, "newsbot_source_polls_total", outcome="failed") >= 1
    assert sample(scraped, "newsbot_source_poll_seconds_count") >= 2
    assert sample(scraped, "newsbot_leader") == 0


async def test_registries_are_per_instance() -> None:
    first, second = Metrics(), Metrics()
    first.bulletin_run(None, 1.0)  # type: ignore[arg-type]
    assert sample(parse_metrics(_text(first)), "newsbot_bulletin_run_seconds_count") == 1
    assert sample(parse_metrics(_text(second)), "newsbot_bulletin_run_seconds_count") == 0


def _text(metrics: Metrics) -> str:
    from prometheus_client import generate_latest

    return generate_latest(metrics.registry).decode()


async def test_a_handler_that_fails_counts_as_an_error(
    fake_api: FakeBotAPI, db_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(article_repo, "latest_articles", broken)
    async with serve_bot(fake_api, db_url, clock) as served:
        await served.ask(72, "/headlines")  # the apology
        await served.wait_idle()
        scraped = await served.scrape()
    assert sample(scraped, "newsbot_updates_total", type="message", outcome="error") == 1
    assert sample(scraped, "newsbot_updates_total", type="message", outcome="handled") == 0


def test_the_webhook_asks_for_every_update_type_a_handler_takes() -> None:
    from telegram.ext import (
        CallbackQueryHandler,
        ChatMemberHandler,
        CommandHandler,
        InlineQueryHandler,
        MessageHandler,
        TypeHandler,
    )

    from bot.app import FEATURES, HANDLED_UPDATES
    from handlers import channels

    takes = {CallbackQueryHandler: "callback_query", InlineQueryHandler: "inline_query"}
    for handler in [h for feature in FEATURES for h in feature.handlers()] + list(channels.guards()):
        if isinstance(handler, (CommandHandler, MessageHandler)):
            kind = "message"  # handlers/common.py: new messages only (filters.UpdateType.MESSAGE)
        elif isinstance(handler, ChatMemberHandler):
            assert handler.chat_member_types == ChatMemberHandler.MY_CHAT_MEMBER
            kind = "my_chat_member"
        elif isinstance(handler, TypeHandler):
            continue  # the guard in front of everything
        else:
            kind = takes[type(handler)]
        assert kind in HANDLED_UPDATES, handler
