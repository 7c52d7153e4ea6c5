"""/start: what the bot does, with a button that subscribes."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from compose.buttons import Subscribe
from compose.i18n import gettext as _


def welcome() -> str:
    return _(
        "<b>Welcome to newsbot!</b>\n\n"
        "I keep the latest news for you: /headlines shows what is new, /read gives you a whole article, "
        "and I can send you a short bulletin of new headlines at the times you choose, in your timezone.\n\n"
        "Tap the button to get bulletins, or /help for every command."
    )


def welcome_back() -> str:
    """Added to the welcome when a chat that had stopped its bulletins comes back."""
    return "\n\n" + _("Welcome back: your bulletins are on again. /settings shows them.")


def welcome_keyboard() -> InlineKeyboardMarkup:
    """'🔔 Subscribe to bulletins' under the welcome."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(_("🔔 Subscribe to bulletins"), callback_data=Subscribe().pack())]]
    )
