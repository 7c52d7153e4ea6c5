"""/search end to end (the real bot over the fake Bot API, both databases) and the storage search function: ranking,
phrases, exclusions, stemming, other scripts and accents, paging, hostile queries, and an index kept current."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from model.articles import ParsedArticle
from model.search import MAX_QUERY_CHARS, MAX_SAVED_QUERY_CHARS, QueryProblem, SearchQuery, parse_query
from storage.articles import store_article
from storage.models import Article
from storage.search import search_articles
from storage.session import Database
from storage.sources import add_source
from tests.conftest import RunningBot

CHAT = 5151
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def buttons(message) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    markup = message.reply_markup or {}
    return [(b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", []) for b in row]


async def store(
    db: Database,
    title: str,
    *paragraphs: str,
    hours_ago: float = 1,
    source_id: int | None = None,
    guid: str | None = None,
) -> Article:
    article = ParsedArticle(
        title=title,
        paragraphs=list(paragraphs) or [f"Nothing else about {title}."],
        source="Reuters",
        published_at=NOW - timedelta(hours=hours_ago),
        guid=guid,
    )
    async with db.session() as session:
        result = await store_article(session, article, now=NOW, source_id=source_id)
    return result.article


async def titles_for(db: Database, text: str, *, limit: int = 10, **kwargs: object) -> list[str]:
    query = parse_query(text)
    assert isinstance(query, SearchQuery), query
    async with db.session() as session:
        found = await search_articles(session, query, limit=limit, **kwargs)  # type: ignore[arg-type]
    return [article.title for article in found]


# ---------------------------------------------------------------------------- the parser (no database)


def test_a_query_written_back_reads_back_the_same_even_when_longer_than_typed() -> None:
    typed = " ".join(f"{letter}-{letter}" for letter in "abcdefghijkl")  # 12 terms, each 3 characters typed
    query = parse_query(typed)
    assert isinstance(query, SearchQuery)
    longest = SearchQuery(tuple((f"w{n}", f"x{n}") for n in range(12)), ())
    assert len(query.text()) > len(typed)
    for value in (query, longest, parse_query('x-y "p q" -"r s" -t ü')):
        assert isinstance(value, SearchQuery)
        written = value.text()
        assert len(written) <= MAX_SAVED_QUERY_CHARS
        assert parse_query(written, max_chars=MAX_SAVED_QUERY_CHARS) == value


def test_the_parser_keeps_words_phrases_and_exclusions_and_drops_syntax() -> None:
    query = parse_query('Oil  "Central  Bank" -sport -"world cup" AND* NEAR(x) covid-19 oil')
    assert query == SearchQuery(
        include=(("oil",), ("central", "bank"), ("and",), ("near", "x"), ("covid", "19")),
        exclude=(("sport",), ("world", "cup")),
    )
    assert query.text() == 'oil "central bank" and "near x" "covid 19" -sport -"world cup"'
    assert parse_query('"unclosed phrase here') == SearchQuery(include=(("unclosed", "phrase", "here"),))
    assert parse_query("Café ΕΛΛΆΔΑ") == SearchQuery(include=(("café",), ("ελλάδα",)))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", QueryProblem.EMPTY),
        ("   ", QueryProblem.EMPTY),
        ("x" * (MAX_QUERY_CHARS + 1), QueryProblem.TOO_LONG),
        ("?!... --- ***", QueryProblem.NO_WORDS),
        ('"" 🙂 _', QueryProblem.NO_WORDS),
        ("-oil -gas", QueryProblem.ONLY_EXCLUSIONS),
    ],
)
def test_the_parser_says_why_a_query_cannot_run(text: str, problem: QueryProblem) -> None:
    assert parse_query(text) is problem


# ---------------------------------------------------------------------------- storage, both databases


async def test_ranking_and_phrases_are_the_same_on_both_databases(database: Database) -> None:
    """Title above body; equal matches newest first; a phrase needs its words together and in order."""
    old_title = await store(database, "Oil prices rise", "Markets moved on Monday.", hours_ago=5)
    body_only = await store(database, "Markets today", "Shipping, ports and oil were in the news.", hours_ago=1)
    new_title = await store(database, "Oil prices fall", "Markets moved on Friday.", hours_ago=2)
    scattered = await store(database, "Prices of crude oil", "Markets moved on Sunday.", hours_ago=3)
    await store(database, "Weather", "Rain all week.", hours_ago=0.5)

    ids = {a.title: a.id for a in (old_title, body_only, new_title, scattered)}
    assert await titles_for(database, "oil prices") == ["Oil prices fall", "Oil prices rise", "Prices of crude oil"]
    assert await titles_for(database, '"oil prices"') == ["Oil prices fall", "Oil prices rise"]
    assert await titles_for(database, '"prices oil"') == []
    found = await titles_for(database, "oil")
    assert found[-1] == "Markets today" and set(found) == set(ids)
    assert await titles_for(database, "oil -fall -sunday") == ["Oil prices rise", "Markets today"]
    assert await titles_for(database, 'oil -"prices rise"') == [
        "Oil prices fall",
        "Prices of crude oil",
        "Markets today",
    ]
    # Paging: the same order, cut.
    assert await titles_for(database, "oil", limit=2) == found[:2]
    query = parse_query("oil")
    assert isinstance(query, SearchQuery)
    async with database.session() as session:
        assert [a.title for a in await search_articles(session, query, limit=2, offset=2)] == found[2:4]


async def test_word_forms_other_scripts_and_accents_match(database: Database) -> None:
    await store(database, "Sanctions imposed", "New sanctions were announced.")
    await store(database, "Café culture", "Les cafés de Paris ferment tard.")
    await store(database, "Москва сегодня", "Новости дня.")
    await store(database, "Ελλάδα σήμερα", "Ειδήσεις.")
    await store(database, "The covid-19 report", "Figures for the U.S. economy.")

    assert await titles_for(database, "sanction") == ["Sanctions imposed"]
    assert await titles_for(database, "announce") == ["Sanctions imposed"]
    assert await titles_for(database, "cafe") == ["Café culture"]
    assert await titles_for(database, "CAFÉS") == ["Café culture"]
    assert await titles_for(database, "москва") == ["Москва сегодня"]
    assert await titles_for(database, "МОСКВА новости") == ["Москва сегодня"]
    assert await titles_for(database, "ΕΛΛΆΔΑ") == ["Ελλάδα σήμερα"]
    assert await titles_for(database, "covid-19") == ["The covid-19 report"]
    assert await titles_for(database, '"u.s. economy"') == ["The covid-19 report"]


async def test_hostile_queries_never_reach_the_database_as_syntax(database: Database) -> None:
    await store(database, "Ordinary news", "Nothing to see.")
    hostile = [
        "news AND OR NOT NEAR",
        'news" OR "x',
        "news*",
        "title:news",
        "news & !x | y <-> z",
        "news'); DROP TABLE articles; --",
        "NEAR(news ordinary, 2)",
        "^news",
        "news -'",
    ]
    for text in hostile:
        found = await titles_for(database, text)
        assert found in ([], ["Ordinary news"]), text
    assert await titles_for(database, "news*") == ["Ordinary news"]


async def test_hidden_sources_are_left_out(database: Database) -> None:
    async with database.session() as session:
        hidden, _ = await add_source(session, "https://hidden.example/feed", interval_minutes=15, now=NOW)
        shown, _ = await add_source(session, "https://shown.example/feed", interval_minutes=15, now=NOW)
    await store(database, "Election hidden", source_id=hidden.id, guid="h1")
    await store(database, "Election shown", source_id=shown.id, guid="s1")
    await store(database, "Election from a file")
    assert sorted(await titles_for(database, "election")) == [
        "Election from a file",
        "Election hidden",
        "Election shown",
    ]
    assert sorted(await titles_for(database, "election", hidden_source_ids={hidden.id})) == [
        "Election from a file",
        "Election shown",
    ]


async def test_an_article_rewritten_by_its_feed_is_found_by_its_new_words_only(database: Database) -> None:
    async with database.session() as session:
        source, _ = await add_source(session, "https://feed.example/rss", interval_minutes=15, now=NOW)
    first = await store(database, "Storm nears the coast", "Residents prepare.", source_id=source.id, guid="g-1")
    rewritten = await store(
        database, "Hurricane makes landfall", "Thousands evacuated overnight.", source_id=source.id, guid="g-1"
    )
    assert rewritten.id == first.id  # the store path updated the row in place
    assert await titles_for(database, "hurricane evacuated") == ["Hurricane makes landfall"]
    assert await titles_for(database, "storm") == []
    assert await titles_for(database, "residents") == []


# ---------------------------------------------------------------------------- /search in the chat


async def test_search_lists_the_best_five_with_read_links_and_more(bot: RunningBot) -> None:
    bot.clock.set(NOW)
    stored = [await store(bot.db, f"Budget talks day {n}", hours_ago=10 - n) for n in range(1, 8)]
    await store(bot.db, "Unrelated story")
    newest = stored[::-1]

    [reply] = await bot.ask(CHAT, "/search budget")
    text = reply.visible_text
    assert text.startswith("Search: budget")
    for position, article in enumerate(newest[:5], start=1):
        assert f"{position}. {article.title}\nReuters · " in text
        assert f"/read_{article.id}" in text
    assert "day 2" not in text and "Unrelated" not in text
    assert buttons(reply)[:5] == [(f"📖 {i}", f"read:{a.id}") for i, a in enumerate(newest[:5], start=1)]
    more_label, more_data = buttons(reply)[5]
    assert more_label == "More ›" and len(more_data.encode()) <= 64

    [page_two] = await bot.press(CHAT, reply.message_id, more_data, count=1)
    assert page_two.visible_text.startswith("Search: budget")
    assert "6. Budget talks day 2" in page_two.visible_text and "7. Budget talks day 1" in page_two.visible_text
    assert [label for label, _ in buttons(page_two)] == ["📖 6", "📖 7"]  # nothing further: no More


async def test_a_long_query_pages_through_a_saved_query(bot: RunningBot) -> None:
    for n in range(7):
        await store(bot.db, f"Parliament votes on the national budget, part {n}", hours_ago=n + 1)
    words = " ".join(["parliament", "national", "budget", "votes", '"the national budget"', "-weather"] * 3)
    [reply] = await bot.ask(CHAT, f"/search {words}")
    assert "1. Parliament votes on the national budget, part 0" in reply.visible_text
    _, more_data = buttons(reply)[-1]
    assert more_data.startswith("search:more:")
    [page_two] = await bot.press(CHAT, reply.message_id, more_data, count=1)
    assert "6. Parliament votes on the national budget, part 5" in page_two.visible_text


async def test_search_says_when_nothing_matches_and_refuses_bad_queries(bot: RunningBot) -> None:
    await store(bot.db, "Oil prices rise")
    [reply] = await bot.ask(CHAT, "/search oil volcano")
    assert reply.visible_text == "Nothing matches oil volcano. Try fewer words, or other forms of them."
    answers = {
        "/search": "Usage: /search <words>, e.g. /search oil prices. "
        'Put a phrase in quotes ("central bank") and a minus before a word to leave it out (-sport).',
        "/search    ": "Usage: /search <words>",
        "/search " + "a" * 201: "That search is too long. Use at most 200 characters.",
        "/search ?!... *** ---": "Search for words: that query has no letters or digits.",
        "/search -oil -gas": "Tell me what to look for, not only what to leave out: add a word without a minus.",
        '/search <b>oil</b> "&amp;': 'Nothing matches "b oil b" amp.',
    }
    for question, expected in answers.items():
        [answer] = await bot.ask(CHAT, question)
        assert answer.visible_text.startswith(expected), question
    [found] = await bot.ask(CHAT, '/search OIL "prices rise" -gas')
    assert found.visible_text.startswith('Search: oil "prices rise" -gas\n\n1. Oil prices rise')


async def test_a_forged_or_stale_more_button_is_refused(bot: RunningBot) -> None:
    await store(bot.db, "Oil prices rise")
    [reply] = await bot.ask(CHAT, "/search oil")
    for data in ["search:more:999999:5", "search:more:1:99999", "search:more:x:5"]:
        pressed = bot.api.user_presses_button(CHAT, reply.message_id, data, check_button=False)
        await bot.api.wait_for_request(
            "answerCallbackQuery", predicate=lambda r, q=pressed: r.params["callback_query_id"] == q
        )
        assert bot.api.callback_answers[-1]["text"] == "This button no longer works. Send /help to start again."


async def test_search_in_a_group_and_help_lists_it(bot: RunningBot) -> None:
    await store(bot.db, "Oil prices rise")
    bot.api.user_sends_text(-700, "/search@newsbot_test_bot oil", chat_type="group")
    [reply] = await bot.api.wait_for_messages(-700, 1)
    assert reply.visible_text.startswith("Search: oil\n\n1. Oil prices rise")
    [help_reply] = await bot.ask(CHAT, "/help")
    assert '/search — Search articles: /search words "a phrase" -word' in help_reply.visible_text
