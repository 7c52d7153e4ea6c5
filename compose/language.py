"""/language: the languages the bot speaks, each under its own name, the chat's marked ✅."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from compose._listing import chunked
from compose.buttons import ChooseLanguage
from compose.html import escape
from compose.i18n import SUPPORTED_LANGUAGES, current_language, language_name
from compose.i18n import gettext as _

BUTTONS_PER_ROW = 2


def language_menu(chosen: str) -> tuple[str, InlineKeyboardMarkup]:
    """The text (in the current language) and one button per language; `chosen` is the chat's, marked ✅."""
    text = (
        _("<b>Language</b>")
        + "\n"
        + _("I speak {language} in this chat. Tap a language to change it.").format(language=language_name(chosen))
    )
    buttons = [
        InlineKeyboardButton(
            ("✅ " if code == chosen else "") + language_name(code), callback_data=ChooseLanguage(code).pack()
        )
        for code in SUPPORTED_LANGUAGES
    ]
    return text, InlineKeyboardMarkup(chunked(buttons, BUTTONS_PER_ROW))


def language_set_text() -> str:
    """The confirmation, said in the language just chosen (make it the current one first)."""
    return "✅ " + _("From now on I speak {language} in this chat.").format(language=language_name(current_language()))


def language_set_answer() -> str:
    """A language button's answer (plain text), in the language just chosen."""
    return _("Language: {language}").format(language=language_name(current_language()))


def unknown_language_text(typed: str) -> str:
    """`/language xx` naming a language the bot does not speak; `typed` is outside text."""
    names = ", ".join(f"{language_name(code)} ({code})" for code in SUPPORTED_LANGUAGES)
    return _("I don't speak “{typed}”. I speak {languages}.").format(typed=escape(typed[:20]), languages=names)
