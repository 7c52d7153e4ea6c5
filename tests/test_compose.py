"""The compose stage: exact renderings, and generated inputs checked against a strict Telegram-HTML parser."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from compose import (
    edition_name,
    escape,
    format_age,
    render_article,
    render_bulletin,
    render_headlines,
    split_message,
    visible_length,
)
from compose.articles import render_article_batch
from compose.buttons import MAX_HEADLINES, MAX_ID, MAX_POSITION, MoreHeadlines
from compose.html import visible_text

UTC = UTC
LIMIT = 4096


# --- a strict checker, independent of the code under test ----------------------------------------------

ALLOWED_TAGS = {"b", "i", "u", "s", "a", "code", "pre", "blockquote", "tg-spoiler"}
_TAG = re.compile(r'<(/?)([a-z][a-z-]*)((?: [a-z-]+(?:="[^"<>]*")?)*)>')
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_PLAIN = re.compile(r"[^<>&]+")
_ENTITY_TEXT = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"'}


def _decode(entity: str) -> str:
    if entity in _ENTITY_TEXT:
        return _ENTITY_TEXT[entity]
    body = entity[2:-1]
    return chr(int(body[1:], 16) if body.startswith("x") else int(body))


def _check_attrs(name: str, attrs: str) -> None:
    pairs = re.findall(r' ([a-z-]+)(?:="([^"]*)")?', attrs)
    for _, value in pairs:
        # inside attribute values, '&' must start an entity too
        assert "&" not in _ENTITY.sub("", value), f"bare & in attribute {value!r}"
    keys = [key for key, _ in pairs]
    if name == "a":
        assert keys == ["href"], f"<a> needs exactly href, got {attrs!r}"
    elif name == "code":
        assert keys in ([], ["class"]), attrs
    elif name == "blockquote":
        assert keys in ([], ["expandable"]), attrs
    else:
        assert keys == [], f"<{name}> takes no attributes: {attrs!r}"


def parse_strict(html: str) -> list[tuple[str, frozenset[str]]]:
    """Parse like Telegram's HTML mode, strictly. Returns runs of visible text with the tags (and attrs) around them."""
    assert not re.search("[\ud800-\udfff]", html), "surrogate code point"
    out: list[tuple[str, frozenset[str]]] = []
    stack: list[tuple[str, str]] = []
    formats: frozenset[str] = frozenset()
    pos = 0
    while pos < len(html):
        char = html[pos]
        if char == "<":
            match = _TAG.match(html, pos)
            assert match, f"bad tag at {pos}: {html[pos : pos + 40]!r}"
            closing, name, attrs = match.groups()
            assert name in ALLOWED_TAGS, f"tag <{name}> not allowed"
            if closing:
                assert not attrs, "attributes on a closing tag"
                assert stack and stack[-1][0] == name, f"</{name}> does not close {stack}"
                stack.pop()
            else:
                _check_attrs(name, attrs)
                names = [open_name for open_name, _ in stack]
                assert name not in names, f"<{name}> nested in itself"
                if names and names[-1] in ("code", "pre"):
                    assert names[-1] == "pre" and name == "code", f"<{name}> inside <{names[-1]}>"
                stack.append((name, attrs))
            formats = frozenset(f"{n}{a}" for n, a in stack)
            pos = match.end()
        elif char == "&":
            match = _ENTITY.match(html, pos)
            assert match, f"bare & at {pos}: {html[pos : pos + 20]!r}"
            out.append((_decode(match.group(0)), formats))
            pos = match.end()
        else:
            assert char != ">", f"raw > at {pos}"
            run = _PLAIN.match(html, pos)
            out.append((run.group(0), formats))
            pos = run.end()
    assert not stack, f"unclosed tags {stack}"
    return out


def shown(html: str) -> str:
    return "".join(run for run, _ in parse_strict(html))


def formatted_content(htmls: list[str]) -> list[tuple[str, frozenset[str]]]:
    """All non-whitespace visible text with its formatting, merged into maximal runs of equal formatting."""
    merged: list[tuple[str, frozenset[str]]] = []
    for html in htmls:
        for run, formats in parse_strict(html):
            run = re.sub(r"\s+", "", run)
            if not run:
                continue
            if merged and merged[-1][1] == formats:
                merged[-1] = (merged[-1][0] + run, formats)
            else:
                merged.append((run, formats))
    return merged


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_message(html: str, limit: int = LIMIT) -> str:
    text = shown(html)
    assert text.strip(), f"empty message {html!r}"
    assert 0 < utf16(text) <= limit, f"visible length {utf16(text)} over {limit}"
    assert visible_length(html) == utf16(text)
    return text


