"""/alert: set, list and remove alerts, and the remove buttons under the list."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import BaseHandler, CallbackQueryHandler

from compose.alerts import (
    alert_added_text,
    alert_gone_answer,
    alert_list,
    alert_removed_answer,
    alert_removed_text,
    bad_term_text,
    duplicate_alert_text,
    no_such_alert_text,
    off_usage,
    only_excludes,
    too_many_alerts_text,
    too_many_terms_text,
)
from compose.buttons import RemoveAlert, parse_int
from handlers.common import chat_button, command, group_admins_only, may_change_settings, reply_html, subscriber_for
from handlers.context import NewsContext
from services.alerts import (
    MAX_ALERTS,
    AlertRefused,
    BadTerm,
    ChatAlert,
    DuplicateAlert,
    OnlyExcludes,
    TooManyAlerts,
    TooManyTerms,
    chat_alerts,
    read_terms,
    remove_alert,
    set_alert,
)


def _listing(alerts: list[ChatAlert]) -> tuple[str, InlineKeyboardMarkup | None]:
    return alert_list([(alert.alert_id, alert.terms) for alert in alerts], MAX_ALERTS)


def refusal_text(refusal: AlertRefused) -> str:
    if isinstance(refusal, BadTerm):
        return bad_term_text(refusal.term, refusal.reason)
    if isinstance(refusal, OnlyExcludes):
        return only_excludes()
    if isinstance(refusal, TooManyTerms):
        return too_many_terms_text(refusal.most)
    if isinstance(refusal, TooManyAlerts):
        return too_many_alerts_text(refusal.most)
    assert isinstance(refusal, DuplicateAlert)
    return duplicate_alert_text(refusal.number, refusal.terms)


async def alert(update: Update, context: NewsContext) -> None:
    args = context.args or []
    if args and not await may_change_settings(update, context):
        return
    if args and args[0].lower() == "off":
        await _remove_numbered(update, context, args[1:])
        return
    try:
        terms = read_terms(" ".join(args))
    except AlertRefused as refusal:
        await reply_html(update, refusal_text(refusal))
        return
    keyboard = None
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        if not terms:  # `/alert` alone lists them
            text, keyboard = _listing(await chat_alerts(session, subscriber))
        else:
            try:
                added = await set_alert(session, subscriber, terms, now=context.now())
            except AlertRefused as refusal:
                text = refusal_text(refusal)
            else:
                text = alert_added_text(added.number, added.terms)
    await reply_html(update, text, reply_markup=keyboard)


async def _remove_numbered(update: Update, context: NewsContext, args: list[str]) -> None:
    number = parse_int(args[0]) if len(args) == 1 else None
    if number is None:
        await reply_html(update, off_usage())
        return
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        alerts = await chat_alerts(session, subscriber)
        if number > len(alerts):
            text = no_such_alert_text(number)
        else:
            chosen = alerts[number - 1]
            await remove_alert(session, subscriber, chosen.alert_id)
            text = alert_removed_text(number, chosen.terms)
    await reply_html(update, text)


async def on_remove_button(update: Update, context: NewsContext) -> None:
    query = update.callback_query
    assert query is not None
    button = RemoveAlert.unpack(query.data)
    assert button is not None  # routed here by its pattern
    async with context.db.session() as session:
        subscriber = await subscriber_for(session, update, context)
        alerts = await chat_alerts(session, subscriber)
        chosen = next((a for a in alerts if a.alert_id == button.alert_id), None)
        if chosen is not None:
            await remove_alert(session, subscriber, chosen.alert_id)
            alerts = await chat_alerts(session, subscriber)
    await query.answer(alert_gone_answer() if chosen is None else alert_removed_answer(chosen.terms))
    text, keyboard = _listing(alerts)
    try:
        await query.edit_message_text(text, reply_markup=keyboard)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise


def handlers() -> list[BaseHandler[Update, NewsContext, None]]:
    return [
        command("alert", alert),
        CallbackQueryHandler(chat_button(group_admins_only(on_remove_button)), pattern=RemoveAlert.pattern()),
    ]
