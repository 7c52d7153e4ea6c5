"""Bulletin timing: local times in an IANA zone -> UTC instants, across zones and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from services.schedule import find_timezone, next_bulletin_at

UTC = UTC
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_next_time_later_today_and_wraps_to_tomorrow() -> None:
    times = [time(7), time(12), time(19)]
    # 10:00 UTC is 11:00 in Berlin (winter): next is 12:00 local = 11:00 UTC.
    assert next_bulletin_at(times, BERLIN, utc(2026, 11, 27, 10, 0)) == utc(2026, 11, 27, 11, 0)
    # 18:30 UTC is 19:30 in Berlin: next is 07:00 tomorrow = 06:00 UTC.
    assert next_bulletin_at(times, BERLIN, utc(2026, 11, 27, 18, 30)) == utc(2026, 11, 28, 6, 0)


def test_exactly_at_a_slot_gives_the_following_one() -> None:
    assert next_bulletin_at([time(7), time(19)], BERLIN, utc(2026, 11, 27, 6, 0)) == utc(2026, 11, 27, 18, 0)


def test_half_hour_zone_and_local_date_ahead_of_utc() -> None:
    # 20:00 UTC on the 27th is 01:30 on the 28th in Kolkata: 07:00 local on the 28th = 01:30 UTC.
    assert next_bulletin_at([time(7)], KOLKATA, utc(2026, 11, 27, 20, 0)) == utc(2026, 11, 28, 1, 30)


def test_same_local_time_moves_in_utc_across_spring_forward() -> None:
    # New York switches to EDT on Sunday 8 March 2026: 07:00 local is 12:00 UTC before, 11:00 UTC after.
    assert next_bulletin_at([time(7)], NEW_YORK, utc(2026, 3, 7, 13, 0)) == utc(2026, 3, 8, 11, 0)
    assert next_bulletin_at([time(7)], NEW_YORK, utc(2026, 3, 6, 13, 0)) == utc(2026, 3, 7, 12, 0)


def test_time_in_the_skipped_hour_fires_just_after_the_jump() -> None:
    # 02:30 does not exist in New York on 8 March 2026; it fires at 03:30 EDT (07:30 UTC), once.
    first = next_bulletin_at([time(2, 30)], NEW_YORK, utc(2026, 3, 8, 5, 0))
    assert first == utc(2026, 3, 8, 7, 30)
    assert first.astimezone(NEW_YORK).hour == 3
    assert next_bulletin_at([time(2, 30)], NEW_YORK, first) == utc(2026, 3, 9, 6, 30)


def test_time_in_the_repeated_hour_fires_once() -> None:
    # 01:30 happens twice in New York on 1 November 2026 (EDT, then EST); one bulletin, at the first.
    first = next_bulletin_at([time(1, 30)], NEW_YORK, utc(2026, 11, 1, 0, 0))
    assert first == utc(2026, 11, 1, 5, 30)
    second = next_bulletin_at([time(1, 30)], NEW_YORK, first)
    assert second == utc(2026, 11, 2, 6, 30)


def test_every_slot_of_a_week_across_a_dst_change_is_distinct_and_local() -> None:
    times = [time(7), time(12), time(19)]
    when = utc(2026, 10, 22, 0, 0)  # Berlin leaves summer time on 25 October 2026
    seen = []
    for _ in range(21):
        when = next_bulletin_at(times, BERLIN, when)
        seen.append(when)
    local = [w.astimezone(BERLIN) for w in seen]
    assert [(w.hour, w.minute) for w in local] == [(7, 0), (12, 0), (19, 0)] * 7
    assert len({w.date() for w in local}) == 7


def test_no_times_means_no_schedule() -> None:
    assert next_bulletin_at([], BERLIN, utc(2026, 1, 1)) is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        (" America/New York ", "America/New_York"),
        ("UTC", "UTC"),
    ],
)
def test_find_timezone_accepts_any_case(given: str, expected: str) -> None:
    assert find_timezone(given) == expected


@pytest.mark.parametrize("given", ["", "Mars/Olympus", "Berlin", "../etc/passwd", "Europe/Berlin; DROP TABLE"])
def test_find_timezone_rejects_unknown_names(given: str) -> None:
    assert find_timezone(given) is None