def assert_words_in_order(words: list[str], text: str) -> None:
    pos = 0
    for word in words:
        found = text.find(word, pos)
        assert found >= 0, f"lost {word[:40]!r} after position {pos}"
        pos = found + len(word)


# --- test data ----------------------------------------------------------------------------------------


@dataclass
class Article:
    id: int
    title: str
    lead: str = ""
    body: str = ""
    authors: list[str] = field(default_factory=list)
    source: str | None = None
    dateline: str | None = None
    url: str | None = None
    published_at: datetime | None = None
    ingested_at: datetime = datetime(2022, 1, 13, 12, 0, tzinfo=UTC)


TRICKY = [
    "<script>alert(1)</script>", "a & b", "</b>", "<b>", "&amp;", "&lt;", "&#128512;", '"quoted"', "'single'",
    "😀", "👨‍👩‍👧", "🇺🇦🇬🇧", "cafe\u0301", "新闻。更多！", "U.S.", "e.g.", "end.", "Why?", "—", "\u00a0nbsp\u00a0",
    "x" * 300, "<" * 50, "&" * 40,
]  # fmt: skip
PLAIN = [
    "the",
    "of",
    "talks",
    "Kremlin",
    "NATO",
    "said",
    "Moscow",
    "would",
    "security",
    "Ukraine",
    "sanctions",
    "week",
    "Peskov",
    "West",
]


def random_words(rng: random.Random, count: int) -> list[str]:
    words = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.15:
            words.append(rng.choice(TRICKY))
        elif roll < 0.25:
            words.append(rng.choice(PLAIN) + rng.choice(".!?,;"))
        elif roll < 0.3:
            words.append(rng.choice(PLAIN).capitalize())
        else:
            words.append(rng.choice(PLAIN))
    return words


