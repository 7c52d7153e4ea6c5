"""Deliveries (the bulletin outbox) and delivery runs. Every function takes the caller's session and never commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Delivery,
    DeliveryRun,
    DeliveryStatus,
    Subscriber,
)
from storage.subscribers import chat_targets


@dataclass(frozen=True, slots=True)
class NewBulletin:
    subscriber_id: int
    chat_id: int
    text: str
    article_ids: Sequence[int]
    slot_at: datetime | None
    thread_id: int | None = None  # the forum topic it goes to


async def insert_bulletins(
    session: AsyncSession, bulletins: Sequence[NewBulletin], *, kind: str, now: datetime
) -> list[int]:
    """PENDING delivery rows (each with its articles' ids), as one multi-row insert; the new rows' ids, in the order
    of `bulletins` (at most one per subscriber)."""
    if not bulletins:
        return []
    deliveries = Delivery.__table__
    rows = [
        {
            "subscriber_id": b.subscriber_id,
            "chat_id": b.chat_id,
            "thread_id": b.thread_id,
            "kind": kind,
            "slot_at": b.slot_at,
            "text": b.text,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "created_at": now,
            "article_ids": list(b.article_ids),
        }
        for b in bulletins
    ]
    subscriber_ids = [b.subscriber_id for b in bulletins]
    if len(set(subscriber_ids)) != len(subscriber_ids):
        raise ValueError("one bulletin per subscriber per call")
    # The returned ids are matched by subscriber. Asking SQLAlchemy for them in parameter order instead
    # (sort_by_parameter_order) makes it insert one row per statement on SQLite: 3.6 times the CPU.
    returned = await session.execute(insert(deliveries).returning(deliveries.c.id, deliveries.c.subscriber_id), rows)
    by_subscriber = {subscriber_id: delivery_id for delivery_id, subscriber_id in returned}
    return [by_subscriber[subscriber_id] for subscriber_id in subscriber_ids]


async def mark_chat_gone(session: AsyncSession, chat_id: int, *, now: datetime) -> None:
    """Telegram says the chat blocked us or no longer exists: stop bulletins to it (and to its topics) and cancel
    what is queued."""
    for subscriber in await chat_targets(session, chat_id):
        await mark_target_gone(session, subscriber, now=now, reason="chat blocked the bot or is gone")


async def mark_target_gone(session: AsyncSession, subscriber: Subscriber, *, now: datetime, reason: str) -> None:
    """This one target can no longer be written to (a forum topic closed or deleted, a channel that took the bot's
    post right away): its bulletins stop and what is queued for it is cancelled; its settings stay."""
    subscriber.active = False
    subscriber.blocked_at = now
    subscriber.next_bulletin_at = None
    await cancel_pending_deliveries(session, subscriber.id, reason=reason)


async def mark_topic_gone(session: AsyncSession, subscriber_id: int, *, now: datetime) -> None:
    subscriber = await session.get(Subscriber, subscriber_id)
    if subscriber is not None:
        await mark_target_gone(session, subscriber, now=now, reason="forum topic closed or deleted")


async def cancel_pending_deliveries(session: AsyncSession, subscriber_id: int, *, reason: str) -> None:
    """Withdraw bulletins written for this subscriber but not yet sent."""
    await session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.CANCELLED.value, last_error=reason)
        .execution_options(synchronize_session=False)
    )


async def move_chat(session: AsyncSession, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: its id changed. Its targets (the chat, and any topics) move with it, settings
    and all. A row the new chat already has (someone talked to the bot there before the move was known) gives way
    unless it was subscribed since."""
    moving = {target.thread_id: target for target in await chat_targets(session, old_chat_id)}
    for target in await chat_targets(session, new_chat_id):
        old = moving.get(target.thread_id)
        if old is not None and old.id != target.id:  # the same row: moved by the other message meanwhile
            # By id: Telegram tells both chats at once, and a concurrent mover must not delete a row moved since.
            await session.execute(delete(Subscriber).where(Subscriber.id == (old.id if target.active else target.id)))
    await session.flush()
    await session.execute(
        update(Subscriber).where(Subscriber.chat_id == old_chat_id).values(chat_id=new_chat_id, chat_type="supergroup")
    )
    await session.execute(update(Delivery).where(Delivery.chat_id == old_chat_id).values(chat_id=new_chat_id))


async def release_claims(session: AsyncSession, delivery_ids: Sequence[int]) -> None:
    """Undo claims that were never attempted (an orderly shutdown)."""
    if not delivery_ids:
        return
    await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(delivery_ids)), Delivery.status == DeliveryStatus.SENDING.value)
        .values(status=DeliveryStatus.PENDING.value, claimed_at=None, attempts=Delivery.attempts - 1)
        .execution_options(synchronize_session=False)
    )


async def next_retry_at(session: AsyncSession, *, only_ids: Sequence[int] | None = None) -> datetime | None:
    """When the earliest postponed pending row becomes due, if any."""
    query = select(func.min(Delivery.not_before)).where(Delivery.status == DeliveryStatus.PENDING.value)
    if only_ids is not None:
        query = query.where(Delivery.id.in_(list(only_ids)))
    return await session.scalar(query)


async def delivery_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    return {status: count for status, count in rows.all()}


async def record_run(
    session: AsyncSession,
    *,
    started_at: datetime,
    finished_at: datetime,
    sent: int,
    retried: int,
    failed: int,
    blocked: int,
    messages_per_second: float,
) -> None:
    session.add(
        DeliveryRun(
            started_at=started_at,
            finished_at=finished_at,
            sent=sent,
            retried=retried,
            failed=failed,
            blocked=blocked,
            messages_per_second=messages_per_second,
        )
    )


