"""What the fake Bot API records, for assertions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

__all__ = [
    "CallbackAnswer",
    "InlineAnswer",
    "InlineResult",
    "JSONDict",
    "MessageEdit",
    "RequestRecord",
    "SentMessage",
]

JSONDict = dict[str, Any]


@dataclass(slots=True)
class MessageEdit:
    """One accepted editMessageText / editMessageReplyMarkup, with the content it left behind."""

    method: str
    text: str | None  # raw text of an editMessageText (None for editMessageReplyMarkup)
    visible_text: str  # the message's visible text after this edit
    parse_mode: str | None
    reply_markup: JSONDict | None  # the message's markup after this edit
    edited_at: float  # time.monotonic()
    date: int  # unix time, the message's edit_date
    params: JSONDict


@dataclass(slots=True)
class SentMessage:
    """A message the bot sent. Text, entities and markup are the *current* ones (edits applied);
    the ``original_*`` fields and ``edits`` keep the history."""

    chat_id: int
    message_id: int
    text: str  # raw text as sent (by the latest sendMessage/editMessageText), before entity parsing
    visible_text: str  # what the user sees: entities parsed, surrounding whitespace trimmed
    parse_mode: str | None
    reply_markup: JSONDict | None
    disable_web_page_preview: bool | None  # the explicit parameter, else link_preview_options.is_disabled
    link_preview_options: JSONDict | None
    sent_at: float  # time.monotonic() when the server accepted it
    date: int  # unix time
    entities: list[JSONDict]
    params: JSONDict  # every parameter of the sendMessage, decoded
    reply_to_message_id: int | None = None
    edits: list[MessageEdit] = field(default_factory=list)
    deleted_at: float | None = None
    original_text: str = ""
    original_visible_text: str = ""
    original_reply_markup: JSONDict | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def thread_id(self) -> int | None:
        """The forum topic it was sent to (message_thread_id), if any."""
        value = self.params.get("message_thread_id")
        return int(value) if value else None

    @property
    def edit_date(self) -> int | None:
        return self.edits[-1].date if self.edits else None

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """(text, callback_data or url) of every inline button, row by row."""
        keyboard = (self.reply_markup or {}).get("inline_keyboard") or []
        return [(b.get("text", ""), b.get("callback_data", b.get("url"))) for row in keyboard for b in row]


@dataclass(slots=True)
class RequestRecord:
    """One HTTP request to /bot<token>/<method>, recorded when it was answered."""

    method: str  # as in the URL
    params: JSONDict  # decoded parameters
    status: int  # HTTP status answered; 499 when the client went away first
    time: float  # time.monotonic() when it arrived
    finished_at: float
    description: str | None = None  # Telegram's error description when not ok
    http_method: str = "POST"

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")


class CallbackAnswer(TypedDict):
    """An accepted answerCallbackQuery (a dict, so ``answer["text"]`` works)."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    chat_id: int
    message_id: int
    data: str
    answered_at: float


@dataclass(slots=True)
class InlineResult:
    """One result of an accepted answerInlineQuery, as the user sees it in the list and, once chosen, in the chat."""

    id: str
    type: str
    title: str | None
    description: str | None
    message_text: str | None  # raw text of input_message_content, before entity parsing
    visible_text: str | None  # what choosing the result posts: entities parsed
    entities: list[JSONDict]
    parse_mode: str | None
    params: JSONDict  # the result object as sent

    @property
    def links(self) -> list[str]:
        """The URLs of the posted message's text links, in order."""
        return [entity["url"] for entity in self.entities if entity.get("type") == "text_link"]


@dataclass(slots=True)
class InlineAnswer:
    """An accepted answerInlineQuery, with the query it answered."""

    inline_query_id: str
    user_id: int
    query: str
    offset: str
    results: list[InlineResult]
    cache_time: int | None
    is_personal: bool
    next_offset: str
    answered_at: float  # time.monotonic()
    params: JSONDict
