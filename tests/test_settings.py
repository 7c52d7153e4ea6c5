"""List settings written as one environment string (as in .env): commas and/or spaces between items."""

from __future__ import annotations

import re
from datetime import time

import pytest
from pydantic import ValidationError

from bot.settings import load_settings


def test_list_settings_accept_commas_and_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "5, 7  9,")
    monkeypatch.setenv("FEEDS", "https://a.example/feed, http://b.example/rss https://a.example/feed")
    monkeypatch.setenv("BULLETIN_TIMES", "12:00,07:00 07:00")
    settings = load_settings(_env_file=None)
    assert settings.admin_ids == frozenset({5, 7, 9})
    assert settings.feeds == ("https://a.example/feed", "http://b.example/rss")  # order kept, repeats dropped
    assert settings.bulletin_times == (time(7, 0), time(12, 0))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "FEEDS",
            "https://ok.example/feed ftp://files.example/feed",
            "FEEDS takes http(s) URLs; not one: 'ftp://files.example/feed'",
        ),
        ("BULLETIN_TIMES", " , ", "BULLETIN_TIMES needs at least one time like 07:00"),
    ],
)
def test_bad_list_settings_are_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=re.escape(message)):
        load_settings(_env_file=None)