async def last_run(session: AsyncSession) -> DeliveryRun | None:
    return await session.scalar(
        select(DeliveryRun).order_by(DeliveryRun.finished_at.desc(), DeliveryRun.id.desc()).limit(1)
    )


async def retry_failed_deliveries(session: AsyncSession, delivery_ids: Sequence[int] | None = None) -> int:
    """Put failed rows back in the queue with fresh attempts; returns how many."""
    statement = update(Delivery).where(Delivery.status == DeliveryStatus.FAILED.value)
    if delivery_ids:
        statement = statement.where(Delivery.id.in_(list(delivery_ids)))
    result = await session.execute(
        statement.values(
            status=DeliveryStatus.PENDING.value, attempts=0, not_before=None, claimed_at=None
        ).execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)  # what an UPDATE gives; Session.execute is typed as any Result
    return int(result.rowcount or 0)


# ---------------------------------------------------------------- the engine's claims and outcomes
# Core statements on the table, not the ORM: the engine runs them thousands of times a second.
_DELIVERIES = Delivery.__table__


@dataclass(slots=True)
class ClaimedDelivery:
    id: int
    chat_id: int
    text: str
    attempts: int
    subscriber_id: int
    thread_id: int | None  # the forum topic it goes to


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    only_ids: Sequence[int] | None = None,
    exclude: Collection[int] = (),
) -> list[ClaimedDelivery]:
    """Mark up to `limit` due rows as being sent (one more attempt each) and return them in id order.

    Due: pending and not put off, or claimed by a sender whose lease ran out (it died mid-send). `exclude`
    keeps out rows this sender still holds but has not recorded yet.
    """
    candidates = (
        select(Delivery.id)
        .where(
            or_(
                Delivery.status == DeliveryStatus.PENDING.value,
                (Delivery.status == DeliveryStatus.SENDING.value) & (Delivery.claimed_at < now - lease),
            ),
            or_(Delivery.not_before.is_(None), Delivery.not_before <= now),
        )
        .order_by(Delivery.id)
        .limit(limit)
    )
    if only_ids is not None:
        candidates = candidates.where(Delivery.id.in_(list(only_ids)))
    if exclude:
        candidates = candidates.where(Delivery.id.not_in(list(exclude)))
    if session.get_bind().dialect.name == "postgresql":
        # The one dialect-specific clause: lets several processes claim disjoint batches.
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (
        update(_DELIVERIES)
        .where(_DELIVERIES.c.id.in_(candidates.scalar_subquery()))
        .values(status=DeliveryStatus.SENDING.value, claimed_at=now, attempts=_DELIVERIES.c.attempts + 1)
        .returning(
            _DELIVERIES.c.id,
            _DELIVERIES.c.chat_id,
            _DELIVERIES.c.text,
            _DELIVERIES.c.attempts,
            _DELIVERIES.c.subscriber_id,
            _DELIVERIES.c.thread_id,
        )
    )
    rows = (await session.execute(statement)).all()
    return sorted((ClaimedDelivery(*row) for row in rows), key=lambda row: row.id)


@dataclass(frozen=True, slots=True)
class SentDelivery:
    delivery_id: int
    message_id: int | None
    sent_at: datetime
    note: str | None  # kept as last_error when the send succeeded with a remark (e.g. sent as plain text)


async def record_sent(session: AsyncSession, sent: Sequence[SentDelivery]) -> None:
    """One executemany for a batch of successful sends."""
    if not sent:
        return
    statement = (
        update(_DELIVERIES)
        .where(_DELIVERIES.c.id == bindparam("row_id"))
        .values(
            status=DeliveryStatus.SENT.value,
            message_id=bindparam("message_id"),
            sent_at=bindparam("sent_at"),
            # Keep the error of an earlier failed try, unless this send has its own note.
            last_error=func.coalesce(bindparam("note"), _DELIVERIES.c.last_error),
        )
    )
    rows = [
        {"row_id": row.delivery_id, "message_id": row.message_id, "sent_at": row.sent_at, "note": row.note}
        for row in sent
    ]
    await (await session.connection()).execute(statement, rows)


async def postpone(
    session: AsyncSession, delivery_id: int, *, until: datetime, reason: str, refund: bool = False
) -> None:
    """Back to pending, not before `until`. `refund` gives back the attempt (flood control is not the row's fault)."""
    values: dict[str, object] = {"status": DeliveryStatus.PENDING.value, "not_before": until, "last_error": reason}
    if refund:
        values["attempts"] = _DELIVERIES.c.attempts - 1
    await session.execute(update(_DELIVERIES).where(_DELIVERIES.c.id == delivery_id).values(**values))


async def finish(session: AsyncSession, delivery_id: int, status: DeliveryStatus, reason: str) -> None:
    """A final outcome other than sent: failed for good, or cancelled."""
    await session.execute(
        update(_DELIVERIES).where(_DELIVERIES.c.id == delivery_id).values(status=status.value, last_error=reason)
    )


async def retarget(session: AsyncSession, delivery_id: int, chat_id: int) -> None:
    """The row goes to the chat's new id (a group that became a supergroup)."""
    await session.execute(update(_DELIVERIES).where(_DELIVERIES.c.id == delivery_id).values(chat_id=chat_id))
