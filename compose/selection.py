"""The one short line a bulletin or headlines reply ends with when the chat reads a selection."""

from __future__ import annotations

from compose.i18n import gettext as _
from compose.i18n import ngettext


def selection_note(*, sources: bool, topics: int, keywords: int, headlines: bool = False) -> str:
    """'' when the chat reads everything; else e.g. '🔎 Your selection: your sources · 2 topics · keywords'."""
    if not (sources or topics or keywords):
        return ""
    parts = []
    if sources:
        parts.append(_("your sources"))
    if topics:
        parts.append(ngettext("{count} topic", "{count} topics", topics).format(count=topics))
    if keywords:
        parts.append(_("keywords"))
    if headlines:
        parts.append(_("/headlines all shows everything"))
    return "<i>🔎 " + _("Your selection: {parts}").format(parts=" · ".join(parts)) + "</i>"
