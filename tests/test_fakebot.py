"""The fake Bot API, driven by python-telegram-bot's real `telegram.Bot` over HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MessageEntity,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, CommandHandler, ContextTypes

from fakebot import FakeBotAPI, parse_html

# RetryAfter warns about its int retry_after on construction; not what these tests are about.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

TOKEN = "123456:TEST-token_abc"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    client = Bot(TOKEN, base_url=f"{api.url}/bot")
    await client.initialize()
    yield client
    await client.shutdown()


def retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def raw_post(api: FakeBotAPI, method: str, data: dict[str, Any], token: str = TOKEN) -> tuple[int, Any]:
    """A request the way PTB encodes it: form fields, non-strings JSON-encoded."""
    fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{api.url}/bot{token}/{method}", data=fields)
    return response.status_code, response.json()


# ------------------------------------------------------------------------------------------------ basics


async def test_get_me_and_send_message_round_trip(api: FakeBotAPI, bot: Bot) -> None:
    assert bot.username == api.bot_username and bot.id == api.bot_id
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Open", url="https://example.com/a?b=1")]])
    before = int(time.time())  # the date is whole seconds
    first = await bot.send_message(
        42,
        "<b>Hello</b>, <i>world</i>",
        parse_mode="HTML",
        reply_markup=markup,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    second = await bot.send_message(42, "plain")
    other = await bot.send_message(43, "elsewhere")

    assert first.text == "Hello, world" and first.chat.id == 42 and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.id == api.bot_id and first.from_user.is_bot
    assert first.entities == (MessageEntity("bold", 0, 5), MessageEntity("italic", 7, 5))
    assert first.reply_markup == markup
    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert before <= first.date.timestamp() <= time.time()

    [record, record2] = api.sent(42)
    assert record.chat_id == 42 and record.message_id == 1
    assert record.text == "<b>Hello</b>, <i>world</i>" and record.visible_text == "Hello, world"
    assert record.parse_mode == "HTML" and record2.parse_mode is None
    assert record.reply_markup == {"inline_keyboard": [[{"text": "Open", "url": "https://example.com/a?b=1"}]]}
    assert record.link_preview_options == {"is_disabled": True} and record.disable_web_page_preview is True
    assert record.sent_at <= record2.sent_at <= time.monotonic() and record.edits == []
    assert [m.visible_text for m in api.sent()] == ["Hello, world", "plain", "elsewhere"]
    assert api.send_counts_by_chat() == {42: 2, 43: 1}
    assert [(r.method, r.status) for r in api.requests] == [("getMe", 200)] + [("sendMessage", 200)] * 3


async def test_wrong_token_unknown_method_and_stats_endpoints(api: FakeBotAPI, bot: Bot) -> None:
    assert await raw_post(api, "getMe", {}, token="not-a-token") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    with pytest.raises(InvalidToken):
        await Bot("nonsense", base_url=f"{api.url}/bot").get_me()
    assert await raw_post(api, "sendPhoto", {"chat_id": 1}) == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
    )
    await bot.send_message(5, "one")
    await bot.send_message(5, "two")
    with pytest.raises(BadRequest):
        await bot.send_message(6, "<nope>", parse_mode="HTML")

    async with httpx.AsyncClient(base_url=api.url) as client:
        stats = (await client.get("/_stats")).json()
        assert stats["sent_by_chat"] == {"5": 2} and stats["total"] == 2
        assert stats["max_sends_in_any_second"] == 3  # the refused one was a request too: it counts
        assert stats["rejected_by_code"] == {"400": 1, "401": 2, "404": 1}
        assert (await client.get("/_reset")).json() == {"ok": True}
        assert (await client.get("/_stats")).json()["total"] == 0
    assert api.sent() == [] and api.requests == []


async def test_commands_chat_action_delete_and_close(api: FakeBotAPI, bot: Bot) -> None:
    await bot.set_my_commands([("start", "Start the bot"), ("help", "Show help")])
    assert api.commands == [
        {"command": "start", "description": "Start the bot"},
        {"command": "help", "description": "Show help"},
    ]
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    with pytest.raises(BadRequest, match="(?i)bot_command_invalid"):
        await bot.set_my_commands([("Bad-Name", "x")])

    assert await bot.send_chat_action(5, "typing") is True
    message = await bot.send_message(5, "to delete")
    assert await bot.delete_message(5, message.message_id) is True
    assert api.sent(5)[0].deleted
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(5, message.message_id)
    assert await bot.delete_webhook() is True
    assert await bot.close() is True
    assert await bot.log_out() is True


# ------------------------------------------------------------------------------------------------ HTML and limits


async def test_valid_html_is_accepted_with_its_entities(api: FakeBotAPI, bot: Bot) -> None:
    text = (
        '<b>bold <i>both</i></b> <a href="https://example.com/?a=1&amp;b=2">link</a> '
        '&lt;tag&gt; &quot;q&quot; &amp; &#65;&#x1F600; <span class="tg-spoiler">s</span> '
        "<tg-spoiler>t</tg-spoiler> <u>u</u><ins>i</ins> <s>s</s><strike>k</strike><del>d</del> "
        '<strong>S</strong><em>E</em> <code>c</code> <pre><code class="language-python">x = 1</code></pre> '
        "<blockquote expandable>quote</blockquote> <B>upper</B>"
    )
    message = await bot.send_message(1, text, parse_mode="HTML")
    visible = 'bold both link <tag> "q" & A😀 s t ui skd SE c x = 1 quote upper'
    assert message.text == visible
    assert api.sent(1)[0].visible_text == visible
    types = [e.type for e in message.entities]
    assert types == [
        "bold",
        "italic",
        "text_link",
        "spoiler",
        "spoiler",
        "underline",
        "underline",
        "strikethrough",
        "strikethrough",
        "strikethrough",
        "bold",
        "italic",
        "code",
        "pre",
        "expandable_blockquote",
        "bold",
    ]
    link = message.entities[2]
    assert link.url == "https://example.com/?a=1&b=2"
    assert message.parse_entity(link) == "link"
    pre = message.entities[13]
    assert pre.language == "python" and message.parse_entity(pre) == "x = 1"
    # UTF-16 offsets: the emoji counts twice, so "s" after it lands where PTB expects.
    assert message.parse_entity(message.entities[3]) == "s"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("hello <foo>x</foo>", 'Unsupported start tag "foo" at byte offset 6'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("x </b>", "Unexpected end tag at byte offset 2"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<a href>x</a>", 'Expected equal sign in declaration of an attribute of the tag "a" at byte offset 0'),
        ("<br/>", 'Unsupported start tag "br/" at byte offset 0'),
        ("Fish & chips", 'Unescaped "&" at byte offset 5'),
        ("caf\u00e9 &nbsp;", 'Unescaped "&" at byte offset 6'),
        ('<a href="/?a=1&b=2">x</a>', 'Unescaped "&" in an attribute value at byte offset 14'),
    ],
)
async def test_malformed_html_is_rejected(api: FakeBotAPI, bot: Bot, text: str, detail: str) -> None:
    with pytest.raises(BadRequest) as caught:
        await bot.send_message(1, text, parse_mode="HTML")
    # PTB strips "Bad Request: " and capitalize()s the rest, so compare case-insensitively...
    assert caught.value.message.lower().startswith(f"can't parse entities: {detail}".lower())
    # ...and exactly against what the server answered.
    rejected = api.requests[-1]
    assert rejected.status == 400 and rejected.description is not None
    assert rejected.description.startswith(f"Bad Request: can't parse entities: {detail}")
    assert api.sent() == []


def test_parser_can_be_as_lenient_as_telegram_about_ampersands() -> None:
    assert parse_html("AT&T &nbsp;", strict_ampersand=False).text == "AT&T &nbsp;"
    assert parse_html("&lt&gt", strict_ampersand=False).text == "<>"


async def test_message_length_counts_visible_utf16_units(api: FakeBotAPI, bot: Bot) -> None:
    await bot.send_message(1, "<b>" + "x" * 4000 + "</b><i>" + "y" * 96 + "</i>", parse_mode="HTML")
    await bot.send_message(1, "&amp;" * 4096, parse_mode="HTML")  # each entity is one character
    await bot.send_message(1, "\U0001f600" * 2048)  # 4096 UTF-16 units
    await bot.send_message(1, "  " + "z" * 4096 + "\n")  # surrounding whitespace is trimmed first
    assert [len(m.visible_text) for m in api.sent(1)] == [4096, 4096, 2048, 4096]
    for too_long, mode in [
        ("<b>" + "x" * 4097 + "</b>", "HTML"),
        ("&amp;" * 4097, "HTML"),
        ("\U0001f600" * 2048 + "a", None),
        ("x" * 4097, None),
    ]:
        with pytest.raises(BadRequest, match="Message is too long"):
            await bot.send_message(1, too_long, parse_mode=mode)
    for empty, mode in [("<b></b>", "HTML"), (" \n ", None), ("", None)]:
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(1, empty, parse_mode=mode)
    assert len(api.sent(1)) == 4


async def test_inline_keyboard_validation(api: FakeBotAPI, bot: Bot) -> None:
    ok = InlineKeyboardMarkup([[InlineKeyboardButton("64", callback_data="d" * 64)]])
    await bot.send_message(1, "fine", reply_markup=ok)
    for data in ["d" * 65, "\u00e9" * 33]:  # 65 and 66 bytes
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("big", callback_data=data)]])
        with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
            await bot.send_message(1, "too much data", reply_markup=markup)
    assert api.requests[-1].description == "Bad Request: BUTTON_DATA_INVALID"

    for button in [
        {"text": "no action"},
        {"callback_data": "x"},
        {"text": "both", "callback_data": "x", "url": "https://e.com"},
    ]:
        status, body = await raw_post(
            api, "sendMessage", {"chat_id": 1, "text": "t", "reply_markup": {"inline_keyboard": [[button]]}}
        )
        assert status == 400 and body["ok"] is False and body["error_code"] == 400
        assert body["description"].startswith("Bad Request: can't parse inline keyboard button")
    assert len(api.sent(1)) == 1


# ------------------------------------------------------------------------------------------------ edits and buttons


async def test_edit_message_text_and_markup(api: FakeBotAPI, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    sent = await bot.send_message(9, "<b>v1</b>", parse_mode="HTML", reply_markup=keyboard)
    edited = await bot.edit_message_text(
        "<i>v2</i>", chat_id=9, message_id=sent.message_id, parse_mode="HTML", reply_markup=keyboard
    )
    assert isinstance(edited, type(sent)) and edited.text == "v2" and edited.edit_date is not None
    record = api.sent(9)[-1]
    assert (record.text, record.visible_text, record.original_visible_text) == ("<i>v2</i>", "v2", "v1")
    assert [e.visible_text for e in record.edits] == ["v2"]

    with pytest.raises(BadRequest, match="Message is not modified: specified new message content"):
        await bot.edit_message_text(
            "<i>v2</i>", chat_id=9, message_id=sent.message_id, parse_mode="HTML", reply_markup=keyboard
        )
    assert api.requests[-1].description == (
        "Bad Request: message is not modified: specified new message content and reply markup are exactly the same "
        "as a current content and reply markup of the message"
    )
    # Same text without the markup is a change: it removes the keyboard.
    await bot.edit_message_text("<i>v2</i>", chat_id=9, message_id=sent.message_id, parse_mode="HTML")
    assert api.sent(9)[-1].reply_markup is None
    changed = await bot.edit_message_reply_markup(chat_id=9, message_id=sent.message_id, reply_markup=keyboard)
    assert isinstance(changed, type(sent)) and changed.reply_markup == keyboard
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=9, message_id=999)
    with pytest.raises(BadRequest, match="Can't parse entities"):
        await bot.edit_message_text("<b>x", chat_id=9, message_id=sent.message_id, parse_mode="HTML")
    assert len(api.sent(9)[-1].edits) == 3


async def test_user_presses_button_and_bot_answers(api: FakeBotAPI, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="vote:yes")]])
    sent = await bot.send_message(11, "Vote?", reply_markup=keyboard)
    with pytest.raises(ValueError, match="no button"):
        api.user_presses_button(11, sent.message_id, "vote:no")
    query_id = api.user_presses_button(11, sent.message_id, "vote:yes")

    [update] = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert query is not None and query.id == query_id and query.data == "vote:yes"
    assert query.from_user.id == 11 and query.message is not None
    assert query.message.message_id == sent.message_id and query.message.text == "Vote?"
    assert query.message.reply_markup == keyboard

    assert await bot.answer_callback_query(query_id, text="Counted") is True
    [answer] = api.callback_answers
    assert answer["text"] == "Counted" and answer["data"] == "vote:yes" and answer["message_id"] == sent.message_id
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query_id)
    record = await api.wait_for_request("answerCallbackQuery", predicate=lambda r: r.status == 400)
    assert record.params["callback_query_id"] == query_id


async def test_user_edits_a_message_and_presses_a_button_on_an_inline_message(api: FakeBotAPI, bot: Bot) -> None:
    api.user_sends_text(12, "/headlines")
    api.user_edits_text(12, "/headlines 3")
    query_id = api.user_presses_inline_button("read:5", user_id=12, inline_message_id="INLINE1")
    original, edited, pressed = await bot.get_updates(timeout=1)

    assert original.message is not None and edited.edited_message is not None
    assert edited.edited_message.message_id == original.message.message_id
    assert edited.edited_message.text == "/headlines 3" and edited.edited_message.edit_date is not None
    assert edited.edited_message.entities == (MessageEntity("bot_command", 0, 10),)
    query = pressed.callback_query
    assert query is not None and query.id == query_id and query.data == "read:5"
    assert query.message is None and query.inline_message_id == "INLINE1" and pressed.effective_chat is None
    assert await bot.answer_callback_query(query_id, text="Not here") is True
    assert api.callback_answers[-1]["chat_id"] == 0 and api.callback_answers[-1]["text"] == "Not here"
    with pytest.raises(ValueError, match="no message 99"):
        api.user_edits_text(12, "x", message_id=99)


async def test_held_sends_wait_until_released(api: FakeBotAPI, bot: Bot) -> None:
    api.hold_sends(13)
    held = asyncio.create_task(bot.send_message(13, "held"))
    await api.wait_until_held(13)
    await bot.send_message(14, "other chats are not held")
    assert api.sent(13) == [] and not held.done() and api.held_sends(13) == 1
    api.release_sends(13)
    assert (await held).text == "held"
    await bot.send_message(13, "no longer held")
    assert [m.text for m in api.sent(13)] == ["held", "no longer held"] and api.held_sends(13) == 1
    with pytest.raises(AssertionError, match="held sendMessage"):
        await api.wait_until_held(13, 2, timeout=0.1)


# ------------------------------------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    ("kind", "exception", "check"),
    [
        ("429", RetryAfter, lambda e: retry_after_seconds(e) == 7),
        ("403", Forbidden, lambda e: e.message == "Forbidden: bot was blocked by the user"),
        ("chat_not_found", BadRequest, lambda e: e.message == "Chat not found"),
        ("500", NetworkError, lambda e: type(e) is NetworkError and e.message == "Internal Server Error"),
        ("502", NetworkError, lambda e: type(e) is NetworkError and e.message == "Bad Gateway"),
        ("migrate", ChatMigrated, lambda e: e.new_chat_id == -1001234),
        ("parse", BadRequest, lambda e: e.message.startswith("Can't parse entities")),
    ],
)
async def test_fault_kinds_map_to_ptb_exceptions(
    api: FakeBotAPI, bot: Bot, kind: Any, exception: type[TelegramError], check: Any
) -> None:
    api.fail_chat(-500, kind, times=2, retry_after=7, migrate_to=-1001234)
    for _ in range(2):
        with pytest.raises(exception) as caught:
            await bot.send_message(-500, "plain text")
        assert check(caught.value), caught.value
    message = await bot.send_message(-500, "third time lucky")  # `times` ran out
    assert message.chat.type == "group" and [m.visible_text for m in api.sent(-500)] == ["third time lucky"]
    assert await bot.send_message(-501, "other chats are fine")


async def test_timeout_fault_makes_the_client_time_out(api: FakeBotAPI, bot: Bot) -> None:
    api.timeout_delay = 3600.0  # the server would answer 504 only then: the client's timeout ends it
    api.fail_chat(1, "timeout", times=1)
    with pytest.raises(TimedOut):
        await bot.send_message(1, "slow", read_timeout=0.2)
    record = await api.wait_for_request("sendMessage")
    assert record.status == 499  # the client hung up while the server held the request
    assert (await bot.send_message(1, "fast")).text == "fast"
    assert [m.text for m in api.sent(1)] == ["fast"]


async def test_faults_apply_to_edits_forever_until_cleared(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(3, "v1")
    api.fail_chat(3, "403")
    for _ in range(3):
        with pytest.raises(Forbidden):
            await bot.edit_message_text("v2", chat_id=3, message_id=sent.message_id)
        with pytest.raises(Forbidden):
            await bot.send_message(3, "again")
    api.clear_faults()
    await bot.edit_message_text("v2", chat_id=3, message_id=sent.message_id)
    assert api.sent(3)[0].visible_text == "v2"


def test_fault_ratio_picks_chats_deterministically() -> None:
    api, again = FakeBotAPI(), FakeBotAPI()
    api.set_fault_ratio(0.1)
    again.set_fault_ratio(0.1)
    picks = {chat: api.fault_for_ratio(chat) for chat in range(10_000)}
    assert picks == {chat: again.fault_for_ratio(chat) for chat in range(10_000)}
    faulty = [kind for kind in picks.values() if kind is not None]
    assert 800 < len(faulty) < 1200 and set(faulty) == {"429", "500", "502", "timeout", "403"}


# ------------------------------------------------------------------------------------------------ rates and latency


async def test_global_rate_enforcement(api: FakeBotAPI, bot: Bot) -> None:
    api.rate_clock = lambda: 1000.0  # all eight arrive within the same second, however slowly they come
    api.enforce_rate(5)
    results = await asyncio.gather(*(bot.send_message(100 + i, f"m{i}") for i in range(8)), return_exceptions=True)
    limited = [r for r in results if isinstance(r, RetryAfter)]
    assert len(limited) == 3 and all(retry_after_seconds(r) == 1 for r in limited)
    assert api.max_sends_in_any_second() == 5 and len(api.sent()) == 5
    assert sum(1 for r in api.requests if r.status == 429) == 3


async def test_per_chat_rate_enforcement_and_latency(api: FakeBotAPI, bot: Bot) -> None:
    api.enforce_per_chat_rate(1)
    api.latency = 0.05
    now = [1000.0]
    api.rate_clock = lambda: now[0]  # arrivals are counted on the test's clock
    started = time.monotonic()
    await bot.send_message(1, "first")
    assert time.monotonic() - started >= 0.05  # a lower bound: the latency was spent
    now[0] += 0.999
    with pytest.raises(RetryAfter):
        await bot.send_message(1, "second, too soon")
    now[0] += 0.001
    await bot.send_message(1, "a second after the first")
    await bot.send_message(2, "another chat")
    assert api.send_counts_by_chat() == {1: 2, 2: 1}
    assert api.max_sends_in_any_second(1) == 1 and api.max_sends_in_any_second() == 2


# ------------------------------------------------------------------------------------------------ updates


async def test_long_poll_returns_as_soon_as_an_update_is_queued(api: FakeBotAPI, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=0.3) == ()
    assert time.monotonic() - started > 0.25  # it waited out its timeout (a lower bound: a slow machine waits longer)

    # A poll that would wait an hour: it can only return because the update came.
    poll = asyncio.create_task(bot.get_updates(timeout=3600))
    await api.wait_until_polling()  # the server holds it, with nothing to answer
    assert not poll.done()
    first_id = api.user_sends_text(5, "hello")
    [update] = await asyncio.wait_for(poll, 30)  # only reached if it did not return
    assert update.update_id == first_id and update.message is not None and update.message.text == "hello"

    second_id = api.user_sends_text(5, "again")
    assert [u.update_id for u in await bot.get_updates()] == [first_id, second_id]  # not confirmed yet
    assert [u.update_id for u in await bot.get_updates(offset=first_id + 1)] == [second_id]
    assert len(api.pending_updates) == 1
    consumed = asyncio.create_task(api.wait_until_updates_consumed(timeout=5))
    await asyncio.sleep(0)  # one turn of the loop: the task has looked at the queue and waits
    assert not consumed.done()
    assert await bot.get_updates(offset=second_id + 1) == ()
    await consumed
    assert api.pending_updates == []


async def test_user_text_becomes_a_command_ptb_recognises(api: FakeBotAPI, bot: Bot) -> None:
    handler = CommandHandler("read", lambda u, c: None)  # type: ignore[arg-type,return-value]
    api.user_sends_text(7, "/read 12 34")
    api.user_sends_text(-100500, f"/read@{api.bot_username} 5", chat_type="group", user_id=77)
    api.user_sends_text(-100500, "/read@someone_else_bot 5", chat_type="group", user_id=77)
    api.user_sends_text(7, "just text")
    private, group, foreign, plain = await bot.get_updates(timeout=1)

    assert private.message is not None and private.message.entities == (MessageEntity("bot_command", 0, 5),)
    assert private.effective_user is not None and private.effective_user.id == 7
    assert handler.check_update(private)[0] == ["12", "34"]  # type: ignore[index]
    assert group.message is not None and group.message.chat.type == "group"
    assert group.message.entities[0].length == len(f"/read@{api.bot_username}")
    assert group.effective_user is not None and group.effective_user.id == 77
    assert handler.check_update(group)[0] == ["5"]  # type: ignore[index]
    assert not handler.check_update(foreign)
    assert plain.message is not None and plain.message.entities == ()
    assert not handler.check_update(plain)
    raw_id = api.push_update(
        {"message": {"message_id": 99, "date": 0, "chat": {"id": 1, "type": "private"}, "text": "raw"}}
    )
    assert (await bot.get_updates(offset=plain.update_id + 1))[0].update_id == raw_id


async def test_wait_helpers_fail_with_a_clear_message(api: FakeBotAPI, bot: Bot) -> None:
    await bot.send_message(1, "only one")
    with pytest.raises(AssertionError, match=r"(?s)2 message\(s\) to chat 1; got 1:.*only one"):
        await api.wait_for_messages(1, 2, timeout=0.1)
    with pytest.raises(AssertionError, match="waiting for a deleteMessage request"):
        await api.wait_for_request("deleteMessage", timeout=0.1)
    api.user_sends_text(1, "nobody reads this")
    with pytest.raises(AssertionError, match="still queued"):
        await api.wait_until_updates_consumed(timeout=0.1)


async def test_a_real_application_polls_and_replies(api: FakeBotAPI) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html(f"<b>echo</b> {' '.join(context.args or [])}")

    application = (
        Application.builder().token(TOKEN).base_url(f"{api.url}/bot").base_file_url(f"{api.url}/file/bot").build()
    )
    application.add_handler(CommandHandler("echo", echo))
    # Its long polls would wait an hour: stopping cannot wait for one to end, only cut it short.
    async with asyncio.timeout(60), application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=3600, allowed_updates=Update.ALL_TYPES)
        api.user_sends_text(21, "/echo hi there")
        [reply] = await api.wait_for_messages(21, 1)
        assert reply.visible_text == "echo hi there" and reply.parse_mode == "HTML"
        await api.wait_until_updates_consumed()
        await api.wait_until_polling()  # the next long poll is in progress
        await application.updater.stop()
        await application.stop()
    assert not api.internal_errors


def test_cli_serves_stats_in_its_own_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fakebot", "--port", "0", "--latency", "0.01", "--rate", "30", "--fault-ratio", "0.1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("fakebot listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        healthy = next(chat for chat in range(1, 1000) if ratio_fault(chat) is None)
        response = httpx.post(f"{url}/bot{TOKEN}/sendMessage", data={"chat_id": str(healthy), "text": "hi"})
        assert response.json()["result"]["text"] == "hi"
        stats = httpx.get(f"{url}/_stats").json()
        assert stats["sent_by_chat"] == {str(healthy): 1} and stats["total"] == 1
        assert stats["max_sends_in_any_second"] == 1 and stats["rejected_by_code"] == {}
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def ratio_fault(chat_id: int) -> str | None:
    api = FakeBotAPI()
    api.set_fault_ratio(0.1)
    return api.fault_for_ratio(chat_id)
