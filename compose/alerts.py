"""/alert replies and the alert messages themselves ("🔔 Alert: …" and the headlines that matched)."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from compose._listing import chunked, clean_source, clean_title, fit_titles, join_meta, read_command
from compose.buttons import RemoveAlert
from compose.html import MESSAGE_LIMIT, escape, visible_length
from compose.text import truncate
from compose.types import ArticleLike

BUTTONS_PER_ROW = 5
LISTED_TERMS_MAX = 150  # one alert's terms in the /alert list, so 20 alerts of long terms still fit a message
HEADING_TERMS_MAX = 600  # all the headings' terms of one alert message together

ALERT_USAGE = (
    'Usage: /alert &lt;terms&gt;, e.g. <code>/alert sanction* "central bank" -sport</code>\n'
    'A word, word* (any ending), "a phrase"; -term leaves out articles that have it. '
    "/alert lists your alerts, /alert off &lt;n&gt; removes one."
)
OFF_USAGE = "Usage: /alert off &lt;n&gt;, where n is the alert's number in /alert."
NO_ALERTS = "You have no alerts.\n\n" + ALERT_USAGE
ONLY_EXCLUDES = "An alert needs a term to look for, not only -terms to leave out: it would match almost every article."
ALERT_GONE_ANSWER = "That alert was removed already."


def terms_line(terms: Sequence[str]) -> str:
    """An alert's terms as written back to the user (plain text)."""
    return " ".join(terms)


def bad_term_text(term: str, reason: str) -> str:
    return f"Can't use “{escape(truncate(term, 40))}”: {escape(reason)}. Nothing was changed."


def too_many_terms_text(most: int) -> str:
    return f"An alert has at most {most} terms. Nothing was changed."


def too_many_alerts_text(most: int) -> str:
    return f"You have {most} alerts, the most a chat can have. Remove one first: /alert off &lt;n&gt;."


def duplicate_alert_text(number: int, terms: Sequence[str]) -> str:
    return f"You already have that alert: {number}. <b>{escape(terms_line(terms))}</b>"


def alert_added_text(number: int, terms: Sequence[str]) -> str:
    return (
        f"✅ Alert {number} set: <b>{escape(terms_line(terms))}</b>\n"
        "I'll tell you as soon as a new article matches. /alert lists your alerts."
    )


def no_such_alert_text(number: int) -> str:
    return f"There is no alert {number}. /alert lists yours."


def alert_removed_text(number: int, terms: Sequence[str]) -> str:
    return f"Alert {number} removed: {escape(terms_line(terms))}"


def alert_removed_answer(terms: Sequence[str]) -> str:
    """A remove button's answer (plain text, at most 200 characters)."""
    return truncate(f"Removed: {terms_line(terms)}", 190)


def alert_list(alerts: Sequence[tuple[int, Sequence[str]]], most: int) -> tuple[str, InlineKeyboardMarkup | None]:
    """The chat's alerts, numbered from 1, as (alert id, terms), with a remove button each."""
    if not alerts:
        return NO_ALERTS, None
    lines = [f"<b>Your alerts</b> ({len(alerts)} of {most})", ""]
    lines += [
        f"{number}. {escape(truncate(terms_line(terms), LISTED_TERMS_MAX))}"
        for number, (_, terms) in enumerate(alerts, start=1)
    ]
    lines += ["", "✖ removes one (or /alert off &lt;n&gt;)."]
    buttons = [
        InlineKeyboardButton(f"✖ {number}", callback_data=RemoveAlert(alert_id).pack())
        for number, (alert_id, _) in enumerate(alerts, start=1)
    ]
    return "\n".join(lines), InlineKeyboardMarkup(chunked(buttons, BUTTONS_PER_ROW))


def render_alert(
    sections: Sequence[tuple[Sequence[str] | None, Sequence[ArticleLike]]], *, limit: int = MESSAGE_LIMIT
) -> str:
    """One alert message: for each alert (its terms, or None for one removed since), '🔔 Alert: terms' then its
    headlines, numbered on through the message, with /read_<id>. Titles are shortened to fit `limit`.

    Raises ValueError when there is no article, or too many to fit even with shortened titles.
    """
    sections = [(terms, articles) for terms, articles in sections if articles]
    if not sections:
        raise ValueError("an alert needs at least one article")
    heading_room = max(40, HEADING_TERMS_MAX // len(sections))
    headings = [
        "🔔 Alert" + (f": <b>{escape(truncate(terms_line(terms), heading_room))}</b>" if terms else "")
        for terms, _ in sections
    ]
    titles = [clean_title(article.title) for _, articles in sections for article in articles]
    metas = [
        join_meta(clean_source(article.source), read_command(article.id))
        for _, articles in sections
        for article in articles
    ]

    def build(shown: Sequence[str]) -> str:
        blocks: list[str] = []
        number = 0
        for heading, (_, articles) in zip(headings, sections, strict=True):
            blocks.append(heading)
            for _ in articles:
                blocks.append(f"{number + 1}. <b>{escape(shown[number])}</b>\n{escape(metas[number])}")
                number += 1
        return "\n\n".join(blocks)

    fixed = visible_length(build([""] * len(titles)))
    return build(fit_titles(titles, limit - fixed))
