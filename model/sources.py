"""Source health: how long a failing feed waits before its next try, and when the admins hear about it."""

from __future__ import annotations

from datetime import timedelta

# A failing source waits interval * 2^(failures - 1) before the next try, but never longer than this.
MAX_BACKOFF = timedelta(hours=6)
# A source failing this many times in a row, or for this long, is reported to the admins (once per streak).
REPORT_AFTER_FAILURES = 10
REPORT_AFTER = timedelta(hours=24)


def backoff(interval_minutes: int, failures: int) -> timedelta:
    """Delay before the next try after `failures` failures in a row (the first retry comes after one interval)."""
    interval = timedelta(minutes=interval_minutes)
    if failures <= 0:
        return interval
    ceiling = max(MAX_BACKOFF, interval)
    return min(interval * (2 ** min(failures - 1, 20)), ceiling)
