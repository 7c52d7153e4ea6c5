"""/alert replies and the alert messages themselves ("🔔 Alert: …" and the headlines that matched)."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from compose._listing import article_meta_html, chunked, clean_title, fit_titles
from compose.buttons import RemoveAlert
from compose.filters import reason_text
from compose.html import MESSAGE_LIMIT, escape, visible_length
from compose.i18n import gettext as _
from compose.text import truncate
from compose.types import ArticleLike

BUTTONS_PER_ROW = 5
LISTED_TERMS_MAX = 150  # one alert's terms in the /alert list, so 20 alerts of long terms still fit a message
HEADING_TERMS_MAX = 600  # all the headings' terms of one alert message together


def alert_usage() -> str:
    return _(
        'Usage: /alert &lt;terms&gt;, e.g. <code>/alert sanction* "central bank" -sport</code>\n'
        'A word, word* (any ending), "a phrase"; -term leaves out articles that have it. '
        "/alert lists your alerts, /alert off &lt;n&gt; removes one."
    )


def off_usage() -> str:
    return _("Usage: /alert off &lt;n&gt;, where n is the alert's number in /alert.")


def no_alerts() -> str:
    return _("You have no alerts.") + "\n\n" + alert_usage()


def only_excludes() -> str:
    return _("An alert needs a term to look for, not only -terms to leave out: it would match almost every article.")


def alert_gone_answer() -> str:
    return _("That alert was removed already.")


def terms_line(terms: Sequence[str]) -> str:
    """An alert's terms as written back to the user (plain text)."""
    return " ".join(terms)


def bad_term_text(term: str, reason: str) -> str:
    return _("Can't use “{term}”: {reason}. Nothing was changed.").format(
        term=escape(truncate(term, 40)), reason=escape(reason_text(reason))
    )


def too_many_terms_text(most: int) -> str:
    return _("An alert has at most {most} terms. Nothing was changed.").format(most=most)


def too_many_alerts_text(most: int) -> str:
    return _("You have {most} alerts, the most a chat can have. Remove one first: /alert off &lt;n&gt;.").format(
        most=most
    )


def duplicate_alert_text(number: int, terms: Sequence[str]) -> str:
    return _("You already have that alert: {number}. <b>{terms}</b>").format(
        number=number, terms=escape(terms_line(terms))
    )


def alert_added_text(number: int, terms: Sequence[str]) -> str:
    return _(
        "✅ Alert {number} set: <b>{terms}</b>\nI'll tell you as soon as a new article matches. /alert lists your alerts."
    ).format(number=number, terms=escape(terms_line(terms)))


def no_such_alert_text(number: int) -> str:
    return _("There is no alert {number}. /alert lists yours.").format(number=number)


def alert_removed_text(number: int, terms: Sequence[str]) -> str:
    return _("Alert {number} removed: {terms}").format(number=number, terms=escape(terms_line(terms)))


def alert_removed_answer(terms: Sequence[str]) -> str:
    """A remove button's answer (plain text, at most 200 characters)."""
    return truncate(_("Removed: {terms}").format(terms=terms_line(terms)), 190)


def alert_list(alerts: Sequence[tuple[int, Sequence[str]]], most: int) -> tuple[str, InlineKeyboardMarkup | None]:
    """The chat's alerts, numbered from 1, as (alert id, terms), with a remove button each."""
    if not alerts:
        return no_alerts(), None
    lines = [_("<b>Your alerts</b> ({count} of {most})").format(count=len(alerts), most=most), ""]
    lines += [
        f"{number}. {escape(truncate(terms_line(terms), LISTED_TERMS_MAX))}"
        for number, (_alert_id, terms) in enumerate(alerts, start=1)
    ]
    lines += ["", _("✖ removes one (or /alert off &lt;n&gt;).")]
    buttons = [
        InlineKeyboardButton(f"✖ {number}", callback_data=RemoveAlert(alert_id).pack())
        for number, (alert_id, _terms) in enumerate(alerts, start=1)
    ]
    return "\n".join(lines), InlineKeyboardMarkup(chunked(buttons, BUTTONS_PER_ROW))


def render_alert(
    sections: Sequence[tuple[Sequence[str] | None, Sequence[ArticleLike]]],
    *,
    limit: int = MESSAGE_LIMIT,
    bot_username: str | None = None,
) -> str:
    """One alert message: for each alert (its terms, or None for one removed since), '🔔 Alert: terms' then its
    headlines, numbered on through the message, with /read_<id> (with `bot_username`, for channels and groups: a
    Read link to the bot). Titles are shortened to fit `limit`.

    Raises ValueError when there is no article, or too many to fit even with shortened titles.
    """
    sections = [(terms, articles) for terms, articles in sections if articles]
    if not sections:
        raise ValueError("an alert needs at least one article")
    heading_room = max(40, HEADING_TERMS_MAX // len(sections))
    headings = [
        _("🔔 Alert: <b>{terms}</b>").format(terms=escape(truncate(terms_line(terms), heading_room)))
        if terms
        else _("🔔 Alert")
        for terms, _articles in sections
    ]
    titles = [clean_title(article.title) for _terms, articles in sections for article in articles]
    metas = [article_meta_html(article, bot_username) for _terms, articles in sections for article in articles]

    def build(shown: Sequence[str]) -> str:
        blocks: list[str] = []
        number = 0
        for heading, (_terms, articles) in zip(headings, sections, strict=True):
            blocks.append(heading)
            for _article in articles:
                blocks.append(f"{number + 1}. <b>{escape(shown[number])}</b>\n{metas[number]}")
                number += 1
        return "\n\n".join(blocks)

    fixed = visible_length(build([""] * len(titles)))
    return build(fit_titles(titles, limit - fixed))
