"""`newsbot run`: migrate, then long-poll (or serve the webhook) until SIGINT/SIGTERM, then stop in an orderly way."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path

from telegram import Update
from telegram.error import BadRequest

from bot.admins import tell_admins
from bot.app import HANDLED_UPDATES, NewsApplication, announce_commands, build_application
from bot.settings import Settings, WebhookSettingsError
from bot.webhook import WebhookServer, build_server
from handlers.context import SERVICES_KEY, BotServices
from storage.migrate import pending_revisions, upgrade
from storage.session import Database
from storage.sqlite_file import SqliteFileWatch, single_instance, sqlite_file

log = logging.getLogger(__name__)


# Shorter webhook secrets work, with a warning at start.
MIN_STRONG_SECRET = 16


# The collector's thresholds for a running bot. With Python's (700, 10, 10), sending 1,000 messages a second ran a
# young collection every few dozen sends and a full one every few seconds, each full one stopping the event loop
# for ~80 ms: 1.5 s of 33 s in all, and the sends planned meanwhile. With these and the start-up objects frozen,
# 0.2 s (bench/broadcast_bench.py, 30,000 sends). Garbage in reference cycles waits longer; there is little of it.
GC_THRESHOLDS = (10_000, 20, 20)


def tune_garbage_collector() -> None:
    """Call once in a process that runs the bot, after its imports: the objects they made (modules, classes, the
    handlers) live as long as the process, so they are frozen out of every later collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class DatabaseFileLost(RuntimeError):
    """The SQLite file was deleted or replaced under the running bot; the message says which and how."""


async def prepare_database(db: Database) -> None:
    pending = await pending_revisions(db.engine)
    if pending:
        log.info("applying database migrations: %s", ", ".join(pending))
        await upgrade(db.engine)


@asynccontextmanager
async def running(
    application: NewsApplication, *, server: WebhookServer | None = None
) -> AsyncIterator[NewsApplication]:
    """Initialise, start, and long-poll, or with a `server` that has a webhook, listen and register the webhook;
    a `server` without one serves /healthz and /metrics beside polling.

    On leaving: stop claiming bulletins and polling feeds; stop taking updates (the webhook's listener closes,
    requests in progress finish); handle the updates taken; finish sends; stop. The webhook stays registered:
    another instance may be serving it, and Telegram keeps updates for the next start meanwhile.
    """
    services: BotServices = application.bot_data[SERVICES_KEY]
    webhook = server.webhook if server is not None else None
    async with application:
        # Sources named in FEEDS exist from the start (their first poll is the feeds job's).
        await services.feeds.ensure_sources(services.feeds.configured_feeds)
        await announce_commands(application)
        # Known now that initialize() asked Telegram (getMe): posts in channels and groups link to the bot.
        services.bulletins.links.username = application.bot.username
        await application.start()
        assert application.updater is not None
        listening = False
        try:
            if server is not None:
                await server.start()
                listening = True
            if webhook is not None:
                # Registered once the listener is up: Telegram may post the moment it is told.
                try:
                    await application.bot.set_webhook(
                        url=webhook.url, secret_token=webhook.secret, allowed_updates=list(HANDLED_UPDATES)
                    )
                except BadRequest as exc:  # e.g. a port Telegram does not post to, a name it cannot resolve
                    raise WebhookSettingsError(f"Telegram refused WEBHOOK_URL {webhook.url}: {exc.message}") from exc
                log.info("webhook registered: Telegram posts updates to %s", webhook.url)
            else:
                await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
            # Its first attempt is made here, before the first bulletin check (a second after start): a lone
            # instance leads from that check on.
            await services.leadership.start()
            yield application
        finally:
            await services.leadership.stop()
            services.bulletins.request_stop()
            # Feed polls in flight are cancelled (each rolls back; its source stays due) rather than awaited:
            # one can take POLL_TIMEOUT seconds.
            await services.feeds.stop()
            if webhook is not None and server is not None and listening:
                await server.stop()  # no new updates; the ones taken are on the queue for application.stop()
            await services.bulletins.wait_idle()
            # Only now, with this instance's sends settled: a standby may take over at once.
            await services.leadership.resign()
            if application.updater.running:
                await application.updater.stop()
            await application.stop()  # handles every update taken, waits for running jobs
            if webhook is None and server is not None and listening:
                await server.stop()  # the metrics listener answers until the end
            await services.bulletins.engine.transport.close()


async def run_bot(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set or SIGINT/SIGTERM arrives. Sends in flight finish before it returns.

    Raises DatabaseFileLost, after the same orderly stop, when the SQLite file goes away under it, and
    AnotherInstanceRunning, before anything else, when another `newsbot run` uses the same SQLite file.
    """
    settings.require_token()
    webhook = settings.webhook()  # a missing or invalid WEBHOOK_SECRET stops us before anything else
    if webhook is not None and len(webhook.secret) < MIN_STRONG_SECRET:
        log.warning(
            "WEBHOOK_SECRET has %s characters: anyone who guesses it can post updates as Telegram, and logs redact "
            "only secrets of 8 or more; use %s or more random ones (openssl rand -hex 32)",
            len(webhook.secret),
            MIN_STRONG_SECRET,
        )
    path = sqlite_file(settings.database_url)
    # SQLite: one instance per file, held until this process ends however it ends (the kernel drops the lock of a
    # killed process). Raises AnotherInstanceRunning at once when another process holds it.
    with single_instance(path) if path is not None else nullcontext():
        await _run_bot(settings, stop or asyncio.Event(), path)


async def _run_bot(settings: Settings, stop: asyncio.Event, path: Path | None) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    db = Database.from_url(settings.database_url, pool_size=settings.database_pool_size)
    lost: str | None = None
    try:
        await prepare_database(db)
        watch = SqliteFileWatch(path) if path is not None else None
        application = build_application(settings, db)
        async with running(application, server=build_server(settings, application, db)):
            mode = "serving the webhook" if settings.webhook_url else "long-polling"
            log.info("newsbot is running as @%s, %s; Ctrl-C stops it", application.bot.username, mode)
            lost = await _wait_for_stop(stop, watch, settings.database_check_interval)
            if lost is None:
                log.info("stopping: finishing sends in flight")
            else:
                log.critical("%s: stopping, so that a restart begins on a fresh, migrated database", lost)
                await tell_admins(application.bot, settings.admin_ids, f"⛔ newsbot stopped: {lost}.")
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await db.dispose()
    if lost is not None:
        raise DatabaseFileLost(lost)


async def _wait_for_stop(stop: asyncio.Event, watch: SqliteFileWatch | None, interval: float) -> str | None:
    """Wait for `stop`; meanwhile look at the database file every `interval` seconds. Returns what went wrong."""
    while True:
        try:
            async with asyncio.timeout(interval if watch is not None else None):
                await stop.wait()
            return None
        except TimeoutError:
            assert watch is not None
            problem = watch.problem()
            if problem is not None:
                return problem
