"""Topics: feed categories and an article's own tags, normalised so one subject is one topic.

A topic keeps a display form (trimmed, inner whitespace collapsed, as the first source wrote it) and is compared
by its key: the display form folded (case and accents, model.terms.fold). "Économie", "economie" and
" ECONOMIE " are one topic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from model.terms import fold

MAX_TOPIC_CHARS = 60
MAX_TOPICS_PER_ARTICLE = 12


def clean_topic(name: str) -> str | None:
    """The display form of a topic, or None when nothing is left or it is too long to be a topic."""
    display = " ".join("".join(ch if ch.isprintable() else " " for ch in name).split()).strip(" ,;#")
    if not display or len(display) > MAX_TOPIC_CHARS or not any(ch.isalnum() for ch in display):
        return None
    return display


def topic_key(name: str) -> str:
    return fold(" ".join(name.split()))


def topic_digest(name: str) -> str:
    """8 hex digits naming the topic in button data (a topic can be longer than the button's 64 bytes)."""
    return hashlib.blake2s(topic_key(name).encode("utf-8"), digest_size=4).hexdigest()


def normalise_topics(names: Iterable[str], *, limit: int = MAX_TOPICS_PER_ARTICLE) -> list[str]:
    """Display forms, one per key (the first written wins), in their order, at most `limit`."""
    seen: set[str] = set()
    topics: list[str] = []
    for name in names:
        display = clean_topic(name)
        if display is None:
            continue
        key = topic_key(display)
        if key in seen:
            continue
        seen.add(key)
        topics.append(display)
        if len(topics) == limit:
            break
    return topics
