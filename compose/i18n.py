"""The bot's words in the chat's language: gettext catalogues read with Babel, and dates and ages in that language.

Every text the bot sends goes through `gettext` (imported as `_`), `ngettext` or `pgettext` here; the catalogues
are `compose/locales/<lang>/LC_MESSAGES/newsbot.po`, read (and compiled in memory) the first time a language is
used, so nothing compiled is committed and there is no build step. Adding a language is adding one .po file:
`SUPPORTED_LANGUAGES` lists the folders found there, English first.

The language is not a parameter: it lives in a `contextvars.ContextVar` set by `use_language`. Every compose
function reads it, so none of their signatures (nor their callers') had to grow a `language` argument; and it is
safe under concurrency because each update runs in a task of its own (python-telegram-bot starts one per update,
and asyncio gives every task a copy of the context it was created in), so one chat's language never leaks into
another's reply. Handlers set it once per update; the bulletin and alert writers, which compose for many chats in
one task, wrap each chat's composition in `use_language(...)`, which restores the previous value on exit.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta
from io import BytesIO
from pathlib import Path
from typing import Literal

from babel import Locale
from babel import dates as babel_dates
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "newsbot"
LOCALES = Path(__file__).resolve().parent / "locales"
DEFAULT_LANGUAGE = "en"

LANGUAGE_NAMES = {"en": "English", "ru": "Русский", "de": "Deutsch", "es": "Español"}  # in this order in menus


def _found_languages() -> tuple[str, ...]:
    """The languages with a catalogue: English first, then those of LANGUAGE_NAMES, then any other by code."""
    found = {path.parent.parent.name for path in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    known = [code for code in LANGUAGE_NAMES if code in found or code == DEFAULT_LANGUAGE]
    return (*known, *sorted(found - set(known)))


SUPPORTED_LANGUAGES: tuple[str, ...] = _found_languages()

_current: ContextVar[str] = ContextVar("newsbot_language", default=DEFAULT_LANGUAGE)


def supported_language(code: str | None) -> str:
    """The supported language for a Telegram language_code or a stored value: its primary subtag ('de-AT' → 'de',
    'pt_BR' → 'pt') when we have that catalogue, else English."""
    if not code:
        return DEFAULT_LANGUAGE
    primary = code.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    return _current.get()


def set_language(code: str | None) -> str:
    """Make `code` (normalised) the current language of this task from now on; for per-update wiring, where no
    block surrounds the work. Returns the language set."""
    language = supported_language(code)
    _current.set(language)
    return language


@contextmanager
def use_language(code: str | None) -> Iterator[str]:
    """Compose in `code` (normalised with supported_language) inside the block; the previous language after it."""
    token = _current.set(supported_language(code))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


@functools.cache
def translations(language: str) -> _gettext.NullTranslations:
    """The language's catalogue, read from its .po file once and compiled in memory. English msgids are the source
    text, so an empty English msgstr means "as written"."""
    path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return _gettext.NullTranslations()
    with path.open("rb") as file:
        catalog = read_po(file, locale=language, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def gettext(message: str) -> str:
    return translations(current_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for `n` in the current language (Russian has three); format `{count}` into it yourself."""
    return translations(current_language()).ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    return translations(current_language()).pgettext(context, message)


def N_(message: str) -> str:
    """Marks a string for extraction without translating it now (module-level tables); `_()` it when used."""
    return message


def translate_known(text: str, known: Sequence[str]) -> str:
    """`text`, an English message a lower layer made (model and storage cannot import this module), in the current
    language when it is one of the `known` msgids (marked with N_ where they are listed) with its `{name}` fields
    filled in; anything else as it is (a server's error, say)."""
    for msgid in known:
        match = _known_pattern(msgid).fullmatch(text)
        if match is not None:
            return gettext(msgid).format(**match.groupdict())
    return text


@functools.cache
def _known_pattern(msgid: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", msgid)  # literal, name, literal, name, ..., literal
    pattern = "".join(re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)" for index, part in enumerate(parts))
    return re.compile(pattern, re.DOTALL)


# ---------------------------------------------------------------------------- names, lists, dates, ages


def language_name(code: str) -> str:
    """The language's own name ('Deutsch'), as its speakers would look for it in a list."""
    if code in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[code]
    return (Locale.parse(code).get_display_name(code) or code).capitalize()


def locale() -> Locale:
    return _locale(current_language())


@functools.cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)


def join_and(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c' in the current language (no serial comma)."""
    if len(items) <= 1:
        return "".join(items)
    return gettext("{items} and {last}").format(items=", ".join(items[:-1]), last=items[-1])


def format_date(moment: date | datetime, pattern: str = "medium") -> str:
    """`moment` as the CLDR `pattern` says (e.g. 'EEEE d MMMM y', or one of Babel's 'short', 'medium', 'long',
    'full'), with the current language's names for days and months. The fields are used as given: convert to the
    zone wanted first. Translatable patterns: `format_date(d, pgettext("date pattern", "d MMM y"))`."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return _format_date(day, pattern, current_language())


@functools.lru_cache(maxsize=4096)
def _format_date(day: date, pattern: str, language: str) -> str:
    """Cached: a page of bulletins asks for the same few headings thousands of times."""
    return babel_dates.format_date(day, pattern, locale=_locale(language))


def format_time(moment: time | datetime, pattern: str = "HH:mm") -> str:
    """'07:30': the 24-hour clock in every language the bot speaks. Fields as given, no zone conversion."""
    if isinstance(moment, datetime):
        moment = moment.time()
    return babel_dates.format_time(moment, pattern, locale=locale())


Granularity = Literal["year", "month", "week", "day", "hour", "minute", "second"]


def format_timedelta(delta: timedelta, *, granularity: Granularity = "second", add_direction: bool = False) -> str:
    """Babel's spelled-out duration in the current language ('5 minutes', 'in 3 hours'), rounded as Babel does.
    The bot's short ages ('5 min ago', rounded down) are compose.headlines.format_age, from the catalogue."""
    return babel_dates.format_timedelta(
        delta, granularity=granularity, threshold=1, add_direction=add_direction, locale=locale()
    )
