"""Forum topics are targets of their own: a command inside a topic applies to that topic, its bulletins carry
its message_thread_id, and a topic closed or deleted stops only itself. Real Application, fake Bot API, both
databases."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from storage.models import Delivery, Subscriber
from tests.conftest import RunningBot
from tests.factories import add_articles

FORUM = -1009001
ADMIN_USER = 11


async def in_topic(bot: RunningBot, thread_id: int | None, text: str):  # type: ignore[no-untyped-def]
    command, _, rest = text.partition(" ")
    addressed = f"{command}@{bot.api.bot_username}" + (f" {rest}" if rest else "")
    return await bot.ask(FORUM, addressed, chat_type="supergroup", user_id=ADMIN_USER, thread_id=thread_id)


async def forum_rows(bot: RunningBot) -> dict[int, Subscriber]:
    async with bot.db.session() as session:
        return {s.thread_id: s for s in await session.scalars(select(Subscriber).where(Subscriber.chat_id == FORUM))}


async def test_two_topics_hold_their_own_times_and_get_bulletins_in_their_threads(bot: RunningBot) -> None:
    bot.api.register_forum(FORUM, title="Newsroom")
    bot.api.set_chat_member(FORUM, ADMIN_USER, "administrator")
    markets, sport = bot.api.open_topic(FORUM), bot.api.open_topic(FORUM)
    bot.clock.set(datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0))

    [reply] = await in_topic(bot, markets, "/subscribe 07:00")
    assert reply.visible_text.startswith("✅ Subscribed. Bulletins at 07:00")
    assert reply.thread_id == markets  # the answer stays in the topic
    [reply] = await in_topic(bot, sport, "/subscribe 08:00")
    assert reply.thread_id == sport
    [reply] = await in_topic(bot, sport, "/filter +football")
    rows = await forum_rows(bot)
    assert set(rows) == {markets, sport}  # the General topic (0) was never asked
    assert [t.local_time.hour for t in rows[markets].times] == [7]
    assert [t.local_time.hour for t in rows[sport].times] == [8]
    assert rows[sport].filter_terms == ["football"] and rows[markets].filter_terms == []

    await add_articles(bot.db, "Shares rally in Tokyo", "Football club wins the cup")
    bot.clock.set(bot.clock().replace(hour=7, minute=0, second=30))
    assert (await bot.run_bulletins()).sent == 1
    [first] = bot.api.sent(FORUM)[-1:]
    assert first.thread_id == markets and first.visible_text.startswith("Morning bulletin")
    assert "Shares rally in Tokyo" in first.visible_text

    bot.clock.set(bot.clock().replace(hour=8, minute=0, second=30))
    assert (await bot.run_bulletins()).sent == 1
    [second] = bot.api.sent(FORUM)[-1:]
    assert second.thread_id == sport
    assert "Football club wins the cup" in second.visible_text and "Shares rally" not in second.visible_text


async def test_a_closed_topic_stops_only_itself_and_a_deleted_one_too(bot: RunningBot) -> None:
    bot.api.register_forum(FORUM)
    bot.api.set_chat_member(FORUM, ADMIN_USER, "administrator")
    kept, closed, deleted = (bot.api.open_topic(FORUM) for _ in range(3))
    bot.clock.set(datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0))
    for thread in (kept, closed, deleted):
        await in_topic(bot, thread, "/subscribe 07:00")
    await in_topic(bot, None, "/subscribe 07:00")  # the General topic: the group itself
    await add_articles(bot.db, "Harbour reopens")

    bot.api.close_topic(FORUM, closed)
    bot.api.delete_topic(FORUM, deleted)
    bot.clock.set(bot.clock().replace(hour=7, minute=0, second=30))
    summary = await bot.run_bulletins()
    assert (summary.sent, summary.blocked) == (2, 2)
    assert sorted(m.thread_id or 0 for m in bot.api.sent(FORUM) if m.visible_text.startswith("Morning")) == [0, kept]

    rows = await forum_rows(bot)
    assert rows[kept].active and rows[0].active
    for gone in (closed, deleted):
        assert not rows[gone].active and rows[gone].blocked_at is not None
        assert [t.local_time.hour for t in rows[gone].times] == [7]  # settings kept for when it comes back
    async with bot.db.session() as session:
        errors = {d.thread_id: d.last_error for d in await session.scalars(select(Delivery))}
    assert "TOPIC_CLOSED" in (errors[closed] or "") and "thread not found" in (errors[deleted] or "")