def random_paragraph(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.1:  # 10,000+ characters and no space at all
        return "".join(rng.choice(["z", "é", "😀", "<", "&", "👨‍👩‍👧"]) for _ in range(rng.randint(10_000, 14_000)))
    if kind < 0.25:  # 10,000+ characters of words
        return " ".join(random_words(rng, rng.randint(1_500, 2_500)))
    if kind < 0.3:  # one long single word amid words
        return " ".join([*random_words(rng, 5), "W" * rng.randint(3_000, 9_000), *random_words(rng, 5)])
    return " ".join(random_words(rng, rng.randint(1, 60)))


def random_article(rng: random.Random, article_id: int, *, with_body: bool = True) -> Article:
    count = rng.choice([1, 2, 5, 30]) if with_body else 0
    paragraphs = [random_paragraph(rng) for _ in range(count)]
    if with_body and rng.random() < 0.1:  # many short paragraphs
        paragraphs += [" ".join(random_words(rng, rng.randint(1, 8))) for _ in range(300)]
    return Article(
        id=article_id,
        title=" ".join(random_words(rng, rng.randint(1, 15 if rng.random() < 0.9 else 800))),
        body="\n\n".join(paragraphs),
        authors=[" ".join(random_words(rng, 2)) for _ in range(rng.randint(0, 4))],
        source=rng.choice([None, "Reuters", "<AP> & co", "x" * 500]),
        dateline=rng.choice([None, "MOSCOW", "NEW <YORK>"]),
        url=rng.choice([None, 'https://example.com/a?b=1&c="2"<x>', "javascript:alert(1)", "not a url"]),
        published_at=rng.choice([None, datetime(2022, 1, 13, 9, 30, tzinfo=UTC)]),
    )


# --- escape / visible_length ----------------------------------------------------------------------------


def test_escape():
    assert escape('<b>"A & B"</b>') == '&lt;b&gt;"A &amp; B"&lt;/b&gt;'
    assert escape('say "hi" & <go>', quote=True) == "say &quot;hi&quot; &amp; &lt;go&gt;"
    assert escape("&amp;") == "&amp;amp;"
    assert escape("bad \ud800 half") == "bad \ufffd half"


def test_visible_length_counts_utf16_after_parsing():
    assert visible_length("<b>abc</b>") == 3
    assert visible_length("&lt;&gt;&amp;&quot;") == 4
    assert visible_length("😀") == 2
    assert visible_length("&#128512;&#x1F600;") == 4
    assert visible_length('<a href="https://x.y/?a=1&amp;b=2">link</a>') == 4
    assert visible_length("") == 0
    assert visible_text("<i>a &amp; b</i>") == "a & b"


# --- split_message --------------------------------------------------------------------------------------


def test_split_packs_whole_blocks_greedily():
    blocks = ["<b>aaaa</b>", "bbbb", "cccc", "dd"]
    assert split_message(blocks, limit=10) == ["<b>aaaa</b>\n\nbbbb", "cccc\n\ndd"]
    assert split_message(blocks, limit=10, separator="\n") == ["<b>aaaa</b>\nbbbb", "cccc\ndd"]
    assert split_message(["short"]) == ["short"]


def test_split_skips_empty_blocks_and_never_returns_empty_parts():
    assert split_message([]) == []
    assert split_message(["", "  ", "<b></b>", "\n"]) == []
    assert split_message(["", "x", "<i> </i>"]) == ["x"]


def test_split_prefers_sentence_then_word_then_hard():
    text = "One two three four. Five six seven eight nine"
    assert split_message([text], limit=30) == ["One two three four.", "Five six seven eight nine"]
    # a sentence end that would leave the part under half full loses to the last space
    assert split_message(["Hi. aaaa bbbb cccc dddd eeee ffff"], limit=20) == ["Hi. aaaa bbbb cccc", "dddd eeee ffff"]
    # "U.S. and" is not the end of a sentence
    assert split_message(["The U.S. and NATO met"], limit=14) == ["The U.S. and", "NATO met"]
    # no space at all: cut hard
    assert split_message(["abcdefghij"], limit=4) == ["abcd", "efgh", "ij"]
    # CJK full stops end a sentence without a space after them
    assert split_message(["一二三四五。六七八九十"], limit=8) == ["一二三四五。", "六七八九十"]
    # closing quotes and tags after the full stop stay with the sentence
    assert split_message(['<i>He said "go now."</i> Then they left', "x"], limit=20) == [
        '<i>He said "go now."</i>',
        "Then they left\n\nx",
    ]


def test_split_closes_and_reopens_tags_with_attributes():
    block = '<b>bold <a href="https://e.x/?a=1&amp;b=&quot;2&quot;">one two three</a> <i>four</i></b>'
    parts = split_message([block], limit=10)
    assert parts == [
        '<b>bold <a href="https://e.x/?a=1&amp;b=&quot;2&quot;">one</a></b>',
        '<b><a href="https://e.x/?a=1&amp;b=&quot;2&quot;">two three</a></b>',
        "<b><i>four</i></b>",
    ]
    for part in parts:
        check_message(part, 10)
    # a hard cut right before an opening tag leaves no empty element behind
    assert split_message(["abc<i>def</i>"], limit=3) == ["abc", "<i>def</i>"]
    assert split_message(["<u>abc</u>def"], limit=3) == ["<u>abc</u>", "def"]


def test_split_never_cuts_entities_surrogates_or_graphemes():
    assert split_message(["&amp;&lt;&gt;&quot;&amp;"], limit=2) == ["&amp;&lt;", "&gt;&quot;", "&amp;"]
    assert split_message(["a😀😀"], limit=2) == ["a", "😀", "😀"]
    assert split_message(["ab😀"], limit=3) == ["ab", "😀"]
    family = "👨\u200d👩\u200d👧"  # 8 UTF-16 units held together by zero-width joiners
    assert split_message(["abc" + family], limit=9) == ["abc", family]
    assert split_message(["e\u0301e\u0301e\u0301"], limit=3) == ["e\u0301", "e\u0301", "e\u0301"]
    assert split_message(["x🇺🇦🇬🇧"], limit=5) == ["x🇺🇦", "🇬🇧"]


def test_oversized_block_fills_the_current_message_first():
    parts = split_message(["<b>Title</b>", "word " * 30], limit=60)
    assert parts[0].startswith("<b>Title</b>\n\nword word")
    assert all(visible_length(part) <= 60 for part in parts)
    # too little room left: start a fresh message instead
    parts = split_message(["x" * 55, "word " * 30], limit=60)
    assert parts[0] == "x" * 55


def test_split_preserves_every_character_and_its_formatting():
    rng = random.Random(20260127)
    tags = ["b", "i", "u", "s", "tg-spoiler", 'a href="https://e.x/?q=1&amp;r=&quot;&lt;&quot;"', "blockquote"]
    for _ in range(100):
        blocks = []
        for _ in range(rng.randint(1, 8)):
            pieces = []
            wrap = rng.random() < 0.3
            word_tags = [tag for tag in tags if not (wrap and tag in ("b", "i"))]
            for word in random_words(rng, rng.choice([3, 40, 600, 2_000])):
                piece = escape(word)
                if rng.random() < 0.3:
                    tag = rng.choice(word_tags)
                    piece = f"<{tag}>{piece}</{tag.split()[0]}>"
                pieces.append(piece)
            inner = " ".join(pieces)
            if wrap:
                inner = f"<i>x <b>{inner}</b> y</i>"
            if rng.random() < 0.1:
                inner = "<pre><code>" + escape("z" * rng.randint(100, 9_000)) + "</code></pre>"
            blocks.append(inner)
        limit = rng.choice([LIMIT, LIMIT, 200, 50])
        parts = split_message(blocks, limit=limit)
        assert parts
        for part in parts:
            check_message(part, limit)
        # Only whitespace may be dropped; every other character keeps exactly its tags and attributes.
        assert formatted_content(parts) == formatted_content(blocks)


# --- render_article -------------------------------------------------------------------------------------


KREMLIN = Article(
    id=12,
    title='Kremlin calls talks with U.S. and NATO so far "unsuccessful"',
    lead="MOSCOW -The Kremlin on Thursday gave a bleak assessment.",
    body="MOSCOW -The Kremlin on Thursday gave a bleak assessment.\n\nPeskov said <imposing> sanctions & more.",
    authors=["Dmitry Antonov", "Tom Balmforth"],
    source="Reuters",
    dateline="MOSCOW",
    url="https://www.reuters.com/world/kremlin?a=1&b=2",
    published_at=datetime(2022, 1, 13, 10, 5, tzinfo=UTC),
)


def test_render_article_exact():
    assert render_article(KREMLIN) == [
        '<b>Kremlin calls talks with U.S. and NATO so far "unsuccessful"</b>\n\n'
        "<i>Reuters · By Dmitry Antonov and Tom Balmforth · MOSCOW · 13 Jan 2022</i>\n\n"
        "MOSCOW -The Kremlin on Thursday gave a bleak assessment.\n\n"
        "Peskov said &lt;imposing&gt; sanctions &amp; more.\n\n"
        '<a href="https://www.reuters.com/world/kremlin?a=1&amp;b=2">Source</a>'
    ]


def test_render_article_meta_skips_missing_parts():
    bare = Article(id=3, title="T <x>", body="Body", authors=["A", " ", "B", "C"], url="javascript:alert(1)")
    assert render_article(bare) == ["<b>T &lt;x&gt;</b>\n\n<i>By A, B and C · 13 Jan 2022</i>\n\nBody"]
    one = Article(id=4, title="T", body="B", authors=["Solo"], source="AP & Co", published_at=None)
    assert render_article(one)[0].startswith("<b>T</b>\n\n<i>AP &amp; Co · By Solo · 13 Jan 2022</i>")


def test_render_article_adds_a_lead_missing_from_the_body():
    article = Article(id=5, title="T", lead="Lead.", body="Para one.\n\n\n\nPara two.")
    assert render_article(article) == ["<b>T</b>\n\n<i>13 Jan 2022</i>\n\nLead.\n\nPara one.\n\nPara two."]


def test_render_article_long_body_splits_into_several_messages():
    body = "\n\n".join(f"Paragraph {n}. " + "word " * 200 for n in range(40))
    parts = render_article(Article(id=1, title="Long", body=body, url="https://e.x/"))
    assert len(parts) > 1
    assert parts[0].startswith("<b>Long</b>")
    assert parts[-1].endswith('<a href="https://e.x/">Source</a>')
    for part in parts:
        check_message(part)


def test_render_article_generated_inputs():
    rng = random.Random(1234)
    for article_id in range(60):
        article = random_article(rng, article_id)
        parts = render_article(article)
        assert parts
        text = "".join(check_message(part) for part in parts)
        words = article.title.split() + article.body.split()
        assert_words_in_order(words, text)


def test_article_batches_cover_every_part_once_with_continue_buttons() -> None:
    body = "\n\n".join(f"Paragraph {n}. " + "word " * 200 for n in range(30))
    article = Article(id=2**31 - 1, title="Long", body=body)
    parts = render_article(article)
    assert len(parts) == 8
    sent, first = [], 1
    while True:
        batch = render_article_batch(article, first_part=first)
        assert 1 <= len(batch) <= 3 and all(keyboard is None for _, keyboard in batch[:-1])
        sent += [text for text, _ in batch]
        keyboard = batch[-1][1]
        if keyboard is None:
            break
        [[button]] = keyboard.inline_keyboard
        first += len(batch)
        assert button.text == f"Continue (part {first} of 8)"
        assert button.callback_data == f"readpart:2147483647:{first}"
        assert len(button.callback_data.encode()) <= 64
    assert sent == parts and first == 7  # batches from parts 1, 4 and 7; the last one holds 7 and 8


def test_article_batch_beyond_the_article_is_empty() -> None:
    article = Article(id=1, title="Short", body="Body")
    assert render_article_batch(article) == [(render_article(article)[0], None)]
    assert render_article_batch(article, first_part=2) == []
    assert render_article_batch(article, first_part=0) == []


# --- headlines ------------------------------------------------------------------------------------------

NOW = datetime(2022, 1, 13, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(seconds=-3600), "just now"),
        (timedelta(minutes=1), "1 min ago"),
        (timedelta(minutes=5, seconds=59), "5 min ago"),
        (timedelta(minutes=59, seconds=59), "59 min ago"),
        (timedelta(hours=1), "1 h ago"),
        (timedelta(hours=3, minutes=59), "3 h ago"),
        (timedelta(hours=23, minutes=59), "23 h ago"),
        (timedelta(days=1), "1 d ago"),
        (timedelta(days=2, hours=23), "2 d ago"),
        (timedelta(days=400), "400 d ago"),
    ],
)
def test_format_age(delta, expected):
    assert format_age(NOW - delta, NOW) == expected


