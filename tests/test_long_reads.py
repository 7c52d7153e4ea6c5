"""A long article comes a few messages at a time, and one busy chat holds up no other (issue 8, point 3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import delete

from compose.articles import PARTS_PER_BATCH, render_article
from storage.articles import store_article
from storage.models import Article
from tests.conftest import RunningBot
from tests.factories import add_articles, parsed

CHAT_A = 5001
CHAT_B = 5002
CONTINUE = re.compile(r"^Continue \(part (\d+) of (\d+)\)$")


async def long_article(bot: RunningBot, size: int = 200_000) -> Article:
    """An article of about `size` characters, stored directly (no feed involved)."""
    paragraphs = [f"Paragraph {n}: " + "lorem ipsum & <dolor> " * 90 + "end." for n in range(size // 2000)]
    async with bot.db.session() as session:
        result = await store_article(session, parsed("A very long read", paragraphs=paragraphs), now=datetime.now(UTC))
    return result.article


async def test_a_long_article_comes_three_messages_at_a_time(bot: RunningBot) -> None:
    article = await long_article(bot)
    expected = render_article(article)
    total = len(expected)
    assert total > 3 * PARTS_PER_BATCH + 1  # several presses, and a last batch shorter than the others

    batch = await bot.ask(CHAT_A, f"/read {article.id}", count=PARTS_PER_BATCH)
    received = list(batch)
    while True:
        assert len(batch) == min(PARTS_PER_BATCH, total - (len(received) - len(batch)))
        assert all(m.reply_markup is None for m in batch[:-1])  # only the last of a batch has a button
        if len(received) == total:
            assert batch[-1].reply_markup is None  # the end: no Continue
            break
        [(label, data)] = batch[-1].buttons
        match = CONTINUE.match(label)
        assert match is not None, label
        assert (int(match.group(1)), int(match.group(2))) == (len(received) + 1, total)
        assert data == f"readpart:{article.id}:{len(received) + 1}"
        batch = await bot.press(CHAT_A, batch[-1].message_id, data, count=min(PARTS_PER_BATCH, total - len(received)))
        received += batch

    [help_reply] = await bot.ask(CHAT_A, "/help")  # nothing else came after the last part
    assert bot.api.sent(CHAT_A)[-2].message_id == received[-1].message_id
    assert [m.text for m in received] == expected  # the whole article, in order, each part as rendered
    joined = "\n\n".join(m.visible_text for m in received)
    for paragraph in article.body.split("\n\n"):
        assert paragraph in joined
    assert all(0 < len(m.visible_text) <= 4096 for m in received)
    assert [a["text"] for a in bot.api.callback_answers] == [None] * (len(bot.api.callback_answers))


async def test_a_short_article_has_no_continue_button(bot: RunningBot) -> None:
    [article] = await add_articles(bot.db, "Short")
    [reply] = await bot.ask(CHAT_A, f"/read_{article.id}")
    assert reply.reply_markup is None and reply.visible_text.startswith("Short")


async def test_stale_continue_buttons_get_a_short_answer(bot: RunningBot) -> None:
    article = await long_article(bot, 30_000)
    batch = await bot.ask(CHAT_A, f"/read {article.id}", count=PARTS_PER_BATCH)
    total = len(render_article(article))

    async def press(data: str) -> str | None:
        query_id = bot.api.user_presses_button(CHAT_A, batch[-1].message_id, data, check_button=False)
        answer = await bot.api.wait_for_request(
            "answerCallbackQuery", predicate=lambda r: str(r.params.get("callback_query_id")) == query_id
        )
        return answer.params.get("text")

    assert await press(f"readpart:{article.id}:{total + 1}") == (
        f"Article {article.id} has changed. /read_{article.id} shows it from the start."
    )
    assert await press(f"readpart:{article.id}:0") == "This button no longer works. Send /help to start again."
    assert await press(f"readpart:{article.id}:4:5") == "This button no longer works. Send /help to start again."
    async with bot.db.session() as session:
        await session.execute(delete(Article).where(Article.id == article.id))
    assert await press(batch[-1].buttons[0][1] or "") == (
        f"Article {article.id} is no longer here. /headlines lists the latest ones."
    )
    [_] = await bot.ask(CHAT_A, "/help")
    assert len(bot.api.sent(CHAT_A)) == PARTS_PER_BATCH + 1  # no part was sent by any of those presses
    assert bot.api.sent(999) == []


async def test_other_chats_are_answered_while_one_is_being_served(bot: RunningBot) -> None:
    article = await long_article(bot)
    await add_articles(bot.db, "Headline for B")
    bot.api.hold_sends(CHAT_A)
    bot.api.user_sends_text(CHAT_A, f"/read {article.id}")
    await bot.api.wait_until_held(CHAT_A)  # A's handler is in the middle of its reply, and stays there

    [reply] = await bot.ask(CHAT_B, "/headlines")
    assert "Headline for B" in reply.visible_text
    assert bot.api.sent(CHAT_A) == [] and bot.api.held_sends(CHAT_A) == 1

    bot.api.release_sends(CHAT_A)
    parts = await bot.api.wait_for_messages(CHAT_A, PARTS_PER_BATCH)
    assert [m.text for m in parts] == render_article(article)[:PARTS_PER_BATCH]


async def test_one_chats_updates_are_answered_in_order(bot: RunningBot) -> None:
    article = await long_article(bot)
    bot.api.hold_sends(CHAT_A)
    bot.api.user_sends_text(CHAT_A, f"/read {article.id}")
    bot.api.user_sends_text(CHAT_A, "/help")
    bot.api.user_sends_text(CHAT_A, "/start")
    await bot.api.wait_until_held(CHAT_A)
    # B's update came after A's: once B is answered, A's later updates were dispatched too, and they wait their
    # turn instead of sending alongside the /read.
    await bot.ask(CHAT_B, "/help")
    assert bot.api.held_sends(CHAT_A) == 1

    bot.api.release_sends(CHAT_A)
    messages = await bot.api.wait_for_messages(CHAT_A, PARTS_PER_BATCH + 2)
    assert [m.text for m in messages[:PARTS_PER_BATCH]] == render_article(article)[:PARTS_PER_BATCH]
    assert [m.visible_text.split("\n")[0] for m in messages[PARTS_PER_BATCH:]] == [
        "What I can do",
        "Welcome to newsbot!",
    ]


async def test_many_chats_at_once_each_get_their_replies_in_order(bot: RunningBot) -> None:
    chats = range(7001, 7021)
    for chat in chats:  # every chat's three commands are queued before any is handled
        bot.api.user_sends_text(chat, "/subscribe 08:00")
        bot.api.user_sends_text(chat, "/timezone europe/berlin")
        bot.api.user_sends_text(chat, "/unsubscribe")
    for chat in chats:
        replies = await bot.api.wait_for_messages(chat, 3)
        assert [m.visible_text[:2] for m in replies] == ["✅ ", "🕰 ", "🔕 "], chat
    assert bot.api.sent(999) == []
