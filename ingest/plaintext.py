"""Parse a news article saved as plain text (a web page copied as text) into a `ParsedArticle`.

How the parser works:

1. Normalise the text: NFC, every kind of line break, tabs and odd Unicode spaces become plain
   spaces, invisible characters are removed, and whitespace is collapsed within each line.
2. The first line that is not page clutter is the title.
3. Every later line is classified: a repeat of the title (alone or followed by a caption credit),
   a byline, a "published"/"updated" date, a bare URL, a "Reporting by ...; Editing by ..."
   trailer, page clutter (share buttons, comments, adverts, captions, credits, copyright, "Read more:"
   links, including the headlines listed under a lone "Read more:" up to the next blank line), a
   trailing-block heading ("You might also like", "Related", ...), or text.
4. Text lines become paragraphs. Paragraphs are separated by blank lines (and by removed lines);
   a file without any blank line holds one paragraph per line. Inside a blank-separated block,
   hard-wrapped lines are joined back together.
5. Short fragments that are not sentences are trimmed off both ends (navigation, section names,
   "Latest news bulletin | ..." lines), and the dateline is peeled off the first paragraph.

Choices where the behaviour could reasonably differ:

* Source, first found wins: an organisation in a byline ("By Reuters", "By AFP Staff",
  "..., Associated Press"), then the agency in the dateline ("MOSCOW (Reuters) -"), then
  `default_source`. Names are kept as written ("AP" stays "AP").
* Authors come from bylines ("By ...", "Written by ..."); all-caps names are title-cased
  ("JANE DOE" -> "Jane Doe"). The Reuters-style trailer "Reporting by X; Writing by Y; Editing by Z"
  is never body text; when there is no byline its reporting/writing names become the authors,
  editors and "additional reporting" never do.
* Dateline: the place before the date/agency, with a comma-qualified region kept
  ("KYIV, Ukraine (AP) -" -> "KYIV, Ukraine"; "WASHINGTON, Jan 13 (Reuters) -" -> "WASHINGTON").
  The place must be in capitals (or any capitalised place when an agency in parentheses follows)
  and be followed by a dash with a space on one side, a colon, or "(Agency)".
* Published: the first "published"-type date line (else the first "updated" one). A stated zone
  (GMT, UTC, Z, +03:00, EST, ...) is honoured and the value converted to UTC; with no zone at all
  UTC is assumed (a date without time is midnight UTC); an unrecognised or ambiguous zone
  (e.g. "IST", "CST") gives `published_at=None`.
* Topics: short lines under a "Related Topics"/"Topics"/"Tags" heading, and "Tags: a, b" lines.
* A line that is only a URL sets `url` (first one wins) and is not body text.
* Zero-width space, word joiner, BOM, soft hyphen are removed; zero-width (non-)joiners are kept
  because Persian, Indic scripts and emoji sequences need them.
* Before anything else the text is cleaned (model.text): lone surrogates become U+FFFD, NUL and the
  other control characters go, so a stray NUL neither reaches the database nor splits a headline.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from enum import Enum, auto

from model.articles import ArticleParseError, ParsedArticle
from model.text import clean_text

__all__ = ["parse_plaintext"]


# --------------------------------------------------------------------------------------------
# Normalisation

# Invisible characters that copy-paste leaves inside words. ZWJ/ZWNJ are deliberately absent.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u00ad\u180e]")


def _normalise_lines(text: str) -> list[str]:
    """Lines with collapsed whitespace; `str.split()` also splits on nbsp, thin and ideographic spaces."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFC", text))
    return [" ".join(line.split()) for line in text.splitlines()]


# --------------------------------------------------------------------------------------------
# Small text predicates

# A sentence ends in . ! ? or an ellipsis, possibly followed by closing quotes/brackets; a line
# ending in a closing quote also counts (a one-sentence quote paragraph is real body text).
_ENDS_SENTENCE = re.compile(r"(?:[.!?…][\"'”’»)\]]*|[\"”’»])$")

# Lines at least this long that stop mid-sentence are hard-wrapped parts of a longer paragraph.
_MIN_WRAPPED_LINE_CHARS = 40
# Fragments at either end of the body (section names, "More from ..." headlines) are at most this long.
_MAX_FRAGMENT_WORDS = 8
# Navigation lines with pipes ("Latest news bulletin | March 29th - Midday") are at most this long.
_MAX_PIPE_LINE_WORDS = 15
# A text line this long is prose even without final punctuation.
_MIN_PROSE_WORDS = 15
# A headline longer than this is body text, not a title.
_MAX_TITLE_WORDS = 30


def _word_count(text: str) -> int:
    return len(text.split())


