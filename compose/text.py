"""Plain-text helpers shared by the renderers: UTF-16 lengths, whitespace clean-up, truncation, dates.

Everything here works on *unescaped* text. Escaping a string never changes its visible length
(each entity decodes back to the one character it replaced), so limits can be applied before escaping.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from compose.i18n import format_date, pgettext

ELLIPSIS = "…"

_SURROGATES = re.compile("[\ud800-\udfff]")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: what Telegram counts. Characters outside the BMP count twice."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def char_width(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def scrub(text: str) -> str:
    """Replace stray surrogate code points (never valid in a message) with U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


def one_line(text: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space and strip the ends."""
    return " ".join(text.split())


def truncate(text: str, max_units: int, ellipsis: str = ELLIPSIS) -> str:
    """Shorten `text` to at most `max_units` UTF-16 units, ending in `ellipsis` when anything was cut.

    Cuts at a word boundary when that loses at most a third of the room, otherwise mid-word.
    Never splits a character (so never a surrogate pair).
    """
    if max_units < 0:
        raise ValueError("max_units must not be negative")
    if utf16_len(text) <= max_units:
        return text
    room = max_units - utf16_len(ellipsis)
    if room <= 0:
        return ellipsis if utf16_len(ellipsis) <= max_units else ""
    used = 0
    cut = 0
    for index, char in enumerate(text):
        width = char_width(char)
        if used + width > room:
            break
        used += width
        cut = index + 1
    head = text[:cut]
    space = head.rfind(" ")
    if space > 0 and space >= (2 * len(head)) // 3:
        head = head[:space]
    return head.rstrip() + ellipsis


def as_utc(moment: datetime) -> datetime:
    """An aware datetime in UTC; naive values are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def short_date(moment: datetime) -> str:
    """'13 Jan 2022' (UTC) in the current language ('13 янв. 2022 г.'), independent of the process locale."""
    # Translators: a CLDR date pattern (d day, MMM short month, y year) for an article's date.
    return format_date(as_utc(moment), pgettext("date pattern", "d MMM y"))


def long_date(moment: datetime) -> str:
    """'Friday 27 November 2026' in the current language, using the fields as given (no zone conversion)."""
    # Translators: a CLDR date pattern (EEEE weekday, d day, MMMM month, y year) for a bulletin's heading.
    return format_date(moment, pgettext("date pattern", "EEEE d MMMM y"))
