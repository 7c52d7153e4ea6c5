"""The one short line a bulletin or headlines reply ends with when the chat reads a selection."""

from __future__ import annotations


def selection_note(*, sources: bool, topics: int, keywords: int, headlines: bool = False) -> str:
    """'' when the chat reads everything; else e.g. '🔎 Your selection: your sources · 2 topics · keywords'."""
    if not (sources or topics or keywords):
        return ""
    parts = []
    if sources:
        parts.append("your sources")
    if topics:
        parts.append(f"{topics} topic{'s' if topics != 1 else ''}")
    if keywords:
        parts.append("keywords")
    more = " · /headlines all shows everything" if headlines else ""
    return f"<i>🔎 Your selection: {' · '.join(parts)}{more}</i>"