def test_format_age_across_time_zones():
    plus_three = timezone(timedelta(hours=3))
    assert format_age(datetime(2022, 1, 13, 17, 55, tzinfo=plus_three), NOW) == "5 min ago"


def test_render_headlines_exact():
    articles = [
        KREMLIN,
        Article(id=13, title="Sanctions <bill> & Putin", source=None, ingested_at=NOW - timedelta(minutes=7)),
    ]
    text, keyboard = render_headlines(articles, now=NOW, more=MoreHeadlines(13, 2, 3))
    assert text == (
        "<b>Latest headlines</b>\n\n"
        '1. <b>Kremlin calls talks with U.S. and NATO so far "unsuccessful"</b>\n'
        "Reuters · 4 h ago · /read_12\n\n"
        "2. <b>Sanctions &lt;bill&gt; &amp; Putin</b>\n"
        "7 min ago · /read_13"
    )
    assert keyboard is not None
    assert keyboard.to_dict() == {
        "inline_keyboard": [
            [{"text": "📖 1", "callback_data": "read:12"}, {"text": "📖 2", "callback_data": "read:13"}],
            [{"text": "More ›", "callback_data": "more:13:2:3"}],
        ]
    }
    check_message(text)


def test_render_headlines_numbering_rows_and_no_more_button():
    articles = [Article(id=100 + n, title=f"Story {n}", source="AP") for n in range(12)]
    text, keyboard = render_headlines(articles, now=NOW, start_index=21)
    assert text.startswith("<b>Latest headlines</b>\n\n21. <b>Story 0</b>\nAP · 3 h ago · /read_100\n\n22.")
    assert "32. <b>Story 11</b>" in text
    rows = keyboard.inline_keyboard
    assert [len(row) for row in rows] == [5, 5, 2]
    assert rows[0][0].text == "📖 21" and rows[0][0].callback_data == "read:100"
    assert rows[-1][-1].text == "📖 32" and rows[-1][-1].callback_data == "read:111"