def _ends_sentence(text: str) -> bool:
    return bool(_ENDS_SENTENCE.search(text))


def _is_prose(text: str) -> bool:
    return _ends_sentence(text) or _word_count(text) >= _MIN_PROSE_WORDS


def _is_fragment(paragraph: str) -> bool:
    """Page furniture rather than body: a short non-sentence, or a short line with pipes."""
    words = _word_count(paragraph)
    if " | " in paragraph and words <= _MAX_PIPE_LINE_WORDS:
        return True
    return words <= _MAX_FRAGMENT_WORDS and not _ends_sentence(paragraph)


# --------------------------------------------------------------------------------------------
# Page clutter

# Buttons and widget labels; a clutter line consists only of these, possibly glued together
# without spaces ("Share this articleComments") because copying drops the gaps between buttons.
_CHROME_TOKENS = (
    r"share (?:this|the) (?:article|story|page|post|video)",
    r"share (?:on|via|to) (?:facebook|twitter|x|linkedin|whatsapp|reddit|pinterest|telegram|messenger|e-?mail)",
    r"share",
    r"tweet",
    r"e-?mail(?: this (?:article|story))?",
    r"print(?: this (?:article|page|story))?",
    r"copy (?:link|url)",
    r"link copied",
    r"facebook|twitter|whatsapp|linkedin|reddit|pinterest|telegram|messenger|flipboard",
    r"save(?: article| story| for later)?",
    r"bookmark",
    r"gift (?:this )?article",
    r"listen(?: to (?:this )?(?:article|story))?",
    r"follow(?: us)?",
    r"\d+ comments?",
    r"(?:view|show|read|see|open|hide) comments",
    r"comments?",
    r"leave a comment",
    r"add (?:a )?comment",
    r"jump to comments",
    r"close(?: button)?",
    r"skip to (?:main )?content",
    r"back to top",
    r"advertisement|advert|ad",
    r"skip advertisement",
    r"sponsored(?: content)?",
    r"paid content",
    r"story continues below(?: advertisement)?",
    r"continue reading(?: the main story)?",
    r"scroll to continue with content",
    r"\d+ min(?:ute)?s? read",
    r"read more",
    r"published|updated",
)
_CHROME_LINE = re.compile(r"(?:(?:" + "|".join(_CHROME_TOKENS) + r")[\s:|•·,]*)+", re.I)
# Chrome lines are short; longer lines are never tested against the token pattern.
_MAX_CHROME_CHARS = 80

# Inline links to other stories: "Read more: <headline>", "READ MORE - ...", "See also: ...".
_INLINE_LINK = re.compile(r"read more\b.*|(?:also read|read also|see also|related|more|watch|listen|read)\s*:.*", re.I)
# The same label alone on its line: the headlines below it, up to the next blank line, are links too.
_LINK_LABEL = re.compile(r"(?:read more|also read|read also|see also|related|more|watch|listen|read)\s*:?", re.I)

# Newsletter and account prompts: "Sign up for our newsletter", "Subscribe to ...".
_PROMPT = re.compile(
    r"(?:subscribe|sign up|sign in|log in|register now|get (?:our|the) [^.!?]{0,40}newsletter)\b.*", re.I
)
_MAX_PROMPT_WORDS = 30

# BBC-style media labels: "Image caption, ...", "Image source, Getty Images", "Media caption, ...".
_MEDIA_LABEL = re.compile(r"(?:image|photo|media|video|picture)\s+(?:caption|source|credit|copyright)s?\b.*", re.I)
# Caption/credit lines introduced by a label and a colon: "Photo: ...", "Image: ...", "Credit: ...".
_CREDIT_LABEL = re.compile(
    r"(?:images?|photos?|photograph|picture|pictured|file photo|caption|credit|photo credit|illustration"
    r"|graphic)\s*:.*",
    re.I,
)
# A caption that ends in a photo-agency credit: "... REUTERS/Evgenia Novozhenina", "(AP Photo/Jane Doe)".
_PHOTO_CREDIT = re.compile(
    r"\b(?:REUTERS|Reuters|AFP|AP Photo|EPA(?:-EFE)?|Getty Images|Xinhua|Sputnik|Anadolu|TASS)"
    r"\s*/\s*[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,3}(?:\s*/\s*[A-Z][\w ]{0,20})?\)?\.?$"
)  # a capitalised name of up to four words must end the line, so "a Reuters/Ipsos poll showed ..." is kept
# Stock-photo credits; only short lines are treated as credits ("AFP via Getty Images").
_STOCK_CREDIT = re.compile(r"\b(?:getty images|shutterstock|alamy|istock(?:photo)?)\b", re.I)
_MAX_CREDIT_WORDS = 10

