"""The text cleaner (model.text) and the types that apply it: whatever Unicode comes in, what ingest hands
to storage encodes as UTF-8, holds no NUL or other control character, fits its column and renders as Telegram
HTML. The same for feeds with hostile text, deep nesting and entries that fail to convert."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import String

from compose.articles import render_article
from compose.html import MESSAGE_LIMIT
from fakebot.html import parse_html, utf16_len
from ingest import feeds
from ingest.feeds import FeedError, discover_feed_links, parse_feed, sniff
from ingest.pages import PageText, page_article
from ingest.plaintext import parse_plaintext
from model.articles import (
    MAX_DATELINE_CHARS,
    MAX_FEED_TITLE_CHARS,
    MAX_LANGUAGE_CHARS,
    MAX_NAME_CHARS,
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    ParsedArticle,
)
from model.identity import MAX_GUID_CHARS
from model.text import clean_line, clean_text, clean_url
from storage.models import Article, Source
from tests.conftest import DATA

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
FEEDS = DATA / "feeds"
# Cc characters the cleaner keeps.
KEPT_CONTROLS = {"\n", "\t"}


def is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


def storable(text: str) -> bool:
    """What both databases take: strict UTF-8, no NUL, no other control character but newline and tab."""
    text.encode("utf-8")  # raises on a lone surrogate
    return not any(is_control(char) and char not in KEPT_CONTROLS for char in text)


# ---------------------------------------------------------------------------- the cleaner


@pytest.mark.parametrize(
    "text",
    ["Harbour reopens", "Ünïcödé — “quotes” 😀 👩‍👩‍👧", "tab\there\nand a line", "nbsp\xa0and\u2009thin", "", "\ufffd"],
)
def test_clean_text_leaves_clean_text_alone(text: str) -> None:
    assert clean_text(text) is text


def test_lone_surrogates_become_replacement_characters_and_pairs_their_character() -> None:
    assert clean_text("a\ud83db") == "a\ufffdb"
    assert clean_text("\udc00 end \ud83d") == "\ufffd end \ufffd"
    assert clean_text("pair \ud83d\ude00 joined") == "pair 😀 joined"  # as surrogateescape or UTF-16 data holds it


def test_control_characters_go_but_words_stay_apart() -> None:
    assert clean_text("Nul\x00 byte\x01\x08\x1b\x7f\x80\x9b here") == "Nul byte here"
    # Line and word separators are replaced, not removed: "two\x0cwords" must not become "twowords".
    assert clean_text("a\r\nb\rc\x0bd\x0ce\x1cf\x85g\u2028h\u2029i\x1fj") == "a\nb\nc\nd\ne\nf\ng\nh\ni j"
    assert clean_text("keep\ttab\nand newline") == "keep\ttab\nand newline"


def test_clean_line_is_one_line_within_its_limit() -> None:
    assert clean_line("  Two\n\nlines\u2028and\x00 more  ") == "Two lines and more"
    assert clean_line("x" * 50, 35) == "x" * 35
    assert clean_line("word " * 10, 12) == "word word wo"
    assert clean_line("ab cd", 3) == "ab"  # no trailing space after the cut


def test_clean_url_drops_what_a_cut_would_break() -> None:
    assert clean_url(" https://example.org/a\x00b ", 100) == "https://example.org/ab"
    assert clean_url("https://example.org/" + "a" * 100, 50) is None
    assert clean_url("", 50) is None and clean_url(None, 50) is None


# ---------------------------------------------------------------------------- arbitrary Unicode

# Every code point hypothesis can draw (surrogates included), with lone surrogates and controls made common.
ANY_CHAR = st.one_of(
    st.characters(exclude_categories=()),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.characters(min_codepoint=0x00, max_codepoint=0x9F),
    st.sampled_from(["\x00", "\u2028", "\u2029", "\r", "<", "&", ">", '"', "\ufeff", "\u200d"]),
)


def any_text(max_size: int) -> st.SearchStrategy[str]:
    # Not st.text(alphabet=ANY_CHAR): that merges the branches into one range, where surrogates are rarely drawn.
    return st.lists(ANY_CHAR, max_size=max_size).map("".join)


ANY_TEXT = any_text(300)


@given(ANY_TEXT)
def test_cleaned_text_is_storable_and_cleaning_is_idempotent(text: str) -> None:
    cleaned = clean_text(text)
    assert storable(cleaned)
    assert clean_text(cleaned) == cleaned


@given(ANY_TEXT, st.integers(min_value=1, max_value=400))
def test_cleaned_line_is_storable_one_line_and_within_its_limit(text: str, limit: int) -> None:
    line = clean_line(text, limit)
    assert storable(line)
    assert len(line) <= limit and "\n" not in line and line == line.strip()
    assert clean_line(line, limit) == line


@given(
    title=ANY_TEXT,
    paragraphs=st.lists(any_text(2000), max_size=4),
    source=ANY_TEXT,
    authors=st.lists(ANY_TEXT, max_size=3),
    dateline=ANY_TEXT,
    url=ANY_TEXT,
    guid=ANY_TEXT,
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # CI shares its cores
def test_any_parsed_article_is_storable_and_renders_as_valid_telegram_html(
    title: str, paragraphs: list[str], source: str, authors: list[str], dateline: str, url: str, guid: str
) -> None:
    article = ParsedArticle(title=title, paragraphs=paragraphs, source=source, authors=authors, dateline=dateline,
                            url="https://example.org/" + url, guid=guid, topics=authors)  # fmt: skip
    texts = [article.title, article.body, article.lead, *article.authors, *article.topics]
    texts += [value for value in (article.source, article.dateline, article.url, article.guid) if value is not None]
    assert all(storable(text) for text in texts)
    assert len(article.title) <= MAX_TITLE_CHARS and len(article.source or "") <= MAX_SOURCE_CHARS
    assert len(article.dateline or "") <= MAX_DATELINE_CHARS and len(article.url or "") <= MAX_URL_CHARS
    assert all(len(name) <= MAX_NAME_CHARS for name in article.authors + article.topics)
    article.fingerprint()  # hashes the UTF-8 of title and body: raises on what cannot be encoded

    stored = SimpleNamespace(id=7, title=article.title, lead=article.lead, body=article.body, authors=article.authors,
                             source=article.source, dateline=article.dateline, url=article.url, published_at=NOW,
                             ingested_at=NOW, topics=article.topics)  # fmt: skip
    for message in render_article(stored):
        parsed = parse_html(message)  # raises EntityParseError as Telegram would answer "can't parse entities"
        assert parsed.text.strip() and utf16_len(parsed.text) <= MESSAGE_LIMIT


def test_every_assignment_is_cleaned_not_only_construction() -> None:
    article = ParsedArticle(title="T\x00itle", paragraphs=["One\x00.", "\x00", ""], authors=["", "Ann\ud83d"])
    assert (article.title, article.paragraphs, article.authors) == ("Title", ["One."], ["Ann\ufffd"])
    assert replace(article, title="New\x00").title == "New"
    article.source = "S" * 300  # the feed service names articles after their source row, whose title may be 300 long
    assert article.source == "S" * MAX_SOURCE_CHARS
    article.url = "https://example.org/" + "a" * MAX_URL_CHARS
    assert article.url is None


def test_clean_text_keeps_its_fingerprint_and_entry_hash() -> None:
    """Values computed before the cleaner existed: clean articles and feeds are the same stories to storage."""
    article = parse_plaintext((DATA / "reuters-kremlin-talks.txt").read_text())
    assert article.fingerprint() == "456712ae85bf622ccdbd37685512aac8ce2ec1d8c950ba21f455d54eb8d1124b"
    feed = parse_feed(_load("jsonfeed.json"), url="http://127.0.0.1:1/lake.json", now=NOW)
    assert [(e.entry_hash, e.article.fingerprint()) for e in feed.entries] == [
        ("ae9e55bdc5c9b04ba7f629a3369ccee5ec7c36a27e42a20d983488deb32cb4e0",
         "138a712f6c53b2b49f96c973ca15da4ef7b75814ef20ca65506aadfcb6330982"),
        ("72550059b4841c49f1f708c7d410ac687d2f6b491f66dd1eeff8021a20ee211a",
         "11cbbc851928939f54c2660410fec55d92c0529dbc186b78a5154a1286c43386"),
    ]  # fmt: skip
    feed = parse_feed(_load("rss2-content-encoded.xml"), url="http://127.0.0.1:1/f", now=NOW)
    assert [e.entry_hash[:16] for e in feed.entries] == ["e68ed3b07e77407d", "fbf0c413394e7c8a", "09b97a77fbe67328"]


def test_the_column_sizes_are_the_ingest_limits() -> None:
    """One source of truth: ingest cuts to these lengths, the schema (and its migrations) sizes columns with them."""
    expected = {
        Article.source: MAX_SOURCE_CHARS, Article.dateline: MAX_DATELINE_CHARS, Article.guid: MAX_GUID_CHARS,
        Article.canonical_url: MAX_URL_CHARS, Source.title: MAX_FEED_TITLE_CHARS, Source.site_url: MAX_URL_CHARS,
        Source.language: MAX_LANGUAGE_CHARS, Source.url: MAX_URL_CHARS,
    }  # fmt: skip
    for column, limit in expected.items():
        assert isinstance(column.type, String) and column.type.length == limit, column
    # Unbounded columns that ingest fills: text, or JSON lists whose items ingest bounds itself.
    for column in (Article.title, Article.lead, Article.body, Article.url, Article.authors, Article.topics):
        assert getattr(column.type, "length", None) is None, column


# ---------------------------------------------------------------------------- parsers


def _load(name: str) -> bytes:
    return (FEEDS / name).read_bytes().replace(b"{{BASE}}", b"http://127.0.0.1:1")


def hostile_json_feed(base: str = "https://hostile.example", **extra: object) -> bytes:
    """A JSON Feed whose metadata and entries carry what broke storage: lone surrogates, NUL, long values."""
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Hostile \ud83d Gazette\x00 " + "t" * 320,
        "home_page_url": f"{base}/",
        "language": "en-GB-x-" + "a" * 42,  # 50 characters: sources.language holds 35
        "items": [
            {
                "id": "lone",
                "url": f"{base}/lone",
                "title": "Lone \ud83d surrogate",
                "content_text": "A lone \ud83d surrogate in the body.",
                "authors": [{"name": "Ann \udc00 Lee"}],
            },
            {
                "id": "nul",
                "url": f"{base}/nul",
                "title": "NUL\x00 in the title",
                "content_html": "<p>NUL\x00 and \ud83d in HTML.</p><p>Second paragraph.</p>",
                "tags": ["a\x00b"],
            },
            {
                "id": "date",
                "url": f"{base}/date",
                "title": "Date out of range",
                "content_text": "Year 9999 west of UTC.",
                "date_published": "9999-12-31T23:59:59-23:59",
            },
            {"id": "link", "url": "http://[broken/link", "title": "Broken link", "content_text": "An IPv6 typo."},
            {
                "id": "explodes",
                "url": f"{base}/explodes",
                "title": "Explodes",
                "content_text": "Conversion of this entry raises.",
            },
            {
                "id": "fine",
                "url": f"{base}/fine",
                "title": "Ordinary story",
                "content_text": "Nothing odd here.",
                "date_published": "2026-03-05T08:00:00Z",
            },
        ],
        **extra,
    }
    return json.dumps(document).encode()  # ASCII with \u escapes, as real feeds send lone surrogates


def explode_on(monkeypatch: pytest.MonkeyPatch, entry_id: str) -> None:
    """Conversion of the entry with this id raises, as an unforeseen bug in a converter would."""
    convert = feeds._json_entry

    def failing(item: dict, **kwargs: object):  # type: ignore[no-untyped-def, type-arg]
        if item.get("id") == entry_id:
            raise TypeError("unsupported operand type(s) for +: 'int' and 'dict'")
        return convert(item, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(feeds, "_json_entry", failing)


def test_hostile_json_feed_gives_clean_entries_and_skips_only_the_one_that_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    explode_on(monkeypatch, "explodes")
    with caplog.at_level(logging.WARNING, logger="ingest.feeds"):
        feed = parse_feed(hostile_json_feed(), url="https://hostile.example/feed.json", now=NOW)
    assert feed.title == ("Hostile \ufffd Gazette " + "t" * 320)[:MAX_FEED_TITLE_CHARS]
    assert feed.language == ("en-GB-x-" + "a" * 42)[:MAX_LANGUAGE_CHARS]
    assert feed.warning == "skipped 1 entry that could not be read"
    by_id = {entry.article.guid: entry.article for entry in feed.entries}
    assert list(by_id) == ["lone", "nul", "date", "link", "fine"]
    assert by_id["lone"].title == "Lone \ufffd surrogate" and by_id["lone"].authors == ["Ann \ufffd Lee"]
    assert by_id["nul"].title == "NUL in the title" and by_id["nul"].topics == ["ab"]
    # Parsed as HTML (the NUL and the surrogate did not make lxml give up and show the tags as text).
    assert by_id["nul"].paragraphs == ["NUL and \ufffd in HTML.", "Second paragraph."]
    assert by_id["date"].published_at is None and by_id["link"].url is None
    assert by_id["fine"].source == feed.title[:MAX_SOURCE_CHARS]
    [record] = [r for r in caplog.records if "skipped entry" in r.getMessage()]
    assert "'explodes'" in record.getMessage() and "TypeError" in record.getMessage()


def test_json_nested_100000_deep_is_one_feed_error() -> None:
    deep = b'{"version": "https://jsonfeed.org/version/1.1", "items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert sniff(deep) == "json-feed"
    with pytest.raises(FeedError, match="^not a feed: JSON nested too deeply$"):
        parse_feed(deep, url="https://hostile.example/deep.json", now=NOW)
    deep_item = b'{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": ' + b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(FeedError, match="nested too deeply"):
        parse_feed(deep_item + b"}]}", url="https://hostile.example/deep.json", now=NOW)


def test_any_other_parser_failure_is_a_feed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("\ud83d\x00 something a parser did not expect")

    monkeypatch.setattr(feeds, "_parse_json_feed", broken)
    with pytest.raises(FeedError) as caught:
        parse_feed(_load("jsonfeed.json"), url="https://hostile.example/f.json", now=NOW)
    assert str(caught.value) == "unreadable feed (KeyError: '\\ud83d\\x00 something a parser did not expect')"


def test_xml_character_references_to_surrogates_and_nul_do_not_break_the_feed() -> None:
    xml = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Gazette &#xD83D;&#0;</title>'
           b"<item><title>Lone &#55357; and &#x110000; here\x00</title><link>https://hostile.example/1</link>"
           b"<description>Body &#1;with &#x1F600; &#xDE00;.</description></item></channel></rss>")  # fmt: skip
    feed = parse_feed(xml, url="https://hostile.example/rss", now=NOW)
    assert feed.title == "Gazette \ufffd"
    [entry] = feed.entries
    assert entry.article.title == "Lone \ufffd and \ufffd here"
    assert entry.article.paragraphs == ["Body with 😀 \ufffd."]


def test_plain_text_with_nul_bytes_and_surrogates_is_cleaned_before_parsing() -> None:
    text = "Harbour\x00 reopens \ud83d after storm\n\nBy Ann\x00 Lee\n\nOSLO - The harbour\x00 reopened.\n"
    article = parse_plaintext(text)
    assert article.title == "Harbour reopens \ufffd after storm"
    assert article.authors == ["Ann Lee"] and article.paragraphs == ["The harbour reopened."]


def test_page_text_is_cleaned_on_its_way_to_an_article() -> None:
    page = PageText(title="Page\x00 title \ud83d", paragraphs=["Body\x00 text."], site_name="S" * 300,
                    authors=["A\x00"])  # fmt: skip
    article = page_article(page, url="https://hostile.example/p")
    assert (article.title, article.paragraphs, article.authors) == ("Page title \ufffd", ["Body text."], ["A"])
    assert article.source == "S" * MAX_SOURCE_CHARS


def test_discovered_feed_links_are_urls_a_source_can_hold() -> None:
    page = (b'<html><head><link rel="alternate" type="application/rss+xml" href="http://[broken/feed">'
            b'<link rel="alternate" type="application/rss+xml" href="/' + b"a" * MAX_URL_CHARS + b'">'
            b'<link rel="alternate" type="application/rss+xml" href="/feed.xml"></head></html>')  # fmt: skip
    assert discover_feed_links(page, "https://hostile.example/home") == ["https://hostile.example/feed.xml"]


def test_an_rss_entry_that_fails_to_convert_is_skipped_and_the_others_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    convert = feeds._xml_entry

    def failing(raw, **kwargs):  # type: ignore[no-untyped-def]
        if raw.get("title", "").startswith("Storm"):
            raise RecursionError("maximum recursion depth exceeded")
        return convert(raw, **kwargs)

    monkeypatch.setattr(feeds, "_xml_entry", failing)
    feed = parse_feed(_load("rss2-content-encoded.xml"), url="http://127.0.0.1:1/f", now=NOW)
    assert len(feed.entries) == 2 and not any(e.article.title.startswith("Storm") for e in feed.entries)
    assert feed.warning == "skipped 1 entry that could not be read"