def test_render_headlines_empty_and_limits():
    assert render_headlines([], now=NOW) == ("No headlines yet.", None)
    assert render_headlines([], now=NOW, more=MoreHeadlines(1, 5, 6)) == ("No headlines yet.", None)
    with pytest.raises(ValueError, match="at most 20 headlines"):
        render_headlines([KREMLIN] * 21, now=NOW)


def test_render_headlines_truncates_long_titles_to_fit():
    articles = [Article(id=n + 1, title=f"Title{n} " + "long " * 400, source="S" * 300) for n in range(20)]
    articles[3].title = "Short one"
    text, _ = render_headlines(articles, now=NOW)
    check_message(text)
    assert "4. <b>Short one</b>\n" in text
    assert text.count("…") >= 19
    assert "S" * 65 not in text


def _callback_data(keyboard) -> list[str]:
    return [button.callback_data for row in keyboard.inline_keyboard for button in row]


def test_render_headlines_generated_inputs():
    rng = random.Random(99)
    for _ in range(150):
        count = rng.randint(1, 20)
        articles = [random_article(rng, rng.choice([1, 10**6, MAX_ID]), with_body=False) for _ in range(count)]
        for article in articles:
            if rng.random() < 0.2:
                article.title = rng.choice(TRICKY) * rng.randint(1, 300)
        cursor = rng.choice([None, MoreHeadlines(MAX_ID, MAX_HEADLINES, MAX_POSITION), MoreHeadlines(1, 1, 1)])
        text, keyboard = render_headlines(articles, now=NOW, start_index=rng.randint(1, 500), more=cursor)
        visible = check_message(text)
        for article in articles:
            assert f"/read_{article.id}" in visible
        assert all(len(data.encode()) <= 64 for data in _callback_data(keyboard))
        assert len(_callback_data(keyboard)) == count + (cursor is not None)


