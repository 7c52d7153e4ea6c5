"""Short replies of the chat features: usage lines, "no such article", stale buttons, the fallbacks.

The longer views have modules of their own (help, welcome, subscriptions, sources, headlines, articles). Each
reply is a function, not a constant: it is translated into the current language when called.
"""

from __future__ import annotations

from compose.buttons import MAX_HEADLINES
from compose.html import escape
from compose.i18n import gettext as _

# ---------------------------------------------------------------------------- buttons


def stale_button() -> str:
    return _("This button no longer works. Send /help to start again.")


def not_here() -> str:
    return _("This button no longer works here. Send /help to me in a private chat.")


# ---------------------------------------------------------------------------- /headlines and /read


def headlines_usage() -> str:
    return _(
        "Usage: /headlines [N], where N is a number from 1 to {most}; /headlines all [N] past your topics and keywords."
    ).format(most=MAX_HEADLINES)


def read_usage() -> str:
    return _("Usage: /read &lt;id&gt;, e.g. /read 12. The ids are in /headlines.")


def no_article_text(article_id: int) -> str:
    return _("There is no article {id}. /headlines lists the latest ones.").format(id=article_id)


def article_gone_answer(article_id: int) -> str:
    """A Continue button's answer (plain text) when its article was removed."""
    return _("Article {id} is no longer here. /headlines lists the latest ones.").format(id=article_id)


def article_changed_answer(article_id: int) -> str:
    """A Continue button's answer (plain text) when its article was rewritten shorter since."""
    return _("Article {id} has changed. /read_{id} shows it from the start.").format(id=article_id)


# ---------------------------------------------------------------------------- /bulletin


def nothing_new() -> str:
    return _("Nothing new since your last bulletin. /headlines shows the latest news.")


def slowed_down() -> str:
    return _("Telegram asked me to slow down; your bulletin follows in a moment.")


# ---------------------------------------------------------------------------- everything else


def plain_text_reply() -> str:
    return _(
        "I answer commands. Try /headlines for the latest news, /subscribe for bulletins, or /help for everything."
    )


def unknown_command_text(name: str) -> str:
    """The answer to a command no feature knows; `name` is the command as typed (outside text)."""
    return _("Sorry, I don't know {command}. /help lists what I can do.").format(command=escape(name[:64]))


def group_admins_only_text() -> str:
    return _("Only this group's admins can change its settings. Reading (/headlines, /read, /search) is open to all.")


def apology() -> str:
    """What a user is told when handling their update failed (bot/errors.py)."""
    return _("Sorry, something went wrong on my side. Please try again in a moment.")
