"""`newsbot status`: the instances running on this database and which one leads, the outbox, the last run."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

# Instances that reported within this long are listed (they report every third of LEADER_LEASE_SECONDS).
SEEN_WITHIN = timedelta(minutes=1)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser("status", help="instances seen in the last minute and the leader, the outbox, the last run")


async def status(settings: Settings) -> int:
    from bot.cli.deliveries import outbox_lines
    from bot.runner import prepare_database
    from services.leadership import LEADER
    from storage import deliveries as delivery_repo
    from storage import instances as instance_repo
    from storage import leases as lease_repo
    from storage.session import Database

    db = Database.from_url(settings.database_url)
    try:
        await prepare_database(db)
        async with db.session() as session:
            now = await lease_repo.read_database_now(session)
            holder = await lease_repo.current_holder(session, lease_repo.LEADER)
            instances = await instance_repo.seen_within(session, SEEN_WITHIN)
            counts = await delivery_repo.delivery_counts(session)
            run = await delivery_repo.last_run(session)
    finally:
        await db.dispose()
    leader = holder.holder if holder is not None else None
    print(f"instances seen in the last minute: {len(instances)}")
    for instance in instances:
        role = LEADER if instance.id == leader else "standby"
        seen = max(int((now - instance.seen_at).total_seconds()), 0)
        up = max(int((now - instance.started_at).total_seconds()), 0)
        print(f"  {instance.id:<40} {role:<8} {instance.mode:<8} up {up} s, seen {seen} s ago")
    if leader is None:
        print("leader: none (bulletins and feed polls wait until an instance takes the lease)")
    elif holder is not None:
        left = (holder.expires_at - holder.now).total_seconds()
        print(f"leader: {leader}, lease held for {left:.1f} s more unless renewed")
    print("deliveries:")
    for line in outbox_lines(counts, run):
        print(f"  {line}")
    return 0
