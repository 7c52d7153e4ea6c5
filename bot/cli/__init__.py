"""The `newsbot` command: run, db upgrade, ingest, sources, bulletin send, deliveries."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot.cli import deliveries as deliveries_cli
from bot.cli import sources as sources_cli
from bot.logs import configure_logging, print_error
from bot.settings import MissingTokenError, Settings, load_settings

if TYPE_CHECKING:
    from storage.session import Database

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsbot", description="A Telegram bot that delivers news bulletins.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (long polling) until Ctrl-C or SIGTERM")
    db = commands.add_parser("db", help="database maintenance")
    db.add_subparsers(dest="db_command", required=True).add_parser("upgrade", help="apply pending migrations")
    ingest = commands.add_parser(
        "ingest",
        help="store articles from text files ('-' reads standard input), feed or HTML files, feed or page URLs",
    )
    ingest.add_argument("files", nargs="+", metavar="FILE|URL")
    sources_cli.add_parser(commands)
    deliveries_cli.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Opt in to python-telegram-bot's timedelta durations now (our code handles both) instead of a warning per 429.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ValidationError as exc:
        print_error(f"invalid settings: {exc}")
        return 2
    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    configure_logging(settings.log_level, secrets=[token])
    try:
        return _dispatch(args, settings)
    except MissingTokenError as exc:
        print_error(str(exc))
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug or an outage: the traceback goes to the log, redacted like every log line
        logging.getLogger("bot.cli").critical("newsbot %s failed", args.command, exc_info=True)
        print_error(f"{args.command} failed: {type(exc).__name__}: {exc}")
        return 1


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        return _run(settings)
    if args.command == "db":
        return asyncio.run(_db_upgrade(settings))
    if args.command == "ingest":
        return asyncio.run(_ingest(settings, args.files))
    if args.command == "sources":
        return asyncio.run(sources_cli.sources_command(settings, args))
    if args.command == "bulletin":
        return asyncio.run(deliveries_cli.bulletin_send(settings, everyone=args.all))
    if args.command == "deliveries":
        return asyncio.run(deliveries_cli.deliveries_command(settings, args))
    return 2


def _run(settings: Settings) -> int:
    settings.require_token()  # before any import or log line: a missing token is one clear line
    from telegram.error import InvalidToken, NetworkError, TelegramError

    from bot.runner import DatabaseFileLost, run_bot

    api = settings.telegram_api_url
    try:
        asyncio.run(run_bot(settings))
    except InvalidToken:
        print_error("Telegram refused BOT_TOKEN; check it with @BotFather.")
        return 2
    except NetworkError as exc:
        print_error(f"cannot reach the Telegram Bot API at {api}: {exc}")
        return 3
    except TelegramError as exc:
        # Not an answer of the Bot API at all (an HTML page, a proxy's error): usually a wrong TELEGRAM_API_URL.
        print_error(f"the Telegram Bot API at {api} gave an answer it could not use ({exc}); check TELEGRAM_API_URL.")
        return 3
    except DatabaseFileLost as exc:
        print_error(f"{exc}; stopped so that a supervisor restarts the bot on a fresh database.")
        return 4
    return 0


async def _db_upgrade(settings: Settings) -> int:
    from bot.runner import prepare_database
    from storage.session import Database

    db = Database.from_url(settings.database_url)
    try:
        await prepare_database(db)
    finally:
        await db.dispose()
    print("database is up to date")
    return 0


async def _ingest(settings: Settings, names: Sequence[str]) -> int:
    from bot.runner import prepare_database
    from model.text import clean_line, clean_text
    from storage.session import Database

    db = Database.from_url(settings.database_url)
    readable = 0
    try:
        await prepare_database(db)
        for name in names:
            # A file name that is not UTF-8 arrives with lone surrogates, which print() cannot write.
            label = "<stdin>" if name == "-" else clean_text(name)
            try:
                readable += await _ingest_one(db, name, label, allow_private_urls=settings.allow_private_urls)
            except Exception as exc:  # whatever one file or URL does, it costs one line and the batch goes on
                log.debug("ingest of %s failed", label, exc_info=True)
                print(f"skipped {label}: {type(exc).__name__}: {clean_line(str(exc), 200)}")
    finally:
        await db.dispose()
    return 0 if readable else 1


async def _ingest_one(db: Database, name: str, label: str, *, allow_private_urls: bool) -> bool:
    """Store one file or URL, printing one line per article or one line saying why not; whether it was readable."""
    from ingest.plaintext import parse_plaintext
    from model.articles import ArticleParseError
    from storage.articles import store_article

    # Feeds and pages; None: plain text.
    handled = await sources_cli.ingest_feed_or_page(db, name, label, allow_private_urls=allow_private_urls)
    if handled is not None:
        return handled
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"skipped {label}: cannot read it ({exc.__class__.__name__}: {exc})")
        return False
    try:
        parsed = parse_plaintext(text)
    except ArticleParseError as exc:
        print(f"skipped {label}: {exc}")
        return False
    async with db.session() as session:
        result = await store_article(session, parsed, now=datetime.now(UTC))
        article_id = result.article.id
    if result.created:
        print(f"stored {label} as article {article_id}: {parsed.title}")
    else:
        print(f"skipped {label}: already stored as article {article_id}")
    return True


if __name__ == "__main__":
    raise SystemExit(main())
