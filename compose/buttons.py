"""Every inline button's callback_data, built and parsed in one place.

A kind of button is a frozen dataclass with a prefix; its fields say how each value is written. `pack()` gives
the callback_data (refusing more than Telegram's 64 bytes), `unpack(data)` gives the values back or None, and
`pattern()` is the regular expression a CallbackQueryHandler routes on. callback_data comes back from anyone's
client, so parsing is strict: ASCII digits only, every number within its range, nothing trailing.

The formats are those the bot has always sent ("read:12", "settings:times:07:00,19:00"), so buttons under
messages already in chats keep working.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import time
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from compose.html import CALLBACK_DATA_LIMIT

# Ids are 32-bit integer columns (PostgreSQL's INTEGER): a larger number names no row, and PostgreSQL would raise.
MAX_ID = 2**31 - 1
MAX_HEADLINES = 20  # most headlines in one /headlines message
MAX_POSITION = 999_999  # where a More page starts numbering, or which part of an article comes next
MAX_TIMES = 12  # most bulletin times a subscriber keeps
MAX_BUTTON_TIMES = 8  # most times one settings button carries: "settings:times:" + 8 × "HH:MM," fits in 64 bytes


def parse_int(text: str, *, low: int = 1, high: int = MAX_ID) -> int | None:
    """`text` as a number when it is ASCII digits only (no sign, no spaces) within [low, high], else None.

    str.isdigit() accepts '²' and '⑤', which int() refuses; int() and regex \\d accept other scripts' digits.
    Chat input and button data are untrusted, so only '0'-'9' count, and the length is checked before converting.
    """
    if not text or len(text) > len(str(high)) or not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if low <= value <= high else None


class _FieldCodec(Protocol):
    regex: str

    def encode(self, value: Any) -> str: ...

    def decode(self, text: str) -> Any | None: ...


@dataclass(frozen=True)
class _Number:
    low: int
    high: int

    @property
    def regex(self) -> str:
        return f"[0-9]{{1,{len(str(self.high))}}}"

    def encode(self, value: int) -> str:
        if not self.low <= value <= self.high:
            raise ValueError(f"{value} is outside {self.low}..{self.high}")
        return str(value)

    def decode(self, text: str) -> int | None:
        return parse_int(text, low=self.low, high=self.high)


_TIME = "[0-9]{2}:[0-9]{2}"


@dataclass(frozen=True)
class _Times:
    most: int

    @property
    def regex(self) -> str:
        return f"{_TIME}(?:,{_TIME}){{0,{self.most - 1}}}"

    def encode(self, value: tuple[time, ...]) -> str:
        if not 1 <= len(value) <= self.most:
            raise ValueError(f"from 1 to {self.most} times, not {len(value)}")
        return ",".join(moment.strftime("%H:%M") for moment in value)

    def decode(self, text: str) -> tuple[time, ...] | None:
        times = []
        for part in text.split(","):
            hour, minute = parse_int(part[:2], low=0, high=23), parse_int(part[3:], low=0, high=59)
            if hour is None or minute is None:
                return None
            times.append(time(hour, minute))
        return tuple(times)


@dataclass(frozen=True)
class _Token:
    """A short lowercase hex digest (e.g. of a topic's key): names a value too long for the 64 bytes."""

    length: int

    @property
    def regex(self) -> str:
        return f"[0-9a-f]{{{self.length}}}"

    def encode(self, value: str) -> str:
        if len(value) != self.length or not all(ch in "0123456789abcdef" for ch in value):
            raise ValueError(f"not a {self.length}-digit hex token: {value!r}")
        return value

    def decode(self, text: str) -> str | None:
        return text


@dataclass(frozen=True)
class _Code:
    """A language code: 2 or 3 lowercase ASCII letters ('de'); whether the bot speaks it is the handler's check."""

    @property
    def regex(self) -> str:
        return "[a-z]{2,3}"

    def encode(self, value: str) -> str:
        if not (2 <= len(value) <= 3 and value.isascii() and value.isalpha() and value.islower()):
            raise ValueError(f"not a language code: {value!r}")
        return value

    def decode(self, text: str) -> str | None:
        return text


def language_code() -> Any:
    """A field holding a language code ('ru')."""
    return dataclasses.field(metadata={"codec": _Code()})


def token(length: int = 8) -> Any:
    """A field holding a `length`-digit lowercase hex token."""
    return dataclasses.field(metadata={"codec": _Token(length)})


def number(low: int = 1, high: int = MAX_ID) -> Any:
    """A field written as a decimal number in [low, high]."""
    return dataclasses.field(metadata={"codec": _Number(low, high)})


def times(most: int = MAX_BUTTON_TIMES) -> Any:
    """A field of 1..most times of day, written '07:00,19:00'."""
    return dataclasses.field(metadata={"codec": _Times(most)})


_Button = TypeVar("_Button", bound="ButtonData")


class ButtonData:
    """Base of the button kinds: subclass with `prefix=...` and decorate with @dataclass(frozen=True)."""

    prefix: ClassVar[str]
    if TYPE_CHECKING:  # what @dataclass adds to each kind, so dataclasses.fields() takes one
        __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def __init_subclass__(cls, *, prefix: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.prefix = prefix

    def pack(self) -> str:
        parts = [self.prefix]
        for field in dataclasses.fields(self):
            parts.append(_codec(field).encode(getattr(self, field.name)))
        data = ":".join(parts)
        if len(data.encode("utf-8")) > CALLBACK_DATA_LIMIT:
            raise ValueError(f"callback_data over {CALLBACK_DATA_LIMIT} bytes: {data[:80]!r}")
        return data

    @classmethod
    def pattern(cls) -> re.Pattern[str]:
        return _pattern(cls)

    @classmethod
    def unpack(cls: type[_Button], data: str | None) -> _Button | None:
        """The button's values, or None when `data` is not this kind's or a value is out of range."""
        match = cls.pattern().match(data or "")
        if match is None:
            return None
        values = []
        for field, text in zip(dataclasses.fields(cls), match.groups(), strict=True):
            value = _codec(field).decode(text)
            if value is None:
                return None
            values.append(value)
        return cls(*values)


def _codec(field: dataclasses.Field[Any]) -> _FieldCodec:
    codec: _FieldCodec = field.metadata["codec"]
    return codec


def any_of(*kinds: type[ButtonData]) -> re.Pattern[str]:
    """One pattern routing several kinds to the same handler (each kind's own pattern, alternated)."""
    return re.compile("|".join(kind.pattern().pattern for kind in kinds))


# Each kind's pattern, built once. A dict rather than functools.cache: mypy does not take a class as Hashable.
_patterns: dict[type[ButtonData], re.Pattern[str]] = {}


def _pattern(kind: type[ButtonData]) -> re.Pattern[str]:
    pattern = _patterns.get(kind)
    if pattern is None:
        groups = "".join(f":({_codec(field).regex})" for field in dataclasses.fields(kind))
        # \Z, not $: $ also matches before a trailing newline.
        pattern = _patterns[kind] = re.compile(rf"^{re.escape(kind.prefix)}{groups}\Z")
    return pattern


# ---------------------------------------------------------------------------- the bot's buttons


@dataclass(frozen=True)
class ReadArticle(ButtonData, prefix="read"):
    """'📖 N' under /headlines: the whole article."""

    article_id: int = number()


@dataclass(frozen=True)
class MoreHeadlines(ButtonData, prefix="more"):
    """'More ›' under /headlines: `count` headlines older than article `before_id`, numbered from `start_index`."""

    before_id: int = number()
    count: int = number(high=MAX_HEADLINES)
    start_index: int = number(high=MAX_POSITION)


@dataclass(frozen=True)
class ContinueArticle(ButtonData, prefix="readpart"):
    """'Continue (part 4 of 12)' under a long article: its parts from `first_part` on."""

    article_id: int = number()
    first_part: int = number(high=MAX_POSITION)


@dataclass(frozen=True)
class Subscribe(ButtonData, prefix="subscribe"):
    """'Subscribe to bulletins' under /start."""


@dataclass(frozen=True)
class SettingsOn(ButtonData, prefix="settings:on"):
    """'Subscribe' under /settings."""


@dataclass(frozen=True)
class SettingsOff(ButtonData, prefix="settings:off"):
    """'Unsubscribe' under /settings."""


@dataclass(frozen=True)
class SettingsTimes(ButtonData, prefix="settings:times"):
    """A preset of bulletin times under /settings."""

    times: tuple[time, ...] = times()


# ---------------------------------------------------------------------------- personal news: sources, topics


@dataclass(frozen=True)
class MoreAllHeadlines(ButtonData, prefix="moreall"):
    """'More ›' under /headlines all: like MoreHeadlines, but past the chat's topics and keywords."""

    before_id: int = number()
    count: int = number(high=MAX_HEADLINES)
    start_index: int = number(high=MAX_POSITION)


@dataclass(frozen=True)
class SourcesPage(ButtonData, prefix="src:page"):
    """'‹ Previous' / 'Next ›' under /sources."""

    page: int = number(low=0, high=MAX_POSITION)


@dataclass(frozen=True)
class FollowSource(ButtonData, prefix="src:follow"):
    """'➕ Follow' next to a source in /sources; `page` is the page to show again."""

    source_id: int = number()
    page: int = number(low=0, high=MAX_POSITION)


@dataclass(frozen=True)
class UnfollowSource(ButtonData, prefix="src:unfollow"):
    """'✖ Unfollow' next to a source in /sources; `page` is the page to show again."""

    source_id: int = number()
    page: int = number(low=0, high=MAX_POSITION)


@dataclass(frozen=True)
class ToggleTopic(ButtonData, prefix="topic"):
    """A topic's toggle under /topics: `digest` is model.topics.topic_digest of its key."""

    digest: str = token()


@dataclass(frozen=True)
class AllTopics(ButtonData, prefix="topic:all"):
    """'All topics' under /topics: clears the choice."""


# ---------------------------------------------------------------------------- alerts (/alert)


@dataclass(frozen=True)
class RemoveAlert(ButtonData, prefix="alert:off"):
    """'✖ N' under the /alert list: remove that alert (by its id: the list's numbers change as alerts go)."""

    alert_id: int = number()


# ---------------------------------------------------------------------------- search (/search, inline mode)

MAX_SEARCH_OFFSET = 300  # how far More pages through one search's results (storage ranks the 300 newest matches)


@dataclass(frozen=True)
class MoreResults(ButtonData, prefix="search:more"):
    """'More ›' under /search: the results from `offset` on of the query saved under `query_id`.

    A query is up to 200 characters, more than callback_data's 64 bytes, so the button carries the id of the
    saved query text (storage.search.save_query) instead.
    """

    query_id: int = number()
    offset: int = number(high=MAX_SEARCH_OFFSET)


# ---------------------------------------------------------------------------- the chat's language (/language)


@dataclass(frozen=True)
class ChooseLanguage(ButtonData, prefix="lang"):
    """A language's button under /language: the chat's language from now on."""

    code: str = language_code()


# ---------------------------------------------------------------------------- end of search


# ---------------------------------------------------------------------------- channels (/channels)


@dataclass(frozen=True)
class ManageChannel(ButtonData, prefix="channel"):
    """'⚙️ <title>' under /channels: change that channel's settings from this private chat (its target's id)."""

    subscriber_id: int = number()