# Copyright notices start with the word or sign ...
_COPYRIGHT_START = re.compile(r"(?:copyright\b|©|\(c\)\s)", re.I)
# ... or end a caption with "Copyright <holder> <year>" / "© <holder> <year>".
# The holder's words are capitalised, so "... under copyright law since 2019." is not a notice.
_COPYRIGHT_END = re.compile(
    r"(?:\b[Cc]opyright|\bCOPYRIGHT|©)\s*(?:©\s*)?(?:[A-Z0-9][\w.&'’-]*\s+){0,6}?(?:19|20)\d{2}\.?$"
)
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
_MAX_COPYRIGHT_WORDS = 12
_RIGHTS_RESERVED = re.compile(r"\ball rights reserved\b", re.I)
_MAX_RIGHTS_WORDS = 25
# Reuters' "Our Standards: The Thomson Reuters Trust Principles." and the like.
_STANDARDS = re.compile(r"our standards\b.*", re.I)


def _is_chrome(line: str) -> bool:
    """Line-level page clutter: buttons, prompts, captions, credits, copyright."""
    words = _word_count(line)
    if len(line) <= _MAX_CHROME_CHARS and _CHROME_LINE.fullmatch(line):
        return True
    if _INLINE_LINK.fullmatch(line) or _MEDIA_LABEL.fullmatch(line) or _CREDIT_LABEL.fullmatch(line):
        return True
    if _STANDARDS.fullmatch(line) or _PHOTO_CREDIT.search(line) or _COPYRIGHT_END.search(line):
        return True
    if _PROMPT.fullmatch(line) and words <= _MAX_PROMPT_WORDS:
        return True
    if _STOCK_CREDIT.search(line) and words <= _MAX_CREDIT_WORDS and not _ends_sentence(line):
        return True
    if _RIGHTS_RESERVED.search(line) and words <= _MAX_RIGHTS_WORDS:
        return True
    # "Copyright infringement claims rose." is a sentence; a notice has a year/sign or no full stop.
    if _COPYRIGHT_START.match(line) and words <= _MAX_COPYRIGHT_WORDS:
        return bool(_YEAR.search(line) or "©" in line or not _ends_sentence(line))
    return False


# Headings of blocks that follow the article; everything after one of them is dropped.
_TRAILER_HEADING = re.compile(
    r"(?:you (?:might|may) (?:also )?like"
    r"|related(?: (?:stories|articles|content|coverage|news|links|reading|topics|videos))?"
    r"|more on this (?:story|topic)|more (?:stories|news|coverage|from [^.!?]{1,40})"
    r"|most (?:read|popular|viewed|shared)"
    r"|recommended(?: (?:for you|stories|articles|reading))?|trending(?: now| stories)?|read next|what to read next"
    r"|top stories|latest (?:stories|news)|more to explore|(?:from )?around the web|popular now|editor'?s picks"
    r"|don'?t miss|topics|tags)\s*:?",
    re.I,
)
# Trailer headings whose following short lines are the story's topics.
_TOPIC_HEADING = re.compile(r"(?:related topics|topics|tags)\s*:?", re.I)
# An inline topic list: "Tags: Russia, NATO".
_INLINE_TOPICS = re.compile(r"(?:topics|tags|tagged(?: with)?)\s*:\s*(?P<topics>.+)", re.I)
_TOPIC_SEPARATOR = re.compile(r"\s*[,;|·•]\s*")
_MAX_TOPIC_WORDS = 5

# A line holding nothing but a link to the page.
_URL_LINE = re.compile(r"https?://\S+")


def _split_topics(text: str) -> list[str]:
    return [topic for topic in _TOPIC_SEPARATOR.split(text) if topic]


def _topic_lines(lines: list[str]) -> list[str]:
    """Topics listed one (or a few) per line under a topic heading, up to the first non-topic line."""
    topics: list[str] = []
    for line in lines:
        if not line:
            continue
        if _TRAILER_HEADING.fullmatch(line) or _ends_sentence(line) or _word_count(line) > _MAX_TOPIC_WORDS:
            break
        topics.extend(_split_topics(line))
    return topics


# --------------------------------------------------------------------------------------------
# Title repeats

# Quotes vary between the headline and its repeats; compare them folded.
_QUOTE_FOLD = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'"})
# What may follow a repeated title on a caption line: a copyright or photo credit.
_CAPTION_CREDIT = re.compile(
    r"[\s\-‐–—|,:.]*(?:copyright\b|©|\(c\)|photo(?:graph)?\b|image\b|picture\b|credit\b|file photo\b"
    r"|getty images\b|via\b|[a-z]+(?: photo)?\s*/|\([^()]{1,30}\)\s*$)",
    re.I,
)


