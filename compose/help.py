"""The bot's command list: one source for /help and for Telegram's command menu (setMyCommands), in the current
language (bot/app.py registers the menu once per language)."""

from __future__ import annotations

from telegram import BotCommand

from compose.html import escape
from compose.i18n import N_
from compose.i18n import gettext as _

COMMANDS: tuple[tuple[str, str], ...] = (
    ("headlines", N_("Latest headlines: /headlines [N]")),
    ("read", N_("Read an article: /read <id>")),
    ("search", N_('Search articles: /search words "a phrase" -word')),
    ("bulletin", N_("Your bulletin right now")),
    ("sources", N_("Sources you read, with follow buttons")),
    ("follow", N_("Follow a source: /follow <id or name>")),
    ("unfollow", N_("Stop following: /unfollow <id or name>")),
    ("add", N_("Add a feed of your own: /add <URL>")),
    ("remove", N_("Remove one of your sources: /remove <id or name>")),
    ("topics", N_("Read only some topics: /topics [names|all]")),
    ("filter", N_("Keyword filter: /filter +word -word")),
    ("subscribe", N_("Get bulletins: /subscribe [HH:MM ...]")),
    ("unsubscribe", N_("Stop bulletins (settings are kept)")),
    ("timezone", N_("Set your timezone: /timezone Area/City")),
    ("settings", N_("Your schedule and timezone")),
    ("alert", N_("Be told at once: /alert <terms>; /alert lists, /alert off <n>")),
    ("language", N_("Choose the bot's language")),
    ("channels", N_("Channels I post in for you, and adding one")),
    ("done", N_("Back to this chat's settings after changing a channel's")),
    ("start", N_("Welcome and subscribe")),
    ("help", N_("This list of commands")),
)


def bot_commands() -> list[BotCommand]:
    return [BotCommand(name, _(description)) for name, description in COMMANDS]


def help_text() -> str:
    lines = ["<b>" + _("What I can do") + "</b>", ""]
    lines += ["/" + name + " — " + escape(_(description)) for name, description in COMMANDS]
    return "\n".join(lines)
