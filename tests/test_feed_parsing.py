"""Feeds and pages to articles, without a database: formats, encodings, HTML cleaning, URLs, page extraction."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.feeds import FeedError, discover_feed_links, parse_feed, sniff
from ingest.htmltext import html_to_paragraphs, html_to_text, text_to_paragraphs
from ingest.pages import complete_with_page, extract_page
from model.identity import canonical_url

FEEDS = Path(__file__).parent / "data" / "feeds"
BASE = "http://news.test:8080"
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)


def load(name: str) -> bytes:
    return (FEEDS / name).read_bytes().replace(b"{{BASE}}", BASE.encode())


def parse(name: str, content_type: str | None = "application/xml", path: str = "/feeds/"):  # type: ignore[no-untyped-def]
    return parse_feed(load(name), url=f"{BASE}{path}{name}", content_type=content_type, now=NOW)


def test_rss2_with_content_encoded() -> None:
    feed = parse("rss2-content-encoded.xml", "application/rss+xml; charset=UTF-8")
    assert (feed.kind, feed.title, feed.site_url, feed.language) == (
        "rss20", "The Harbour Gazette – World", "https://gazette.example/world/", "en-GB"
    )  # fmt: skip
    assert feed.warning is None
    storm, fishing, ferries = (entry.article for entry in feed.entries)
    assert storm.title == "Storm closes northern ports for a third day"
    assert storm.guid == "https://gazette.example/?p=48211"
    assert storm.authors == ["Ann Lee"] and storm.topics == ["Weather", "Shipping"]
    assert storm.source == "The Harbour Gazette – World"
    assert storm.published_at == datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    # Full content is used, not the teaser; the script, the figure and its credit are gone; entities decoded.
    assert storm.paragraphs == [
        "Ferries stayed in harbour on Monday as gales swept the northern coast for a third day, leaving hundreds "
        "of lorries queued at the terminals.",
        "The coastguard said gusts reached 120 km/h overnight. “Nobody sails in this,” a harbour master told the Gazette.",
        "Forecasters expect the wind to ease on Wednesday & services to resume by the weekend.",
    ]
    assert not any(entry.summary_only for entry in feed.entries)
    assert fishing.title == "Fishing fleet counts the cost <of> a lost week"  # plain text, escaped only when rendered
    assert "Landings are down 40% on last March." in fishing.paragraphs
    assert ferries.authors == ["Ann Lee", "Chris Park"]
    assert ferries.paragraphs[1:] == [
        "They will replace vessels built in the 1980s.",
        "Each carries 600 passengers and 120 cars.",
    ]


def test_atom_with_xhtml_content_and_relative_links() -> None:
    feed = parse("atom-xhtml.xml", "application/atom+xml")
    assert (feed.kind, feed.title, feed.language) == ("atom10", "Rheinblick Nachrichten", "de")
    bridge, cycle_path = (entry.article for entry in feed.entries)
    assert bridge.title == "Brücke in Köln & Bonn wieder offen"
    assert bridge.url == f"{BASE}/atom/2026/03/bruecke-offen.html"  # resolved against xml:base
    assert bridge.guid == "tag:rheinblick.example,2026:bruecke-offen"
    assert bridge.authors == ["Greta Vogel"] and bridge.topics == ["Verkehr", "koeln"]
    assert bridge.published_at == datetime(2026, 3, 2, 8, 45, tzinfo=UTC)
    assert bridge.paragraphs[1] == (
        "Die Stadt hatte die Arbeiten früher als geplant abgeschlossen. Pendler sparen damit täglich bis zu 25 Minuten."
    )
    assert cycle_path.published_at == datetime(2026, 3, 1, 15, 20, tzinfo=UTC)  # only <updated>
    assert "14 Millionen Euro" in cycle_path.body


def test_rss1_rdf() -> None:
    feed = parse("rss1-rdf.xml", "application/rdf+xml")
    assert (feed.kind, feed.title, feed.language) == ("rss10", "Valley Science Wire", "en")
    glacier, bees = feed.entries
    assert glacier.article.authors == ["Dr. Maria Santos"] and glacier.article.topics == ["Climate"]
    assert glacier.article.published_at == datetime(2026, 2, 27, 13, 0, tzinfo=UTC)
    assert glacier.summary_only  # two sentences: worth fetching the page
    assert not bees.summary_only  # a long description is the article
    assert bees.article.published_at == datetime(2026, 2, 26, tzinfo=UTC)


def test_json_feed() -> None:
    feed = parse("jsonfeed.json", "application/feed+json")
    assert (feed.kind, feed.title, feed.site_url, feed.language) == (
        "json11", "Lakeside Daily", "https://lakeside.example/", "en-US"
    )  # fmt: skip
    marina, ice = (entry.article for entry in feed.entries)
    assert marina.guid == "https://lakeside.example/2026/03/02/marina"
    assert marina.published_at == datetime(2026, 3, 3, 3, 40, tzinfo=UTC)
    assert marina.authors == ["Priya Raman"] and marina.topics == ["Council", "Waterfront"]
    assert "move the buoys" in marina.paragraphs[1] and "<strong>" not in marina.body
    assert ice.authors == ["Lakeside Daily staff"]  # the feed's authors stand in
    assert len(ice.paragraphs) == 2


@pytest.mark.parametrize(
    ("content_type", "warned"),
    [
        ("application/rss+xml; charset=utf-8", True),
        ("text/html; charset=iso-8859-1", True),
        ("text/xml", False),
        (None, False),
    ],
)
def test_windows_1251_feed_with_wrong_or_missing_charset(content_type: str | None, warned: bool) -> None:
    feed = parse("cp1251-news.xml", content_type)
    assert feed.title == "Волжские новости"
    [entry] = feed.entries
    assert entry.article.title == "На Волге открылась навигация"
    assert entry.article.topics == ["Транспорт"]
    assert entry.article.paragraphs[2] == "«Мы ждём рекордный сезон», — сказал капитан порта."
    assert (feed.warning is not None) == warned
    if warned:
        assert "windows-1251" in feed.warning  # type: ignore[operator]


def test_entries_without_dates_and_with_relative_links() -> None:
    feed = parse("undated-relative.xml", "text/html", path="/feeds/")
    harbour, library, bakery = (entry.article for entry in feed.entries)
    assert harbour.url == f"{BASE}/news/harbour-reopens.html"
    assert library.url == f"{BASE}/feeds/news/library-hours.html?utm_source=feed"  # relative to the feed
    assert harbour.published_at is None and library.published_at is None  # "sometime last week" is no date
    assert all(entry.summary_only for entry in feed.entries)
    assert bakery.guid is None


def test_malformed_feed_is_repaired_with_a_warning() -> None:
    feed = parse("malformed.xml")
    [entry] = feed.entries
    assert entry.article.title == "Council & mayor agree budget at last"
    assert feed.warning is not None and "malformed" in feed.warning


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty response"),
        (b"   \n", "empty response"),
        (load("empty-channel.xml"), "no entries"),
        (load("not-a-feed.html"), "HTML page"),
        (b"\x00\x01\x02garbage\xff", "not a feed"),
        (b'{"hello": "world"}', "JSON without a JSON Feed version"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "title": "x", "items": []}', "no entries"),
    ],
)
def test_documents_that_are_not_usable_feeds(data: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_feed(data, url=f"{BASE}/feed", content_type="application/xml", now=NOW)


def test_entry_hash_ignores_guid_but_sees_text() -> None:
    original = load("rss2-content-encoded.xml")
    new_guid = original.replace(b"?p=48211", b"?p=99999")
    new_text = original.replace(b"for a third day, leaving", b"for a fourth day, leaving")
    hashes = [
        parse_feed(data, url=f"{BASE}/feed", now=NOW).entries[0].entry_hash for data in (original, new_guid, new_text)
    ]
    assert hashes[0] == hashes[1] != hashes[2]


def test_future_and_ancient_dates_are_treated_as_unknown() -> None:
    rss = (
        b'<rss version="2.0"><channel><title>t</title>'
        b"<item><title>a</title><link>https://x.test/a</link><pubDate>Fri, 01 Jan 2100 00:00:00 GMT</pubDate></item>"
        b"<item><title>b</title><link>https://x.test/b</link><pubDate>Thu, 01 Jan 1970 00:00:00 GMT</pubDate></item>"
        b"</channel></rss>"
    )
    assert [e.article.published_at for e in parse_feed(rss, url="https://x.test/", now=NOW).entries] == [None, None]


def test_sniff_and_feed_discovery() -> None:
    assert sniff(load("rss2-content-encoded.xml")) == "feed"
    assert sniff(load("atom-xhtml.xml")) == "feed"
    assert sniff(load("rss1-rdf.xml")) == "feed"
    assert sniff(load("cp1251-news.xml")) == "feed"
    assert sniff(load("jsonfeed.json")) == "json-feed"
    assert sniff(load("harbour-reopens.html")) == "html"
    assert sniff(b"Harbour reopens after storm\n\nBy Ann Lee\n") == "text"
    assert discover_feed_links(load("not-a-feed.html"), f"{BASE}/") == [f"{BASE}/feeds/undated-relative.xml"]
    assert discover_feed_links(load("harbour-reopens.html"), f"{BASE}/") == []


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://Gazette.EXAMPLE/world/a/?utm_source=rss&utm_medium=rss#comments", "https://gazette.example/world/a/"),
        ("https://lakeside.example/m?fbclid=IwAR0&ref=home&gclid=x", "https://lakeside.example/m?ref=home"),
        ("http://example.org:80", "http://example.org/"),
        ("https://example.org:8443/a?q=a%20b", "https://example.org:8443/a?q=a%20b"),
        ("/relative/path", None),
        ("mailto:someone@example.org", None),
        ("https://example.org/" + "x" * 3000, None),
    ],
)
def test_canonical_url(url: str, canonical: str | None) -> None:
    assert canonical_url(url) == canonical


def test_html_to_text() -> None:
    assert html_to_paragraphs(
        "<p>One &amp; <b>two</b>&nbsp;three.</p><script>x()</script><style>p{}</style>"
        "<p>Line<br/>break</p>loose <i>tail</i><ul><li>a</li><li>b</li></ul><!-- note -->"
        "<iframe src='https://ads.test'>ad</iframe><p>The post A appeared first on B.</p><p>\u200bhid\u00addenword</p>"
    ) == ["One & two three.", "Line", "break", "loose tail", "a", "b", "hiddenword"]
    assert html_to_paragraphs("") == [] and html_to_paragraphs("   ") == []
    assert html_to_paragraphs("no markup at all") == ["no markup at all"]
    assert html_to_paragraphs("a &lt;script&gt; tag") == ["a <script> tag"]
    assert html_to_text("Rock &amp; <i>roll</i>") == "Rock & roll"
    assert text_to_paragraphs("one\r\ntwo\r\n\r\nthree") == ["one two", "three"]
    assert text_to_paragraphs("one\ntwo") == ["one", "two"]


def test_article_page_extraction_drops_navigation_comments_and_footer() -> None:
    page = extract_page(load("harbour-reopens.html"), f"{BASE}/news/harbour-reopens.html")
    assert page is not None
    assert page.title == "Harbour reopens after storm"
    assert page.authors == ["Ann Lee"]
    assert page.published_at == datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    assert len(page.paragraphs) == 4
    assert page.paragraphs[0].startswith("Millbrook harbour reopened on Monday morning")
    text = "\n".join(page.paragraphs)
    for clutter in (
        "Home",
        "cookies",
        "Share on",
        "BoatFan99",
        "lol",
        "All rights reserved",
        "newsletter",
        "Related stories",
    ):
        assert clutter not in text
    assert extract_page(load("not-a-feed.html"), f"{BASE}/") is None  # a home page has no article
    assert extract_page(b"", f"{BASE}/") is None


def test_page_completes_a_summary_but_keeps_the_feeds_title_and_date() -> None:
    feed = parse("undated-relative.xml")
    harbour = feed.entries[0].article
    harbour.title = "Harbour open again"  # the feed's own headline
    page = extract_page(load("harbour-reopens.html"), harbour.url)
    assert page is not None
    completed = complete_with_page(harbour, page)
    assert completed.title == "Harbour open again"
    assert completed.paragraphs == page.paragraphs
    assert completed.authors == ["Ann Lee"]
    assert completed.published_at == page.published_at  # the feed had none
    dated = parse("rss1-rdf.xml").entries[0].article
    assert complete_with_page(dated, page).published_at == dated.published_at
    # A page with less text than the feed changes nothing.
    long_entry = parse("rss1-rdf.xml").entries[1].article
    page.paragraphs = ["Short."] * 3
    assert complete_with_page(long_entry, page) is long_entry
