"""Inline mode end to end: '@bot words' answered with articles (the fake validates the answer as Telegram does),
an empty query answered with the latest headlines, and the deep link /start read_<id> that the posted message
carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fakebot import FakeBotAPI
from model.articles import ParsedArticle
from storage.articles import store_article
from storage.models import Article
from storage.session import Database
from tests.conftest import RunningBot

USER = 6161
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DEEP_LINK = "https://t.me/newsbot_test_bot?start=read_{}"


async def store(
    db: Database, title: str, *, hours_ago: float = 1, source: str | None = "Reuters", url: str | None = None
) -> Article:
    article = ParsedArticle(
        title=title,
        paragraphs=[f"The story of {title}.", "More of it."],
        source=source,
        url=url,
        published_at=NOW - timedelta(hours=hours_ago),
    )
    async with db.session() as session:
        return (await store_article(session, article, now=NOW)).article


async def ask_inline(api: FakeBotAPI, query: str, offset: str = ""):  # type: ignore[no-untyped-def]
    query_id = api.user_sends_inline_query(USER, query, offset)
    return await api.wait_for_inline_answer(query_id)


async def test_an_inline_query_lists_matching_articles_to_post(bot: RunningBot) -> None:
    bot.clock.set(NOW)
    match = await store(bot.db, "Oil <prices> & rise", hours_ago=3, url="https://news.example/oil?a=1&b=2")
    older = await store(bot.db, "Oil output steady", hours_ago=30, source=None)
    await store(bot.db, "Weather report")

    answer = await ask_inline(bot.api, "oil")
    assert answer.is_personal and answer.cache_time is not None and 0 < answer.cache_time <= 60
    assert [r.id for r in answer.results] == [str(match.id), str(older.id)]
    first, second = answer.results
    assert (first.title, first.description) == ("Oil <prices> & rise", "Reuters · 3 h ago")
    assert (second.title, second.description) == ("Oil output steady", "1 d ago")
    assert first.visible_text == "Oil <prices> & rise\nReuters\nRead the article · Open in the bot"
    assert first.links == ["https://news.example/oil?a=1&b=2", DEEP_LINK.format(match.id)]
    assert second.visible_text == "Oil output steady\nOpen in the bot"
    assert second.links == [DEEP_LINK.format(older.id)]
    assert answer.next_offset == ""


async def test_an_empty_inline_query_lists_the_latest_headlines(bot: RunningBot) -> None:
    stored = [await store(bot.db, f"Story {n}", hours_ago=30 - n) for n in range(22)]
    answer = await ask_inline(bot.api, "")
    assert [r.title for r in answer.results] == [a.title for a in stored[::-1][:20]]
    assert answer.next_offset == ""


async def test_inline_results_scroll_and_bad_queries_get_no_results(bot: RunningBot) -> None:
    stored = [await store(bot.db, f"Market update {n}", hours_ago=30 - n) for n in range(25)]
    first_page = await ask_inline(bot.api, "market")
    assert len(first_page.results) == 20 and first_page.next_offset == "20"
    second_page = await ask_inline(bot.api, "market", first_page.next_offset)
    assert [r.title for r in second_page.results] == [a.title for a in stored[4::-1]]
    assert second_page.next_offset == ""
    for query, offset in [("?!...", ""), ("-market", ""), ("market", "999"), ("market", "x"), ("volcano", "")]:
        answer = await ask_inline(bot.api, query, offset)
        assert answer.results == [] and answer.next_offset == "", (query, offset)


async def test_the_deep_link_opens_the_article_in_the_private_chat(bot: RunningBot) -> None:
    article = await store(bot.db, "Oil prices rise")
    [reply] = await bot.ask(USER, f"/start read_{article.id}")
    assert reply.visible_text.startswith("Oil prices rise")
    assert "The story of Oil prices rise." in reply.visible_text
    [unknown] = await bot.ask(USER, "/start read_999999")
    assert unknown.visible_text == "There is no article 999999. /headlines lists the latest ones."
    for payload in ["read_x", "read_99999999999", "other"]:
        [welcome] = await bot.ask(USER, f"/start {payload}")
        assert "Welcome to newsbot" in welcome.visible_text, payload


async def test_the_fake_refuses_answers_telegram_would_refuse(fake_api: FakeBotAPI) -> None:
    import httpx

    def article(result_id: str, text: str = "<b>ok</b>") -> dict[str, object]:
        return {"type": "article", "id": result_id, "title": "T",
                "input_message_content": {"message_text": text, "parse_mode": "HTML"}}  # fmt: skip

    cases = {
        "RESULTS_TOO_MUCH": [article(str(n)) for n in range(51)],
        "RESULT_ID_DUPLICATE": [article("1"), article("1")],
        "RESULT_ID_INVALID": [article("x" * 65)],
        "can't parse entities": [article("1", "<b>unclosed")],
    }
    url = f"{fake_api.url}/bot1:abc/answerInlineQuery"
    async with httpx.AsyncClient() as client:
        for expected, results in cases.items():
            query_id = fake_api.user_sends_inline_query(USER, "q")
            answer = (await client.post(url, json={"inline_query_id": query_id, "results": results})).json()
            assert not answer["ok"] and expected in answer["description"], expected
        query_id = fake_api.user_sends_inline_query(USER, "q")
        ok = (await client.post(url, json={"inline_query_id": query_id, "results": [article("1")]})).json()
        assert ok["ok"]
        again = (await client.post(url, json={"inline_query_id": query_id, "results": []})).json()
        assert not again["ok"] and "query is too old" in again["description"]
        me = (await client.post(f"{fake_api.url}/bot1:abc/getMe")).json()["result"]
        assert me["username"] == "newsbot_test_bot" and me["supports_inline_queries"] is True
    assert [r.visible_text for r in fake_api.inline_answers[-1].results] == ["ok"]