def _comparable(text: str) -> str:
    return text.translate(_QUOTE_FOLD).casefold()


def _repeats_title(line: str, title: str) -> bool:
    line_key, title_key = _comparable(line), _comparable(title)
    if line_key == title_key:
        return True
    return line_key.startswith(title_key) and bool(_CAPTION_CREDIT.match(line_key[len(title_key) :]))


# --------------------------------------------------------------------------------------------
# Bylines and contributor trailers

# "By Jane Doe", "BY JANE DOE", "By: Jane Doe", "Written by ...", "Words by ...".
_BYLINE = re.compile(r"(?:by|written by|words by|story by|text by|reported by)(?:\s*:\s*|\s+)(?P<credits>.+)", re.I)
_MAX_BYLINE_WORDS = 20
# Separators inside a list of names: commas (with an optional Oxford "and"), "and", "&".
_CREDIT_SEPARATOR = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*", re.I)
# Where the person filed from or whom they wrote for: "Jane Doe in Kyiv", "Jane Doe for The Times".
_CREDIT_PLACE = re.compile(r"\s+(?:in|from|for)\s+.*$", re.I)
# "AFP Staff", "Guardian staff", "CNN Wire Staff": the organisation, not a person.
_STAFF_SUFFIX = re.compile(r"\s+(?:staff(?:\s+(?:writers?|reporters?))?|staffers|newsroom|news desk|desk)$", re.I)
# Job titles and collective credits listed next to names; they are neither people nor sources.
_ROLE_WORDS = re.compile(
    r"\b(?:correspondent|editor|reporter|writer|staff|contributor|columnist|analyst|producer|journalist|"
    r"agency|agencies|bureau|chief)s?\b",
    re.I,
)
# Multi-word organisations that end with one of these words: "BBC News", "PA Media", "Associated Press".
_ORGANISATION_SUFFIX = re.compile(r"\b(?:news|press|media|agency|wire|wires|newsroom|service|services)$", re.I)
_KNOWN_AGENCIES = frozenset(
    {
        "reuters",
        "ap",
        "associated press",
        "afp",
        "agence france-presse",
        "agence france presse",
        "bloomberg",
        "bloomberg news",
        "pa",
        "pa media",
        "press association",
        "dpa",
        "ansa",
        "efe",
        "xinhua",
        "tass",
        "ria novosti",
        "interfax",
        "kyodo",
        "kyodo news",
        "yonhap",
        "upi",
        "anadolu",
        "anadolu agency",
        "ani",
        "pti",
        "aap",
        "cnn",
        "bbc",
        "bbc news",
    }
)
# Lower-case name particles: "Ursula von der Leyen", "Luiz Inácio Lula da Silva", "Ahmed al-Sharaa".
_NAME_PARTICLES = frozenset(
    {
        "de",
        "da",
        "di",
        "du",
        "del",
        "della",
        "der",
        "den",
        "des",
        "van",
        "von",
        "la",
        "le",
        "bin",
        "binti",
        "al",
        "el",
        "ibn",
        "dos",
        "das",
        "do",
        "y",
        "e",
        "ter",
        "ten",
        "zu",
        "af",
        "av",
    }
)
# Initials: "J.", "J.R.".
_INITIALS = re.compile(r"(?:[^\W\d_]\.)+")
_NAME_CHARS = frozenset("'’-.")
_MAX_NAME_WORDS = 5
# Letters inside an all-caps word, for title-casing "O'BRIEN" -> "O'Brien".
_LETTER_RUN = re.compile(r"[^\W\d_]+")


@dataclass(slots=True)
class _Credits:
    names: list[str] = field(default_factory=list)
    organisations: list[str] = field(default_factory=list)


def _is_name_word(word: str) -> bool:
    if word in _NAME_PARTICLES or _INITIALS.fullmatch(word):
        return True
    if not all(ch.isalpha() or ch in _NAME_CHARS for ch in word):
        return False
    prefix = re.split(r"[-'’]", word, maxsplit=1)[0]
    return word[0].isupper() or (prefix in _NAME_PARTICLES or prefix in {"d", "l"})


def _is_person_name(words: list[str]) -> bool:
    return 2 <= len(words) <= _MAX_NAME_WORDS and all(_is_name_word(word) for word in words) and words[-1][0].isupper()


