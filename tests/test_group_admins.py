"""In groups, only administrators (checked with getChatMember, anonymous ones included) change the group's
settings; everyone may read. Real Application, fake Bot API, both databases."""

from __future__ import annotations

import time

from sqlalchemy import select

from storage.models import Alert, Subscriber
from tests.conftest import RunningBot
from tests.factories import add_articles

GROUP = -100321
ADMIN_USER = 11
MEMBER = 22
REFUSAL = "Only this group's admins can change its settings. Reading (/headlines, /read, /search) is open to all."


async def group_row(bot: RunningBot) -> Subscriber | None:
    async with bot.db.session() as session:
        return await session.scalar(select(Subscriber).where(Subscriber.chat_id == GROUP))


def member_checks(bot: RunningBot) -> int:
    return len([r for r in bot.api.requests if r.method.lower() == "getchatmember"])


async def say(bot: RunningBot, user: int, text: str, **kwargs: object):  # type: ignore[no-untyped-def]
    command, _, rest = text.partition(" ")
    addressed = f"{command}@{bot.api.bot_username}" + (f" {rest}" if rest else "")
    return await bot.ask(GROUP, addressed, chat_type="supergroup", user_id=user, **kwargs)


async def test_only_an_admin_subscribes_a_group_and_anyone_else_is_told_why(bot: RunningBot) -> None:
    bot.api.set_chat_member(GROUP, ADMIN_USER, "administrator")
    [reply] = await say(bot, MEMBER, "/subscribe 08:00")
    assert reply.visible_text == REFUSAL
    row = await group_row(bot)
    assert row is None or not row.active

    [reply] = await say(bot, ADMIN_USER, "/subscribe 08:00")
    assert reply.visible_text.startswith("✅ Subscribed. Bulletins at 08:00")
    row = await group_row(bot)
    assert row is not None and row.active

    # The member can neither stop it nor move it; reading stays open to all.
    for command in ("/unsubscribe", "/timezone Europe/Paris", "/filter +oil", "/topics sport", "/alert oil",
                    "/follow 1", "/add https://example.org/feed.xml", "/remove 1"):  # fmt: skip
        [reply] = await say(bot, MEMBER, command)
        assert reply.visible_text == REFUSAL, command
    await add_articles(bot.db, "Harbour reopens")
    [reply] = await say(bot, MEMBER, "/headlines")
    assert "Harbour reopens" in reply.visible_text
    [reply] = await say(bot, MEMBER, "/filter")
    assert reply.visible_text.startswith("Keyword filter")
    row = await group_row(bot)
    assert row is not None and row.active and row.timezone == "UTC" and row.filter_terms == []
    async with bot.db.session() as session:
        assert list(await session.scalars(select(Alert))) == []


async def test_an_anonymous_admin_counts_as_an_admin(bot: RunningBot) -> None:
    [reply] = await bot.ask(GROUP, f"/subscribe@{bot.api.bot_username} 09:00", chat_type="supergroup", anonymous=True)
    assert reply.visible_text.startswith("✅ Subscribed. Bulletins at 09:00")
    assert member_checks(bot) == 0  # the group itself sent it: nothing to ask Telegram


async def test_rights_are_cached_for_commands_and_checked_again_on_a_button(bot: RunningBot) -> None:
    bot.api.set_chat_member(GROUP, ADMIN_USER, "creator")
    await say(bot, ADMIN_USER, "/subscribe 08:00")
    await say(bot, ADMIN_USER, "/timezone Europe/Berlin")
    assert member_checks(bot) == 1  # the second command used the cached answer
    [settings] = await say(bot, ADMIN_USER, "/settings")
    [(_, stop)] = [(text, data) for text, data in settings.buttons if data == "settings:off"]

    bot.api.set_chat_member(GROUP, ADMIN_USER, "member")  # demoted meanwhile
    pressed_at = time.monotonic()
    bot.api.user_presses_button(GROUP, settings.message_id, stop, user_id=ADMIN_USER)
    await bot.api.wait_for_request("answerCallbackQuery", since=pressed_at)
    answer = bot.api.callback_answers[-1]
    assert answer["text"] == REFUSAL and answer["show_alert"]
    assert member_checks(bot) == 2
    row = await group_row(bot)
    assert row is not None and row.active and row.timezone == "Europe/Berlin"


async def test_lists_in_a_group_link_articles_to_the_bot_instead_of_posting_them_for_everyone(bot: RunningBot) -> None:
    await add_articles(bot.db, *(f"Story number {n}" for n in range(1, 8)))
    [reply] = await say(bot, MEMBER, "/headlines 5")
    assert "/read_" not in reply.visible_text and "Read" in reply.visible_text
    links = [e["url"] for e in reply.entities if e["type"] == "text_link"]
    assert len(links) == 5 and all(f"t.me/{bot.api.bot_username}?start=read_" in link for link in links)
    assert [text for text, _data in reply.buttons] == ["More ›"]  # no 📖 buttons: they would post the article here
    [found] = await say(bot, MEMBER, "/search story")
    assert "/read_" not in found.visible_text and not any(text.startswith("📖") for text, _data in found.buttons)
    # In a private chat the same lists keep /read_<id> and the Read buttons.
    [private] = await bot.ask(MEMBER, "/headlines 5")
    assert "/read_" in private.visible_text and sum(text.startswith("📖") for text, _data in private.buttons) == 5
