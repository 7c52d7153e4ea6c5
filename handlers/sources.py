"""/sources and following: every chat picks the sources it reads (/follow, /unfollow, buttons) and may add feeds
of its own (/add, /remove); admins manage the public sources (/addsource, /removesource, /publish)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler

from compose.buttons import FollowSource, SourcesPage, UnfollowSource, any_of, parse_int
from compose.replies import stale_button
from compose.sources import (
    add_usage,
    already_a_source_text,
    ambiguous_source_text,
    follow_answer,
    follow_usage,
    followed_text,
    name_too_long,
    no_source_named_text,
    no_such_source_text,
    own_feed_added_text,
    publish_usage,
    published_text,
    refusal,
    remove_usage,
    removed_own_text,
    render_chat_sources,
    render_sources,
    source_added_text,
    source_error_text,
    source_gone_answer,
    source_removed_text,
    too_many_sources_text,
    unfollow_usage,
    unfollowed_text,
    user_add_usage,
    user_remove_usage,
    user_sources_off,
)
from handlers.common import (
    admins_only,
    chat_button,
    command,
    edit_in_place,
    group_admins_only,
    may_change_settings,
    reply_html,
    subscriber_for,
)
from handlers.context import NewsContext
from services import following
from services.feeds import SourceError
from storage import sources as source_repo

MAX_INTERVAL_MINUTES = 1440


def _is_admin(update: Update, context: NewsContext) -> bool:
    user = update.effective_user
    return user is not None and user.id in context.settings.admin_ids


async def list_sources(update: Update, context: NewsContext) -> None:
    """Admins get the health view of every source; everyone (admins too, with `/sources mine`) their own."""
    if _is_admin(update, context) and (context.args or []) != ["mine"]:
        async with context.db.session() as session:
            sources = await source_repo.list_sources(session)
            counts = await source_repo.article_counts(session, [s.id for s in sources])
        for text in render_sources(sources, now=context.now(), counts=counts):
            await reply_html(update, text)
        return
    await _show_chat_sources(update, context, page=0)


async def _show_chat_sources(update: Update, context: NewsContext, *, page: int, edit: bool = False) -> None:
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        views = await following.chat_sources(session, subscriber)
    text, keyboard = render_chat_sources(views, page=page)
    query = update.callback_query
    if edit and query is not None:
        await edit_in_place(query, text, reply_markup=keyboard)
        return
    await reply_html(update, text, reply_markup=keyboard)


async def _typed(update: Update, context: NewsContext, usage: str) -> str | None:
    """The id or name after the command, or None after answering with the usage or a refusal."""
    typed = " ".join(context.args or [])
    if not typed:
        await reply_html(update, usage)
        return None
    if len(typed) > following.MAX_NAME_QUERY:
        await reply_html(update, name_too_long())
        return None
    return typed


async def _follow_or_unfollow(update: Update, context: NewsContext, *, follow: bool) -> None:
    typed = await _typed(update, context, follow_usage() if follow else unfollow_usage())
    if typed is None:
        return
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        found = await following.lookup(session, subscriber, typed)
        source = found.found
        if source is None:
            text = ambiguous_source_text(typed, found.candidates) if found.candidates else no_source_named_text(typed)
        elif follow:
            text = followed_text(source, await following.follow(session, subscriber, source))
        else:
            text = unfollowed_text(source, await following.unfollow(session, subscriber, source))
    await reply_html(update, text)


async def follow_command(update: Update, context: NewsContext) -> None:
    await _follow_or_unfollow(update, context, follow=True)


async def unfollow_command(update: Update, context: NewsContext) -> None:
    await _follow_or_unfollow(update, context, follow=False)


async def add_own(update: Update, context: NewsContext) -> None:
    if not context.settings.allow_user_sources:
        await reply_html(update, user_sources_off())
        return
    args = context.args or []
    if len(args) != 1:
        await reply_html(update, user_add_usage())
        return
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
    limit = context.settings.max_sources_per_chat
    try:
        added = await following.add_own_feed(context.db, context.feeds, subscriber, args[0], max_sources=limit)
    except following.TooManySources:
        await reply_html(update, too_many_sources_text(limit))
        return
    except SourceError as exc:
        await reply_html(update, source_error_text(str(exc)))
        return
    await reply_html(update, own_feed_added_text(added.source, added.first_poll, added.newly_followed))


async def remove_own(update: Update, context: NewsContext) -> None:
    typed = await _typed(update, context, user_remove_usage())
    if typed is None:
        return
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        found = await following.followed_lookup(session, subscriber, typed)
        if found.found is None:
            text = ambiguous_source_text(typed, found.candidates) if found.candidates else no_source_named_text(typed)
        else:
            source = found.found
            await following.unfollow(session, subscriber, source)
            deleted = await source_repo.get_source(session, source.id) is None
            text = removed_own_text(source, deleted)
    await reply_html(update, text)


async def on_sources_button(update: Update, context: NewsContext) -> None:
    query = update.callback_query
    assert query is not None
    paging = SourcesPage.unpack(query.data)
    if paging is not None:
        await query.answer()
        await _show_chat_sources(update, context, page=paging.page, edit=True)
        return
    wanted = FollowSource.unpack(query.data)
    unwanted = UnfollowSource.unpack(query.data)
    button = wanted or unwanted
    if button is None:
        await query.answer(stale_button())
        return
    if not await may_change_settings(update, context):
        return
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        found = await following.lookup(session, subscriber, str(button.source_id))
        source = found.found
        if source is not None:
            if wanted is not None:
                await following.follow(session, subscriber, source)
            else:
                await following.unfollow(session, subscriber, source)
    if source is None:
        await query.answer(source_gone_answer())
    else:
        await query.answer(follow_answer(source, following=wanted is not None))
    await _show_chat_sources(update, context, page=button.page, edit=True)


async def add_source(update: Update, context: NewsContext) -> None:
    args = context.args or []
    interval = parse_int(args[1], high=MAX_INTERVAL_MINUTES) if len(args) == 2 else None
    if not 1 <= len(args) <= 2 or (len(args) == 2 and interval is None):
        await reply_html(update, add_usage())
        return
    try:
        source, result = await context.feeds.add(args[0], interval_minutes=interval)
    except SourceError as exc:
        await reply_html(update, source_error_text(str(exc)))
        return
    if result is None:
        if not source.public:  # a user's feed, which an admin adding it makes public
            async with context.db.session() as session:
                await following.make_public(session, source.id, True)
            await reply_html(update, published_text(source, True))
            return
        await reply_html(update, already_a_source_text(source))
        return
    await reply_html(update, source_added_text(source, result))


async def remove_source(update: Update, context: NewsContext) -> None:
    args = context.args or []
    source_id = parse_int(args[0].removeprefix("#")) if len(args) == 1 else None
    if source_id is None:
        await reply_html(update, remove_usage())
        return
    removed = await context.feeds.remove(source_id)
    if removed is None:
        await reply_html(update, no_such_source_text(source_id))
        return
    await reply_html(update, source_removed_text(source_id, removed))


async def _set_public(update: Update, context: NewsContext, public: bool) -> None:
    args = context.args or []
    source_id = parse_int(args[0].removeprefix("#")) if len(args) == 1 else None
    if source_id is None:
        await reply_html(update, publish_usage())
        return
    async with context.db.session() as session:
        source = await following.make_public(session, source_id, public)
    await reply_html(update, no_such_source_text(source_id) if source is None else published_text(source, public))


async def publish(update: Update, context: NewsContext) -> None:
    await _set_public(update, context, True)


async def unpublish(update: Update, context: NewsContext) -> None:
    await _set_public(update, context, False)


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [
        command("sources", list_sources),
        command("follow", group_admins_only(follow_command)),
        command("unfollow", group_admins_only(unfollow_command)),
        # Adding fetches the feed and its pages: run it as its own task so other updates are not held up.
        command("add", group_admins_only(add_own), block=False),
        command("remove", group_admins_only(remove_own)),
        command("addsource", admins_only(add_source, refusal=refusal), block=False),
        command("removesource", admins_only(remove_source, refusal=refusal)),
        command("publish", admins_only(publish, refusal=refusal)),
        command("unpublish", admins_only(unpublish, refusal=refusal)),
        CallbackQueryHandler(chat_button(on_sources_button), pattern=any_of(SourcesPage, FollowSource, UnfollowSource)),
    ]
