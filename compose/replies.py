"""Short replies of the chat features: usage lines, "no such article", stale buttons, the fallbacks.

The longer views have modules of their own (help, welcome, subscriptions, sources, headlines, articles).
"""

from __future__ import annotations

from compose.buttons import MAX_HEADLINES
from compose.html import escape

# ---------------------------------------------------------------------------- buttons

STALE_BUTTON = "This button no longer works. Send /help to start again."
NOT_HERE = "This button no longer works here. Send /help to me in a private chat."

# ---------------------------------------------------------------------------- /headlines and /read

HEADLINES_USAGE = (
    f"Usage: /headlines [N], where N is a number from 1 to {MAX_HEADLINES}; /headlines all [N] past your topics "
    "and keywords."
)
READ_USAGE = "Usage: /read &lt;id&gt;, e.g. /read 12. The ids are in /headlines."


def no_article_text(article_id: int) -> str:
    return f"There is no article {article_id}. /headlines lists the latest ones."


def article_gone_answer(article_id: int) -> str:
    """A Continue button's answer (plain text) when its article was removed."""
    return f"Article {article_id} is no longer here. /headlines lists the latest ones."


def article_changed_answer(article_id: int) -> str:
    """A Continue button's answer (plain text) when its article was rewritten shorter since."""
    return f"Article {article_id} has changed. /read_{article_id} shows it from the start."


# ---------------------------------------------------------------------------- /bulletin

NOTHING_NEW = "Nothing new since your last bulletin. /headlines shows the latest news."
SLOWED_DOWN = "Telegram asked me to slow down; your bulletin follows in a moment."

# ---------------------------------------------------------------------------- everything else

PLAIN_TEXT = "I answer commands. Try /headlines for the latest news, /subscribe for bulletins, or /help for everything."


def unknown_command_text(name: str) -> str:
    """The answer to a command no feature knows; `name` is the command as typed (outside text)."""
    return f"Sorry, I don't know {escape(name[:64])}. /help lists what I can do."


GROUP_ADMINS_ONLY = (
    "Only this group's admins can change its settings. Reading (/headlines, /read, /search) is open to all."
)
