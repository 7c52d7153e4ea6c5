"""Application assembly: defaults, typed context, the ordered handler list, the bulletin job."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults

from bot.bulletins import BulletinService, utcnow
from bot.context import SERVICES_KEY, BotServices, NewsContext
from bot.errors import on_error
from bot.settings import Settings
from handlers import articles, bulletin, fallback, start, subscriptions
from handlers.commands import bot_commands
from storage.session import Database

log = logging.getLogger(__name__)

BULLETIN_JOB = "bulletins"

# Order matters: feature handlers first, the catch-all fallback last.
FEATURES = (start, articles, subscriptions, bulletin, fallback)


def build_application(
    settings: Settings, db: Database, *, clock: Callable[[], datetime] = utcnow
) -> Application:  # type: ignore[type-arg]
    token = settings.require_token()
    bulletins = BulletinService(
        db, bulletin_size=settings.bulletin_size, lease=timedelta(seconds=settings.delivery_lease_seconds), clock=clock
    )
    services = BotServices(settings=settings, db=db, bulletins=bulletins, clock=clock)
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .context_types(ContextTypes(context=NewsContext))
        .build()
    )
    application.bot_data[SERVICES_KEY] = services
    for feature in FEATURES:
        application.add_handlers(feature.handlers())
    application.add_error_handler(on_error)  # type: ignore[arg-type]
    assert application.job_queue is not None, "python-telegram-bot[job-queue] is required"
    application.job_queue.run_repeating(
        _bulletin_job, interval=settings.bulletin_check_interval, first=1.0, name=BULLETIN_JOB
    )
    return application


async def announce_commands(application: Application) -> None:  # type: ignore[type-arg]
    """Give Telegram the command menu (the same list /help shows)."""
    await application.bot.set_my_commands(bot_commands())


async def _bulletin_job(context: NewsContext) -> None:
    await context.bulletins.run_due(context.bot)
