"""The running `newsbot run` processes, each as it last reported itself (for `newsbot status`).

Times are the database's clock on PostgreSQL (see storage.leases.database_now). Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.leases import database_now
from storage.models import Instance


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    id: str  # host:pid:random
    host: str
    pid: int
    mode: str  # "polling" or "webhook"


async def report(session: AsyncSession, instance: InstanceInfo, *, role: str) -> None:
    """Insert or refresh this instance's row: its role now, seen now."""
    now = database_now(session)
    row = await session.get(Instance, instance.id)
    if row is None:
        session.add(
            Instance(
                id=instance.id,
                host=instance.host,
                pid=instance.pid,
                mode=instance.mode,
                role=role,
                started_at=now,
                seen_at=now,
            )
        )
    else:
        row.role = role
        row.mode = instance.mode
        row.seen_at = now  # an SQL expression, evaluated by the flush
    await session.flush()


async def forget(session: AsyncSession, instance_id: str) -> None:
    """An instance that stopped in an orderly way leaves the list at once."""
    await session.execute(delete(Instance).where(Instance.id == instance_id))


async def delete_unseen(session: AsyncSession, *, older_than: timedelta) -> None:
    """Rows of instances not seen for `older_than` (killed, or their host gone)."""
    await session.execute(delete(Instance).where(Instance.seen_at < database_now(session, -older_than)))


async def seen_within(session: AsyncSession, within: timedelta) -> Sequence[Instance]:
    """Instances seen in the last `within`, oldest start first."""
    rows = await session.scalars(
        select(Instance)
        .where(Instance.seen_at >= database_now(session, -within))
        .order_by(Instance.started_at, Instance.id)
    )
    return list(rows)
