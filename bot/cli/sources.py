"""`newsbot sources ...`; called from bot.cli."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

# Imported lazily (inside the functions): building the argument parser must stay cheap for every command.
if TYPE_CHECKING:
    from bot.settings import Settings
    from services.feeds import FeedService, PollResult
    from storage.session import Database


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sources = commands.add_parser("sources", help="feed sources: add, list, remove, poll")
    sub = sources.add_subparsers(dest="sources_command", required=True)
    add = sub.add_parser("add", help="check a feed URL, add it as a source and poll it")
    add.add_argument("url", metavar="URL")
    add.add_argument("--interval", type=_minutes, metavar="MIN", help="minutes between polls (default: POLL_INTERVAL)")
    sub.add_parser("list", help="every source with its health")
    remove = sub.add_parser("remove", help="remove a source (its articles stay)")
    remove.add_argument("source_id", type=int, metavar="ID")
    poll = sub.add_parser("poll", help="poll every source (or one) now and print what was added")
    poll.add_argument("source_id", type=int, nargs="?", metavar="ID")


def _minutes(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1440:
        raise argparse.ArgumentTypeError("a number of minutes from 1 to 1440")
    return int(text)


async def sources_command(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import feed_service
    from bot.runner import prepare_database
    from storage.session import Database

    db = Database.from_url(settings.database_url)
    try:
        await prepare_database(db)
        service = feed_service(settings, db)
        await service.ensure_sources(settings.feeds)
        command = args.sources_command
        if command == "add":
            return await _add(service, args.url, args.interval)
        if command == "list":
            return await _list(db)
        if command == "remove":
            return await _remove(service, args.source_id)
        if command == "poll":
            return await _poll(service, args.source_id)
        return 2
    finally:
        await db.dispose()


async def _add(service: FeedService, url: str, interval: int | None) -> int:
    from compose.sources import source_name
    from services.feeds import SourceError

    try:
        source, result = await service.add(url, interval_minutes=interval)
    except SourceError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return 1
    if result is None:
        print(f"source {source.id} already exists: {source_name(source)} <{source.url}>")
        return 0
    print(f"added source {source.id}: {source_name(source)} <{source.url}>, polled every {source.interval_minutes} min")
    _print_result(result)
    return 0 if result.ok else 1


async def _list(db: Database) -> int:
    from compose.sources import health, source_name
    from storage import sources as source_repo

    now = datetime.now(UTC)
    async with db.session() as session:
        sources = await source_repo.list_sources(session)
        counts = await source_repo.article_counts(session, [s.id for s in sources])
    if not sources:
        print("no sources; add one with: newsbot sources add URL")
        return 0
    for source in sources:
        count = counts.get(source.id, 0)
        print(
            f"{source.id}\t{health(source, now)}\tevery {source.interval_minutes} min\t"
            f"{count} article{'s' if count != 1 else ''}\t{source_name(source)} <{source.url}>"
        )
        if source.last_error:
            label = "last error" if source.consecutive_failures else "note"
            print(f"\t{label}: {source.last_error}")
    return 0


async def _remove(service: FeedService, source_id: int) -> int:
    from compose.sources import source_name

    removed = await service.remove(source_id)
    if removed is None:
        print(f"newsbot: there is no source {source_id}", file=sys.stderr)
        return 1
    print(f"removed source {source_id}: {source_name(removed)} <{removed.url}> (its articles are kept)")
    return 0


async def _poll(service: FeedService, source_id: int | None) -> int:
    from storage import sources as source_repo

    if source_id is not None:
        async with service.db.session() as session:
            if await source_repo.get_source(session, source_id) is None:
                print(f"newsbot: there is no source {source_id}", file=sys.stderr)
                return 1
    summary = await service.poll(None if source_id is None else [source_id])
    if not summary.results:
        print("no sources; add one with: newsbot sources add URL")
        return 0
    for result in summary.results:
        _print_result(result)
    print(summary.line())
    return 0 if summary.failed == 0 else 1


def _print_result(result: PollResult) -> None:
    print(result.line())
    for article_id, title in result.added:
        print(f"  + article {article_id}: {title}")
    for article_id, title in result.updated:
        print(f"  ~ article {article_id}: {title}")
