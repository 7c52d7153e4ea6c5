"""/filter: a chat's keyword filter (include and exclude terms)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler

from compose.filters import (
    filter_changed_text,
    filter_cleared,
    filter_error_text,
    filter_too_long_text,
    no_such_term_text,
    render_filter,
)
from handlers.common import command, may_change_settings, reply_html, subscriber_for
from handlers.context import NewsContext
from services import preferences

MAX_FILTER_ARGUMENT = 1000  # characters after /filter


async def filter_command(update: Update, context: NewsContext) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    argument = message.text.partition(" ")[2].strip()
    if len(argument) > MAX_FILTER_ARGUMENT:
        await reply_html(update, filter_too_long_text())
        return
    if argument and not await may_change_settings(update, context):
        return
    verb, _, rest = argument.partition(" ")
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        try:
            if not argument:
                text = render_filter(preferences.filter_terms(subscriber))
            elif verb.lower() == "clear" and not rest:
                preferences.clear_filter(subscriber)
                text = filter_cleared()
            elif verb.lower() == "remove":
                removed = preferences.remove_filter_term(subscriber, rest)
                text = (
                    no_such_term_text(rest)
                    if removed is None
                    else filter_changed_text(preferences.filter_terms(subscriber))
                )
            else:
                preferences.add_filter_terms(subscriber, argument)
                text = filter_changed_text(preferences.filter_terms(subscriber))
        except preferences.FilterError as exc:
            text = filter_error_text(str(exc))
    await reply_html(update, text)


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [command("filter", filter_command)]
