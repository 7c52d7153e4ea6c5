"""Admin views of feed sources: the /sources list with health, and the notices about failing sources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from compose.buttons import FollowSource, SourcesPage, UnfollowSource
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
    public: bool  # False: a user's own feed, seen only by the chats that follow it


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
    if not source.public:
        detail += " · 🔒 private (a user's feed: /publish makes it public)"
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


# ---------------------------------------------------------------------------- a chat's own view: follow and unfollow

SOURCES_PER_PAGE = 8


class FollowedSourceLike(Protocol):
    """One line of a chat's /sources (services.following.SourceView)."""

    @property
    def source(self) -> SourceLike: ...

    @property
    def articles(self) -> int: ...

    @property
    def following(self) -> bool: ...


def render_chat_sources(views: Sequence[FollowedSourceLike], *, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of the sources a chat may read, with a follow/unfollow button for each and paging buttons."""
    if not views:
        return CHAT_EMPTY_TEXT, None
    pages = max(1, -(-len(views) // SOURCES_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    shown = views[page * SOURCES_PER_PAGE : (page + 1) * SOURCES_PER_PAGE]
    following = sum(1 for view in views if view.following)
    heading = f"<b>Your sources</b> (following {following} of {len(views)})"
    if pages > 1:
        heading += f" · page {page + 1} of {pages}"
    lines = [heading, ""]
    buttons: list[list[InlineKeyboardButton]] = []
    for view in shown:
        source = view.source
        mark = "✅" if view.following else "▫️"
        private = " · 🔒 private" if not source.public else ""
        count = f"{view.articles} article{'s' if view.articles != 1 else ''}"
        lines.append(f"{mark} <b>#{source.id}</b> {escape(truncate(source_name(source), 60))} · {count}{private}")
        name = truncate(source_name(source), 28)
        if view.following:
            button = InlineKeyboardButton(f"✖ Unfollow {name}", callback_data=UnfollowSource(source.id, page).pack())
        else:
            button = InlineKeyboardButton(f"➕ Follow {name}", callback_data=FollowSource(source.id, page).pack())
        buttons.append([button])
    lines += ["", CHAT_SOURCES_HINT]
    paging = []
    if page > 0:
        paging.append(InlineKeyboardButton("‹ Previous", callback_data=SourcesPage(page - 1).pack()))
    if page < pages - 1:
        paging.append(InlineKeyboardButton("Next ›", callback_data=SourcesPage(page + 1).pack()))
    if paging:
        buttons.append(paging)
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


CHAT_EMPTY_TEXT = "There are no sources yet. Add a feed of your own with /add &lt;URL&gt;."
CHAT_SOURCES_HINT = (
    "✅ you read it · ▫️ you don't. /follow or /unfollow &lt;id or name&gt; · /add &lt;URL&gt; adds your own feed "
    "· /remove &lt;id or name&gt;"
)
FOLLOW_USAGE = "Usage: /follow &lt;id or name&gt;, e.g. /follow 3 or /follow reuters. /sources lists them."
UNFOLLOW_USAGE = "Usage: /unfollow &lt;id or name&gt;, e.g. /unfollow 3. /sources lists them."
USER_ADD_USAGE = "Usage: /add &lt;feed or page URL&gt;, e.g. /add https://example.org/feed.xml"
USER_REMOVE_USAGE = "Usage: /remove &lt;id or name&gt;. /sources lists your sources."
USER_SOURCES_OFF = "Adding your own feeds is switched off on this bot. /sources lists the ones you can follow."
NAME_TOO_LONG = "That name is too long. Use the source's number from /sources."


def no_source_named_text(typed: str) -> str:
    return f"No source matches “{escape(truncate(typed, 60))}”. /sources lists them."


def ambiguous_source_text(typed: str, candidates: Sequence[SourceLike]) -> str:
    lines = [f"“{escape(truncate(typed, 60))}” matches several sources; which one?"]
    lines += [f"• <b>#{s.id}</b> {escape(truncate(source_name(s), 80))}" for s in candidates]
    lines.append("Use its number, e.g. /follow " + str(candidates[0].id) + ".")
    return "\n".join(lines)


def followed_text(source: SourceLike, changed: bool) -> str:
    name = escape(truncate(source_name(source), 120))
    return (
        f"✅ You follow <b>#{source.id}</b> {name}." if changed else f"You already follow <b>#{source.id}</b> {name}."
    )


def unfollowed_text(source: SourceLike, changed: bool) -> str:
    name = escape(truncate(source_name(source), 120))
    if not changed:
        return f"You don't follow <b>#{source.id}</b> {name}."
    return f"✖ You no longer follow <b>#{source.id}</b> {name}. /follow {source.id} brings it back."


def removed_own_text(source: SourceLike, deleted: bool) -> str:
    name = escape(truncate(source_name(source), 120))
    if deleted:
        return f"🗑 Removed <b>#{source.id}</b> {name}: nobody follows it any more, so it is no longer polled."
    return f"✖ You no longer follow <b>#{source.id}</b> {name}."


def too_many_sources_text(limit: int) -> str:
    return f"You have {limit} feeds of your own, the most a chat can have. /remove one first."


def own_feed_added_text(source: SourceLike, first_poll: FirstPollLike | None, newly_followed: bool) -> str:
    name = escape(truncate(source_name(source), 120))
    if first_poll is None:
        verb = "You now follow" if newly_followed else "You already follow"
        return f"{verb} <b>#{source.id}</b> {name}: it was a source already."
    text = source_added_text(source, first_poll)
    if not source.public:
        text += "\n🔒 Only chats that follow it see it; /remove drops it."
    return text


def published_text(source: SourceLike, public: bool) -> str:
    name = escape(truncate(source_name(source), 120))
    if public:
        return f"🌐 <b>#{source.id}</b> {name} is public now: every chat sees it and new chats read it."
    return f"🔒 <b>#{source.id}</b> {name} is private now: only the chats that follow it see it."


SOURCE_GONE_ANSWER = "That source is gone."


def follow_answer(source: SourceLike, *, following: bool) -> str:
    """The short notice on a follow/unfollow button press (plain text, at most 200 characters)."""
    return ("Following " if following else "Unfollowed ") + truncate(source_name(source), 150)


PUBLISH_USAGE = "Usage: /publish &lt;id&gt; makes a user's feed public; /unpublish &lt;id&gt; makes it private again."
