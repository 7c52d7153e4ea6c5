"""Telegram updates some instance has taken (webhook mode): each update_id is claimed once, by whoever comes first.

Telegram sends a webhook update again when it got no 2xx answer in time, and behind a load balancer the retry may
reach another instance. Claiming the id in the database, in the request's own short transaction, makes the update
handled once across instances. Every function takes the caller's session and never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import HandledUpdate

_handled = HandledUpdate.__table__


async def claim_update(session: AsyncSession, update_id: int, *, now: datetime) -> bool:
    """Take `update_id`: True when this caller is the first to, False when it was taken already.

    One INSERT ... ON CONFLICT DO NOTHING (both dialects have it, with the same meaning): losing the race costs no
    error, no savepoint and no second query, and the answer is the row count.
    """
    make_insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = make_insert(_handled).values(update_id=update_id, received_at=now).on_conflict_do_nothing()
    result = await session.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


async def forget_handled_before(session: AsyncSession, before: datetime) -> int:
    """Delete the claims older than `before` (Telegram stops retrying an update long before a day); how many."""
    result = await session.execute(delete(_handled).where(_handled.c.received_at < before))
    assert isinstance(result, CursorResult)
    return result.rowcount
