"""Telegram updates some instance has taken (webhook mode): each update_id is claimed once, by whoever comes first.

Telegram sends a webhook update again when it got no 2xx answer in time, and behind a load balancer the retry may
reach another instance. Claiming the id in the database, in one statement of its own, makes the update handled once
across instances.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import HandledUpdate
from storage.session import Database

_handled = HandledUpdate.__table__
# The claim's statement for each dialect, built once (only the values differ between requests).
_CLAIM = {
    "postgresql": postgresql_insert(_handled).on_conflict_do_nothing(),
    "sqlite": sqlite_insert(_handled).on_conflict_do_nothing(),
}


async def claim_update(db: Database, update_id: int, *, now: datetime) -> bool:
    """Take `update_id`: True when this caller is the first to, False when it was taken already.

    One INSERT ... ON CONFLICT DO NOTHING (both dialects have it, with the same meaning): losing the race costs no
    error, no savepoint and no second query, and the answer is the row count. Being one statement, it runs outside
    a transaction (autocommit, committed when it returns): every webhook request makes it, and on PostgreSQL a
    transaction around it would be two round trips more (BEGIN, COMMIT).
    """
    statement = _CLAIM[db.engine.dialect.name].values(update_id=update_id, received_at=now)
    async with db.single_statement() as connection:
        result = await connection.execute(statement)
    return result.rowcount == 1


async def forget_handled_before(session: AsyncSession, before: datetime) -> int:
    """Delete the claims older than `before` (Telegram stops retrying an update long before a day); how many.
    Takes the caller's session and does not commit."""
    result = await session.execute(delete(_handled).where(_handled.c.received_at < before))
    assert isinstance(result, CursorResult)
    return result.rowcount
