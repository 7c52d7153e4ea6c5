"""Application assembly: defaults, typed context, the ordered handler list, the bulletin job."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationBuilder, CallbackContext, ContextTypes, Defaults, ExtBot, JobQueue

from bot.admins import admin_reporter
from bot.errors import ErrorReporter
from bot.metrics import Metrics
from bot.settings import Settings
from bot.updates import ChatOrderedUpdateProcessor
from compose.help import bot_commands
from compose.i18n import SUPPORTED_LANGUAGES, use_language
from delivery.engine import DeliveryEngine, DeliveryLimits, RunSummary
from delivery.ratelimit import FloodLimits, ReplyRateLimiter
from delivery.transport import BotApiTransport
from handlers import (
    alerts,
    articles,
    bulletin,
    channels,
    fallback,
    filters,
    inline,
    language,
    search,
    sources,
    start,
    subscriptions,
    topics,
)
from handlers.context import SERVICES_KEY, BotServices, ChatSettings, NewsContext
from services.alerts import AlertMatcher, AlertService
from services.bulletins import BulletinService
from services.feeds import AdminReport, FeedService
from services.leadership import Leadership, this_instance
from services.links import BotLinks
from storage.session import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

# What build_application makes, in PTB's six type parameters: bot, context, user/chat/bot data, job queue.
# context_types() does not reach the JobQueue's parameter, which keeps PTB's default CallbackContext.
_Data: TypeAlias = dict[Any, Any]
NewsApplication: TypeAlias = Application[
    ExtBot[None], NewsContext, _Data, _Data, _Data, JobQueue[CallbackContext[ExtBot[None], _Data, _Data, _Data]]
]

METRICS_KEY = "metrics"
# The update types some handler takes (the webhook's allowed_updates): commands, text and service messages,
# buttons, inline queries, and changes of the bot's own membership (handlers/channels.py).
HANDLED_UPDATES = ("message", "callback_query", "inline_query", "my_chat_member")
BULLETIN_JOB = "bulletins"
FEEDS_JOB = "feeds"

# Order matters: feature handlers first, the catch-all fallback last.
FEATURES = (
    start,
    articles,
    subscriptions,
    bulletin,
    sources,
    topics,
    filters,
    alerts,
    language,
    search,
    inline,
    channels,
    fallback,
)


def build_application(settings: Settings, db: Database, *, clock: Callable[[], datetime] = utcnow) -> NewsApplication:
    token = settings.require_token()
    limits = delivery_limits(settings)
    # One set of flood limits for the process: replies (via python-telegram-bot) and bulletins share it.
    flood = limits.flood_limits()
    bulletins = build_bulletin_service(settings, db, clock=clock, flood=flood)
    metrics = Metrics()
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .context_types(ContextTypes(context=NewsContext))
        .rate_limiter(ReplyRateLimiter(flood))
        # Other chats are answered while one is being served; each chat's updates stay in order.
        .concurrent_updates(ChatOrderedUpdateProcessor(observer=metrics.update_done))
        .build()
    )
    feeds = feed_service(
        settings, db, clock=clock, report_to_admins=admin_reporter(application.bot, settings.admin_ids)
    )
    leadership = leadership_for(settings, db, bulletins, feeds)
    services = BotServices(
        settings=chat_settings(settings), db=db, bulletins=bulletins, feeds=feeds, clock=clock, leadership=leadership
    )
    application.bot_data[SERVICES_KEY] = services
    application.bot_data[METRICS_KEY] = metrics
    metrics.role_provider = leadership.role  # /healthz's role and the leader gauge
    bulletins.engine.observers.append(metrics.delivery_run)
    bulletins.run_observer = metrics.bulletin_run
    feeds.poll_observer = metrics.source_polled
    # Each update first gets its chat's language (compose.i18n); a private chat changing a channel is checked
    # (handlers.channels); then it goes to the features.
    application.add_handler(language.per_update(), group=language.LANGUAGE_GROUP)
    application.add_handlers(channels.guards(), group=channels.GUARD_GROUP)
    for feature in FEATURES:
        application.add_handlers(feature.handlers())
    application.add_error_handler(ErrorReporter().on_error)
    application.add_error_handler(metrics.on_handler_error)
    assert application.job_queue is not None, "python-telegram-bot[job-queue] is required"

    # Bulletins and alerts share the bot's links (its username, set once Telegram has told it).
    alert_messages = alert_service(settings, db, clock=clock, links=bulletins.links)

    # Both jobs run on every instance and do their work only on the leader (see services/leadership.py).
    async def send_due_bulletins(_: NewsContext) -> None:
        if leadership.is_leader:
            await run_delivery_check(bulletins, alert_messages)

    async def poll_feeds(_: NewsContext) -> None:
        """Poll the sources that are due; tell admins about sources failing for long."""
        if leadership.is_leader:
            await feeds.run_job()

    if settings.bulletin_check_interval > 0:
        # The first check comes a second after start, so bulletins missed while down go out at once.
        application.job_queue.run_repeating(
            send_due_bulletins, interval=settings.bulletin_check_interval, first=1.0, name=BULLETIN_JOB
        )
    application.job_queue.run_repeating(
        poll_feeds, interval=settings.feed_check_interval, first=settings.feed_check_interval, name=FEEDS_JOB
    )
    return application


def metrics_of(application: NewsApplication) -> Metrics:
    """The application's metrics (made by build_application)."""
    metrics = application.bot_data[METRICS_KEY]
    assert isinstance(metrics, Metrics)
    return metrics


