"""What one private command costs the database: the chat's language and its acting mark (a channel it is changing)
are read together, once per update, and kept for the channel guard and the features; /headlines reads the chat's
choices without its bulletin times. Real Application, fake Bot API, both databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from compose.buttons import ManageChannel
from storage.models import Subscriber
from tests.conftest import RunningBot
from tests.factories import add_articles
from tests.test_channels import CHANNEL, MANAGER, channel_row, membership

CHAT = 5151


class Statements:
    """The SQL statements and the connection checkouts (units of work) the bot's engine saw."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.checkouts = 0

    def reading(self, table: str) -> list[str]:
        return [s for s in self.sql if s.lstrip().upper().startswith("SELECT") and f"FROM {table}" in s]

    def marks(self) -> list[str]:
        """Reads of a chat's marks alone (its language or its acting mark), not of its whole row."""
        return [s for s in self.reading("subscribers") if "subscribers.id" not in s.split("FROM")[0]
                and ("language" in s or "acting" in s)]  # fmt: skip


@contextmanager
def counting(bot: RunningBot) -> Iterator[Statements]:
    seen = Statements()
    engine = bot.db.engine.sync_engine

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.sql.append(statement)

    def on_checkout(*_: Any) -> None:
        seen.checkouts += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine.pool, "checkout", on_checkout)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine.pool, "checkout", on_checkout)


async def test_a_returning_chats_headlines_take_two_units_of_work(bot: RunningBot) -> None:
    await add_articles(bot.db, "Oil prices rise", "Markets calm", "Rain in the north")
    await bot.ask(CHAT, "/start", count=1)  # the chat's row exists from now on
    with counting(bot) as seen:
        [reply] = await bot.ask(CHAT, "/headlines")
        await bot.wait_idle()
    assert "Rain in the north" in reply.visible_text
    # One for the language and the acting mark together (the guard reads nothing more), one for the headlines.
    assert seen.checkouts == 2
    [marks] = seen.marks()
    assert "language" in marks and "acting_until" in marks
    assert not seen.reading("bulletin_times")  # /headlines does not need the chat's schedule


async def test_the_guard_still_checks_a_chat_changing_a_channel_with_one_read_of_its_marks(bot: RunningBot) -> None:
    bot.api.register_chat(CHANNEL, "channel", title="Daily Brief")
    bot.api.set_chat_member(CHANNEL, MANAGER, "administrator")
    await membership(bot, "administrator")
    row = await channel_row(bot)
    assert row is not None
    listing, _hint = await bot.ask(MANAGER, "/channels", count=2)
    await bot.press(MANAGER, listing.message_id, ManageChannel(row.id).pack(), count=2)

    with counting(bot) as seen:
        [reply] = await bot.ask(MANAGER, "/filter +oil")
        await bot.wait_idle()
    assert "oil" in reply.visible_text
    assert len(seen.marks()) == 1
    row = await channel_row(bot)
    assert row is not None and row.filter_terms == ["oil"]  # the channel's, not the private chat's

    bot.api.set_chat_member(CHANNEL, MANAGER, "member")  # demoted in the channel
    bot.services.group_admins._known.clear()  # as if the cached answer had expired
    [refused] = await bot.ask(MANAGER, "/headlines")
    assert refused.visible_text.startswith("You are no longer an administrator of Daily Brief")
    async with bot.db.session() as session:
        own = await session.scalar(select(Subscriber).where(Subscriber.chat_id == MANAGER))
    assert own is not None and own.acting_for_id is None  # back to its own settings
