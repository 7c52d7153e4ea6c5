"""The bot speaks English, Russian, German and Spanish: a chat starts in its creator's Telegram language, /language
changes it (admins only in groups), bulletins and the command menu follow. Real Application, fake Bot API, both
databases."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from fakebot import FakeBotAPI
from storage.models import Subscriber
from tests.conftest import Clock, RunningBot, start_bot
from tests.factories import add_articles
from tests.feedserver import FeedServer
from tests.test_alerts import add_feed, check, poll

CHAT = 4242
GROUP = -100777
ADMIN_USER = 11
MEMBER = 22


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def stored_language(bot: RunningBot, chat_id: int) -> str | None:
    async with bot.db.session() as session:
        return await session.scalar(select(Subscriber.language).where(Subscriber.chat_id == chat_id))


async def in_group(bot: RunningBot, user: int, text: str, language_code: str):  # type: ignore[no-untyped-def]
    command, _, rest = text.partition(" ")
    addressed = f"{command}@{bot.api.bot_username}" + (f" {rest}" if rest else "")
    return await bot.ask(GROUP, addressed, chat_type="supergroup", user_id=user, language_code=language_code)


@pytest.mark.parametrize(
    ("language_code", "heading", "words"),
    [
        ("en", "What I can do", ["/headlines — Latest headlines", "/language — Choose the bot's language"]),
        ("ru", "Что я умею", ["/headlines — Последние заголовки", "/language — Выбрать язык бота"]),
        ("de-AT", "Was ich kann", ["/headlines — Neueste Schlagzeilen", "/language — Sprache des Bots wählen"]),
        ("es", "Lo que sé hacer", ["/headlines — Últimos titulares", "/language — Elegir el idioma del bot"]),
        ("fr", "What I can do", ["/search — Search articles"]),  # a language it does not speak: English
        (None, "What I can do", ["/settings — Your schedule and timezone"]),
    ],
)
async def test_help_comes_in_the_users_language(
    bot: RunningBot, language_code: str | None, heading: str, words: list[str]
) -> None:
    [reply] = await bot.ask(CHAT, "/help", language_code=language_code)
    assert reply.visible_text.startswith(heading + "\n")
    for text in words:
        assert text in reply.visible_text


async def test_command_menu_is_registered_per_language(bot: RunningBot) -> None:
    default = {c["command"]: c["description"] for c in bot.api.commands}
    assert default["headlines"] == "Latest headlines: /headlines [N]"
    menus = {code: {c["command"]: c["description"] for c in bot.api.commands_for(language_code=code)} for code in
             ("en", "ru", "de", "es")}  # fmt: skip
    assert menus["en"] == default
    assert menus["ru"]["bulletin"] == "Ваша сводка прямо сейчас"
    assert menus["de"]["bulletin"] == "Deine Übersicht jetzt sofort"
    assert menus["es"]["bulletin"] == "Tu boletín ahora mismo"
    assert all(list(menu) == list(default) for menu in menus.values())  # the same commands, in the same order


@pytest.mark.parametrize(
    ("language_code", "first_line"),
    [
        ("en", "Midday bulletin · Friday 27 November 2026"),
        ("ru", "Дневная сводка · пятница, 27 ноября 2026"),
        ("de", "Mittagsausgabe · Freitag, 27. November 2026"),
        ("es", "Boletín del mediodía · viernes, 27 de noviembre de 2026"),
    ],
)
async def test_scheduled_bulletin_is_named_and_dated_in_the_chats_language(
    bot: RunningBot, language_code: str, first_line: str
) -> None:
    bot.clock.set(at(2026, 11, 27, 10, 0))
    await bot.ask(CHAT, "/subscribe 12:00", language_code=language_code)
    await add_articles(bot.db, "Harbour reopens after the storm", now=at(2026, 11, 27, 9, 0))
    bot.clock.set(at(2026, 11, 27, 12, 0, 30))
    assert (await bot.run_bulletins()).sent == 1
    bulletin = bot.api.sent(CHAT)[-1]
    assert bulletin.visible_text.split("\n")[0] == first_line
    assert "Harbour reopens after the storm" in bulletin.visible_text  # the article's own words, untranslated


async def test_bulletins_in_several_languages_in_one_run(bot: RunningBot) -> None:
    """Chats of one page share the picked articles but each gets its own language."""
    bot.clock.set(at(2026, 11, 27, 4, 0))
    for chat, code in ((1, "en"), (2, "ru"), (3, "ru"), (4, "es")):
        await bot.ask(chat, "/subscribe 07:00", language_code=code)
    await add_articles(bot.db, "Markets open higher", now=at(2026, 11, 27, 3, 0))
    bot.clock.set(at(2026, 11, 27, 7, 0, 30))
    assert (await bot.run_bulletins()).sent == 4
    headings = [bot.api.sent(chat)[-1].visible_text.split(" · ")[0] for chat in (1, 2, 3, 4)]
    assert headings == ["Morning bulletin", "Утренняя сводка", "Утренняя сводка", "Boletín de la mañana"]


async def test_language_buttons_switch_and_the_choice_outlasts_the_users_language_code(bot: RunningBot) -> None:
    [menu] = await bot.ask(CHAT, "/language", language_code="en")
    assert menu.visible_text == "Language\nI speak English in this chat. Tap a language to change it."
    assert menu.buttons == [
        ("✅ English", "lang:en"),
        ("Русский", "lang:ru"),
        ("Deutsch", "lang:de"),
        ("Español", "lang:es"),
    ]

    await bot.press(CHAT, menu.message_id, "lang:ru", edit=True)
    assert bot.api.callback_answers[-1]["text"] == "Язык: Русский"
    edited = bot.api.message(CHAT, menu.message_id)
    assert edited.visible_text.startswith("✅ Язык этого чата теперь — Русский.\n\nЯзык\n")
    assert ("✅ Русский", "lang:ru") in edited.buttons and ("English", "lang:en") in edited.buttons
    assert await stored_language(bot, CHAT) == "ru"

    # The user's app is still in English; the chat's choice wins.
    [reply] = await bot.ask(CHAT, "/help", language_code="en")
    assert reply.visible_text.startswith("Что я умею")
    [reply] = await bot.ask(CHAT, "/bulletin", language_code="en")
    assert reply.visible_text == "С прошлой сводки ничего нового. /headlines покажет последние новости."

    [reply] = await bot.ask(CHAT, "/language es", language_code="en")
    assert reply.visible_text == "✅ Listo: el idioma de este chat es ahora Español."
    assert await stored_language(bot, CHAT) == "es"
    [reply] = await bot.ask(CHAT, "/language klingon", language_code="en")
    assert reply.visible_text.startswith("No hablo «klingon».")


async def test_a_group_keeps_its_creators_language_and_only_admins_change_it(bot: RunningBot) -> None:
    bot.api.set_chat_member(GROUP, ADMIN_USER, "administrator")
    [reply] = await in_group(bot, ADMIN_USER, "/settings", "de-DE")  # the first command that makes the group's row
    assert reply.visible_text.startswith("Deine Einstellungen")
    assert await stored_language(bot, GROUP) == "de-DE"  # as Telegram gave it; read as German

    # A member whose app is in Spanish reads the group's language, and cannot change it.
    [reply] = await in_group(bot, MEMBER, "/help", "es")
    assert reply.visible_text.startswith("Was ich kann")
    [menu] = await in_group(bot, MEMBER, "/language", "es")
    assert "✅ Deutsch" in [text for text, _ in menu.buttons]
    pressed_at = time.monotonic()
    bot.api.user_presses_button(GROUP, menu.message_id, "lang:es", user_id=MEMBER, language_code="es")
    await bot.api.wait_for_request("answerCallbackQuery", since=pressed_at)
    answer = bot.api.callback_answers[-1]
    assert answer["show_alert"] and answer["text"] == (
        "Nur die Admins dieser Gruppe können ihre Einstellungen ändern. Lesen (/headlines, /read, /search) dürfen alle."
    )
    [reply] = await in_group(bot, MEMBER, "/language es", "es")
    assert reply.visible_text.startswith("Nur die Admins dieser Gruppe")
    assert await stored_language(bot, GROUP) == "de-DE"

    # The admin can.
    pressed_at = time.monotonic()
    bot.api.user_presses_button(GROUP, menu.message_id, "lang:es", user_id=ADMIN_USER, language_code="de")
    await bot.api.wait_for_request("editMessageText", since=pressed_at)
    assert await stored_language(bot, GROUP) == "es"
    [reply] = await in_group(bot, ADMIN_USER, "/help", "de")
    assert reply.visible_text.startswith("Lo que sé hacer")


async def test_a_forged_language_button_is_only_answered(bot: RunningBot) -> None:
    [menu] = await bot.ask(CHAT, "/language", language_code="ru")
    pressed_at = time.monotonic()
    bot.api.user_presses_button(CHAT, menu.message_id, "lang:xx", check_button=False, language_code="ru")
    await bot.api.wait_for_request("answerCallbackQuery", since=pressed_at)
    assert (
        bot.api.callback_answers[-1]["text"] == "Эта кнопка больше не работает. Отправьте /help, чтобы начать заново."
    )
    assert await stored_language(bot, CHAT) is None  # nothing was stored


async def test_inline_results_use_the_users_language(bot: RunningBot) -> None:
    await add_articles(bot.db, "Harbour reopens after the storm")
    query_id = bot.api.user_sends_inline_query(7, "", language_code="de")
    answer = await bot.api.wait_for_inline_answer(query_id)
    [result] = answer.results
    assert result.description is not None and result.description == "Reuters · vor 1 Min."
    assert result.visible_text is not None and "Im Bot öffnen" in result.visible_text


async def test_alert_messages_come_in_each_chats_language(
    fake_api: FakeBotAPI, db_url: str, clock: Clock, server: FeedServer
) -> None:
    clock.set(at(2026, 11, 27, 9, 0))
    async with start_bot(fake_api, db_url, clock, page_fetches_per_poll=0) as bot:
        [reply] = await bot.ask(1, "/alert sanction*", language_code="ru")
        assert reply.visible_text.startswith("✅ Оповещение 1 настроено: sanction*")
        await bot.ask(2, "/alert sanction*", language_code="es")
        source_id = await add_feed(bot, server, "/wire.xml", ("a", "Weather: sunny"))
        await poll(bot, server, source_id, "/wire.xml", ("a", "Weather: sunny"), ("b", "New sanctions on oil"))
        await check(bot)
        [to_russian] = [m.visible_text for m in bot.api.sent(1) if m.visible_text.startswith("🔔")]
        [to_spanish] = [m.visible_text for m in bot.api.sent(2) if m.visible_text.startswith("🔔")]
        assert to_russian.startswith("🔔 Оповещение: sanction*\n\n1. New sanctions on oil\nWire · /read_")
        assert to_spanish.startswith("🔔 Alerta: sanction*\n\n1. New sanctions on oil\nWire · /read_")
