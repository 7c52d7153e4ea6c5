"""/filter: a chat's keyword filter and the replies to changing it."""

from __future__ import annotations

from collections.abc import Sequence

from compose.html import escape
from compose.text import truncate
from model.terms import Term

FILTER_HELP = (
    '/filter +word, /filter -word, /filter +"central bank", /filter sanction* (any word starting so) add a term; '
    "/filter remove &lt;term&gt; removes one; /filter clear empties the filter."
)
FILTER_CLEARED = "✅ Keyword filter cleared: you read every article of your sources and topics."


def _terms(terms: Sequence[Term]) -> str:
    return ", ".join(f"<code>{escape(truncate(t.display().lstrip('-'), 110))}</code>" for t in terms)


def render_filter(terms: Sequence[Term]) -> str:
    include = [t for t in terms if not t.exclude]
    exclude = [t for t in terms if t.exclude]
    if not terms:
        return "<b>Keyword filter</b>\nNone: you read every article of your sources and topics.\n\n" + FILTER_HELP
    lines = ["<b>Keyword filter</b>"]
    if include:
        lines.append("Articles with any of: " + _terms(include))
    if exclude:
        lines.append("Never articles with: " + _terms(exclude))
    lines += [
        "",
        "Words match whole words in the title and text, in any case and with or without accents.",
        FILTER_HELP,
    ]
    return "\n".join(lines)


def filter_changed_text(terms: Sequence[Term]) -> str:
    return "✅ Filter updated.\n\n" + render_filter(terms)


def filter_error_text(reason: str) -> str:
    return f"❌ {escape(truncate(reason, 200))}. Nothing changed.\n\n{FILTER_HELP}"


def no_such_term_text(written: str) -> str:
    return f"Your filter has no term “{escape(truncate(written, 110))}”. /filter shows it."
