"""The HTTP side of the fake Bot API: the aiohttp routes, the request records, and one handler per Bot API method
with Telegram's validation of parameters (the HTML parse mode in `html`)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .faults import FaultInjection
from .html import EntityParseError, parse_html, trim_text, utf16_len
from .protocol import (
    INT_RE,
    ApiError,
    as_bool,
    as_int,
    as_json_object,
    bad_request,
    decode_form_value,
    opt_float,
    opt_int,
    unix_now,
)
from .records import (
    CallbackAnswer,
    InlineAnswer,
    InlineResult,
    JSONDict,
    MessageEdit,
    RequestRecord,
    SentMessage,
)

__all__ = ["BotApiRoutes", "MAX_MESSAGE_LENGTH"]

_LOG = logging.getLogger("fakebot")

MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_RESULTS = 50
MAX_INLINE_RESULT_ID_BYTES = 64
MAX_NEXT_OFFSET_BYTES = 64
_INLINE_RESULT_TYPES = frozenset(
    {"article", "photo", "gif", "mpeg4_gif", "video", "audio", "voice", "document", "location", "venue",
     "contact", "game", "sticker"}
)  # fmt: skip

_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Update types Telegram leaves out unless allowed_updates names them.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

_Handler = Callable[[JSONDict], Awaitable[Any]]


class BotApiRoutes(FaultInjection):
    """The aiohttp application of the fake and its Bot API methods."""

    def __init__(self, *, bot_id: int, bot_username: str, bot_name: str) -> None:
        super().__init__(bot_id=bot_id, bot_username=bot_username, bot_name=bot_name)
        self.rate_clock: Callable[[], float] = time.monotonic
        """The clock a sendMessage's arrival is taken from for the flood limits; a test may freeze it."""
        self._handlers: dict[str, _Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "answerinlinequery": self._answer_inline_query,
            "deletemessage": self._delete_message,
            "sendchataction": self._send_chat_action,
            "getchatmember": self._get_chat_member,
            "close": self._close,
            "logout": self._close,
        }

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._handle_not_found)
        app.router.add_route("GET", "/_stats", self._handle_stats)
        app.router.add_route("*", "/_reset", self._handle_reset)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        return app

    def stats(self) -> JSONDict:
        """What GET /_stats answers."""
        return {
            "sent_by_chat": {str(chat): count for chat, count in self._send_counts.items()},
            "max_sends_in_any_second": self._global_window.max,
            "total": self._total_sends,
            "edits": self._total_edits,
            "requests": len(self.requests),
            "rejected_by_code": {str(code): count for code, count in sorted(self._rejected.items())},
        }

    # ------------------------------------------------------------------------------------------------ HTTP layer

    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = {}
        for key, value in request.query.items():
            params[key] = decode_form_value(key, value)
        if request.method != "POST" or not request.can_read_body:
            return params
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise bad_request(f"can't parse JSON body: {exc}") from exc
            if not isinstance(body, dict):
                raise bad_request("JSON body must be an object")
            params.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, part in form.items():
                if isinstance(part, web.FileField):
                    params[key] = {"filename": part.filename, "content_type": part.content_type}
                else:
                    params[key] = decode_form_value(key, str(part))
        return params

    async def _handle_api(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        method = request.match_info["method"]
        params: JSONDict = {}
        status = 500
        description: str | None = "client went away"
        try:
            try:
                params = await self._read_params(request)
                if not _TOKEN_RE.fullmatch(request.match_info["token"]):
                    raise ApiError(401, "Unauthorized")
                handler = self._handlers.get(method.lower())
                if handler is None:
                    raise ApiError(404, "Not Found: method not found")
                result = await handler(params)
                status, description = 200, None
                payload: JSONDict = {"ok": True, "result": result}
            except ApiError as exc:
                status, description = exc.code, exc.description
                payload = exc.payload()
            except asyncio.CancelledError:
                status = 499
                raise
            except Exception as exc:  # a bug in the fake: answer 500, keep it for the test to see
                _LOG.exception("fake Bot API failed on %s", method)
                self.internal_errors.append(exc)
                status, description = 500, f"Internal Server Error: fake Bot API bug: {exc!r}"
                payload = {"ok": False, "error_code": 500, "description": description}
        finally:
            self._record(method, params, status, started, description, request.method)
        return web.Response(
            body=json.dumps(payload, ensure_ascii=False).encode(), status=status, content_type="application/json"
        )

    def _record(
        self, method: str, params: JSONDict, status: int, started: float, description: str | None, http_method: str
    ) -> None:
        record = RequestRecord(method, params, status, started, time.monotonic(), description, http_method)
        self.requests.append(record)
        self._requests_by_method.setdefault(method.lower(), []).append(record)
        if status != 200:
            self._rejected[status] += 1
        self._changed.fire()

    async def _handle_not_found(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _handle_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _handle_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    # ------------------------------------------------------------------------------------------------ parameters

    def _chat_id(self, params: JSONDict) -> int:
        value = params.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("@"):
                chat_id = self._chat_usernames.get(text[1:].lower())
                if chat_id is None:
                    raise bad_request("chat not found")
                return chat_id
            if not INT_RE.fullmatch(text):
                raise bad_request("chat not found")
        return as_int(value, "chat_id")

    def _message_id(self, params: JSONDict) -> int:
        value = opt_int(params, "message_id")
        if value is None:
            raise bad_request("message identifier is not specified")
        return value

    def _render(self, params: JSONDict) -> tuple[str, str, list[JSONDict], str | None]:
        """(raw text, visible text, entities, parse_mode) of a sendMessage/editMessageText, validated."""
        raw = params.get("text")
        if raw is None:
            raise bad_request("message text is empty")
        text = raw if isinstance(raw, str) else json.dumps(raw)
        parse_mode = params.get("parse_mode") or None
        if parse_mode is not None:
            parse_mode = str(parse_mode)
        mode = parse_mode.lower() if parse_mode else ""
        if mode == "html":
            try:
                parsed = parse_html(text, strict_ampersand=self.strict_ampersand)
            except EntityParseError as exc:
                raise bad_request(f"can't parse entities: {exc}") from exc
            visible, entities = parsed.text, parsed.entities
        elif mode in ("", "markdown", "markdownv2"):
            # Markdown is not validated; explicit entities are taken as given.
            given = as_json_object(params.get("entities"))
            visible, entities = text, (list(given) if isinstance(given, list) and not mode else [])
        else:
            raise bad_request("unsupported parse_mode")
        trimmed = trim_text(visible, entities)
        if not trimmed.text:
            raise bad_request("message text is empty")
        if utf16_len(trimmed.text) > MAX_MESSAGE_LENGTH:
            raise bad_request("message is too long")
        return text, trimmed.text, trimmed.entities, parse_mode

    def _reply_markup(self, params: JSONDict) -> JSONDict | None:
        raw = params.get("reply_markup")
        if raw is None or raw == "":
            return None
        markup = as_json_object(raw)
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        keyboard = markup.get("inline_keyboard")
        if keyboard is None:
            if any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
                return markup
            raise bad_request("can't parse reply keyboard markup JSON object")
        if not isinstance(keyboard, list) or not all(isinstance(row, list) for row in keyboard):
            raise bad_request('can\'t parse inline keyboard markup: field "inline_keyboard" must be an Array of Arrays')
        for row in keyboard:
            for button in row:
                self._check_button(button)
        return markup

    @staticmethod
    def _check_button(button: Any) -> None:
        if not isinstance(button, dict):
            raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
        if not isinstance(button.get("text"), str):
            raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
        actions = [key for key in _BUTTON_ACTIONS if key in button]
        if not actions:
            raise bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
        if len(actions) > 1:
            raise bad_request(
                f"can't parse inline keyboard button: exactly one optional field must be used, got {', '.join(actions)}"
            )
        if "callback_data" in button:
            data = button["callback_data"]
            if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                raise bad_request("BUTTON_DATA_INVALID")
        if "url" in button:
            url = button["url"]
            if not isinstance(url, str) or not url or any(ch.isspace() for ch in url):
                raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")

    def _link_preview(self, params: JSONDict) -> tuple[bool | None, JSONDict | None]:
        options = as_json_object(params.get("link_preview_options"))
        if options is not None and not isinstance(options, dict):
            raise bad_request("can't parse link preview options JSON object")
        explicit = params.get("disable_web_page_preview")
        if explicit is not None:
            return as_bool(explicit), options
        if options is not None and "is_disabled" in options:
            return as_bool(options["is_disabled"]), options
        return None, options

    def _reply_target(self, chat_id: int, params: JSONDict) -> int | None:
        reply = as_json_object(params.get("reply_parameters"))
        allow = as_bool(params.get("allow_sending_without_reply", False))
        target: int | None
        if isinstance(reply, dict):
            target = as_int(reply.get("message_id"), "message_id")
            allow = allow or as_bool(reply.get("allow_sending_without_reply", False))
            if reply.get("chat_id") not in (None, chat_id, str(chat_id)):
                return None  # a reply in another chat: not tracked
        else:
            target = opt_int(params, "reply_to_message_id")
        if target is None:
            return None
        key = (chat_id, target)
        bot_message = self._messages.get(key)
        if (bot_message is not None and not bot_message.deleted) or key in self._user_messages:
            return target
        if allow:
            return None
        raise bad_request("message to be replied not found")

    # ------------------------------------------------------------------------------------------------ methods

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self._bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": self.supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _close(self, params: JSONDict) -> bool:
        return True

    async def _delete_webhook(self, params: JSONDict) -> bool:
        self.webhook = None
        if as_bool(params.get("drop_pending_updates", False)):
            self._updates.clear()
            self._changed.fire()
        return True

    # ---- webhook (setWebhook): recorded only; the fake never posts updates itself, tests post them.
    _WEBHOOK_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
    webhook: JSONDict | None = None
    """The webhook set: url, secret_token, allowed_updates (None: none set, or an empty url removed it)."""

    async def _set_webhook(self, params: JSONDict) -> bool:
        """Checked as Telegram does (an HTTPS URL; the secret token's characters); kept in `self.webhook`."""
        url = str(params.get("url") or "")
        if url and not url.lower().startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not self._WEBHOOK_SECRET_RE.fullmatch(str(secret)):
            raise bad_request("bad webhook: secret token contains unallowed characters")
        allowed = as_json_object(params.get("allowed_updates"))
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": allowed} if url else None
        return True

    def _confirm_updates(self, offset: int) -> None:
        updates = self._updates
        before = len(updates)
        if offset < 0:
            while len(updates) > -offset:
                updates.popleft()
        else:
            while updates and updates[0][0] < offset:
                updates.popleft()
        if len(updates) != before:
            self._changed.fire()

    def _take_updates(self, limit: int) -> list[JSONDict]:
        allowed = self._allowed_updates
        batch: list[JSONDict] = []
        unwanted: set[int] = set()
        for update_id, update in self._updates:
            kind = next((key for key in update if key != "update_id"), "")
            if (allowed is not None and kind not in allowed) or (allowed is None and kind in _OPT_IN_UPDATES):
                unwanted.add(update_id)  # Telegram never stores updates the bot did not ask for
                continue
            batch.append(update)
            if len(batch) >= limit:
                break
        if unwanted:
            self._updates = deque(item for item in self._updates if item[0] not in unwanted)
            self._changed.fire()
        return batch

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = opt_int(params, "offset")
        limit = opt_int(params, "limit") or 100
        limit = min(max(limit, 1), 100)
        timeout = max(opt_float(params, "timeout") or 0.0, 0.0)
        allowed = as_json_object(params.get("allowed_updates"))
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(str(kind) for kind in allowed) if allowed else None
        # A newer getUpdates ends the ones still waiting, as Telegram does (409 Conflict).
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.fire()
        if offset is not None:
            self._confirm_updates(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = self._take_updates(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                return batch
            self._waiting_polls += 1
            self._changed.fire()
            try:
                await self._updates_signal.wait(remaining)
            finally:
                self._waiting_polls -= 1
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = as_json_object(params.get("commands"))
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("too many commands specified")
        stored: list[dict[str, str]] = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand JSON object")
            name, description = command.get("command"), command.get("description")
            if not isinstance(name, str) or not _BOT_COMMAND_NAME_RE.fullmatch(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("command description must be non-empty")
            stored.append({"command": name, "description": description})
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self._commands[key] = stored
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[dict[str, str]]:
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        return list(self._commands.get(key, ()))

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        key = (self._scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self._commands.pop(key, None)
        return True

    async def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = self._chat_id(params)
        await self._hold(chat_id)
        # Flood limits count a request when it arrives, as Telegram's servers see it; `latency` is the round
        # trip, spent before answering. (Counting after the sleep would add this server's own timer jitter to
        # every arrival time and report 429s that no sender could avoid.)
        arrival = self.rate_clock()
        try:
            self._admit_send(chat_id, arrival)
        except ApiError:
            if self.arrivals is not None:
                self.arrivals.append((chat_id, arrival, False))
            if self.latency > 0:
                await asyncio.sleep(self.latency)  # a 429 takes the round trip too
            raise
        if self.arrivals is not None:
            self.arrivals.append((chat_id, arrival, True))
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        await self._apply_fault(chat_id)
        self._check_channel_right(chat_id)
        self._check_topic(chat_id, params)
        text, visible, entities, parse_mode = self._render(params)
        markup = self._reply_markup(params)
        disable_preview, preview_options = self._link_preview(params)
        reply_to = self._reply_target(chat_id, params)
        now = time.monotonic()
        record = SentMessage(
            chat_id=chat_id,
            message_id=self._new_message_id(chat_id),
            text=text,
            visible_text=visible,
            parse_mode=parse_mode,
            reply_markup=markup,
            disable_web_page_preview=disable_preview,
            link_preview_options=preview_options,
            sent_at=now,
            date=unix_now(),
            entities=entities,
            params=params,
            reply_to_message_id=reply_to,
            original_text=text,
            original_visible_text=visible,
            original_reply_markup=markup,
        )
        self._messages[(chat_id, record.message_id)] = record
        self._sent.append(record)
        self._sent_by_chat.setdefault(chat_id, []).append(record)
        self._send_counts[chat_id] = self._send_counts.get(chat_id, 0) + 1
        self._total_sends += 1
        return self._message_dict(record)

    def _check_channel_right(self, chat_id: int) -> None:
        """In a channel the bot posts only as an administrator with can_post_messages, as on Telegram."""
        if self._chat_dict(chat_id)["type"] != "channel":
            return
        status = self.member_status(chat_id, self.bot_id)
        if status in ("left", "kicked"):
            raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
        if status != "creator" and (
            status != "administrator" or not self.admin_rights(chat_id, self.bot_id).get("can_post_messages", True)
        ):
            raise bad_request("need administrator rights in the channel chat")

    def _check_topic(self, chat_id: int, params: JSONDict) -> None:
        """A message_thread_id must name an open topic of a forum, with Telegram's errors otherwise."""
        thread_id = opt_int(params, "message_thread_id")
        if not thread_id or not self.is_forum(chat_id):
            return  # outside forums Telegram ignores it (a reply thread)
        state = self.topic_state(chat_id, thread_id)
        if state is None:
            raise bad_request("message thread not found")
        if state == "closed":
            raise bad_request("TOPIC_CLOSED")

    def _editable(self, chat_id: int, message_id: int) -> SentMessage:
        record = self._messages.get((chat_id, message_id))
        if record is None or record.deleted:
            if (chat_id, message_id) in self._user_messages:
                raise bad_request("message can't be edited")
            raise bad_request("message to edit not found")
        return record

    def _apply_edit(
        self,
        record: SentMessage,
        method: str,
        params: JSONDict,
        *,
        text: str | None,
        visible: str,
        entities: list[JSONDict],
        parse_mode: str | None,
        markup: JSONDict | None,
    ) -> JSONDict:
        if visible == record.visible_text and entities == record.entities and markup == record.reply_markup:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are exactly the same as a "
                "current content and reply markup of the message"
            )
        edit = MessageEdit(method, text, visible, parse_mode, markup, time.monotonic(), unix_now(), params)
        record.edits.append(edit)
        if text is not None:
            record.text = text
            record.parse_mode = parse_mode
        record.visible_text = visible
        record.entities = entities
        record.reply_markup = markup
        self._total_edits += 1
        return self._message_dict(record)

    async def _edit_message_text(self, params: JSONDict) -> JSONDict:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat_id = self._chat_id(params)
        message_id = self._message_id(params)
        await self._apply_fault(chat_id)
        record = self._editable(chat_id, message_id)
        text, visible, entities, parse_mode = self._render(params)
        markup = self._reply_markup(params)
        disable_preview, preview_options = self._link_preview(params)
        if preview_options is not None or disable_preview is not None:
            record.link_preview_options = preview_options
            record.disable_web_page_preview = disable_preview
        return self._apply_edit(
            record,
            "editMessageText",
            params,
            text=text,
            visible=visible,
            entities=entities,
            parse_mode=parse_mode,
            markup=markup,
        )

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat_id = self._chat_id(params)
        record = self._editable(chat_id, self._message_id(params))
        markup = self._reply_markup(params)
        return self._apply_edit(
            record,
            "editMessageReplyMarkup",
            params,
            text=None,
            visible=record.visible_text,
            entities=record.entities,
            parse_mode=record.parse_mode,
            markup=markup,
        )

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        query_id = str(params.get("callback_query_id") or "")
        pending = self._pending_callbacks.get(query_id)
        if pending is None:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        del self._pending_callbacks[query_id]
        chat_id, message_id, data = pending
        cache_time = opt_int(params, "cache_time")
        url = params.get("url")
        self.callback_answers.append(
            CallbackAnswer(
                callback_query_id=query_id,
                text=None if text is None else str(text),
                show_alert=as_bool(params.get("show_alert", False)),
                url=None if url is None else str(url),
                cache_time=cache_time,
                chat_id=chat_id,
                message_id=message_id,
                data=data,
                answered_at=time.monotonic(),
            )
        )
        return True

    async def _answer_inline_query(self, params: JSONDict) -> bool:
        """Validated as Telegram does: a pending query, at most 50 results with unique 1-64 byte ids, each article
        with a title and message content whose text parses like sendMessage's, a next_offset of at most 64 bytes."""
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        query_id = str(params.get("inline_query_id") or "")
        pending = self._pending_inline_queries.get(query_id)
        if pending is None:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        raw = as_json_object(params.get("results"))
        if not isinstance(raw, list):
            raise bad_request("can't parse inline query results JSON object")
        if len(raw) > MAX_INLINE_RESULTS:
            raise bad_request("RESULTS_TOO_MUCH")
        results: list[InlineResult] = []
        seen: set[str] = set()
        for item in raw:
            result = self._inline_result(item)
            if result.id in seen:
                raise bad_request("RESULT_ID_DUPLICATE")
            seen.add(result.id)
            results.append(result)
        next_offset = params.get("next_offset")
        next_offset = "" if next_offset is None else str(next_offset)
        if len(next_offset.encode("utf-8")) > MAX_NEXT_OFFSET_BYTES:
            raise bad_request("NEXT_OFFSET_INVALID")
        del self._pending_inline_queries[query_id]
        user_id, query, offset = pending
        self.inline_answers.append(
            InlineAnswer(
                inline_query_id=query_id,
                user_id=user_id,
                query=query,
                offset=offset,
                results=results,
                cache_time=opt_int(params, "cache_time"),
                is_personal=as_bool(params.get("is_personal", False)),
                next_offset=next_offset,
                answered_at=time.monotonic(),
                params=params,
            )
        )
        return True

    def _inline_result(self, item: Any) -> InlineResult:
        if not isinstance(item, dict):
            raise bad_request("can't parse InlineQueryResult: InlineQueryResult must be an Object")
        kind = item.get("type")
        if kind not in _INLINE_RESULT_TYPES:
            raise bad_request("RESULT_TYPE_INVALID")
        result_id = item.get("id")
        if not isinstance(result_id, str) or not 1 <= len(result_id.encode("utf-8")) <= MAX_INLINE_RESULT_ID_BYTES:
            raise bad_request("RESULT_ID_INVALID")
        title = item.get("title")
        if kind == "article" and (not isinstance(title, str) or not title.strip()):
            raise bad_request("RESULT_TITLE_EMPTY")
        content = item.get("input_message_content")
        if kind == "article" and not isinstance(content, dict):
            raise bad_request("can't parse InlineQueryResultArticle: input_message_content is required")
        if "reply_markup" in item:
            self._reply_markup({"reply_markup": item["reply_markup"]})
        message_text = visible = parse_mode = None
        entities: list[JSONDict] = []
        if isinstance(content, dict) and "message_text" in content:
            message_text, visible, entities, parse_mode = self._render(
                {"text": content["message_text"], "parse_mode": content.get("parse_mode"),
                 "entities": content.get("entities")}
            )  # fmt: skip
        description = item.get("description")
        return InlineResult(
            id=result_id,
            type=str(kind),
            title=title if isinstance(title, str) else None,
            description=description if isinstance(description, str) else None,
            message_text=message_text,
            visible_text=visible,
            entities=entities,
            parse_mode=parse_mode,
            params=item,
        )

    async def _delete_message(self, params: JSONDict) -> bool:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        chat_id = self._chat_id(params)
        message_id = self._message_id(params)
        record = self._messages.get((chat_id, message_id))
        if record is not None and not record.deleted:
            record.deleted_at = time.monotonic()
            return True
        if self._user_messages.pop((chat_id, message_id), None) is not None:
            return True
        raise bad_request("message to delete not found")

    async def _get_chat_member(self, params: JSONDict) -> JSONDict:
        """The user's membership as Telegram gives it: the fields each status carries (python-telegram-bot
        builds its ChatMember subclass from them)."""
        chat_id = self._chat_id(params)
        user_id = params.get("user_id")
        if not isinstance(user_id, int) or isinstance(user_id, bool):
            raise bad_request("user_id must be a number")
        status = self.member_status(chat_id, user_id)
        user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        if user_id == self.bot_id:
            user = self._bot_user
        return self._member_dict(chat_id, user, status, self.admin_rights(chat_id, user_id))

    async def _send_chat_action(self, params: JSONDict) -> bool:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        self._chat_id(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True