# --- bulletins ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (time(0, 0), "Evening bulletin"),
        (time(3, 59), "Evening bulletin"),
        (time(4, 0), "Morning bulletin"),
        (time(10, 59), "Morning bulletin"),
        (time(11, 0), "Midday bulletin"),
        (time(15, 59), "Midday bulletin"),
        (time(16, 0), "Evening bulletin"),
        (time(23, 59), "Evening bulletin"),
        (datetime(2026, 11, 27, 7, 30), "Morning bulletin"),
    ],
)
def test_edition_name(moment, expected):
    assert edition_name(moment) == expected


def test_render_bulletin_exact():
    articles = [KREMLIN, Article(id=7, title="Second & <last>", source=None)]
    local_now = datetime(2026, 11, 27, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    assert render_bulletin(articles, local_now=local_now) == (
        "<b>Midday bulletin · Friday 27 November 2026</b>\n\n"
        '1. <b>Kremlin calls talks with U.S. and NATO so far "unsuccessful"</b>\n'
        "Reuters · /read_12\n\n"
        "2. <b>Second &amp; &lt;last&gt;</b>\n"
        "/read_7"
    )


def test_render_bulletin_empty_is_an_error():
    with pytest.raises(ValueError, match="at least one article"):
        render_bulletin([], local_now=datetime(2026, 11, 27, 8, 0))


def test_render_bulletin_generated_inputs():
    rng = random.Random(7)
    for _ in range(100):
        articles = [random_article(rng, n, with_body=False) for n in range(rng.randint(1, 20))]
        for article in articles:
            if rng.random() < 0.3:
                article.title = "\n".join(random_words(rng, rng.randint(300, 900)))
        local_now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 500_000))
        text = render_bulletin(articles, local_now=local_now)
        visible = check_message(text)
        assert visible.startswith(edition_name(local_now))
        for number, article in enumerate(articles, start=1):
            assert f"\n{number}. " in visible and f"/read_{article.id}" in visible
            title = " ".join(article.title.split())
            shown_title = visible.split(f"{number}. ", 1)[1].split("\n", 1)[0]
            assert shown_title == title or (shown_title.endswith("…") and title.startswith(shown_title[:-1].rstrip()))


def test_alerts_and_bulletins_for_channels_and_groups_link_to_the_bot() -> None:
    """A /read_<id> command cannot be tapped in a channel and would answer a whole group: posts there link to the
    article in the bot instead, escaped like any attribute."""
    from compose.alerts import render_alert

    story = Article(id=42, title="Oil & gas", source="Reuters <wire>")
    private = render_alert([(["oil"], [story])])
    assert "Reuters &lt;wire&gt; · /read_42" in private
    posted = render_alert([(["oil"], [story])], bot_username="newsbot_test_bot")
    assert "/read_" not in posted
    assert 'Reuters &lt;wire&gt; · <a href="https://t.me/newsbot_test_bot?start=read_42">Read</a>' in posted
    bulletin = render_bulletin([story], local_now=datetime(2026, 11, 27, 7, 0), bot_username="newsbot_test_bot")
    assert "/read_" not in bulletin and "?start=read_42" in bulletin
