"""/topics: read only some topics (buttons or names), or every topic."""

from __future__ import annotations

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler

from compose.buttons import AllTopics, ToggleTopic, any_of
from compose.replies import stale_button
from compose.topics import (
    render_topics,
    stale_topic_answer,
    topic_toggled_answer,
    topics_cleared,
    topics_set_text,
    topics_too_long,
    unknown_topics_text,
)
from handlers.common import (
    chat_button,
    command,
    edit_in_place,
    group_admins_only,
    may_change_settings,
    reply_html,
    subscriber_for,
)
from handlers.context import NewsContext
from services import preferences


async def topics(update: Update, context: NewsContext) -> None:
    message = update.effective_message
    assert message is not None and message.text is not None
    argument = message.text.partition(" ")[2].strip()
    if len(argument) > preferences.MAX_TOPIC_ARGUMENT:
        await reply_html(update, topics_too_long())
        return
    if argument and not await may_change_settings(update, context):
        return
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        popular = await preferences.popular_topics(session, context.now())
        if not argument:
            text, keyboard = render_topics(popular, subscriber.topics or [], days=preferences.TOPIC_DAYS)
        elif argument.lower() == "all":
            preferences.clear_topics(subscriber)
            text, keyboard = "✅ " + topics_cleared(), None
        else:
            names = preferences.split_topic_names(argument)
            choice = await preferences.choose_topics(session, subscriber, names, context.now())
            keyboard = None
            text = topics_set_text(choice.chosen) if choice.chosen else unknown_topics_text(choice.unknown, popular)
    await reply_html(update, text, reply_markup=keyboard)


async def on_topic_button(update: Update, context: NewsContext) -> None:
    query = update.callback_query
    assert query is not None
    toggle = ToggleTopic.unpack(query.data)
    if toggle is None and AllTopics.unpack(query.data) is None:
        await query.answer(stale_button())
        return
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        popular = await preferences.popular_topics(session, context.now())
        if toggle is None:
            preferences.clear_topics(subscriber)
            answer = topics_cleared()
        else:
            toggled = preferences.toggle_topic(subscriber, toggle.digest, [t.name for t in popular])
            answer = stale_topic_answer() if toggled is None else topic_toggled_answer(*toggled)
        text, keyboard = render_topics(popular, subscriber.topics or [], days=preferences.TOPIC_DAYS)
    await query.answer(answer)
    await edit_in_place(query, text, reply_markup=keyboard)


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [
        command("topics", topics),
        CallbackQueryHandler(chat_button(group_admins_only(on_topic_button)), pattern=any_of(AllTopics, ToggleTopic)),
    ]