def _title_case_name(name: str) -> str:
    """'JANE O'BRIEN-SMITH' -> 'Jane O'Brien-Smith'; initials stay as they are."""
    words = []
    for word in name.split():
        if not _INITIALS.fullmatch(word):
            word = _LETTER_RUN.sub(lambda match: match[0][0] + match[0][1:].lower(), word)
        words.append(word)
    return " ".join(words)


def _is_organisation(item: str) -> bool:
    if item.casefold().removeprefix("the ") in _KNOWN_AGENCIES:
        return True
    words = item.split()
    capitalised = all(word[0].isupper() or word in {"of", "&"} for word in words)
    if len(words) == 1:
        return capitalised and all(ch.isalpha() or ch in _NAME_CHARS for ch in item)
    return capitalised and bool(_ORGANISATION_SUFFIX.search(item))


def _parse_credit_list(text: str) -> _Credits | None:
    """People and organisations in 'Jane Doe, John Roe and Reuters'; None if any item is neither."""
    credits = _Credits()
    for raw_item in _CREDIT_SEPARATOR.split(text.strip(" .,;:()")):
        item = _CREDIT_PLACE.sub("", raw_item).strip(" ,;:()")
        if not item:
            continue
        organisation = _STAFF_SUFFIX.sub("", item)
        if organisation != item:
            credits.organisations.append(organisation)
        elif _is_organisation(item):
            credits.organisations.append(item)
        elif _ROLE_WORDS.search(item):
            continue
        elif _is_person_name(item.split()):
            credits.names.append(_title_case_name(item) if item.isupper() else item)
        else:
            return None
    if not credits.names and not credits.organisations:
        return None
    return credits


def _parse_byline(line: str) -> _Credits | None:
    match = _BYLINE.fullmatch(line)
    if match is None or _word_count(line) > _MAX_BYLINE_WORDS or line.endswith(("?", "!")):
        return None
    return _parse_credit_list(match["credits"])


# One part of "Reporting by X in Moscow; Additional reporting by Y; Editing by Z".
_CONTRIBUTOR_SEGMENT = re.compile(
    r"(?P<role>(?:additional\s+)?(?:reporting|writing|editing|compiled|research|graphics|fact-checking|production)"
    r"(?:\s+and\s+(?:reporting|writing|editing))?)\s+by\s+(?P<credits>.+)",
    re.I,
)
# Roles whose people count as the story's authors when there is no byline.
_AUTHOR_ROLES = re.compile(r"(?:reporting|writing)(?:\s+and\s+(?:reporting|writing|editing))?", re.I)


def _parse_contributor_trailer(line: str) -> list[str] | None:
    """Authors credited in a 'Reporting by ...; Editing by ...' trailer, or None if the line is not one."""
    authors: list[str] = []
    for segment in line.strip(" ().").split(";"):
        match = _CONTRIBUTOR_SEGMENT.fullmatch(segment.strip())
        credits = _parse_credit_list(match["credits"]) if match else None
        if match is None or credits is None:
            return None
        if _AUTHOR_ROLES.fullmatch(match["role"]):
            authors.extend(credits.names)
    return authors


# --------------------------------------------------------------------------------------------
# Published / updated dates

