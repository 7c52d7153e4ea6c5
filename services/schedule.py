"""Bulletin timing: local times of day in an IANA zone -> the next UTC instant, correct across DST changes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from importlib.resources import files
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

if TYPE_CHECKING:
    from storage.models import Subscriber

_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_time_of_day(text: str) -> time:
    """'7:05' or '07:05' -> time(7, 5); anything else raises ValueError with a readable message."""
    match = _TIME_OF_DAY.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time of day like 07:30")
    return time(int(match.group(1)), int(match.group(2)))


def next_bulletin_at(times: Iterable[time], zone: ZoneInfo, after: datetime) -> datetime | None:
    """The first scheduled instant strictly after `after`, in UTC; None when there are no times.

    A local time that does not exist on a spring-forward day (02:30 in a skipped hour) is taken with the
    offset before the change, i.e. it fires just after the jump (03:30 new time). A local time that
    happens twice on a fall-back day fires once, at its first occurrence (fold=0).
    """
    slots = sorted(set(times))
    if not slots:
        return None
    local_day = after.astimezone(zone).date()
    # Yesterday..+2 days covers every offset a zone can have relative to `after`.
    for day_offset in range(-1, 3):
        day = local_day + timedelta(days=day_offset)
        for slot in slots:
            candidate = datetime.combine(day, slot, tzinfo=zone).astimezone(UTC)
            if candidate > after:
                return candidate
    raise AssertionError("unreachable: a slot always exists within two days")


def next_for_subscriber(subscriber: Subscriber, after: datetime) -> datetime | None:
    """The subscriber's next bulletin after `after`, from their stored local times and zone."""
    return next_bulletin_at([slot.local_time for slot in subscriber.times], ZoneInfo(subscriber.timezone), after)


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def find_timezone(name: str) -> str | None:
    """The canonical IANA name for `name` (case-insensitive, spaces as underscores), or None."""
    wanted = name.strip().replace(" ", "_")
    if not wanted:
        return None
    canonical = _zones_by_lower_name().get(wanted.lower())
    if canonical is None:
        return None
    try:
        ZoneInfo(canonical)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return canonical


@lru_cache(maxsize=1)
def iana_zone_names() -> frozenset[str]:
    """The zones of the IANA tz database, as the tzdata package lists them (with the old names kept as links,
    e.g. US/Eastern). zoneinfo.available_timezones() also lists what the OS zoneinfo directory holds besides
    zones: `localtime` (the host's own setting), `posixrules`, and the `posix/` and `right/` copies (`right/`
    counts leap seconds, so its clocks are ~27 s off). `Factory` is listed but is a placeholder, not a place."""
    return frozenset(files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()) - {"Factory"}


def user_timezone(text: str) -> str | None:
    """The canonical IANA zone name a user typed (any case, spaces for underscores), or None."""
    zone_name = find_timezone(text)
    return zone_name if zone_name in iana_zone_names() else None
