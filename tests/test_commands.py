"""Every chat command, end to end: a user's update goes over HTTP to the real Application via the fake
Bot API, and the assertions are on what the user would see (text, buttons) and on the stored rows."""

from __future__ import annotations

from datetime import UTC, datetime, time

from sqlalchemy import select

from storage.articles import store_article
from storage.models import Subscriber
from tests.conftest import RunningBot
from tests.factories import add_articles, parsed

CHAT = 4242


def buttons(message) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    markup = message.reply_markup or {}
    return [(b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", []) for b in row]


async def subscriber(bot: RunningBot, chat_id: int = CHAT) -> Subscriber:
    async with bot.db.session() as session:
        row = await session.scalar(select(Subscriber).where(Subscriber.chat_id == chat_id))
        assert row is not None
        return row


async def test_start_welcomes_and_its_button_subscribes(bot: RunningBot) -> None:
    [welcome] = await bot.ask(CHAT, "/start")
    assert "Welcome to newsbot" in welcome.visible_text
    assert "/headlines" in welcome.visible_text
    assert buttons(welcome) == [("🔔 Subscribe to bulletins", "subscribe")]

    [confirmation] = await bot.press(CHAT, welcome.message_id, "subscribe", count=1)
    assert confirmation.visible_text.startswith("✅ Subscribed. Bulletins at 07:00, 12:00 and 19:00 (UTC time).")
    row = await subscriber(bot)
    assert row.active and [t.local_time for t in row.times] == [time(7), time(12), time(19)]
    assert row.next_bulletin_at is not None and row.next_bulletin_at > datetime.now(UTC)


async def test_help_lists_every_command_and_menu_is_registered(bot: RunningBot) -> None:
    [reply] = await bot.ask(CHAT, "/help")
    names = [
        "headlines", "read", "search", "bulletin", "sources", "follow", "unfollow", "add", "remove", "topics",
        "filter", "subscribe", "unsubscribe", "timezone", "settings", "alert", "language", "channels", "done", "start",
        "help",
    ]  # fmt: skip
    for name in names:
        assert f"/{name} — " in reply.visible_text
    assert [c["command"] for c in bot.api.commands] == names


async def test_headlines_lists_latest_with_read_links_buttons_and_more(bot: RunningBot) -> None:
    stored = await add_articles(bot.db, *(f"Story number {i}" for i in range(1, 8)))
    newest = stored[::-1]
    [reply] = await bot.ask(CHAT, "/headlines")
    text = reply.visible_text
    assert text.startswith("Latest headlines")
    for position, article in enumerate(newest[:5], start=1):
        assert f"{position}. {article.title}" in text
        assert f"/read_{article.id}" in text
    assert "Story number 2" not in text
    assert "Reuters · 1 min ago" in text
    expected = [(f"📖 {i}", f"read:{a.id}") for i, a in enumerate(newest[:5], start=1)]
    assert buttons(reply)[:5] == expected
    more_label, more_data = buttons(reply)[5]
    assert more_label == "More ›"

    [page_two] = await bot.press(CHAT, reply.message_id, more_data, count=1)
    assert "6. Story number 2" in page_two.visible_text and "7. Story number 1" in page_two.visible_text
    assert "Story number 7" not in page_two.visible_text
    assert [label for label, _ in buttons(page_two)] == ["📖 6", "📖 7"]  # nothing further back: no More


async def test_headlines_count_argument_and_bad_arguments(bot: RunningBot) -> None:
    await add_articles(bot.db, *(f"Item {i}" for i in range(25)))
    [reply] = await bot.ask(CHAT, "/headlines 20")
    assert "20. Item 5" in reply.visible_text and "Item 4\n" not in reply.visible_text
    for bad in ["/headlines 0", "/headlines 21", "/headlines many", "/headlines 3 4", "/headlines -1"]:
        [answer] = await bot.ask(CHAT, bad)
        assert answer.visible_text.startswith("Usage: /headlines [N], where N is a number from 1 to 20;")


async def test_headlines_when_there_is_no_news(bot: RunningBot) -> None:
    [reply] = await bot.ask(CHAT, "/headlines")
    assert reply.visible_text == "No headlines yet."
    assert reply.reply_markup is None


async def test_read_shows_escaped_article_by_command_shortcut_and_button(bot: RunningBot) -> None:
    async with bot.db.session() as session:
        result = await store_article(
            session,
            parsed(
                'Tags <b>&</b> "quotes"',
                paragraphs=["First <script>alert(1)</script> para & more.", "Second paragraph."],
                authors=["Dmitry Antonov", "Tom Balmforth"],
                dateline="MOSCOW",
            ),
            now=datetime.now(UTC),
        )
        article_id = result.article.id
    [by_command] = await bot.ask(CHAT, f"/read {article_id}")
    assert by_command.visible_text.startswith('Tags <b>&</b> "quotes"\n')
    assert "Reuters · By Dmitry Antonov and Tom Balmforth · MOSCOW" in by_command.visible_text
    assert "First <script>alert(1)</script> para & more.\n\nSecond paragraph." in by_command.visible_text
    assert "&lt;script&gt;" in by_command.text  # escaped on the wire, parsed by Telegram's rules
    [by_shortcut] = await bot.ask(CHAT, f"/read_{article_id}")
    assert by_shortcut.visible_text == by_command.visible_text
    [by_group_shortcut] = await bot.ask(
        -100500, f"/read_{article_id}@{bot.api.bot_username}", chat_type="group", user_id=77
    )
    assert by_group_shortcut.visible_text == by_command.visible_text

    [headlines] = await bot.ask(CHAT, "/headlines")
    [by_button] = await bot.press(CHAT, headlines.message_id, f"read:{article_id}", count=1)
    assert by_button.visible_text == by_command.visible_text


async def test_read_unknown_id_and_malformed_arguments(bot: RunningBot) -> None:
    [reply] = await bot.ask(CHAT, "/read 999")
    assert reply.visible_text == "There is no article 999. /headlines lists the latest ones."
    [reply] = await bot.ask(CHAT, "/read_424242")
    assert reply.visible_text == "There is no article 424242. /headlines lists the latest ones."
    for bad in ["/read", "/read abc", "/read 1 2", "/read 99999999999999999999"]:
        [reply] = await bot.ask(CHAT, bad)
        assert reply.visible_text == "Usage: /read <id>, e.g. /read 12. The ids are in /headlines."


async def test_subscribe_with_times_then_unsubscribe_keeps_settings(bot: RunningBot) -> None:
    bot.clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    [reply] = await bot.ask(CHAT, "/subscribe 18:30 08:15")
    assert reply.visible_text.startswith(
        "✅ Subscribed. Bulletins at 08:15 and 18:30 (UTC time).\nNext bulletin: today at 18:30."
    )
    row = await subscriber(bot)
    assert row.next_bulletin_at == datetime(2026, 11, 27, 18, 30, tzinfo=UTC)

    [reply] = await bot.ask(CHAT, "/unsubscribe")
    assert reply.visible_text == "🔕 Bulletins stopped. Your times and timezone are kept: /subscribe to resume."
    row = await subscriber(bot)
    assert not row.active and row.next_bulletin_at is None
    assert [t.local_time for t in row.times] == [time(8, 15), time(18, 30)]

    [reply] = await bot.ask(CHAT, "/subscribe")
    assert "Bulletins at 08:15 and 18:30" in reply.visible_text  # the kept times, not the defaults
    [reply] = await bot.ask(CHAT + 1, "/unsubscribe")
    assert reply.visible_text == "You were not subscribed. /subscribe starts bulletins."


async def test_subscribe_rejects_malformed_times(bot: RunningBot) -> None:
    for bad, shown in [("25:00", "25:00"), ("7pm", "7pm"), ("12:60", "12:60"), ("<b>", "<b>")]:
        [reply] = await bot.ask(CHAT, f"/subscribe 07:00 {bad}")
        assert reply.visible_text == f"“{shown}” is not a time of day. Use HH:MM, for example /subscribe 07:30 18:00"
    [reply] = await bot.ask(CHAT, "/subscribe " + " ".join(f"{h:02d}:00" for h in range(13)))
    assert reply.visible_text == "At most 12 times a day, please."
    async with bot.db.session() as session:
        assert await session.scalar(select(Subscriber.active).where(Subscriber.chat_id == CHAT)) in (None, False)


async def test_timezone_sets_zone_and_reschedules(bot: RunningBot) -> None:
    bot.clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    await bot.ask(CHAT, "/subscribe 12:00")
    [reply] = await bot.ask(CHAT, "/timezone asia/tokyo")
    assert reply.visible_text == "🕰 Timezone set to Asia/Tokyo (it is 18:00 there).\nNext bulletin: tomorrow at 12:00."
    row = await subscriber(bot)
    assert row.timezone == "Asia/Tokyo"
    assert row.next_bulletin_at == datetime(2026, 11, 28, 3, 0, tzinfo=UTC)

    [reply] = await bot.ask(CHAT, "/timezone Mars/Olympus_Mons")
    assert reply.visible_text.startswith(
        "“Mars/Olympus_Mons” is not a timezone I know. Use an IANA name, for example /timezone Europe/Berlin"
    )
    [reply] = await bot.ask(CHAT, "/timezone")
    assert reply.visible_text.startswith("Your timezone is Asia/Tokyo.")


async def test_settings_shows_schedule_and_buttons_change_it(bot: RunningBot) -> None:
    bot.clock.set(datetime(2026, 11, 27, 9, 0, tzinfo=UTC))
    await bot.ask(CHAT, "/subscribe 06:45")
    [reply] = await bot.ask(CHAT, "/settings")
    assert (
        "Bulletins: 🔔 subscribed\nTimes: 06:45\nTimezone: UTC\nNext bulletin: tomorrow at 06:45" in reply.visible_text
    )
    labels = dict(buttons(reply))
    assert set(labels) == {"☀️ Mornings", "🌗 Morning + evening", "🗞 3× a day", "🔕 Unsubscribe"}

    await bot.press(CHAT, reply.message_id, labels["🌗 Morning + evening"], edit=True)
    edited = bot.api.message(CHAT, reply.message_id)
    assert "Times: 07:00 and 19:00" in edited.visible_text and len(bot.api.sent(CHAT)) == 2
    assert bot.api.callback_answers[-1]["text"] == "Bulletins at 07:00 and 19:00"
    row = await subscriber(bot)
    assert [t.local_time for t in row.times] == [time(7), time(19)]

    await bot.press(CHAT, reply.message_id, labels["🔕 Unsubscribe"], edit=True)
    edited = bot.api.message(CHAT, reply.message_id)
    assert "Bulletins: 🔕 not subscribed" in edited.visible_text
    assert ("🔔 Subscribe", "settings:on") in buttons(edited)
    assert not (await subscriber(bot)).active


async def test_bulletin_now_then_nothing_new(bot: RunningBot) -> None:
    bot.clock.set(datetime(2026, 11, 27, 12, 5, tzinfo=UTC))
    stored = await add_articles(bot.db, "Alpha", "Beta", "Gamma")
    [reply] = await bot.ask(CHAT, "/bulletin")
    assert reply.visible_text.startswith("Midday bulletin · Friday 27 November 2026\n")
    assert reply.visible_text.index("Gamma") < reply.visible_text.index("Alpha")
    for article in stored:
        assert f"/read_{article.id}" in reply.visible_text
    [again] = await bot.ask(CHAT, "/bulletin")
    assert again.visible_text == "Nothing new since your last bulletin. /headlines shows the latest news."
    await add_articles(bot.db, "Delta")
    [third] = await bot.ask(CHAT, "/bulletin")
    assert "Delta" in third.visible_text and "Alpha" not in third.visible_text


async def test_unknown_commands_and_plain_text_get_help(bot: RunningBot) -> None:
    [reply] = await bot.ask(CHAT, "/frobnicate now")
    assert reply.visible_text == "Sorry, I don't know /frobnicate. /help lists what I can do."
    [reply] = await bot.ask(CHAT, "hello there " * 300)
    assert reply.visible_text.startswith("I answer commands. Try /headlines")
    [reply] = await bot.ask(CHAT, "<b>&amp; not html</b>")
    assert reply.visible_text.startswith("I answer commands.")


async def test_groups_answer_addressed_commands_and_ignore_the_rest(bot: RunningBot) -> None:
    group = -100123
    name = bot.api.bot_username
    [reply] = await bot.ask(group, f"/help@{name}", chat_type="group", user_id=5)
    assert "/headlines — " in reply.visible_text
    [reply] = await bot.ask(group, f"/nonsense@{name}", chat_type="group", user_id=5)
    assert reply.visible_text == "Sorry, I don't know /nonsense. /help lists what I can do."
    before = len(bot.api.sent(group))
    bot.api.user_sends_text(group, "just chatting", chat_type="group", user_id=5)
    bot.api.user_sends_text(group, "/help@some_other_bot", chat_type="group", user_id=5)
    bot.api.user_sends_text(group, "/weather", chat_type="group", user_id=5)
    await bot.api.wait_until_updates_consumed()
    bot.api.set_chat_member(group, 5, "administrator")  # a group's settings are its admins' to change
    [reply] = await bot.ask(group, f"/subscribe@{name} 08:00", chat_type="group", user_id=5)
    assert len(bot.api.sent(group)) == before + 1  # only the subscribe reply
    assert reply.visible_text.startswith("✅ Subscribed. Bulletins at 08:00")
    row = await subscriber(bot, group)
    assert row.chat_type == "group" and row.active


async def test_a_failing_handler_apologises_and_the_bot_keeps_running(bot: RunningBot) -> None:
    await bot.db.engine.dispose()
    original = bot.db.sessionmaker

    def broken():  # type: ignore[no-untyped-def]
        raise ConnectionRefusedError("database is down")

    bot.db.sessionmaker = broken  # type: ignore[assignment]
    [reply] = await bot.ask(CHAT, "/headlines")
    assert reply.visible_text == "Sorry, something went wrong on my side. Please try again in a moment."
    admin_notes = await bot.api.wait_for_messages(999, 1)
    assert "ConnectionRefusedError" in admin_notes[0].visible_text
    bot.db.sessionmaker = original
    [reply] = await bot.ask(CHAT, "/headlines")
    assert reply.visible_text == "No headlines yet."


async def test_stale_buttons_are_answered(bot: RunningBot) -> None:
    [welcome] = await bot.ask(CHAT, "/start")
    bot.api.user_presses_button(CHAT, welcome.message_id, "obsolete:42", check_button=False)
    answer = await bot.api.wait_for_request("answerCallbackQuery")
    assert answer.params["text"] == "This button no longer works. Send /help to start again."
    bot.api.user_presses_button(CHAT, welcome.message_id, "read:987654", check_button=False)
    reply = (await bot.api.wait_for_messages(CHAT, 2))[-1]
    assert reply.visible_text == "There is no article 987654. /headlines lists the latest ones."
