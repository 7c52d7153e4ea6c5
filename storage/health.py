"""What /healthz and /metrics read: whether the database answers, and the size of the outbox. Cheap queries only."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Delivery, DeliveryStatus
from storage.session import Database

# Rows the engine still has to send: waiting, or claimed by a sender (counted on the status index).
_UNSENT = (DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value)


async def database_answers(db: Database, *, timeout: float) -> bool:
    """True when `SELECT 1` comes back within `timeout` seconds (a fresh connection included, if one is needed)."""
    try:
        async with asyncio.timeout(timeout), db.engine.connect() as connection:
            await connection.execute(select(literal(1)))
    except Exception:  # the timeout, or whatever the driver raises for "down" (asyncpg, aiosqlite, the pool)
        return False
    return True


async def outbox_pending(session: AsyncSession) -> int:
    """Deliveries not yet settled: pending (due or postponed) and being sent."""
    return int(await session.scalar(select(func.count()).where(Delivery.status.in_(_UNSENT))) or 0)
