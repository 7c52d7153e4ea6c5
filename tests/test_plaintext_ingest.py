"""Tests for ingest.plaintext.parse_plaintext: articles copied from web pages as plain text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.plaintext import parse_plaintext
from model.articles import ArticleParseError, ParsedArticle

DATA = Path(__file__).parent / "data"
ARTICLES = DATA / "articles"

LEAD = "The ministry said on Tuesday it would review the rules before the end of the year."
SECOND = "Officials declined to say how many companies would be affected by the change."


def load(path: Path) -> str:
    """The file exactly as stored: no newline translation (CRLF stays), BOM kept."""
    return path.read_bytes().decode("utf-8")


def parse_file(name: str, **kwargs: str) -> ParsedArticle:
    return parse_plaintext(load(ARTICLES / name), **kwargs)


def article(*blocks: str) -> str:
    """A headline followed by blank-line separated blocks."""
    return "\n\n".join(("Ministry to review rules", *blocks))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# --------------------------------------------------------------------------------------------
# The reference sample


@pytest.fixture(scope="module")
def kremlin() -> ParsedArticle:
    return parse_plaintext(load(DATA / "reuters-kremlin-talks.txt"))


def test_reference_sample_metadata(kremlin: ParsedArticle) -> None:
    assert kremlin.title == 'Kremlin calls talks with U.S. and NATO so far "unsuccessful"'
    assert kremlin.source == "Reuters"
    assert kremlin.authors == ["Dmitry Antonov", "Tom Balmforth"]
    assert kremlin.dateline == "MOSCOW"
    assert kremlin.url is None
    assert kremlin.published_at is None
    assert kremlin.topics == []


def test_reference_sample_paragraphs(kremlin: ParsedArticle) -> None:
    assert len(kremlin.paragraphs) == 11
    assert kremlin.paragraphs[0] == (
        "The Kremlin on Thursday gave a bleak assessment of Russia's security talks with the United States "
        'and NATO this week, describing them as "unsuccessful" and saying there was disagreement on '
        "fundamental issues."
    )
    assert kremlin.paragraphs[-1] == (
        'The United States has dismissed these demands as "non-starters" but Washington and NATO have said '
        "they are willing to hold talks with Russia on arms control, missile deployments and "
        "confidence-building measures."
    )
    assert kremlin.paragraphs[6] == (
        '"We view the appearance of such documents and statements extremely negatively against the background '
        'of an ongoing series of negotiations, albeit unsuccessful ones," Peskov told reporters.'
    )


def test_reference_sample_has_no_odd_spaces_or_clutter(kremlin: ParsedArticle) -> None:
    clutter = (
        "Copyright",
        "By Reuters",
        "Share this article",
        "Comments",
        "Close Button",
        "You might also like",
        "Russia barrages Ukraine",
        "Dogs understand",
        "Latest news bulletin",
        "MOSCOW",
    )
    for paragraph in kremlin.paragraphs:
        assert "\xa0" not in paragraph
        assert "  " not in paragraph
        assert paragraph != kremlin.title
        for junk in clutter:
            assert junk not in paragraph
    assert "\xa0" not in kremlin.title


def test_default_source_does_not_override_the_text(kremlin: ParsedArticle) -> None:
    parsed = parse_plaintext(load(DATA / "reuters-kremlin-talks.txt"), default_source="Example Wire")
    assert parsed.source == "Reuters"
    assert parsed.paragraphs == kremlin.paragraphs


# --------------------------------------------------------------------------------------------
# Articles of other shapes, stored under tests/data/articles/


def test_ap_story_with_caps_byline_and_agency_dateline() -> None:
    parsed = parse_file("ap-kyiv-grain-corridor.txt")
    assert parsed.title == "Ukraine reopens Black Sea grain corridor after weeklong pause"
    assert parsed.authors == ["Jane Doe", "John O'Rourke"]
    assert parsed.source == "Associated Press"
    assert parsed.dateline == "KYIV, Ukraine"
    assert parsed.published_at == utc(2023, 3, 2, 15, 14)
    assert parsed.paragraphs == [
        "Ukraine reopened its Black Sea grain corridor on Thursday after a weeklong pause caused by storms, "
        "officials said, allowing the first cargo ships in days to leave the port of Odesa.",
        "The infrastructure ministry said eight vessels carrying wheat, barley and sunflower oil had set sail "
        "by midday, with a dozen more waiting to load.",
        "\u201cWe are back in business,\u201d a port official said.",
        "Farmers in the south had warned that their silos were running out of space and that a longer pause "
        "could force them to leave part of the harvest in the fields.",
        "Shipping insurers said premiums for the route would stay high for now.",
    ]


def test_three_author_byline_with_non_ascii_names_and_odd_characters() -> None:
    raw = load(ARTICLES / "three-authors-london-heatwave.txt")
    assert raw.startswith("\ufeff") and "\xa0" in raw and "\t" in raw and "\u200b" in raw and "\xad" in raw

    parsed = parse_plaintext(raw)
    assert parsed.title == "London hospitals add beds as heatwave stretches into second week"
    assert parsed.authors == ["Ana Mar\u00eda N\u00fa\u00f1ez", "Se\u00e1n O'Connor", "Li-Wei Chen"]
    assert parsed.source is None
    assert parsed.dateline == "LONDON"
    assert parsed.published_at == utc(2022, 7, 14, 8, 5)  # 09:05 BST
    assert parsed.paragraphs == [
        "Hospitals across London added hundreds of temporary beds on Wednesday as a heatwave stretched into "
        "its second week and ambulance crews reported record call volumes.",
        "The health service said 420 extra beds had been opened in corridors, day wards and a converted sports "
        "hall, and that planned operations would be postponed where necessary.",
        '"It is relentless."',
        "Paramedics said the number of calls for heatstroke and dehydration had tripled since the start of the "
        "month, with elderly people living alone most at risk.",
        "Forecasters expect temperatures to ease slightly at the weekend before rising again next week.",
    ]


def test_story_without_byline_or_dateline() -> None:
    parsed = parse_file("no-byline-city-council.txt")
    assert parsed.title == "City council approves plan to pedestrianise historic centre"
    assert parsed.authors == []
    assert parsed.source is None
    assert parsed.dateline is None
    assert parsed.published_at is None
    assert parsed.paragraphs == [
        "The city council voted 31 to 12 on Tuesday evening to close the historic centre to private cars from "
        "next spring, ending months of debate.",
        "Under the plan, delivery vans will be allowed into the centre before 10 a.m., and residents will "
        "receive permits for up to two vehicles.",
        "Shop owners were split. Some said fewer cars would bring more shoppers on foot, while others feared "
        "customers from outlying villages would stop coming.",
        'The mayor called the vote "a turning point".',
    ]


def test_default_source_fills_in_when_the_text_names_none() -> None:
    assert parse_file("no-byline-city-council.txt", default_source="Harbour Town Gazette").source == (
        "Harbour Town Gazette"
    )


def test_bbc_style_page_with_captions_topics_and_em_dash() -> None:
    parsed = parse_file("bbc-style-iceland-volcano.txt")
    assert parsed.title == "Iceland volcano: Residents return as eruption eases"
    assert parsed.authors == ["Priya Shah"]
    assert parsed.source is None
    assert parsed.dateline is None
    assert parsed.published_at == utc(2024, 1, 13)
    assert parsed.topics == ["Iceland", "Volcanoes"]
    assert parsed.paragraphs == [
        "Residents of the fishing town of Grindav\u00edk were allowed back into their homes on Saturday for the "
        "first time in two weeks, as the eruption nearby eased.",
        "Scientists said the lava flow had slowed sharply overnight \u2014 but warned that another fissure could "
        "open with little notice.",
        '"We just want to see if the house is still standing," said one resident.',
        "Civil defence officials said access would be limited to daylight hours.",
    ]


def test_crlf_file_with_one_paragraph_per_line() -> None:
    raw = load(ARTICLES / "crlf-one-line-per-paragraph.txt")
    assert "\r\n" in raw and "\r\n\r\n" not in raw  # the shape under test

    parsed = parse_plaintext(raw)
    assert parsed.title == "Tech firm unveils battery that charges in five minutes"
    assert parsed.authors == ["Kim Lee"]
    assert parsed.dateline == "SAN FRANCISCO"
    assert parsed.published_at == utc(2023, 5, 9, 16, 30)
    assert parsed.paragraphs == [
        "A battery start-up on Tuesday unveiled a cell it says can charge an electric car to 80% in five "
        "minutes, a claim independent experts said still needed testing.",
        "The company said the cell used a new silicon-based anode and would go into small-scale production next year.",
        "Its chief executive said carmakers had already asked for samples, though she declined to name them.",
        '"We have been working on this for eight years," she said.',
        "Analysts were cautious.",
        "Shares of listed rivals fell slightly after the announcement.",
    ]


def test_wire_story_with_read_more_links_and_contributor_trailer() -> None:
    parsed = parse_file("reuters-wire-fed-rates.txt")
    assert parsed.title == 'Fed\'s Smith says rate cuts are "some way off"'
    assert parsed.source == "Reuters"
    assert parsed.dateline == "WASHINGTON"
    # No byline: the "Reporting by" names are the authors; additional reporters and editors are not.
    assert parsed.authors == ["Jane Doe"]
    assert parsed.published_at == utc(2022, 1, 13, 10, 22)
    assert parsed.paragraphs == [
        'Federal Reserve Governor Alex Smith said on Thursday that interest rate cuts were "some way off" '
        "because inflation remained well above the central bank's target.",
        "Smith, speaking at a conference in Washington, said the labour market was still tight and that wage "
        "growth had not yet slowed enough.",
        "A Reuters/Ipsos poll published this week showed 61% of Americans expect prices to keep rising.",
        '"We are not there yet," Smith said.',
        "Markets trimmed bets on a cut before the summer after the remarks.",
    ]


def test_all_caps_first_word_is_not_a_dateline() -> None:
    parsed = parse_file("nato-allcaps-lead.txt")
    assert parsed.title == "NATO to hold extra air-policing drills over the Baltic"
    assert parsed.dateline is None
    assert parsed.source == "AFP"
    assert parsed.authors == []
    assert parsed.published_at == utc(2022, 1, 13, 7, 22)  # 10:22 at +03:00
    assert parsed.topics == ["NATO", "Baltic states", "Defence"]
    assert parsed.paragraphs == [
        "NATO said on Monday it would hold additional air-policing drills over the Baltic states next month, "
        "after several airspace violations in the region.",
        "The alliance said fighter jets from four member states would take part in the exercise, which is "
        "scheduled to last ten days.",
        "Officials in the three Baltic capitals welcomed the announcement.",
    ]


def test_hard_wrapped_paragraphs_and_oxford_comma_byline() -> None:
    parsed = parse_file("wrapped-oxford-byline.txt")
    assert parsed.title == "France and Spain agree to speed up cross-border rail link"
    assert parsed.authors == ["Marta Kowalska", "Pierre-Louis Martin", "Aisha Bello"]
    assert parsed.dateline == "PARIS"
    assert parsed.source is None
    assert parsed.paragraphs == [
        "France and Spain agreed on Friday to speed up work on a cross-border high-speed rail link, promising "
        "to finish the long-delayed project by 2030.",
        "Transport ministers from both countries said they would share the cost of a new tunnel under the "
        "Pyrenees and seek European Union funding for the rest of the line.",
        "Environmental groups welcomed the plan but said it should not come at the expense of regional services.",
    ]


# --------------------------------------------------------------------------------------------
# Rules, one kind at a time


@pytest.mark.parametrize(
    ("lead", "dateline", "source"),
    [
        ("MOSCOW -The ministry said", "MOSCOW", None),
        ("MOSCOW - The ministry said", "MOSCOW", None),
        ("MOSCOW (Reuters) - The ministry said", "MOSCOW", "Reuters"),
        ("WASHINGTON, Jan 13 (Reuters) -The ministry said", "WASHINGTON", "Reuters"),
        ("PARIS \u2014 The ministry said", "PARIS", None),
        ("LONDON \u2013The ministry said", "LONDON", None),
        ("NEW YORK (AP) \u2014 The ministry said", "NEW YORK", "AP"),
        ("KYIV, Ukraine (AP) \u2014 The ministry said", "KYIV, Ukraine", "AP"),
        ("WILKES-BARRE, Pa. (AP) \u2014 The ministry said", "WILKES-BARRE, Pa.", "AP"),
        ("SAN FRANCISCO: The ministry said", "SAN FRANCISCO", None),
        ("BERLIN \u2010 The ministry said", "BERLIN", None),
        ("ROME \u2015 The ministry said", "ROME", None),
        ("ATHENS \u2212 The ministry said", "ATHENS", None),
        ("S\u00c3O PAULO (Reuters) - The ministry said", "S\u00c3O PAULO", "Reuters"),
        ("Moscow (Reuters) - The ministry said", "Moscow", "Reuters"),
    ],
)
def test_datelines_are_taken_off_the_first_paragraph(lead: str, dateline: str, source: str | None) -> None:
    rest = LEAD.removeprefix("The ministry said")
    parsed = parse_plaintext(article(lead + rest, SECOND))
    assert parsed.dateline == dateline
    assert parsed.source == source
    assert parsed.paragraphs == [LEAD, SECOND]


@pytest.mark.parametrize(
    "lead",
    [
        "NATO said on Monday it would meet again before the end of the year.",
        "ANTI-WAR protesters marched through the capital on Sunday afternoon.",
        "U.S. officials declined to comment on the report on Tuesday.",
        "EXCLUSIVE: The minister plans to resign before the summer, aides say.",
        "I - and many others - disagree with the decision, she wrote.",
    ],
)
def test_capitalised_openings_that_are_not_datelines(lead: str) -> None:
    parsed = parse_plaintext(article(lead, SECOND))
    assert parsed.dateline is None
    assert parsed.paragraphs == [lead, SECOND]


@pytest.mark.parametrize(
    ("byline", "authors", "source"),
    [
        ("By Jane Doe", ["Jane Doe"], None),
        ("By Jane Doe and John Roe", ["Jane Doe", "John Roe"], None),
        ("By Jane Doe, John Roe and Ann Poe", ["Jane Doe", "John Roe", "Ann Poe"], None),
        ("By Jane Doe, John Roe, and Ann Poe", ["Jane Doe", "John Roe", "Ann Poe"], None),
        ("By JANE DOE in KYIV", ["Jane Doe"], None),
        ("BY MARY-JANE O'NEIL", ["Mary-Jane O'Neil"], None),
        ("Written by J.R. Hartley", ["J.R. Hartley"], None),
        ("By Ursula von der Leyen", ["Ursula von der Leyen"], None),
        ("By Jane Doe, BBC News", ["Jane Doe"], "BBC News"),
        ("By Jane Doe, Political correspondent", ["Jane Doe"], None),
        ("By Reuters", [], "Reuters"),
        ("By\u00a0AP", [], "AP"),
        ("By AFP Staff", [], "AFP"),
    ],
)
def test_bylines(byline: str, authors: list[str], source: str | None) -> None:
    parsed = parse_plaintext(article(byline, LEAD, SECOND))
    assert parsed.authors == authors
    assert parsed.source == source
    assert parsed.paragraphs == [LEAD, SECOND]


@pytest.mark.parametrize(
    ("line", "published_at"),
    [
        ("January 13, 2022 10:22 AM GMT", utc(2022, 1, 13, 10, 22)),
        ("Published 13 Jan 2022", utc(2022, 1, 13)),
        ("2022-01-13T10:22:00Z", utc(2022, 1, 13, 10, 22)),
        ("Updated 3:14 PM GMT, March 2, 2023", utc(2023, 3, 2, 15, 14)),
        ("Thursday 13 January 2022 10.22 GMT", utc(2022, 1, 13, 10, 22)),
        ("Published: 13 January 2022 14:00 EST", utc(2022, 1, 13, 19, 0)),
        ("January 13, 2022 10:22 AM GMT Updated 3 years ago", utc(2022, 1, 13, 10, 22)),
        ("Jan 13, 2022 at 9:05 p.m.", utc(2022, 1, 13, 21, 5)),  # no zone given: UTC assumed
        ("13 January 2022 10:22 IST", None),  # ambiguous zone: unknown
    ],
)
def test_published_lines(line: str, published_at: datetime | None) -> None:
    parsed = parse_plaintext(article(line, LEAD, SECOND))
    assert parsed.published_at == published_at
    assert parsed.paragraphs == [LEAD, SECOND]


def test_publication_date_is_preferred_over_update_date() -> None:
    parsed = parse_plaintext(article("Updated 14 Jan 2022 09:00 GMT\nPublished 13 Jan 2022 08:00 GMT", LEAD))
    assert parsed.published_at == utc(2022, 1, 13, 8, 0)


@pytest.mark.parametrize(
    "clutter",
    [
        "Share",
        "Tweet",
        "Email",
        "Print",
        "Copy link",
        "Share on Facebook",
        "ShareTweetEmail",
        "Comments",
        "12 comments",
        "Close",
        "Close Button",
        "Advertisement",
        "Sponsored",
        "Story continues below advertisement",
        "Read more: Parliament votes on budget",
        "Subscribe to our daily briefing",
        "Sign up for our newsletter",
        "Image: A view of the ministry building",
        "Photo: Jane Doe",
        "Getty Images",
        "AFP via Getty Images",
        "Officials meet in the capital, January 13, 2022. REUTERS/Jane Doe",
        "Copyright 2022 Example Media",
        "\u00a9 2022 Example Media Ltd",
        "All rights reserved.",
        "Our Standards: The Thomson Reuters Trust Principles.",
        "(Reporting by Jane Doe; Editing by John Roe)",
        "Ministry to review rules Copyright Example Media 2022",
        "Ministry to review rules (Reuters)",
        "https://example.com/news/ministry-rules",
    ],
)
def test_clutter_lines_inside_the_body_are_dropped(clutter: str) -> None:
    assert parse_plaintext(article(LEAD, clutter, SECOND)).paragraphs == [LEAD, SECOND]


@pytest.mark.parametrize(
    "sentence",
    [
        '"No."',
        "By contrast, the opposition said the rules went too far.",
        "Copyright infringement claims rose sharply last year.",
        "The songs have been protected under copyright law since 2019.",
        "Share prices fell 3% on Monday.",
        "Sign language interpreters will attend every briefing.",
    ],
)
def test_real_paragraphs_that_look_a_little_like_clutter_are_kept(sentence: str) -> None:
    assert parse_plaintext(article(LEAD, sentence, SECOND)).paragraphs == [LEAD, sentence, SECOND]


@pytest.mark.parametrize(
    "heading",
    ["You might also like", "Related", "Related stories", "More from Europe", "Most read", "Recommended", "Trending"],
)
def test_everything_after_a_trailer_heading_is_dropped(heading: str) -> None:
    after = "Another story entirely, about a different ministry, was published on Monday."
    assert parse_plaintext(article(LEAD, SECOND, heading, after)).paragraphs == [LEAD, SECOND]


def test_trailer_heading_before_the_body_does_not_cut_the_article() -> None:
    assert parse_plaintext(article("Trending", LEAD, SECOND)).paragraphs == [LEAD, SECOND]


def test_short_navigation_lines_after_the_body_are_dropped() -> None:
    text = article(LEAD, SECOND, "World news", "Latest news bulletin | March 29th \u2013 Midday")
    assert parse_plaintext(text).paragraphs == [LEAD, SECOND]


def test_url_line_sets_url() -> None:
    parsed = parse_plaintext(article("https://example.com/news/ministry-rules", LEAD))
    assert parsed.url == "https://example.com/news/ministry-rules"
    assert parsed.paragraphs == [LEAD]


def test_unicode_spaces_and_invisible_characters_are_normalised() -> None:
    messy = (
        "The\u2009ministry said\u3000on Tuesday it\u200b would re\u00adview the rules before the end\u202fof the year."
    )
    parsed = parse_plaintext("\ufeffMinistry\u00a0to review rules\r\n\r\n" + messy + "\r\n")
    assert parsed.title == "Ministry to review rules"
    assert parsed.paragraphs == [LEAD]


# --------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t \u00a0\n\u200b\n"])
def test_empty_or_whitespace_text_is_rejected(text: str) -> None:
    with pytest.raises(ArticleParseError, match="empty"):
        parse_plaintext(text)


@pytest.mark.parametrize("text", ["Ministry to review rules", "Ministry to review rules\n\nShare\n\nComments\n"])
def test_title_without_body_is_rejected(text: str) -> None:
    with pytest.raises(ArticleParseError, match="no body paragraphs"):
        parse_plaintext(text)


def test_text_without_a_headline_is_rejected() -> None:
    long_paragraph = " ".join([LEAD, SECOND, LEAD])
    with pytest.raises(ArticleParseError, match="Could not find a title"):
        parse_plaintext(long_paragraph + "\n\n" + SECOND)