async def run_delivery_check(bulletins: BulletinService, alert_messages: AlertService) -> RunSummary:
    """The bulletin job: write the due alert messages, then the due bulletins, and send everything pending."""
    await alert_messages.prepare_due()
    return await bulletins.run_due()


def alert_service(
    settings: Settings, db: Database, *, clock: Callable[[], datetime] = utcnow, links: BotLinks | None = None
) -> AlertService:
    return AlertService(db, min_interval=settings.alert_min_interval, clock=clock, links=links)


def leadership_for(settings: Settings, db: Database, bulletins: BulletinService, feeds: FeedService) -> Leadership:
    """The leader lease of this instance. Losing it stops the bulletin run and the feed polls in progress; once they
    have stopped, both can start again should this instance lead again."""

    async def stand_down() -> None:
        bulletins.request_stop()
        await feeds.stop()
        await bulletins.wait_idle()
        bulletins.resume()
        feeds.resume()

    # The webhook mode's setting, when this build has it.
    mode = "webhook" if getattr(settings, "webhook_url", None) else "polling"
    return Leadership(
        db,
        this_instance(mode),
        lease_seconds=settings.leader_lease_seconds,
        on_lost=stand_down,
        only_instance=db.engine.dialect.name != "postgresql",
    )


def chat_settings(settings: Settings) -> ChatSettings:
    return ChatSettings(
        admin_ids=frozenset(settings.admin_ids),
        default_timezone=settings.default_timezone,
        bulletin_times=tuple(settings.bulletin_times),
        allow_user_sources=settings.allow_user_sources,
        max_sources_per_chat=settings.max_sources_per_chat,
    )


def delivery_limits(settings: Settings) -> DeliveryLimits:
    return DeliveryLimits(
        per_second=settings.max_messages_per_second,
        per_chat_per_second=settings.per_chat_per_second,
        per_group_per_minute=settings.per_group_per_minute,
        paid_broadcast=settings.paid_broadcast,
    )


def feed_service(
    settings: Settings,
    db: Database,
    *,
    clock: Callable[[], datetime] = utcnow,
    report_to_admins: AdminReport | None = None,
) -> FeedService:
    """The feed poller configured from settings (the bot's job and `newsbot sources` share it)."""
    return FeedService(
        db,
        clock=clock,
        default_interval=settings.poll_interval,
        allow_private_urls=settings.allow_private_urls,
        page_fetches_per_poll=settings.page_fetches_per_poll,
        poll_timeout=settings.poll_timeout,
        report_to_admins=report_to_admins,
        configured_feeds=settings.feeds,
        alerts=AlertMatcher(),
    )


def build_bulletin_service(
    settings: Settings, db: Database, *, clock: Callable[[], datetime] = utcnow, flood: FloodLimits | None = None
) -> BulletinService:
    """Bulletin preparation plus the delivery engine that sends them, configured from settings."""
    limits = delivery_limits(settings)
    engine = DeliveryEngine(
        db,
        # One connection per request in flight at most: the engine decides how many it needs (see InFlightLimit).
        BotApiTransport(settings.telegram_api_url, settings.require_token(), connections=settings.send_concurrency),
        limits=limits,
        flood=flood,
        workers=settings.send_concurrency,
        lease=timedelta(seconds=settings.delivery_lease_seconds),
        max_attempts=settings.max_delivery_attempts,
        clock=clock,
    )
    return BulletinService(db, engine, bulletin_size=settings.bulletin_size, clock=clock)


async def announce_commands(application: NewsApplication) -> None:
    """Give Telegram the command menu (the same list /help shows): once per language the bot speaks, for users
    whose app is in that language, and the default (English) for everyone else."""
    await application.bot.set_my_commands(bot_commands())
    for code in SUPPORTED_LANGUAGES:
        with use_language(code):
            await application.bot.set_my_commands(bot_commands(), language_code=code)
