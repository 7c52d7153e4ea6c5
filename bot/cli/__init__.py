"""The `newsbot` command: run, db upgrade (run.py), ingest (ingest.py), sources (sources.py), bulletin send and
deliveries (deliveries.py), status (status.py). Each module adds its own subcommands and imports what they need
only when run."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Sequence

from pydantic import ValidationError

from bot.cli import deliveries as deliveries_cli
from bot.cli import ingest as ingest_cli
from bot.cli import run as run_cli
from bot.cli import sources as sources_cli
from bot.cli import status as status_cli
from bot.logs import configure_logging, print_error
from bot.settings import MissingTokenError, Settings, load_settings

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsbot", description="A Telegram bot that delivers news bulletins.")
    commands = parser.add_subparsers(dest="command", required=True)
    run_cli.add_parsers(commands)
    ingest_cli.add_parser(commands)
    sources_cli.add_parser(commands)
    deliveries_cli.add_parsers(commands)
    status_cli.add_parser(commands)
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
    # The webhook's secret goes to Telegram in setWebhook, which python-telegram-bot logs at DEBUG.
    webhook_secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    configure_logging(settings.log_level, secrets=[token, webhook_secret])
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
        return run_cli.run(settings)
    if args.command == "db":
        return asyncio.run(run_cli.db_upgrade(settings))
    if args.command == "ingest":
        return asyncio.run(ingest_cli.ingest(settings, args.files))
    if args.command == "sources":
        return asyncio.run(sources_cli.sources_command(settings, args))
    if args.command == "bulletin":
        return asyncio.run(deliveries_cli.bulletin_send(settings, everyone=args.all))
    if args.command == "deliveries":
        return asyncio.run(deliveries_cli.deliveries_command(settings, args))
    if args.command == "status":
        return asyncio.run(status_cli.status(settings))
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