_MONTH_NAME = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_MONTH_ABBREVIATIONS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {abbreviation: number for number, abbreviation in enumerate(_MONTH_ABBREVIATIONS, start=1)}
# "Published", "Last updated on", "Posted:" before the date.
_LABEL = (
    r"(?:(?P<label>(?:first\s+)?published|(?:last\s+)?updated|posted|(?:last\s+)?modified|date)"
    r"(?:\s+on)?\s*:?\s*)?"
)
_WEEKDAY = r"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?"
# "10:22", "10.22" (Guardian), "10:22:00.000", "10:22 AM", "9:05 p.m.".
_CLOCK = (
    r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
    r"(?:\s*(?P<meridiem>[ap])\.?\s?m\b\.?)?"
)
# After a time: "Z", "UTC+3", "+03:00", or an abbreviation resolved (or not) through _ZONE_HOURS.
_ZONE = r"(?:\s*(?P<zone>z|(?:utc|gmt)\s*[+-]\s*\d{1,2}(?::?\d{2})?|[+-]\d{2}:?\d{2}|[a-z]{1,5})\b)?"
_MDY = rf"{_WEEKDAY}(?P<month>{_MONTH_NAME})\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})"
_DMY = rf"{_WEEKDAY}(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<month>{_MONTH_NAME}),?\s+(?P<year>\d{{4}})"
_ISO = rf"(?P<year>\d{{4}})-(?P<month>\d{{2}})-(?P<day>\d{{2}})(?:[T ]{_CLOCK}{_ZONE})?"
_TIME_AFTER_DATE = rf"(?:(?:\s*,\s*|\s+at\s+|\s*[-–—|·•]\s*|\s+){_CLOCK}{_ZONE})?"
_TIME_BEFORE_DATE = rf"{_CLOCK}{_ZONE}(?:\s*,\s*|\s+on\s+|\s+)"
# What may follow the date on the same line: "Updated 2 hours ago", "| 3 min read".
_DATE_TAIL = r"(?:\s*(?:[|·•,\-–—]\s*)?(?:(?:last\s+)?updated\b.*|\d+\s*min(?:ute)?s?\s+read))?"
# A whole line that is a date, in the shapes news sites print; tried in order.
_DATE_LINES = tuple(
    re.compile(_LABEL + body + _DATE_TAIL, re.I)
    for body in (
        _ISO,
        _MDY + _TIME_AFTER_DATE,
        _DMY + _TIME_AFTER_DATE,
        _TIME_BEFORE_DATE + _MDY,  # AP: "Updated 10:22 AM GMT, January 13, 2022"
        _TIME_BEFORE_DATE + _DMY,
    )
)
# Zone abbreviations with a single meaning; ambiguous ones (IST, CST, ...) are left unresolved.
_ZONE_HOURS = {
    "Z": 0,
    "UT": 0,
    "UTC": 0,
    "GMT": 0,
    "WET": 0,
    "BST": 1,
    "CET": 1,
    "WEST": 1,
    "CEST": 2,
    "EET": 2,
    "EEST": 3,
    "MSK": 3,
    "EST": -5,
    "EDT": -4,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "HKT": 8,
    "SGT": 8,
    "JST": 9,
    "KST": 9,
    "AEST": 10,
    "AEDT": 11,
}
_ZONE_OFFSET = re.compile(r"(?:UTC|GMT)?\s*(?P<sign>[+-])\s*(?P<hours>\d{1,2})(?::?(?P<minutes>\d{2}))?", re.I)


@dataclass(frozen=True, slots=True)
class _Published:
    is_update: bool
    moment: datetime | None


def _zone_from_text(zone: str | None) -> timezone | None:
    if zone is None:
        return UTC  # documented choice: no zone given -> UTC
    if zone.upper() in _ZONE_HOURS:
        return timezone(timedelta(hours=_ZONE_HOURS[zone.upper()]))
    offset = _ZONE_OFFSET.fullmatch(zone)
    if offset is None:
        return None
    delta = timedelta(hours=int(offset["hours"]), minutes=int(offset["minutes"] or 0))
    return timezone(-delta if offset["sign"] == "-" else delta)


def _datetime_from_match(match: re.Match[str]) -> datetime | None:
    month_text = match["month"]
    month = int(month_text) if month_text.isdigit() else _MONTHS[month_text[:3].casefold()]
    hour, minute = int(match["hour"] or 0), int(match["minute"] or 0)
    if match["meridiem"]:
        hour = hour % 12 + (12 if match["meridiem"].casefold() == "p" else 0)
    zone = _zone_from_text(match["zone"])
    if zone is None:
        return None
    second = int(match["second"] or 0)
    moment = datetime(int(match["year"]), month, int(match["day"]), hour, minute, second, tzinfo=zone)
    return moment.astimezone(UTC)


def _parse_published(line: str) -> _Published | None:
    """A line that only states when the story was published/updated, or None."""
    for pattern in _DATE_LINES:
        match = pattern.fullmatch(line)
        if match is None:
            continue
        try:
            moment = _datetime_from_match(match)
        except ValueError:  # "February 30": not a date after all
            return None
        label = (match["label"] or "").casefold()
        return _Published(is_update="updated" in label or "modified" in label, moment=moment)
    return None


# --------------------------------------------------------------------------------------------
# Datelines

