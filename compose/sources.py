"""Admin views of feed sources: the /sources list with health, and the notices about failing sources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from compose.headlines import format_age
from compose.html import MESSAGE_LIMIT, escape, split_message
from compose.text import one_line, truncate

EMPTY_TEXT = "No sources yet. Add a feed with /addsource &lt;URL&gt;."
MAX_ERROR_CHARS = 160


class SourceLike(Protocol):
    id: int
    url: str
    title: str
    interval_minutes: int
    last_success_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    failing_since: datetime | None
    reported_at: datetime | None
    next_poll_at: datetime | None


def source_name(source: SourceLike) -> str:
    return one_line(source.title) or source.url


def health(source: SourceLike, now: datetime) -> str:
    """'✅ ok, 5 min ago', '⏳ not polled yet', '⚠️ 3 failures (since 2 h ago)', '⛔ failing 26 h (admins told)'."""
    if source.consecutive_failures:
        since = f"since {format_age(source.failing_since, now)}" if source.failing_since else ""
        mark = "⛔" if source.reported_at is not None else "⚠️"
        count = source.consecutive_failures
        return f"{mark} {count} failure{'s' if count != 1 else ''} in a row{f' ({since})' if since else ''}"
    if source.last_success_at is None:
        return "⏳ not polled yet"
    return f"✅ ok, {format_age(source.last_success_at, now)}"


def _source_block(source: SourceLike, now: datetime, count: int | None) -> str:
    lines = [f"<b>#{source.id}</b> {escape(truncate(source_name(source), 80))}"]
    lines.append(escape(truncate(source.url, 200)))
    detail = health(source, now) + f" · every {source.interval_minutes} min"
    if count is not None:
        detail += f" · {count} article{'s' if count != 1 else ''}"
    lines.append(escape(detail))
    if source.last_error:
        label = "last error" if source.consecutive_failures else "note"
        lines.append(f"<i>{label}:</i> {escape(truncate(one_line(source.last_error), MAX_ERROR_CHARS))}")
    return "\n".join(lines)


def render_sources(
    sources: Sequence[SourceLike], *, now: datetime, counts: Mapping[int, int] | None = None, limit: int = MESSAGE_LIMIT
) -> list[str]:
    """The list as one or more messages (a long list is split between sources)."""
    if not sources:
        return [EMPTY_TEXT]
    failing = sum(1 for s in sources if s.consecutive_failures)
    heading = f"<b>Sources</b> ({len(sources)}, {failing} failing)" if failing else f"<b>Sources</b> ({len(sources)})"
    blocks = [heading] + [
        _source_block(s, now, (counts or {}).get(s.id, 0) if counts is not None else None) for s in sources
    ]
    blocks.append("/removesource &lt;id&gt; removes one; /addsource &lt;URL&gt; adds a feed.")
    return split_message(blocks, limit=limit)


def render_failure_report(source: SourceLike, now: datetime) -> str:
    since = format_age(source.failing_since, now) if source.failing_since else "a while"
    error = escape(truncate(one_line(source.last_error or "unknown error"), 300))
    return (
        f"⚠️ <b>Source #{source.id} keeps failing</b>\n"
        f"{escape(truncate(source_name(source), 120))}\n{escape(truncate(source.url, 300))}\n"
        f"{source.consecutive_failures} failures in a row, the first {escape(since)}.\n"
        f"Last error: {error}\n"
        f"I keep retrying (less often); /sources shows its state, /removesource {source.id} drops it."
    )


def render_recovery(source: SourceLike) -> str:
    return f"✅ Source #{source.id} works again: {escape(truncate(source_name(source), 120))}"


# ---------------------------------------------------------------------------- replies to /addsource and /removesource

REFUSAL = "Sorry, only the bot's admins can manage news sources."
ADD_USAGE = "Usage: /addsource &lt;URL&gt; [minutes], e.g. /addsource https://example.org/feed.xml 30"
REMOVE_USAGE = "Usage: /removesource &lt;id&gt;. /sources lists the ids."
MAX_LISTED_TITLES = 5


class FirstPollLike(Protocol):
    """What the reply to /addsource reads of the new source's first poll."""

    @property
    def ok(self) -> bool: ...

    @property
    def error(self) -> str | None: ...

    @property
    def warning(self) -> str | None: ...

    @property
    def added(self) -> Sequence[tuple[int, str]]:
        """(article id, title) of the articles stored."""
        ...


def source_error_text(error: str) -> str:
    """Why a URL could not be added (the error's text comes from outside: servers, parsers)."""
    return f"❌ {escape(truncate(error, 500))}"


def already_a_source_text(source: SourceLike) -> str:
    return f"Already a source: <b>#{source.id}</b> {escape(truncate(source_name(source), 120))}"


def source_added_text(source: SourceLike, first_poll: FirstPollLike) -> str:
    """The source added, and what its first poll stored (up to MAX_LISTED_TITLES titles) or why it failed."""
    name = escape(truncate(source_name(source), 120))
    lines = [f"✅ Added source <b>#{source.id}</b> {name}, polled every {source.interval_minutes} min."]
    if not first_poll.ok:
        lines.append(f"Its first poll failed: {escape(truncate(first_poll.error or '', 300))}")
    else:
        added = first_poll.added
        lines.append(f"{len(added)} new article{'s' if len(added) != 1 else ''} stored.")
        lines += [
            f"• {escape(truncate(title, 100))} /read_{article_id}" for article_id, title in added[:MAX_LISTED_TITLES]
        ]
        if first_poll.warning:
            lines.append(f"<i>Note:</i> {escape(truncate(first_poll.warning, 300))}")
    return "\n".join(lines)


def no_such_source_text(source_id: int) -> str:
    return f"There is no source #{source_id}. /sources lists them."


def source_removed_text(source_id: int, removed: SourceLike) -> str:
    return f"🗑 Removed source <b>#{source_id}</b> {escape(truncate(source_name(removed), 120))}. Its articles stay readable."
