"""`newsbot run` and `newsbot db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from bot.logs import print_error

if TYPE_CHECKING:
    from bot.settings import Settings


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "run", help="run the bot (long polling, or the webhook with WEBHOOK_URL) until Ctrl-C or SIGTERM"
    )
    db = commands.add_parser("db", help="database maintenance")
    db.add_subparsers(dest="db_command", required=True).add_parser("upgrade", help="apply pending migrations")


def run(settings: Settings) -> int:
    settings.require_token()  # before any import or log line: a missing token is one clear line
    from bot.settings import WebhookSettingsError

    try:
        settings.webhook()
    except WebhookSettingsError as exc:
        print_error(str(exc))
        return 2
    from telegram.error import InvalidToken, NetworkError, TelegramError

    from bot.runner import DatabaseFileLost, run_bot, tune_garbage_collector
    from storage.sqlite_file import AnotherInstanceRunning

    api = settings.telegram_api_url
    tune_garbage_collector()
    try:
        asyncio.run(run_bot(settings))
    except InvalidToken:
        print_error("Telegram refused BOT_TOKEN; check it with @BotFather.")
        return 2
    except WebhookSettingsError as exc:
        print_error(str(exc))
        return 2
    except NetworkError as exc:
        print_error(f"cannot reach the Telegram Bot API at {api}: {exc}")
        return 3
    except TelegramError as exc:
        # Not an answer of the Bot API at all (an HTML page, a proxy's error): usually a wrong TELEGRAM_API_URL.
        print_error(f"the Telegram Bot API at {api} gave an answer it could not use ({exc}); check TELEGRAM_API_URL.")
        return 3
    except AnotherInstanceRunning as exc:
        print_error(str(exc))
        return 5
    except DatabaseFileLost as exc:
        print_error(f"{exc}; stopped so that a supervisor restarts the bot on a fresh database.")
        return 4
    return 0


async def db_upgrade(settings: Settings) -> int:
    from bot.runner import prepare_database
    from storage.session import Database

    db = Database.from_url(settings.database_url)
    try:
        await prepare_database(db)
    finally:
        await db.dispose()
    print("database is up to date")
    return 0
