"""Admin views of feed sources: the /sources list with health, and the notices about failing sources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from compose.buttons import FollowSource, SourcesPage, UnfollowSource
from compose.headlines import format_age
from compose.html import MESSAGE_LIMIT, escape, split_message
from compose.i18n import N_, ngettext, translate_known
from compose.i18n import gettext as _
from compose.text import one_line, truncate

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
        mark = "⛔" if source.reported_at is not None else "⚠️"
        count = source.consecutive_failures
        failures = ngettext("{count} failure in a row", "{count} failures in a row", count).format(count=count)
        if source.failing_since:
            since = _("since {age}").format(age=format_age(source.failing_since, now))
            return f"{mark} {failures} ({since})"
        return f"{mark} {failures}"
    if source.last_success_at is None:
        return "⏳ " + _("not polled yet")
    return "✅ " + _("ok, {age}").format(age=format_age(source.last_success_at, now))


def _source_block(source: SourceLike, now: datetime, count: int | None) -> str:
    lines = [f"<b>#{source.id}</b> {escape(truncate(source_name(source), 80))}"]
    lines.append(escape(truncate(source.url, 200)))
    detail = health(source, now) + " · " + _("every {minutes} min").format(minutes=source.interval_minutes)
    if count is not None:
        detail += " · " + articles_count(count)
    if not source.public:
        detail += " · 🔒 " + _("private (a user's feed: /publish makes it public)")
    lines.append(escape(detail))
    if source.last_error:
        label = _("last error") if source.consecutive_failures else _("note")
        lines.append(f"<i>{label}:</i> {escape(truncate(one_line(source.last_error), MAX_ERROR_CHARS))}")
    return "\n".join(lines)


def render_sources(
    sources: Sequence[SourceLike], *, now: datetime, counts: Mapping[int, int] | None = None, limit: int = MESSAGE_LIMIT
) -> list[str]:
    """The list as one or more messages (a long list is split between sources)."""
    if not sources:
        return [_("No sources yet. Add a feed with /addsource &lt;URL&gt;.")]
    failing = sum(1 for s in sources if s.consecutive_failures)
    heading = (
        _("<b>Sources</b> ({count}, {failing} failing)").format(count=len(sources), failing=failing)
        if failing
        else _("<b>Sources</b> ({count})").format(count=len(sources))
    )
    blocks = [heading] + [
        _source_block(s, now, (counts or {}).get(s.id, 0) if counts is not None else None) for s in sources
    ]
    blocks.append(_("/removesource &lt;id&gt; removes one; /addsource &lt;URL&gt; adds a feed."))
    return split_message(blocks, limit=limit)


def render_failure_report(source: SourceLike, now: datetime) -> str:
    since = format_age(source.failing_since, now) if source.failing_since else _("a while")
    error = escape(truncate(one_line(source.last_error or _("unknown error")), 300))
    count = source.consecutive_failures
    lines = [
        "⚠️ " + _("<b>Source #{id} keeps failing</b>").format(id=source.id),
        escape(truncate(source_name(source), 120)),
        escape(truncate(source.url, 300)),
        ngettext(
            "{count} failure in a row, the first {age}.", "{count} failures in a row, the first {age}.", count
        ).format(count=count, age=escape(since)),
        _("Last error: {error}").format(error=error),
        _("I keep retrying (less often); /sources shows its state, /removesource {id} drops it.").format(id=source.id),
    ]
    return "\n".join(lines)


def render_recovery(source: SourceLike) -> str:
    return "✅ " + _("Source #{id} works again: {name}").format(
        id=source.id, name=escape(truncate(source_name(source), 120))
    )


# ---------------------------------------------------------------------------- replies to /addsource and /removesource

MAX_LISTED_TITLES = 5


def refusal() -> str:
    return _("Sorry, only the bot's admins can manage news sources.")


def add_usage() -> str:
    return _("Usage: /addsource &lt;URL&gt; [minutes], e.g. /addsource https://example.org/feed.xml 30")


def remove_usage() -> str:
    return _("Usage: /removesource &lt;id&gt;. /sources lists the ids.")


def articles_count(count: int) -> str:
    return ngettext("{count} article", "{count} articles", count).format(count=count)


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


# Why a URL cannot be a source, as services.feeds and services.following say it (in English); `error` is a server's
# or parser's own words, which stay as they are.
SOURCE_ERRORS = (
    N_("{url} is not an http(s) URL"),
    N_("cannot use {url} as a source: {error}"),
    N_("that source was removed meanwhile; try again"),
)


def source_error_text(error: str) -> str:
    """Why a URL could not be added (the error's text comes from outside: servers, parsers)."""
    return f"❌ {escape(truncate(translate_known(error, SOURCE_ERRORS), 500))}"


def already_a_source_text(source: SourceLike) -> str:
    return _("Already a source: <b>#{id}</b> {name}").format(
        id=source.id, name=escape(truncate(source_name(source), 120))
    )


def source_added_text(source: SourceLike, first_poll: FirstPollLike) -> str:
    """The source added, and what its first poll stored (up to MAX_LISTED_TITLES titles) or why it failed."""
    name = escape(truncate(source_name(source), 120))
    lines = [
        "✅ "
        + _("Added source <b>#{id}</b> {name}, polled every {minutes} min.").format(
            id=source.id, name=name, minutes=source.interval_minutes
        )
    ]
    if not first_poll.ok:
        lines.append(_("Its first poll failed: {error}").format(error=escape(truncate(first_poll.error or "", 300))))
    else:
        added = first_poll.added
        lines.append(
            ngettext("{count} new article stored.", "{count} new articles stored.", len(added)).format(count=len(added))
        )
        lines += [
            f"• {escape(truncate(title, 100))} /read_{article_id}" for article_id, title in added[:MAX_LISTED_TITLES]
        ]
        if first_poll.warning:
            lines.append(_("<i>Note:</i> {note}").format(note=escape(truncate(first_poll.warning, 300))))
    return "\n".join(lines)


def no_such_source_text(source_id: int) -> str:
    return _("There is no source #{id}. /sources lists them.").format(id=source_id)


def source_removed_text(source_id: int, removed: SourceLike) -> str:
    return "🗑 " + _("Removed source <b>#{id}</b> {name}. Its articles stay readable.").format(
        id=source_id, name=escape(truncate(source_name(removed), 120))
    )


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
        return _("There are no sources yet. Add a feed of your own with /add &lt;URL&gt;."), None
    pages = max(1, -(-len(views) // SOURCES_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    shown = views[page * SOURCES_PER_PAGE : (page + 1) * SOURCES_PER_PAGE]
    following = sum(1 for view in views if view.following)
    heading = _("<b>Your sources</b> (following {following} of {count})").format(following=following, count=len(views))
    if pages > 1:
        heading += " · " + _("page {page} of {pages}").format(page=page + 1, pages=pages)
    lines = [heading, ""]
    buttons: list[list[InlineKeyboardButton]] = []
    for view in shown:
        source = view.source
        mark = "✅" if view.following else "▫️"
        private = " · 🔒 " + _("private") if not source.public else ""
        count = articles_count(view.articles)
        lines.append(f"{mark} <b>#{source.id}</b> {escape(truncate(source_name(source), 60))} · {count}{private}")
        name = truncate(source_name(source), 28)
        if view.following:
            label = "✖ " + _("Unfollow {name}").format(name=name)
            button = InlineKeyboardButton(label, callback_data=UnfollowSource(source.id, page).pack())
        else:
            label = "➕ " + _("Follow {name}").format(name=name)
            button = InlineKeyboardButton(label, callback_data=FollowSource(source.id, page).pack())
        buttons.append([button])
    lines += ["", chat_sources_hint()]
    paging = []
    if page > 0:
        paging.append(InlineKeyboardButton(_("‹ Previous"), callback_data=SourcesPage(page - 1).pack()))
    if page < pages - 1:
        paging.append(InlineKeyboardButton(_("Next ›"), callback_data=SourcesPage(page + 1).pack()))
    if paging:
        buttons.append(paging)
    return "\n".join(lines), InlineKeyboardMarkup(buttons)


def chat_sources_hint() -> str:
    return _(
        "✅ you read it · ▫️ you don't. /follow or /unfollow &lt;id or name&gt; · /add &lt;URL&gt; adds your own "
        "feed · /remove &lt;id or name&gt;"
    )


def follow_usage() -> str:
    return _("Usage: /follow &lt;id or name&gt;, e.g. /follow 3 or /follow reuters. /sources lists them.")


def unfollow_usage() -> str:
    return _("Usage: /unfollow &lt;id or name&gt;, e.g. /unfollow 3. /sources lists them.")


def user_add_usage() -> str:
    return _("Usage: /add &lt;feed or page URL&gt;, e.g. /add https://example.org/feed.xml")


def user_remove_usage() -> str:
    return _("Usage: /remove &lt;id or name&gt;. /sources lists your sources.")


def user_sources_off() -> str:
    return _("Adding your own feeds is switched off on this bot. /sources lists the ones you can follow.")


def name_too_long() -> str:
    return _("That name is too long. Use the source's number from /sources.")


def no_source_named_text(typed: str) -> str:
    return _("No source matches “{typed}”. /sources lists them.").format(typed=escape(truncate(typed, 60)))


def ambiguous_source_text(typed: str, candidates: Sequence[SourceLike]) -> str:
    lines = [_("“{typed}” matches several sources; which one?").format(typed=escape(truncate(typed, 60)))]
    lines += [f"• <b>#{s.id}</b> {escape(truncate(source_name(s), 80))}" for s in candidates]
    lines.append(_("Use its number, e.g. /follow {id}.").format(id=candidates[0].id))
    return "\n".join(lines)


def followed_text(source: SourceLike, changed: bool) -> str:
    name = escape(truncate(source_name(source), 120))
    if changed:
        return "✅ " + _("You follow <b>#{id}</b> {name}.").format(id=source.id, name=name)
    return _("You already follow <b>#{id}</b> {name}.").format(id=source.id, name=name)


def unfollowed_text(source: SourceLike, changed: bool) -> str:
    name = escape(truncate(source_name(source), 120))
    if not changed:
        return _("You don't follow <b>#{id}</b> {name}.").format(id=source.id, name=name)
    return "✖ " + _("You no longer follow <b>#{id}</b> {name}. /follow {id} brings it back.").format(
        id=source.id, name=name
    )


def removed_own_text(source: SourceLike, deleted: bool) -> str:
    name = escape(truncate(source_name(source), 120))
    if deleted:
        return "🗑 " + _("Removed <b>#{id}</b> {name}: nobody follows it any more, so it is no longer polled.").format(
            id=source.id, name=name
        )
    return "✖ " + _("You no longer follow <b>#{id}</b> {name}.").format(id=source.id, name=name)


def too_many_sources_text(limit: int) -> str:
    return _("You have {most} feeds of your own, the most a chat can have. /remove one first.").format(most=limit)


def own_feed_added_text(source: SourceLike, first_poll: FirstPollLike | None, newly_followed: bool) -> str:
    name = escape(truncate(source_name(source), 120))
    if first_poll is None:
        if newly_followed:
            return _("You now follow <b>#{id}</b> {name}: it was a source already.").format(id=source.id, name=name)
        return _("You already follow <b>#{id}</b> {name}: it was a source already.").format(id=source.id, name=name)
    text = source_added_text(source, first_poll)
    if not source.public:
        text += "\n🔒 " + _("Only chats that follow it see it; /remove drops it.")
    return text


def published_text(source: SourceLike, public: bool) -> str:
    name = escape(truncate(source_name(source), 120))
    if public:
        return "🌐 " + _("<b>#{id}</b> {name} is public now: every chat sees it and new chats read it.").format(
            id=source.id, name=name
        )
    return "🔒 " + _("<b>#{id}</b> {name} is private now: only the chats that follow it see it.").format(
        id=source.id, name=name
    )


def source_gone_answer() -> str:
    return _("That source is gone.")


def follow_answer(source: SourceLike, *, following: bool) -> str:
    """The short notice on a follow/unfollow button press (plain text, at most 200 characters)."""
    name = truncate(source_name(source), 150)
    return (_("Following {name}") if following else _("Unfollowed {name}")).format(name=name)


def publish_usage() -> str:
    return _("Usage: /publish &lt;id&gt; makes a user's feed public; /unpublish &lt;id&gt; makes it private again.")
