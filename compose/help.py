"""The bot's command list: one source for /help and for Telegram's command menu (setMyCommands)."""

from __future__ import annotations

from telegram import BotCommand

from compose.html import escape

COMMANDS: tuple[tuple[str, str], ...] = (
    ("headlines", "Latest headlines: /headlines [N]"),
    ("read", "Read an article: /read <id>"),
    ("search", 'Search articles: /search words "a phrase" -word'),
    ("bulletin", "Your bulletin right now"),
    ("sources", "Sources you read, with follow buttons"),
    ("follow", "Follow a source: /follow <id or name>"),
    ("unfollow", "Stop following: /unfollow <id or name>"),
    ("add", "Add a feed of your own: /add <URL>"),
    ("remove", "Remove one of your sources: /remove <id or name>"),
    ("topics", "Read only some topics: /topics [names|all]"),
    ("filter", "Keyword filter: /filter +word -word"),
    ("subscribe", "Get bulletins: /subscribe [HH:MM ...]"),
    ("unsubscribe", "Stop bulletins (settings are kept)"),
    ("timezone", "Set your timezone: /timezone Area/City"),
    ("settings", "Your schedule and timezone"),
    ("alert", "Be told at once: /alert <terms>; /alert lists, /alert off <n>"),
    ("start", "Welcome and subscribe"),
    ("help", "This list of commands"),
)


def bot_commands() -> list[BotCommand]:
    return [BotCommand(name, description) for name, description in COMMANDS]


def help_text() -> str:
    lines = ["<b>What I can do</b>", ""]
    lines += [f"/{name} — {escape(description)}" for name, description in COMMANDS]
    return "\n".join(lines)