_UPPERCASE = "".join(ch for ch in map(chr, range(0x41, 0x530)) if ch.isupper())  # Latin, Greek, Cyrillic
_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
# An all-caps place of up to four words: "MOSCOW", "NEW YORK", "WILKES-BARRE", "N'DJAMENA".
# The first word has two characters or more, so "I - and others -" is no dateline.
_CAPS_PLACE = rf"[{_UPPERCASE}][{_UPPERCASE}'’.]+(?:[ \-][{_UPPERCASE}][{_UPPERCASE}'’.]*){{0,3}}"
# Any capitalised place, accepted only when an agency in parentheses follows: "Moscow (Reuters) -".
_CAPITALISED_PLACE = rf"[{_UPPERCASE}][\w.'’\-]*(?:\s+[{_UPPERCASE}][\w.'’\-]*){{0,3}}"
# The date inside a dateline: "Jan 13", "13 January", "Jan. 13, 2022". Case-sensitive, like the places.
_DATELINE_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_DATELINE_DATE = rf"(?:{_DATELINE_MONTH}\s+\d{{1,2}}|\d{{1,2}}\s+{_DATELINE_MONTH})(?:,?\s+\d{{4}})?"
# The region after a comma: "Ukraine", "Pa.", "Northern Ireland" (but not a date such as "Jan 13").
_REGION = rf"(?:,\s*(?!{_DATELINE_DATE})[{_UPPERCASE}][\w.'’\-]*(?:\s+[{_UPPERCASE}][\w.'’\-]*){{0,2}})?"
_AGENCY = rf"\((?P<agency>[{_UPPERCASE}][^()]{{0,39}})\)"
# The separator: "(Agency) -", or a dash with a space on at least one side (so "ANTI-WAR" is no
# dateline), or a colon.
_SEPARATOR = rf"(?:\s*{_AGENCY}\s*(?:[{_DASHES}]+|:)|\s+[{_DASHES}]+|[{_DASHES}]+(?=\s)|\s*:)"
_DATELINES = (
    re.compile(rf"(?P<place>{_CAPS_PLACE}{_REGION})(?:,\s*{_DATELINE_DATE})?{_SEPARATOR}\s*(?P<rest>\S.*)"),
    re.compile(
        rf"(?P<place>{_CAPITALISED_PLACE}{_REGION})(?:,\s*{_DATELINE_DATE})?"
        rf"\s*{_AGENCY}\s*(?:[{_DASHES}]+|:)\s*(?P<rest>\S.*)"
    ),
)
# All-caps labels that open a paragraph like a dateline but are not places.
_NOT_PLACES = frozenset(
    {
        "UPDATE",
        "UPDATED",
        "BREAKING",
        "EXCLUSIVE",
        "WATCH",
        "ANALYSIS",
        "OPINION",
        "FACTBOX",
        "EXPLAINER",
        "LIVE",
        "VIDEO",
        "PHOTOS",
        "NOTE",
        "EDITOR'S NOTE",
        "CORRECTION",
        "FILE",
        "COMMENT",
        "REVIEW",
    }
)


@dataclass(frozen=True, slots=True)
class _Dateline:
    place: str
    agency: str | None
    rest: str


def _split_dateline(paragraph: str) -> _Dateline | None:
    for pattern in _DATELINES:
        match = pattern.fullmatch(paragraph)
        if match and match["place"].upper() not in _NOT_PLACES:
            return _Dateline(place=match["place"], agency=match["agency"], rest=match["rest"])
    return None


# --------------------------------------------------------------------------------------------
# Line classification


class _Kind(Enum):
    TEXT = auto()
    DROPPED = auto()  # clutter, title repeats and metadata lines: not body text
    TRAILER = auto()  # a heading after which nothing belongs to the article


@dataclass(slots=True)
class _Metadata:
    authors: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    trailer_authors: list[str] = field(default_factory=list)
    published: list[_Published] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    url: str | None = None

    def add_credits(self, credits: _Credits) -> None:
        self.authors.extend(name for name in credits.names if name not in self.authors)
        self.sources.extend(credits.organisations)

    def published_at(self) -> datetime | None:
        first_publication = next((item for item in self.published if not item.is_update), None)
        chosen = first_publication or (self.published[0] if self.published else None)
        return chosen.moment if chosen else None


def _classify(line: str, title: str | None, metadata: _Metadata) -> _Kind:
    """What a non-blank line is; metadata found on it is recorded on `metadata`."""
    if not any(ch.isalnum() for ch in line):  # separators such as "***" or "—"
        return _Kind.DROPPED
    if title is not None and _repeats_title(line, title):
        return _Kind.DROPPED
    if _TRAILER_HEADING.fullmatch(line):
        return _Kind.TRAILER
    if _URL_LINE.fullmatch(line):
        metadata.url = metadata.url or line
        return _Kind.DROPPED
    if (published := _parse_published(line)) is not None:
        metadata.published.append(published)
        return _Kind.DROPPED
    if (byline := _parse_byline(line)) is not None:
        metadata.add_credits(byline)
        return _Kind.DROPPED
    if (trailer_authors := _parse_contributor_trailer(line)) is not None:
        metadata.trailer_authors.extend(trailer_authors)
        return _Kind.DROPPED
    if (inline_topics := _INLINE_TOPICS.fullmatch(line)) is not None:
        metadata.topics.extend(_split_topics(inline_topics["topics"]))
        return _Kind.DROPPED
    return _Kind.DROPPED if _is_chrome(line) else _Kind.TEXT


