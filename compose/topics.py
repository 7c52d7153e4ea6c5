"""/topics: the common topics of the last days as toggle buttons, and the replies to choosing topics."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from compose._listing import chunked
from compose.buttons import AllTopics, ToggleTopic
from compose.html import escape
from compose.i18n import gettext as _
from compose.i18n import ngettext
from compose.text import truncate
from model.topics import topic_digest, topic_key

TOPIC_BUTTON_CHARS = 28


def topics_usage() -> str:
    return _(
        "/topics &lt;name&gt; [&lt;name&gt;…] reads only those topics (commas or quotes for names of several "
        "words); /topics all reads every topic again."
    )


def topics_too_long() -> str:
    return _("That is too long for a list of topics.")


def stale_topic_answer() -> str:
    return _("That topic is no longer listed; send /topics again.")


class TopicCountLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def articles(self) -> int: ...


def render_topics(
    popular: Sequence[TopicCountLike], chosen: Sequence[str], *, days: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The list with a toggle button per topic (✅ on the chosen ones) and 'All topics'."""
    chosen_keys = {topic_key(t) for t in chosen}
    lines = [
        ngettext("<b>Topics</b> of the last {days} day", "<b>Topics</b> of the last {days} days", days).format(
            days=days
        )
    ]
    if chosen:
        lines.append(
            _("You read only: {topics}").format(topics=", ".join(f"<b>{escape(truncate(t, 60))}</b>" for t in chosen))
        )
    else:
        lines.append(_("You read every topic."))
    if not popular and not chosen:
        lines += ["", _("No article of the last days carries a topic yet.")]
        return "\n".join(lines), None
    lines += ["", _("Tap a topic to read only the topics you pick; tap it again to drop it."), topics_usage()]
    listed = list(popular)
    buttons = [
        InlineKeyboardButton(
            f"{'✅ ' if topic_key(t.name) in chosen_keys else ''}{truncate(t.name, TOPIC_BUTTON_CHARS)} ({t.articles})",
            callback_data=ToggleTopic(topic_digest(t.name)).pack(),
        )
        for t in listed
    ]
    listed_keys = {topic_key(t.name) for t in listed}
    buttons += [
        InlineKeyboardButton(f"✅ {truncate(t, TOPIC_BUTTON_CHARS)}", callback_data=ToggleTopic(topic_digest(t)).pack())
        for t in chosen
        if topic_key(t) not in listed_keys
    ]
    rows = chunked(buttons, 2)
    if chosen:
        rows.append([InlineKeyboardButton(_("All topics"), callback_data=AllTopics().pack())])
    return "\n".join(lines), InlineKeyboardMarkup(rows)


def topics_set_text(chosen: Sequence[str]) -> str:
    topics = ", ".join(f"<b>{escape(truncate(t, 60))}</b>" for t in chosen)
    return "✅ " + _("You now read only: {topics}.").format(topics=topics)


def topics_cleared() -> str:
    return _("You read every topic again.")


def unknown_topics_text(unknown: Collection[str], known: Sequence[TopicCountLike]) -> str:
    names = ", ".join(f"“{escape(truncate(name, 40))}”" for name in list(unknown)[:5])
    text = _("No recent article carries {names}, so nothing changed.").format(names=names)
    if known:
        listed = ", ".join(escape(truncate(t.name, 40)) for t in known[:10])
        text += " " + _("Topics of the last days: {topics}.").format(topics=listed)
    return text


def topic_toggled_answer(topic: str, chosen: bool) -> str:
    name = truncate(topic, 150)
    return (_("Reading {topic}") if chosen else _("Dropped {topic}")).format(topic=name)
