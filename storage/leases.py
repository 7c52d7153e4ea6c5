"""Named leases (the "leader" lease): taken, renewed and given up in single statements timed by the database.

Every time here is the database's own clock on PostgreSQL (`statement_timestamp()`), never the instance's: two
hosts whose clocks disagree still agree on whether a lease has run out. SQLite serves one instance (the file
lock in `storage.sqlite_file` refuses a second), so there the process's clock is the only clock and is used.
Every function takes the caller's session and never commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Interval, case, delete, func, literal, or_, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Lease
from storage.types import UTCDateTime, utcnow

LEADER = "leader"


def database_now(session: AsyncSession, offset: timedelta = timedelta()) -> ColumnElement[datetime]:
    """The time now (plus `offset`) as an SQL expression: the database's clock on PostgreSQL, this process's on SQLite
    (which has no interval arithmetic; it serves a single instance anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        now = func.statement_timestamp(type_=UTCDateTime())
        return type_coerce(now + literal(offset, Interval()), UTCDateTime()) if offset else now
    return literal(utcnow() + offset, UTCDateTime())


async def read_database_now(session: AsyncSession) -> datetime:
    now = await session.scalar(select(database_now(session)))
    assert now is not None
    return now


async def acquire(
    session: AsyncSession, name: str, holder: str, *, seconds: float, force: bool = False
) -> datetime | None:
    """Take or renew lease `name` for `holder` until `seconds` from now; the new expiry, or None when another
    holder's lease is still running.

    One statement, atomic however many instances run it at once: insert the row, or, when it exists, update it
    only if it is `holder`'s own or has expired. `force` takes it whoever holds it (SQLite, where the file lock
    already proves that no other instance runs).
    """
    now = database_now(session)
    expires = database_now(session, timedelta(seconds=seconds))
    table = Lease.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(name=name, holder=holder, acquired_at=now, expires_at=expires)
    mine = table.c.holder == statement.excluded.holder
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.name],
        set_={
            "holder": statement.excluded.holder,
            # Kept across renewals: when this holder's current term began.
            "acquired_at": case((mine, table.c.acquired_at), else_=statement.excluded.acquired_at),
            "expires_at": statement.excluded.expires_at,
        },
        where=None if force else or_(mine, table.c.expires_at < now),
    ).returning(table.c.expires_at)
    return (await session.execute(upsert)).scalar_one_or_none()


async def release(session: AsyncSession, name: str, holder: str) -> bool:
    """Give the lease up at once (an orderly stop), if `holder` still holds it: a standby need not wait it out."""
    result = await session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
    return bool(getattr(result, "rowcount", 0))


@dataclass(frozen=True, slots=True)
class Holder:
    holder: str
    acquired_at: datetime
    expires_at: datetime
    now: datetime  # the database's time when it was read


async def current_holder(session: AsyncSession, name: str) -> Holder | None:
    """Who holds lease `name` now (None when nobody does, or the last holder's lease has run out)."""
    now = database_now(session)
    row = (
        await session.execute(
            select(Lease.holder, Lease.acquired_at, Lease.expires_at, now).where(
                Lease.name == name, Lease.expires_at > now
            )
        )
    ).one_or_none()
    return None if row is None else Holder(*row)