# --------------------------------------------------------------------------------------------
# Paragraph assembly


def _layout(lines: list[str]) -> list[str]:
    """Lines with "" as paragraph breaks; text without any blank line holds one paragraph per line."""
    while lines and not lines[0]:
        lines = lines[1:]
    while lines and not lines[-1]:
        lines = lines[:-1]
    if "" in lines:
        return lines
    return [part for line in lines for part in (line, "")][:-1]


def _is_wrapped(previous: str, line: str) -> bool:
    """Is `line` the continuation of a hard-wrapped `previous` line?"""
    if line[:1].islower():
        return True
    return len(previous) >= _MIN_WRAPPED_LINE_CHARS and not _ends_sentence(previous)


def _paragraphs_from_run(lines: list[str]) -> list[str]:
    """Paragraphs from consecutive text lines, joining hard-wrapped lines back together."""
    paragraphs: list[str] = []
    for index, line in enumerate(lines):
        if index and _is_wrapped(lines[index - 1], line):
            paragraphs[-1] += " " + line
        else:
            paragraphs.append(line)
    return paragraphs


def _take_title(lines: list[str], metadata: _Metadata) -> tuple[str, list[str]]:
    """The headline and the lines after it; clutter before the headline is skipped."""
    for index, line in enumerate(lines):
        if not line or _classify(line, None, metadata) is not _Kind.TEXT:
            continue
        if _word_count(line) > _MAX_TITLE_WORDS:
            raise ArticleParseError(
                f"Could not find a title: the first line of text has {_word_count(line)} words, "
                "which looks like body text rather than a headline."
            )
        return line, lines[index + 1 :]
    raise ArticleParseError("Could not find a title: the text holds only page clutter (buttons, credits, dates).")


def _body_paragraphs(lines: list[str], title: str, metadata: _Metadata) -> list[str]:
    """Text paragraphs up to the first trailer heading that follows some prose."""
    paragraphs: list[str] = []
    run: list[str] = []
    prose_seen = False
    in_link_list = False
    for index, line in enumerate(lines):
        kind = _classify(line, title, metadata) if line else _Kind.DROPPED
        if in_link_list and line:  # headlines listed under a lone "Read more:" label
            kind = _Kind.DROPPED
        if not line:
            in_link_list = False
        elif _LINK_LABEL.fullmatch(line):
            in_link_list = True
        if kind is _Kind.TRAILER and prose_seen:
            if _TOPIC_HEADING.fullmatch(line):
                metadata.topics.extend(_topic_lines(lines[index + 1 :]))
            break
        if kind is _Kind.TEXT:
            run.append(line)
            prose_seen = prose_seen or _is_prose(line)
        else:  # a blank or removed line ends the paragraph
            paragraphs.extend(_paragraphs_from_run(run))
            run = []
    paragraphs.extend(_paragraphs_from_run(run))
    return paragraphs


def _trim_fragments(paragraphs: list[str]) -> list[str]:
    """Drop navigation-like fragments before the first and after the last real paragraph."""
    start, end = 0, len(paragraphs)
    while start < end and _is_fragment(paragraphs[start]):
        start += 1
    while end > start and _is_fragment(paragraphs[end - 1]):
        end -= 1
    return paragraphs[start:end]


# --------------------------------------------------------------------------------------------
# Public entry point


def parse_plaintext(text: str, *, default_source: str | None = None) -> ParsedArticle:
    """Parse an article copied from a web page as plain text.

    Raises ArticleParseError for empty input, input without a recognisable title, and input
    without body paragraphs. See the module docstring for the rules.
    """
    lines = _layout(_normalise_lines(clean_text(text)))
    if not lines:
        raise ArticleParseError("The text is empty (or only whitespace): there is no article to parse.")

    metadata = _Metadata()
    title, rest = _take_title(lines, metadata)
    paragraphs = _trim_fragments(_body_paragraphs(rest, title, metadata))
    if not paragraphs:
        raise ArticleParseError(f"Found the title {title!r} but no body paragraphs after it.")

    dateline = _split_dateline(paragraphs[0])
    if dateline is not None:
        paragraphs[0] = dateline.rest
        if dateline.agency:
            metadata.sources.append(dateline.agency)

    sources = metadata.sources or ([default_source] if default_source else [])
    return ParsedArticle(
        title=title,
        paragraphs=paragraphs,
        source=sources[0] if sources else None,
        authors=metadata.authors or list(dict.fromkeys(metadata.trailer_authors)),
        dateline=dateline.place if dateline else None,
        url=metadata.url,
        published_at=metadata.published_at(),
        topics=list(dict.fromkeys(metadata.topics)),
    )
