"""Scheduled bulletins end to end: timing across zones and DST, catch-up, restarts, Telegram errors."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

import delivery.engine as delivery_engine
import services.bulletins as bot_bulletins
from delivery.engine import DeliveryEngine, DeliveryLimits, InFlightLimit
from delivery.ratelimit import SlidingWindow
from delivery.transport import BotApiTransport
from fakebot import FakeBotAPI
from services.bulletins import BulletinService
from storage import subscribers as subscriber_repo
from storage.models import Delivery, DeliveryStatus, Subscriber
from storage.session import Database
from tests.conftest import Clock, RunningBot, start_bot
from tests.factories import add_articles

UTC = UTC


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def subscribe(bot: RunningBot, chat_id: int, times: str, zone: str = "UTC") -> None:
    await bot.ask(chat_id, f"/timezone {zone}")
    await bot.ask(chat_id, f"/subscribe {times}")


async def deliveries(bot: RunningBot, chat_id: int | None = None) -> list[Delivery]:
    async with bot.db.session() as session:
        query = select(Delivery).order_by(Delivery.id)
        if chat_id is not None:
            query = query.where(Delivery.chat_id == chat_id)
        return list(await session.scalars(query))


async def row(bot: RunningBot, chat_id: int) -> Subscriber:
    async with bot.db.session() as session:
        found = await session.scalar(select(Subscriber).where(Subscriber.chat_id == chat_id))
        assert found is not None
        return found


async def test_scheduled_bulletin_is_sent_recorded_and_not_repeated(bot: RunningBot) -> None:
    bot.clock.set(at(2026, 11, 27, 5, 0))  # 06:00 in Berlin
    await subscribe(bot, 1, "07:00 12:00", "Europe/Berlin")
    stored = await add_articles(bot.db, *(f"Headline {i}" for i in range(10)), now=at(2026, 11, 27, 4, 0))

    assert (await bot.run_bulletins()).sent == 0  # nothing due before 07:00 Berlin
    assert not [m for m in bot.api.sent(1) if "bulletin ·" in m.visible_text]

    bot.clock.set(at(2026, 11, 27, 6, 0, 30))  # 07:00:30 Berlin
    summary = await bot.run_bulletins()
    assert summary.sent == 1
    bulletin = bot.api.sent(1)[-1]
    lines = bulletin.visible_text.split("\n")
    assert lines[0] == "Morning bulletin · Friday 27 November 2026"
    newest_eight = stored[::-1][:8]
    for article in newest_eight:
        assert article.title in bulletin.visible_text and f"/read_{article.id}" in bulletin.visible_text
    assert (
        "Headline 1\n" not in bulletin.visible_text and "Headline 0" not in bulletin.visible_text
    )  # only BULLETIN_SIZE

    [record] = await deliveries(bot, 1)
    assert record.status == DeliveryStatus.SENT.value and record.message_id == bulletin.message_id
    assert record.slot_at == at(2026, 11, 27, 6, 0) and record.kind == "scheduled"
    assert record.article_ids == [a.id for a in newest_eight]
    assert (await row(bot, 1)).next_bulletin_at == at(2026, 11, 27, 11, 0)  # 12:00 Berlin

    # Running again at the same moment sends nothing more.
    assert (await bot.run_bulletins()).sent == 0
    # At midday only what is new since the morning goes out; with nothing new, nothing is sent.
    bot.clock.set(at(2026, 11, 27, 11, 1))
    assert (await bot.run_bulletins()).sent == 0
    assert (await row(bot, 1)).next_bulletin_at == at(2026, 11, 28, 6, 0)
    await add_articles(bot.db, "Afternoon news", now=at(2026, 11, 27, 11, 30))
    bot.clock.set(at(2026, 11, 28, 6, 0))
    await bot.run_bulletins()
    latest = bot.api.sent(1)[-1].visible_text
    assert latest.startswith("Morning bulletin · Saturday 28 November 2026") and "Afternoon news" in latest
    assert "Headline 9" not in latest


async def test_each_subscriber_gets_bulletins_at_their_own_local_time(bot: RunningBot) -> None:
    bot.clock.set(at(2026, 11, 27, 0, 0))
    await subscribe(bot, 10, "07:00", "Europe/Berlin")  # 06:00 UTC
    await subscribe(bot, 20, "07:00", "America/New_York")  # 12:00 UTC
    await subscribe(bot, 30, "07:00", "Asia/Kolkata")  # 01:30 UTC
    await add_articles(bot.db, "World news")
    sent_at = {}
    for hour in range(0, 24):
        bot.clock.set(at(2026, 11, 27, hour, 45))
        await bot.run_bulletins()
        for chat in (10, 20, 30):
            if chat not in sent_at and any("bulletin ·" in m.visible_text for m in bot.api.sent(chat)):
                sent_at[chat] = hour
    assert sent_at == {30: 1, 10: 6, 20: 12}
    assert all(
        m.visible_text.startswith("Morning bulletin")
        for c in (10, 20, 30)
        for m in bot.api.sent(c)
        if "bulletin ·" in m.visible_text
    )


async def test_daylight_saving_change_keeps_local_time(bot: RunningBot) -> None:
    # New York moves to summer time on 8 March 2026: 07:00 local is 12:00 UTC before and 11:00 UTC after.
    bot.clock.set(at(2026, 3, 6, 13, 0))
    await subscribe(bot, 5, "07:00", "America/New_York")
    slots = []
    for day in range(7, 10):
        await add_articles(bot.db, f"News of day {day}", now=at(2026, 3, day, 0, 0))
        bot.clock.set(at(2026, 3, day, 10, 59))
        await bot.run_bulletins()
        subscriber = await row(bot, 5)
        slots.append(subscriber.next_bulletin_at)
        bot.clock.set(subscriber.next_bulletin_at)  # type: ignore[arg-type]
        await bot.run_bulletins()
    records = await deliveries(bot, 5)
    assert [r.slot_at for r in records] == [at(2026, 3, 7, 12, 0), at(2026, 3, 8, 11, 0), at(2026, 3, 9, 11, 0)]
    assert [m.visible_text.split(" · ")[0] for m in bot.api.sent(5) if "bulletin ·" in m.visible_text] == [
        "Morning bulletin"
    ] * 3


async def test_catch_up_after_downtime_sends_one_bulletin(bot: RunningBot) -> None:
    bot.clock.set(at(2026, 11, 20, 0, 0))
    await subscribe(bot, 7, "07:00 12:00 19:00")
    await add_articles(bot.db, "Missed one", "Missed two", now=at(2026, 11, 20, 1, 0))
    bot.clock.set(at(2026, 11, 23, 15, 0))  # three days and nine slots later
    summary = await bot.run_bulletins()
    assert summary.sent == 1
    [bulletin] = [m for m in bot.api.sent(7) if "bulletin ·" in m.visible_text]
    assert bulletin.visible_text.startswith("Midday bulletin · Monday 23 November 2026")
    assert (await row(bot, 7)).next_bulletin_at == at(2026, 11, 23, 19, 0)
    assert (await bot.run_bulletins()).sent == 0


async def test_one_run_prepares_every_due_subscriber_page_after_page(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Pages of 2 instead of 500: seven due subscribers take four pages, and one whose stored zone this
    # machine does not know must neither stop the run nor be retried forever within it.
    monkeypatch.setattr(bot_bulletins, "PREPARE_PAGE", 2)
    bot.clock.set(at(2026, 11, 27, 5, 0))
    chats = [201, 202, 203, 204, 205, 206, 207]
    for chat in chats:
        await subscribe(bot, chat, "07:00", "Europe/Berlin")
    await subscribe(bot, 208, "09:00", "Europe/Berlin")  # not due yet
    async with bot.db.session() as session:
        await session.execute(update(Subscriber).where(Subscriber.chat_id == 203).values(timezone="Mars/Olympus_Mons"))
    await add_articles(bot.db, "Morning story", "Another story")

    bot.clock.set(at(2026, 11, 27, 6, 0, 30))
    summary = await bot.run_bulletins()
    assert summary.prepared == 6 and summary.sent == 6
    for chat in chats:
        bulletins = [m.visible_text for m in bot.api.sent(chat) if "bulletin ·" in m.visible_text]
        if chat == 203:
            assert bulletins == []
        else:
            assert len(bulletins) == 1 and bulletins[0].startswith("Morning bulletin · Friday 27 November 2026")
            assert "Morning story" in bulletins[0] and "Another story" in bulletins[0]
    assert not [m for m in bot.api.sent(208) if "bulletin ·" in m.visible_text]
    assert "bulletin for subscriber" in caplog.text and "Mars/Olympus_Mons" in caplog.text
    assert (await row(bot, 203)).next_bulletin_at == at(2026, 11, 27, 6, 0)  # still due: nothing was written
    assert (await row(bot, 201)).next_bulletin_at == at(2026, 11, 28, 6, 0)


async def test_two_processes_preparing_at_once_write_one_bulletin_per_subscriber(
    bot: RunningBot, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot_bulletins, "PREPARE_PAGE", 4)  # many small transactions, so the two interleave
    bot.clock.set(at(2026, 11, 27, 6, 0))
    chats = list(range(300, 330))
    for chat in chats:
        await bot.ask(chat, "/subscribe 07:00")
    await add_articles(bot.db, "Shared story")
    bot.clock.set(at(2026, 11, 27, 7, 0))
    other_db = Database.from_url(db_url)  # a second process: its own connections
    steps = _TwoPreparers(other_db, monkeypatch)
    try:
        other = BulletinService(
            other_db,
            DeliveryEngine(other_db, BotApiTransport(bot.api.url, "1:unused")),
            bulletin_size=8,
            clock=bot.clock,
        )
        counts = await asyncio.wait_for(asyncio.gather(bot.bulletins.prepare_due(), other.prepare_due()), 30)
    finally:
        await other_db.dispose()
    # Both worked on the same first page and the first one's schedule move won it; then each wrote pages.
    assert steps.first_page_moves == [4, 0]
    assert sum(counts) == len(chats) and counts[0] > 0 and counts[1] > 0
    rows = await deliveries(bot)
    assert sorted(r.chat_id for r in rows) == chats and {r.slot_at for r in rows} == {at(2026, 11, 27, 7, 0)}
    assert (await bot.run_bulletins()).sent == len(chats)
    assert all(sum("bulletin ·" in m.visible_text for m in bot.api.sent(chat)) == 1 for chat in chats)


class _TwoPreparers:
    """Orders two preparers (the bot's, and one on `other_db`) so the test cannot pass without them meeting:

    1. both read the first page of due subscribers before either writes;
    2. the bot's preparer moves that page's schedules first; the other's compare-and-set on the same page comes
       after that (waiting for the bot's transaction to end if it is still open: on PostgreSQL on the rows'
       locks, on SQLite on the write lock) and must move nothing;
    3. the bot's preparer reads no further page until the other has written one;
    then both go on freely.
    """

    WAIT = 10.0  # seconds; only a failing test waits this long

    def __init__(self, other_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.other_engine = other_db.engine
        self.first_page_moves: list[int] = []
        self._both_read = asyncio.Barrier(2)
        self._reads = {True: 0, False: 0}  # by preparer: is it the other one?
        self._bot_moved_first_page = asyncio.Event()
        self._other_wrote = asyncio.Event()
        due_subscribers, advance = (
            bot_bulletins.subscriber_repo.due_subscribers,
            bot_bulletins.subscriber_repo.advance_due_schedules,
        )

        async def ordered_due_subscribers(
            session: AsyncSession, *args: Any, **kwargs: Any
        ) -> list[tuple[datetime, int]]:
            other = self._is_other(session)
            self._reads[other] += 1
            if not other and self._reads[other] == 2:
                await self._wait(self._other_wrote)
            page = await due_subscribers(session, *args, **kwargs)
            if self._reads[other] == 1:
                await asyncio.wait_for(self._both_read.wait(), self.WAIT)
            return page

        async def ordered_advance(session: AsyncSession, *args: Any, **kwargs: Any) -> set[int]:
            other = self._is_other(session)
            first_page = len(self.first_page_moves) < 2
            if other and first_page:
                await self._wait(self._bot_moved_first_page)
            moved = await advance(session, *args, **kwargs)
            if first_page:
                self.first_page_moves.append(len(moved))
            if not other:
                self._bot_moved_first_page.set()
            elif moved:
                self._other_wrote.set()
            return moved

        monkeypatch.setattr(bot_bulletins.subscriber_repo, "due_subscribers", ordered_due_subscribers)
        monkeypatch.setattr(bot_bulletins.subscriber_repo, "advance_due_schedules", ordered_advance)

    def _is_other(self, session: AsyncSession) -> bool:
        return session.bind is self.other_engine

    async def _wait(self, step: asyncio.Event) -> None:
        await asyncio.wait_for(step.wait(), self.WAIT)


async def test_bulletin_for_everyone_goes_page_by_page_and_moves_the_marks(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot_bulletins, "PREPARE_PAGE", 2)
    bot.clock.set(at(2026, 11, 27, 12, 0))
    chats = [401, 402, 403, 404, 405]
    for chat in chats:
        await bot.ask(chat, "/subscribe 07:00")
    await bot.ask(406, "/start")  # not subscribed: no broadcast
    await add_articles(bot.db, "Old story")
    await bot.ask(401, "/bulletin")  # 401 has already seen "Old story"
    await add_articles(bot.db, "Fresh story")

    assert await bot.bulletins.prepare_for_everyone() == 5
    rows = [r for r in await deliveries(bot) if r.kind == "broadcast"]
    assert sorted(r.chat_id for r in rows) == chats
    by_chat = {r.chat_id: r.text for r in rows}
    assert "Fresh story" in by_chat[401] and "Old story" not in by_chat[401]
    assert all("Fresh story" in by_chat[c] and "Old story" in by_chat[c] for c in chats[1:])
    assert await bot.bulletins.prepare_for_everyone() == 0  # the marks moved: nothing new for anyone
    assert (await bot.run_bulletins()).sent == 5
    assert not [m for m in bot.api.sent(406) if "bulletin ·" in m.visible_text]


async def test_stop_in_the_middle_of_a_run_then_restart_sends_each_bulletin_once(
    fake_api: FakeBotAPI, db_url: str, clock: Clock
) -> None:
    chats = list(range(100, 130))
    clock.set(at(2026, 11, 27, 6, 0))
    async with start_bot(fake_api, db_url, clock) as first:
        for chat in chats:
            await first.ask(chat, "/subscribe 07:00")
        await add_articles(first.db, "Breaking", "Developing")
        clock.set(at(2026, 11, 27, 7, 0))
        # Ten starts a second, on a clock that moves only once the stop is asked: the run is stopped in the middle
        # (ten sent, the rest waiting for a start) however fast or slow the machine is.
        now = [0.0]
        engine = first.bulletins.engine

        async def sleep_until_stopped(seconds: float) -> None:
            while not engine.stopping:
                await asyncio.sleep(0.001)
            now[0] += seconds

        engine.flood.overall = SlidingWindow(10, 1.0, clock=lambda: now[0], sleep=sleep_until_stopped)
        run = asyncio.create_task(first.run_bulletins())
        await fake_api.wait_for_request(
            "sendMessage",
            predicate=lambda _r: sum(fake_api.send_counts_by_chat().get(c, 0) for c in chats) >= len(chats) + 10,
        )
        # Leaving the block is the SIGTERM path: no new claims, in-flight sends finish.
    partial = await run
    sent_before_restart = sum(1 for c in chats for m in fake_api.sent(c) if "bulletin ·" in m.visible_text)
    assert sent_before_restart == 10  # the waiting ones were handed back, not sent, once the stop came
    assert partial.sent == sent_before_restart

    fake_api.latency = 0
    async with start_bot(fake_api, db_url, clock) as second:
        await second.run_bulletins()
        for chat in chats:
            bulletins = [m for m in fake_api.sent(chat) if "bulletin ·" in m.visible_text]
            assert len(bulletins) == 1, chat
        records = await deliveries(second)
        assert len(records) == len(chats) and {r.status for r in records} == {DeliveryStatus.SENT.value}


async def test_crash_after_preparing_loses_nothing(fake_api: FakeBotAPI, db_url: str, clock: Clock) -> None:
    clock.set(at(2026, 11, 27, 6, 0))
    async with start_bot(fake_api, db_url, clock) as first:
        for chat in (1, 2, 3):
            await first.ask(chat, "/subscribe 07:00")
        await add_articles(first.db, "Story")
        clock.set(at(2026, 11, 27, 7, 0))
        # The process dies right after writing the bulletins, before any request.
        assert await first.bulletins.prepare_due() == 3
    async with start_bot(fake_api, db_url, clock) as second:
        summary = await second.run_bulletins()
        assert summary.sent == 3 and summary.prepared == 0
        for chat in (1, 2, 3):
            assert sum("bulletin ·" in m.visible_text for m in fake_api.sent(chat)) == 1


async def test_sender_killed_mid_send_resends_only_after_the_lease(
    fake_api: FakeBotAPI, db_url: str, clock: Clock
) -> None:
    clock.set(at(2026, 11, 27, 6, 0))
    async with start_bot(fake_api, db_url, clock, delivery_lease_seconds=60) as first:
        await first.ask(1, "/subscribe 07:00")
        await add_articles(first.db, "Story")
        clock.set(at(2026, 11, 27, 7, 0))
        await first.bulletins.prepare_due()
        async with first.db.session() as session:  # the state a kill -9 during the request leaves behind
            await session.execute(
                update(Delivery).values(status=DeliveryStatus.SENDING.value, claimed_at=clock(), attempts=1)
            )
    async with start_bot(fake_api, db_url, clock, delivery_lease_seconds=60) as second:
        assert (await second.run_bulletins()).sent == 0  # still leased to the dead sender
        clock.set(at(2026, 11, 27, 7, 1, 1))
        assert (await second.run_bulletins()).sent == 1
        [record] = await deliveries(second)
        assert record.status == DeliveryStatus.SENT.value and record.attempts == 2


async def test_blocked_chat_is_deactivated_and_others_still_get_theirs(bot: RunningBot) -> None:
    bot.clock.set(at(2026, 11, 27, 6, 0))
    for chat in (1, 2, 3):
        await subscribe(bot, chat, "07:00")
    await add_articles(bot.db, "Story")
    bot.api.fail_chat(2, "403")
    bot.clock.set(at(2026, 11, 27, 7, 0))
    summary = await bot.run_bulletins()
    assert (summary.sent, summary.blocked) == (2, 1)
    blocked = await row(bot, 2)
    assert not blocked.active and blocked.blocked_at is not None and blocked.next_bulletin_at is None
    statuses = {r.chat_id: r.status for r in await deliveries(bot)}
    assert statuses == {1: "sent", 2: "cancelled", 3: "sent"}
    # Coming back with /start and /subscribe re-activates the chat.
    bot.api.clear_faults()
    await bot.ask(2, "/subscribe")
    back = await row(bot, 2)
    assert back.active and back.blocked_at is None


async def test_rate_limited_and_failing_chats_are_retried_later(bot: RunningBot) -> None:
    bot.clock.set(at(2026, 11, 27, 6, 0))
    for chat in (1, 2, 3):
        await subscribe(bot, chat, "07:00")
    await add_articles(bot.db, "Story")
    bot.api.fail_chat(1, "429", times=1, retry_after=5)
    bot.api.fail_chat(2, "500", times=1)
    bot.clock.set(at(2026, 11, 27, 7, 0))
    first = await bot.run_bulletins()
    assert (first.sent, first.retried) == (1, 2)
    by_chat = {r.chat_id: r for r in await deliveries(bot)}
    assert by_chat[1].status == "pending" and by_chat[1].not_before == at(2026, 11, 27, 7, 0, 5)
    assert by_chat[2].status == "pending" and by_chat[2].last_error == "500: Internal Server Error"
    bot.clock.set(at(2026, 11, 27, 7, 0, 3))
    await bot.run_bulletins()  # the 429 still waits; the 500 (backoff 1-2 s) goes now
    assert len([m for m in bot.api.sent(1) if "bulletin ·" in m.visible_text]) == 0
    bot.clock.set(at(2026, 11, 27, 7, 0, 6))
    await bot.run_bulletins()
    for chat in (1, 2, 3):
        assert len([m for m in bot.api.sent(chat) if "bulletin ·" in m.visible_text]) == 1
    assert {r.status for r in await deliveries(bot)} == {"sent"}


async def test_persistent_failures_end_as_failed_rows(bot: RunningBot) -> None:
    bot.clock.set(at(2026, 11, 27, 6, 0))
    await subscribe(bot, 1, "07:00")
    await add_articles(bot.db, "Story")
    bot.api.fail_chat(1, "502")
    moment = at(2026, 11, 27, 7, 0)
    for _ in range(6):
        bot.clock.set(moment)
        await bot.run_bulletins()
        moment += timedelta(minutes=10)
    [record] = await deliveries(bot, 1)
    assert record.status == "failed" and record.attempts == 5


async def test_group_migrated_to_supergroup_gets_its_bulletin_at_the_new_id(bot: RunningBot) -> None:
    bot.clock.set(at(2026, 11, 27, 6, 0))
    bot.api.set_chat_member(-500, 1, "creator")
    await bot.ask(-500, "/subscribe@" + bot.api.bot_username + " 07:00", chat_type="group", user_id=1)
    await add_articles(bot.db, "Story")
    bot.api.fail_chat(-500, "migrate", migrate_to=-1009999)
    bot.clock.set(at(2026, 11, 27, 7, 0))
    assert (await bot.run_bulletins()).sent == 1
    assert any("bulletin ·" in m.visible_text for m in bot.api.sent(-1009999))
    moved = await row(bot, -1009999)
    assert moved.active and moved.chat_type == "supergroup"


async def test_html_rejected_by_telegram_is_resent_as_plain_text(bot: RunningBot) -> None:
    bot.clock.set(at(2026, 11, 27, 6, 0))
    await subscribe(bot, 1, "07:00")
    await add_articles(bot.db, "Fish & chips <cheap>")
    bot.api.fail_chat(1, "parse", times=1)
    bot.clock.set(at(2026, 11, 27, 7, 0))
    assert (await bot.run_bulletins()).sent == 1
    plain = bot.api.sent(1)[-1]
    assert plain.parse_mode is None and "Fish & chips <cheap>" in plain.text


async def test_blocked_chat_that_starts_again_gets_bulletins_back(bot: RunningBot) -> None:
    bot.clock.set(at(2026, 11, 27, 6, 0))
    await subscribe(bot, 8, "07:00 19:00")
    await add_articles(bot.db, "Story")
    bot.api.fail_chat(8, "403")
    bot.clock.set(at(2026, 11, 27, 7, 0))
    assert (await bot.run_bulletins()).blocked == 1
    bot.api.clear_faults()
    [reply] = await bot.ask(8, "/start")
    assert reply.visible_text.endswith("Welcome back: your bulletins are on again. /settings shows them.")
    back = await row(bot, 8)
    assert back.active and back.blocked_at is None and back.next_bulletin_at == at(2026, 11, 27, 19, 0)


async def test_the_periodic_job_sends_due_bulletins_by_itself(fake_api: FakeBotAPI, db_url: str, clock: Clock) -> None:
    async with start_bot(fake_api, db_url, clock, bulletin_check_interval=0.2) as running_bot:
        await running_bot.ask(3, "/subscribe 07:00")
        await add_articles(running_bot.db, "Job story")
        async with running_bot.db.session() as session:
            subscriber = await session.scalar(select(Subscriber).where(Subscriber.chat_id == 3))
            assert subscriber is not None
            subscriber.next_bulletin_at = datetime.now(UTC) - timedelta(seconds=1)
        messages = await fake_api.wait_for_messages(3, 2, timeout=10)
        assert "Job story" in messages[-1].visible_text and "bulletin ·" in messages[-1].visible_text


async def test_a_group_that_becomes_a_supergroup_keeps_its_settings(bot: RunningBot) -> None:
    """Telegram's migrate_to_chat_id / migrate_from_chat_id messages move the group's row, even when someone
    spoke to the bot in the new supergroup first (a blank row there gives way)."""
    bot.clock.set(at(2026, 11, 27, 6, 0))
    bot.api.set_chat_member(-500, 1, "creator")
    await bot.ask(-500, "/subscribe@" + bot.api.bot_username + " 07:00", chat_type="group", user_id=1)
    await bot.ask(-500, "/timezone@" + bot.api.bot_username + " Europe/Lisbon", chat_type="group", user_id=1)
    await bot.ask(-1009999, "/headlines@" + bot.api.bot_username, chat_type="supergroup", user_id=2)
    bot.api.group_migrates(-500, -1009999)
    await bot.wait_idle()
    moved = await row(bot, -1009999)
    assert moved.active and moved.timezone == "Europe/Lisbon" and [t.local_time.hour for t in moved.times] == [7]
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Subscriber)) == 1
    await add_articles(bot.db, "Story")
    bot.clock.set(at(2026, 11, 27, 7, 0))
    assert (await bot.run_bulletins()).sent == 1
    assert any("bulletin ·" in m.visible_text for m in bot.api.sent(-1009999))


async def make_due(bot: RunningBot, count: int) -> None:
    """`count` private chats (ids 1..count) whose bulletin was due at 07:00, a minute ago, and one new story."""
    bot.clock.set(at(2026, 11, 27, 7, 1))
    await add_articles(bot.db, "Story")
    async with bot.db.session() as session:
        for chat in range(1, count + 1):
            session.add(
                Subscriber(
                    chat_id=chat, chat_type="private", timezone="UTC", active=True, last_article_id=0, times=[],
                    next_bulletin_at=at(2026, 11, 27, 7, 0),
                )
            )  # fmt: skip


async def test_preparing_keeps_only_a_few_seconds_of_sends_ahead_of_sending(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a rate limit, a run prepares the next page only when few prepared bulletins wait to be sent: writing all
    of them first took the event loop from the sends (300 a second instead of 1,000 for 100,000 subscribers)."""
    page, allowance = 10, 10
    monkeypatch.setattr(bot_bulletins, "PREPARE_PAGE", page)
    monkeypatch.setattr(delivery_engine, "MIN_BACKLOG", allowance)
    monkeypatch.setattr(delivery_engine, "BACKLOG_SECONDS", 0)
    engine = bot.bulletins.engine
    engine.limits = DeliveryLimits(per_second=1000)  # the allowance follows the configured rate
    engine.in_flight = InFlightLimit(2, None)  # two sends at a time, 50 ms each: far slower than preparing
    bot.api.latency = 0.05
    due = 6 * page
    await make_due(bot, due)
    waiting_at_each_page: list[int] = []
    signal_rows = engine.rows_added

    def rows_added() -> None:
        waiting_at_each_page.append((len(waiting_at_each_page) + 1) * page - engine.rows_done)
        signal_rows()

    engine.rows_added = rows_added  # type: ignore[method-assign]
    summary = await bot.run_bulletins()
    assert summary.prepared == summary.sent == due
    assert len(bot.api.sent()) == due
    assert len(waiting_at_each_page) == 6
    assert max(waiting_at_each_page) <= allowance + page  # all at once, the last page would see 50 or so waiting


async def test_sending_starts_with_the_first_prepared_page(bot: RunningBot, monkeypatch: pytest.MonkeyPatch) -> None:
    """Preparing overlaps sending: by the time the last page of due bulletins is written, earlier pages' bulletins
    are already on their way (before, nothing left until every page was written)."""
    monkeypatch.setattr(bot_bulletins, "PREPARE_PAGE", 40)
    due = 3 * 40
    await make_due(bot, due)
    sent_at_each_page: list[int] = []
    engine = bot.bulletins.engine
    signal_rows = engine.rows_added

    def rows_added() -> None:
        sent_at_each_page.append(len(bot.api.sent()))
        signal_rows()

    engine.rows_added = rows_added  # type: ignore[method-assign]
    summary = await bot.run_bulletins()
    assert summary.prepared == summary.sent == due
    assert len(sent_at_each_page) == 3
    assert sent_at_each_page[0] == 0 and sent_at_each_page[-1] > 0


@pytest.mark.parametrize("kinds_of_move", [2, subscriber_repo.MAX_SCHEDULE_GROUPS + 4])
async def test_due_schedules_move_by_compare_and_set_whatever_the_kinds_of_move(
    database: Database, kinds_of_move: int
) -> None:
    """A page's moves alike are one UPDATE each kind, and a page of many kinds one UPDATE with CASEs: either way a
    subscriber moved meanwhile, or no longer active, stays as it is, and each gets its own next time and mark."""
    slot, now = at(2026, 11, 27, 7, 0), at(2026, 11, 27, 7, 1)
    async with database.session() as session:
        targets = [
            Subscriber(
                chat_id=chat, chat_type="private", timezone="UTC", active=chat != 3, last_article_id=5, times=[],
                next_bulletin_at=at(2026, 11, 28, 7, 0) if chat == 2 else slot,  # 2 was moved by /subscribe meanwhile
            )
            for chat in range(1, 41)
        ]  # fmt: skip
        session.add_all(targets)
    ids = {target.chat_id: target.id for target in targets}
    moves = [
        subscriber_repo.ScheduleMove(
            ids[chat],
            at(2026, 11, 28, 7, 0) + timedelta(minutes=chat % kinds_of_move),
            None if chat % 5 == 0 else 100 + chat % kinds_of_move,  # every fifth has nothing new
        )
        for chat in range(1, 41)
    ]
    async with database.session() as session:
        moved = await subscriber_repo.advance_due_schedules(session, moves, now=now)
    assert moved == {ids[chat] for chat in range(1, 41) if chat not in (2, 3)}
    async with database.session() as session:
        rows = {row.chat_id: row for row in await session.scalars(select(Subscriber))}
    for chat, move in zip(range(1, 41), moves, strict=True):
        row = rows[chat]
        if chat in (2, 3):
            assert (row.next_bulletin_at, row.last_article_id, row.last_bulletin_at) == (
                at(2026, 11, 28, 7, 0) if chat == 2 else slot,
                5,
                None,
            )
        elif move.last_article_id is None:
            assert (row.next_bulletin_at, row.last_article_id, row.last_bulletin_at) == (move.next_at, 5, None)
        else:
            assert (row.next_bulletin_at, row.last_article_id, row.last_bulletin_at) == (
                move.next_at,
                move.last_article_id,
                now,
            )
