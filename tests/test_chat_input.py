"""Chat input that must not reach the admins (issue 8, point 5): odd digits and huge ids, edited commands, zones
that are not places, buttons on inline messages, and the throttle on admin alerts."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from telegram import Update
from telegram.ext import CommandHandler, MessageHandler

from bot.app import FEATURES
from bot.errors import AlertThrottle, error_kind
from compose.buttons import parse_int
from compose.replies import not_here, stale_button
from services import schedule
from storage import articles as article_repo
from tests.conftest import RunningBot
from tests.factories import add_articles

CHAT = 4242
ADMIN = 999  # conftest's settings make user 999 the only admin
HEADLINES_USAGE = (
    "Usage: /headlines [N], where N is a number from 1 to 20; /headlines all [N] past your topics and keywords."
)
READ_USAGE = "Usage: /read <id>, e.g. /read 12. The ids are in /headlines."
APOLOGY = "Sorry, something went wrong on my side. Please try again in a moment."
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def settle(bot: RunningBot, chat_id: int = CHAT) -> None:
    """One more round trip in `chat_id`: its updates are handled in order, so everything before is finished
    (error handler included) once this is answered."""
    await bot.ask(chat_id, "/help")


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


# --- numbers in chat input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("20", 20),
        ("0", None),
        ("21", None),
        ("²", None),
        ("⑤", None),
        ("٥", None),
        ("５", None),
        ("-1", None),
        ("+1", None),
        (" 1", None),
        ("1 ", None),
        ("", None),
        ("1_0", None),
        ("0x1", None),
        ("001", None),
    ],
)
def test_parse_int_takes_ascii_digits_within_the_range_only(text: str, expected: int | None) -> None:
    assert parse_int(text, high=20) == expected


def test_parse_int_stops_at_the_id_column_range() -> None:
    assert parse_int("2147483647") == 2**31 - 1
    assert parse_int("2147483648") is None and parse_int("999999999999") is None
    assert parse_int("9" * 5000) is None  # refused by its length, before int() (which refuses over 4300 digits)


async def test_odd_digits_and_huge_ids_get_the_usage_and_no_admin_alert(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    await add_articles(bot.db, "One", "Two")
    for text in ["/headlines ²", "/headlines ⑤", "/headlines ٥", "/headlines ５", "/headlines 99999999999999999999"]:
        [reply] = await bot.ask(CHAT, text)
        assert reply.visible_text == HEADLINES_USAGE, text
    odd_reads = ["/read ²", "/read ⑤", "/read ٣", "/read 0", "/read 2147483648", "/read 999999999999"]
    for text in [*odd_reads, "/read_999999999999", "/read_2147483648"]:
        [reply] = await bot.ask(CHAT, text)
        assert reply.visible_text == READ_USAGE, text
    [reply] = await bot.ask(CHAT, "/read 2147483647")  # the largest id the column holds: looked up, not there
    assert reply.visible_text == "There is no article 2147483647. /headlines lists the latest ones."
    [reply] = await bot.ask(CHAT, "/subscribe ٠٧:٣٠")
    assert reply.visible_text.startswith("“٠٧:٣٠” is not a time of day.")
    await settle(bot)
    assert bot.api.sent(ADMIN) == []
    assert errors_logged(caplog) == []


async def test_forged_buttons_with_huge_or_odd_numbers_are_answered(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    [article] = await add_articles(bot.db, "Only")
    [listing] = await bot.ask(CHAT, "/headlines")
    forged = [
        "read:2147483648",
        "read:9999999999",
        "more:9999999999:5:6",
        "more:1:0:6",
        "more:1:99:6",
        "readpart:9999999999:4",
        f"readpart:{article.id}:0",
        "read:²",
        "read:1\n",
    ]
    for data in forged:
        assert await press_unchecked(bot, listing.message_id, data) == stale_button(), data
    await settle(bot)
    assert len(bot.api.sent(CHAT)) == 2  # the listing and /help: no apology, no article
    assert bot.api.sent(ADMIN) == [] and errors_logged(caplog) == []


async def press_unchecked(bot: RunningBot, message_id: int, data: str) -> str | None:
    """Press a button with any `data` under the bot's message; the text of the callback's answer."""
    query_id = bot.api.user_presses_button(CHAT, message_id, data, check_button=False)
    return await answer_text(bot, query_id)


async def answer_text(bot: RunningBot, query_id: str) -> str | None:
    answer = await bot.api.wait_for_request(
        "answerCallbackQuery", predicate=lambda r: str(r.params.get("callback_query_id")) == query_id
    )
    return answer.params.get("text")


async def test_source_commands_refuse_odd_numbers_without_an_alert(bot: RunningBot) -> None:
    for text in ["/removesource ²", "/removesource #⑤", "/removesource 99999999999", "/removesource -1"]:
        [reply] = await bot.ask(ADMIN, text)
        assert reply.visible_text == "Usage: /removesource <id>. /sources lists the ids.", text
    for text in ["/addsource http://127.0.0.1:9/feed.xml ²", "/addsource http://127.0.0.1:9/feed.xml ٣٠"]:
        [reply] = await bot.ask(ADMIN, text)
        assert reply.visible_text.startswith("Usage: /addsource <URL> [minutes]"), text
    [reply] = await bot.ask(ADMIN, "/removesource #2147483647")
    assert reply.visible_text == "There is no source #2147483647. /sources lists them."
    await settle(bot, ADMIN)
    assert not [m for m in bot.api.sent(ADMIN) if m.visible_text.startswith(("⚠️", "Sorry, something"))]


# --- admin alerts ---------------------------------------------------------------------------------------


def test_alert_throttle_counts_repeats_within_the_quiet_period() -> None:
    throttle = AlertThrottle(timedelta(minutes=10))
    assert throttle.admit("A", T0) == 0
    assert throttle.admit("A", T0 + timedelta(minutes=1)) is None
    assert throttle.admit("B", T0 + timedelta(minutes=2)) == 0  # another kind is not held back
    assert throttle.admit("A", T0 + timedelta(minutes=9, seconds=59)) is None
    assert throttle.admit("A", T0 + timedelta(minutes=10)) == 2
    assert throttle.admit("A", T0 + timedelta(minutes=25)) == 0


def test_alert_throttle_forgets_the_oldest_kinds_beyond_its_bound() -> None:
    throttle = AlertThrottle(timedelta(minutes=10), max_kinds=3)
    for n in range(5):
        assert throttle.admit(f"kind {n}", T0) == 0
    assert throttle.admit("kind 4", T0) is None  # still tracked
    assert throttle.admit("kind 0", T0) == 0  # forgotten, so it alerts again


def test_error_kind_names_the_type_and_where_in_our_code() -> None:
    def fails() -> None:
        int("²")

    try:
        fails()
    except ValueError as exc:
        kind = error_kind(exc)
    assert kind == "ValueError at test_chat_input.py:fails"  # not our package: the innermost frame
    with pytest.raises(TypeError) as raised:
        parse_int(5)  # type: ignore[arg-type]
    assert error_kind(raised.value) == "TypeError at compose/buttons.py:parse_int"
    assert error_kind(None) == "error"


async def test_a_repeated_error_alerts_admins_once_per_ten_minutes_with_the_count(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot.clock.set(T0)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(article_repo, "latest_articles", broken)
    for _ in range(3):
        [reply] = await bot.ask(CHAT, "/headlines")
        assert reply.visible_text == APOLOGY
    await settle(bot)
    [alert] = bot.api.sent(ADMIN)
    assert alert.visible_text == (
        "⚠️ newsbot: RuntimeError at handlers/articles.py:_send_headlines while handling an update (see the logs)."
    )

    # Another kind of error is not held back by the first one's quiet period.
    monkeypatch.setattr(article_repo, "get_article", broken)
    [reply] = await bot.ask(CHAT, "/read 1")
    assert reply.visible_text == APOLOGY
    await settle(bot)
    assert len(bot.api.sent(ADMIN)) == 2 and "handlers/articles.py:_load_article" in bot.api.sent(ADMIN)[1].visible_text

    bot.clock.set(T0 + timedelta(minutes=9, seconds=59))
    await bot.ask(CHAT, "/headlines")
    await settle(bot)
    assert len(bot.api.sent(ADMIN)) == 2

    bot.clock.set(T0 + timedelta(minutes=10))
    await bot.ask(CHAT, "/headlines")
    [third] = (await bot.api.wait_for_messages(ADMIN, 3))[2:]
    assert third.visible_text.startswith("⚠️ newsbot: RuntimeError at handlers/articles.py:_send_headlines")
    assert third.visible_text.endswith(
        "It happened 3 more times since the last alert (alerts: one per kind every 10 min)."
    )


async def test_jobs_still_run_and_their_errors_reach_the_admins(bot: RunningBot) -> None:
    async def failing_job(context: object) -> None:
        raise RuntimeError("a job's bug")

    bot.application.job_queue.run_once(failing_job, when=0)  # type: ignore[attr-defined]
    [alert] = await bot.api.wait_for_messages(ADMIN, 1)
    assert alert.visible_text == (
        "⚠️ newsbot: RuntimeError at test_chat_input.py:failing_job in a background job (see the logs)."
    )


# --- edited messages ------------------------------------------------------------------------------------


def test_no_handler_takes_an_edited_message() -> None:
    def update(kind: str, text: str) -> Update:
        message = {
            "message_id": 5,
            "date": 0,
            "chat": {"id": CHAT, "type": "private", "first_name": "A"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "A"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
            if text[0] == "/"
            else [],
        }
        if kind == "edited_message":
            message["edit_date"] = 1
        return Update.de_json({"update_id": 1, kind: message}, None)  # type: ignore[arg-type]

    handlers = [
        h for feature in FEATURES for h in feature.handlers() if isinstance(h, (CommandHandler, MessageHandler))
    ]
    assert len(handlers) >= 12
    for text in ["/headlines", "/read_1", "/unknown", "hello"]:
        edited, new = update("edited_message", text), update("message", text)
        assert not [h for h in handlers if h.filters.check_update(edited)], text
        assert [h for h in handlers if h.filters.check_update(new)], text  # the same text, sent new, is taken


async def test_edited_commands_are_not_run_again(bot: RunningBot) -> None:
    await add_articles(bot.db, "One")
    [reply] = await bot.ask(CHAT, "/headlines")
    bot.api.user_edits_text(CHAT, "/headlines 3")
    [reply] = await bot.ask(CHAT, "/start")
    bot.api.user_edits_text(CHAT, "/read_1")
    bot.api.user_edits_text(CHAT, "hello")
    await settle(bot)
    firsts = [m.visible_text.split("\n")[0] for m in bot.api.sent(CHAT)]
    assert firsts == ["Latest headlines", "Welcome to newsbot!", "What I can do"]


# --- /timezone ------------------------------------------------------------------------------------------

NOT_A_ZONE = "is not a timezone I know. Use an IANA name, for example /timezone Europe/Berlin"


@pytest.mark.parametrize(
    "name", ["localtime", "Factory", "posix/Europe/Berlin", "right/UTC", "posixrules", "SystemV/AST4"]
)
def test_only_iana_zones_are_user_zones(name: str) -> None:
    assert schedule.user_timezone(name) is None


@pytest.mark.parametrize(
    ("name", "zone"), [("europe/berlin", "Europe/Berlin"), ("UTC", "UTC"), ("us/eastern", "US/Eastern")]
)
def test_iana_zones_and_their_old_names_are_accepted(name: str, zone: str) -> None:
    assert schedule.user_timezone(name) == zone


async def test_timezone_refuses_what_is_not_a_zone(bot: RunningBot, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on a host whose zoneinfo directory (which available_timezones() reads) has posix/, right/ and localtime:
    # the lookup finds every name, and the IANA list must still refuse them.
    monkeypatch.setattr(schedule, "find_timezone", lambda text: text.strip())
    for name in ["localtime", "Factory", "posix/Europe/Berlin", "right/UTC"]:
        [reply] = await bot.ask(CHAT, f"/timezone {name}")
        assert reply.visible_text.startswith(f"“{name}” {NOT_A_ZONE}"), name
    monkeypatch.undo()
    [reply] = await bot.ask(CHAT, "/timezone europe/berlin")
    assert reply.visible_text.startswith("🕰 Timezone set to Europe/Berlin")
    assert bot.api.sent(ADMIN) == []


# --- buttons on inline messages -------------------------------------------------------------------------


async def test_buttons_on_inline_messages_are_answered(bot: RunningBot, caplog: pytest.LogCaptureFixture) -> None:
    [article] = await add_articles(bot.db, "One")
    buttons = ["subscribe", "settings:on", "settings:times:07:00", f"read:{article.id}", f"more:{article.id}:5:6"]
    for data in [*buttons, f"readpart:{article.id}:1"]:
        assert await answer_text(bot, bot.api.user_presses_inline_button(data, user_id=CHAT)) == not_here(), data
    assert await answer_text(bot, bot.api.user_presses_inline_button("obsolete", user_id=CHAT)) == stale_button()
    await settle(bot)
    assert bot.api.sent(ADMIN) == [] and len(bot.api.sent(CHAT)) == 1  # only the /help of settle()
    assert errors_logged(caplog) == []


async def test_a_button_under_a_message_too_old_to_include_still_answers_in_its_chat(bot: RunningBot) -> None:
    [article] = await add_articles(bot.db, "Old news")
    [listing] = await bot.ask(CHAT, "/headlines")
    bot.api.user_presses_button(CHAT, listing.message_id, f"read:{article.id}", inaccessible=True)
    [reply] = (await bot.api.wait_for_messages(CHAT, 2))[1:]
    assert reply.visible_text.startswith("Old news")
    assert bot.api.callback_answers[-1]["text"] is None
    await settle(bot)
    assert bot.api.sent(ADMIN) == []
