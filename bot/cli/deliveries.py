"""`newsbot bulletin send` and `newsbot deliveries status|retry`: the delivery engine from the command line."""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings
    from storage.models import DeliveryRun

# The engine's imports (python-telegram-bot, SQLAlchemy, aiohttp) load inside the commands, so that
# `newsbot --help` and the other commands do not pay for them.


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bulletin = commands.add_parser("bulletin", help="bulletins")
    send = bulletin.add_subparsers(dest="bulletin_command", required=True).add_parser(
        "send", help="send every due bulletin once and exit (SIGTERM: finish what is in flight, then exit)"
    )
    send.add_argument("--all", action="store_true", help="send one to every active subscriber now")
    deliveries = commands.add_parser("deliveries", help="the outbox of bulletins")
    actions = deliveries.add_subparsers(dest="deliveries_command", required=True)
    actions.add_parser("status", help="counts by state and the last run's rate")
    retry = actions.add_parser("retry", help="queue failed deliveries again")
    retry.add_argument(
        "ids", nargs="*", type=int, metavar="ID", help="only these deliveries (default: every failed one)"
    )


async def bulletin_send(settings: Settings, *, everyone: bool) -> int:
    from bot.app import alert_service, build_bulletin_service, run_delivery_check
    from bot.runner import prepare_database
    from storage.session import Database

    settings.require_token()
    db = Database.from_url(settings.database_url)
    loop = asyncio.get_running_loop()
    try:
        await prepare_database(db)
        service = build_bulletin_service(settings, db)
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, service.request_stop)
        try:
            broadcast = await service.prepare_for_everyone() if everyone else 0
            # Cron mode does what the bot's job does: the alert messages due, then the bulletins.
            summary = await run_delivery_check(service, alert_service(settings, db))
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            await service.engine.transport.close()
        summary.prepared += broadcast
        print(summary.line())
        return 0 if summary.failed == 0 else 1
    finally:
        await db.dispose()


async def deliveries_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.runner import prepare_database
    from storage import deliveries as delivery_repo
    from storage.session import Database

    db = Database.from_url(settings.database_url)
    try:
        await prepare_database(db)
        async with db.session() as session:
            if args.deliveries_command == "retry":
                count = await delivery_repo.retry_failed_deliveries(session, args.ids)
                print(f"queued {count} failed deliver{'y' if count == 1 else 'ies'} again")
                return 0
            counts = await delivery_repo.delivery_counts(session)
            run = await delivery_repo.last_run(session)
    finally:
        await db.dispose()
    print("\n".join(outbox_lines(counts, run)))
    return 0


def outbox_lines(counts: dict[str, int], run: DeliveryRun | None) -> list[str]:
    """The counts of deliveries by state and the last run, as `deliveries status` and `status` print them."""
    from storage.models import DeliveryStatus

    lines = [f"{status.value:<10} {counts.get(status.value, 0)}" for status in DeliveryStatus]
    if run is None:
        lines.append("last run: none yet")
    else:
        age = datetime.now(UTC) - run.finished_at
        lines.append(
            f"last run: finished {int(age.total_seconds())} s ago, sent={run.sent} retried={run.retried} "
            f"failed={run.failed} blocked={run.blocked}, {run.messages_per_second:.1f} messages/s"
        )
    return lines
