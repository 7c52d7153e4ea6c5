"""The fake Telegram Bot API server (aiohttp.web)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

from aiohttp import web

from .html import EntityParseError, parse_html, trim_text, utf16_len
from .records import (
    FAULT_KINDS,
    CallbackAnswer,
    Fault,
    FaultKind,
    JSONDict,
    MessageEdit,
    RequestRecord,
    SentMessage,
)

__all__ = ["FakeBotAPI", "MAX_MESSAGE_LENGTH"]

_LOG = logging.getLogger("fakebot")

MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
DEFAULT_GROUP_USER_ID = 100_000_001

_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]+")
_INT_RE = re.compile(r"-?\d+")
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?!\S)")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")

# Parameters that python-telegram-bot sends as raw strings (it JSON-encodes every non-string value). Everything
# else in a form body is JSON-decoded when it parses.
_STRING_PARAMS = frozenset(
    {
        "text",
        "parse_mode",
        "caption",
        "callback_query_id",
        "url",
        "action",
        "language_code",
        "inline_message_id",
        "business_connection_id",
        "message_effect_id",
        "data",
        "description",
        "short_description",
        "name",
        "title",
        "secret_token",
    }
)
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
# Faults injected with fail_chat apply to these methods.
_FAULT_METHODS = frozenset({"sendmessage", "editmessagetext"})

_Handler = Callable[[JSONDict], Awaitable[Any]]


class _ApiError(Exception):
    """An error answer in Telegram's shape."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(detail: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {detail}")


class _Signal:
    """Wakes every current waiter on `fire()`; costs nothing when nobody waits."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def fire(self) -> None:
        event = self._event
        if event is not None:
            self._event = None
            event.set()

    async def wait(self, timeout: float) -> None:
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            pass


class _Window:
    """Arrival times of the sends let through in the last second, and the most ever seen in one second."""

    __slots__ = ("max", "times")

    def __init__(self) -> None:
        self.times: deque[float] = deque()
        self.max = 0

    def count(self, now: float) -> int:
        times, cutoff = self.times, now - 1.0
        while times and times[0] <= cutoff:
            times.popleft()
        return len(times)

    def add(self, now: float) -> None:
        size = self.count(now) + 1
        self.times.append(now)
        if size > self.max:
            self.max = size


def _decode_form_value(key: str, value: str) -> Any:
    if key in _STRING_PARAMS or not value or value[0] not in '[{"-0123456789tfn':
        return value
    if value.isdigit() and value.isascii() and (value[0] != "0" or len(value) == 1):
        return int(value)  # the common case (chat_id, message_id, offset), without the JSON decoder
    try:
        return json.loads(value)
    except ValueError:
        return value


def _as_json_object(value: Any) -> Any:
    """A JSON-serialized parameter (e.g. reply_markup sent in a JSON body as a string) decoded."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise _bad_request(f'field "{name}" must be of type Integer')
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        return int(value)
    raise _bad_request(f'field "{name}" must be of type Integer')


def _opt_int(params: JSONDict, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    return _as_int(value, name)


def _opt_float(params: JSONDict, name: str) -> float | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise _bad_request(f'field "{name}" must be of type Number')


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _unix_now() -> int:
    return int(time.time())


class FakeBotAPI:
    """A fake Telegram Bot API over real HTTP, for python-telegram-bot clients.

    Point the bot at it with ``base_url=f"{api.url}/bot"`` and ``base_file_url=f"{api.url}/file/bot"``.
    Everything is single-threaded on the event loop, so the records can be read at any time.
    """

    def __init__(
        self, *, bot_id: int = 7000001, bot_username: str = "newsbot_test_bot", bot_name: str = "NewsBot"
    ) -> None:
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.latency: float = 0.0
        """Seconds slept before answering each send/edit/delete/chat action/callback answer."""
        self.timeout_delay: float = 30.0
        """Seconds a "timeout" fault holds the request before answering 504 (the client should give up first)."""
        self.strict_ampersand: bool = True
        """Reject a bare "&" in HTML (Telegram itself keeps it as a literal "&")."""
        self._rate_limit: int | None = None
        self._per_chat_rate_limit: int | None = None
        self._fault_ratio = 0.0
        self._fault_ratio_kinds: tuple[FaultKind, ...] = ()
        self._fault_ratio_salt = ""
        self._fault_ratio_times: int | None = 1
        self._fault_ratio_retry_after = 1
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = False
        self._stopping: asyncio.Event | None = None
        self._changed = _Signal()  # any request answered, updates confirmed
        self._updates_signal = _Signal()  # updates queued, or a newer getUpdates arrived
        self.arrivals: list[tuple[int, float, bool]] | None = None
        """Set to a list to trace every sendMessage: (chat id, time.monotonic() on arrival, admitted by the flood
        limits). CLOCK_MONOTONIC is shared by the processes of one machine, so a sender can compare."""
        self.internal_errors: list[BaseException] = []
        """Exceptions raised by the fake itself (answered as 500); should stay empty."""
        self._handlers: dict[str, _Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "deletemessage": self._delete_message,
            "sendchataction": self._send_chat_action,
            "close": self._close,
            "logout": self._close,
        }
        # Bot-side settings and id counters survive reset(): ids never repeat, as on Telegram.
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._allowed_updates: frozenset[str] | None = None
        self._next_message_id: dict[int, int] = {}
        self._next_update_id = 100_001
        self._next_callback_id = 4_000_000_000_000_001
        self._poll_generation = 0
        # Chats whose sendMessage requests are held unanswered (see hold_sends), and how many were held so far.
        self._holds: dict[int, asyncio.Event] = {}
        self._held_counts: Counter[int] = Counter()
        self._init_state()

    # ------------------------------------------------------------------------------------------------ state

    def _init_state(self) -> None:
        self.requests: list[RequestRecord] = []
        """Every request received (after it was answered), including rejected ones."""
        self.callback_answers: list[CallbackAnswer] = []
        self._requests_by_method: dict[str, list[RequestRecord]] = {}
        self._sent: list[SentMessage] = []
        self._sent_by_chat: dict[int, list[SentMessage]] = {}
        self._messages: dict[tuple[int, int], SentMessage] = {}
        self._user_messages: dict[tuple[int, int], JSONDict] = {}
        self._chats: dict[int, JSONDict] = {}
        self._chat_usernames: dict[str, int] = {}
        self._updates: deque[tuple[int, JSONDict]] = deque()
        self._pending_callbacks: dict[str, tuple[int, int, str]] = {}
        self._faults: dict[int, Fault] = {}
        self._fault_ratio_seen: set[int] = set()
        self._global_window = _Window()
        self._chat_windows: dict[int, _Window] = {}
        self._send_counts: dict[int, int] = {}
        self._total_sends = 0
        self._total_edits = 0
        self._rejected: Counter[int] = Counter()

    def reset(self) -> None:
        """Forget everything recorded and queued (messages, requests, callback answers, updates, faults, counters);
        keep the configuration (latency, rate limits, fault ratio), the bot's commands and the id counters."""
        self._init_state()
        self._updates_signal.fire()
        self._changed.fire()

    # ------------------------------------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43121``."""
        if self._url is None:
            raise RuntimeError("FakeBotAPI is not started")
        return self._url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("FakeBotAPI already started")
        self._closing = False
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._handle_not_found)
        app.router.add_route("GET", "/_stats", self._handle_stats)
        app.router.add_route("*", "/_reset", self._handle_reset)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        self._url = f"http://{shown_host}:{bound_port}"

    async def stop(self) -> None:
        runner = self._runner
        if runner is None:
            return
        self._closing = True
        if self._stopping is not None:
            self._stopping.set()
        self.release_sends()
        self._updates_signal.fire()
        self._changed.fire()
        self._runner = None
        await runner.cleanup()

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops."""
        if seconds <= 0:
            return
        stopping = self._stopping
        if stopping is None:
            await asyncio.sleep(seconds)
            return
        try:
            async with asyncio.timeout(seconds):
                await stopping.wait()
        except TimeoutError:
            pass

    # ------------------------------------------------------------------------------------------------ configuration

    def fail_chat(
        self,
        chat_id: int,
        kind: FaultKind,
        *,
        times: int | None = None,
        retry_after: int = 3,
        migrate_to: int | None = None,
    ) -> None:
        """Make sendMessage/editMessageText to `chat_id` fail `times` times (None: until cleared).

        kinds: "429" (RetryAfter), "403" (blocked by the user), "chat_not_found", "500", "502", "timeout" (hold the
        request `timeout_delay` seconds, then 504), "migrate" (ChatMigrated to `migrate_to`), "parse" (can't parse
        entities, whatever the content).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if times is not None and times < 0:
            raise ValueError("times must be >= 0 or None")
        if times == 0:
            self._faults.pop(chat_id, None)
            return
        if kind == "migrate":
            if migrate_to is None:
                migrate_to = -(10**12 + abs(chat_id))
            old = self._chat_dict(chat_id)
            self._chats.setdefault(
                migrate_to, {"id": migrate_to, "type": "supergroup", "title": old.get("title", f"Chat {migrate_to}")}
            )
        self._faults[chat_id] = Fault(kind, times, retry_after, migrate_to)

    def clear_faults(self) -> None:
        """Remove every injected fault, including the ones chosen by `set_fault_ratio` (which is switched off)."""
        self._faults.clear()
        self._fault_ratio = 0.0
        self._fault_ratio_seen.clear()

    @property
    def faults(self) -> dict[int, Fault]:
        return dict(self._faults)

    def set_fault_ratio(
        self,
        ratio: float,
        *,
        kinds: Sequence[FaultKind] = ("429", "500", "502", "timeout", "403"),
        salt: str = "fakebot",
        transient_times: int | None = 1,
        retry_after: int = 1,
    ) -> None:
        """Make a deterministic share `ratio` of chats faulty, picked and assigned a kind by a hash of the chat id.
        "403" is permanent; other kinds fail `transient_times` times."""
        if not 0.0 <= ratio <= 1.0:
            raise ValueError("ratio must be within [0, 1]")
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}")
        self._fault_ratio = ratio
        self._fault_ratio_kinds = tuple(kinds)
        self._fault_ratio_salt = salt
        self._fault_ratio_times = transient_times
        self._fault_ratio_retry_after = retry_after
        self._fault_ratio_seen.clear()

    def fault_for_ratio(self, chat_id: int) -> FaultKind | None:
        """The kind `set_fault_ratio` assigns to `chat_id` (None: healthy)."""
        if self._fault_ratio <= 0 or not self._fault_ratio_kinds:
            return None
        digest = hashlib.blake2b(f"{self._fault_ratio_salt}:{chat_id}".encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "big")
        if (value >> 11) / float(1 << 53) >= self._fault_ratio:
            return None
        return self._fault_ratio_kinds[value % len(self._fault_ratio_kinds)]

    def enforce_rate(self, per_second: int | None) -> None:
        """Answer 429 (retry_after 1) to a sendMessage arriving when `per_second` others were let through in the
        second before it (all chats). None switches it off."""
        if per_second is not None and per_second < 1:
            raise ValueError("per_second must be >= 1 or None")
        self._rate_limit = per_second

    def enforce_per_chat_rate(self, per_second: int | None = 1) -> None:
        """Like `enforce_rate`, per chat. None switches it off."""
        if per_second is not None and per_second < 1:
            raise ValueError("per_second must be >= 1 or None")
        self._per_chat_rate_limit = per_second

    def register_chat(
        self,
        chat_id: int,
        chat_type: str,
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> None:
        """Declare a chat's type/title (otherwise guessed from the id); a username makes "@username" resolve."""
        chat: JSONDict = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = first_name or f"User {chat_id}"
        else:
            chat["title"] = title or f"{chat_type.capitalize()} {chat_id}"
        if username:
            chat["username"] = username.lstrip("@")
            self._chat_usernames[username.lstrip("@").lower()] = chat_id
        self._chats[chat_id] = chat

    # ------------------------------------------------------------------------------------------------ records

    def sent(self, chat_id: int | None = None) -> list[SentMessage]:
        """Accepted sendMessage calls in order (all chats, or one chat); edits are applied in place."""
        if chat_id is None:
            return list(self._sent)
        return list(self._sent_by_chat.get(chat_id, ()))

    def message(self, chat_id: int, message_id: int) -> SentMessage:
        """The bot's message `message_id` in `chat_id`."""
        return self._messages[(chat_id, message_id)]

    def send_counts_by_chat(self) -> dict[int, int]:
        return dict(self._send_counts)

    def max_sends_in_any_second(self, chat_id: int | None = None) -> int:
        """The most sendMessage requests let through the flood limits (counted on arrival, whatever their outcome)
        in any sliding one-second window (all chats, or one)."""
        if chat_id is None:
            return self._global_window.max
        window = self._chat_windows.get(chat_id)
        return window.max if window is not None else 0

    @property
    def commands(self) -> list[dict[str, str]]:
        """The command list set for the default scope and no language."""
        return list(self._commands.get(("default", ""), ()))

    def commands_for(self, scope: JSONDict | None = None, language_code: str = "") -> list[dict[str, str]]:
        return list(self._commands.get((self._scope_key(scope), language_code), ()))

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Queued updates not yet confirmed by a getUpdates offset."""
        return [update for _, update in self._updates]

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

    # ------------------------------------------------------------------------------------------------ driving the bot

    def push_update(self, update: JSONDict) -> int:
        """Queue a raw update; an ``update_id`` is assigned unless given. Returns the update_id."""
        update = dict(update)
        update_id = update.get("update_id")
        if update_id is None:
            update_id = self._next_update_id
            update["update_id"] = update_id
        update_id = int(update_id)
        if self._updates and update_id <= self._updates[-1][0]:
            raise ValueError(f"update_id {update_id} is not after the last queued update {self._updates[-1][0]}")
        self._next_update_id = max(self._next_update_id, update_id + 1)
        self._updates.append((update_id, update))
        self._updates_signal.fire()
        return update_id

    def _user(self, user_id: int, first_name: str, username: str | None, language_code: str | None) -> JSONDict:
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return user

    def _default_user_id(self, chat_id: int, user_id: int | None) -> int:
        if user_id is not None:
            return user_id
        if self._chat_dict(chat_id)["type"] == "private":
            return chat_id
        return DEFAULT_GROUP_USER_ID

    def user_sends_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        first_name: str = "Alice",
        username: str | None = "alice",
        chat_type: str = "private",
        chat_title: str | None = None,
        language_code: str | None = "en",
    ) -> int:
        """Queue a text message from a user (with a bot_command entity when it starts with a command).
        Returns the update_id."""
        if chat_type == "private":
            uid = chat_id if user_id is None else user_id
            chat: JSONDict = {"id": chat_id, "type": "private", "first_name": first_name}
            if username:
                chat["username"] = username
        else:
            uid = DEFAULT_GROUP_USER_ID if user_id is None else user_id
            chat = {"id": chat_id, "type": chat_type, "title": chat_title or f"Test {chat_type} {chat_id}"}
        self._chats[chat_id] = chat
        message_id = self._new_message_id(chat_id)
        message: JSONDict = {"message_id": message_id, "date": _unix_now(), "chat": dict(chat), "text": text}
        if chat_type == "channel":
            message["sender_chat"] = dict(chat)
        else:
            message["from"] = self._user(uid, first_name, username, language_code)
        command = _COMMAND_RE.match(text)
        if command is not None:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}]
        self._user_messages[(chat_id, message_id)] = message
        return self.push_update({"channel_post" if chat_type == "channel" else "message": message})

    def user_presses_button(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user_id: int | None = None,
        first_name: str = "Alice",
        username: str | None = "alice",
        language_code: str | None = "en",
        check_button: bool = True,
        inaccessible: bool = False,
    ) -> str:
        """Queue a callback_query for an inline button of the bot's message; returns the callback query id.
        With `check_button`, `data` must be the callback_data of one of the message's current buttons. With
        `inaccessible`, the message comes as Telegram sends one too old to include (chat, id and date 0 only)."""
        record = self._messages.get((chat_id, message_id))
        if record is None or record.deleted:
            known = [m.message_id for m in self._sent_by_chat.get(chat_id, ()) if not m.deleted]
            raise ValueError(f"the bot has no message {message_id} in chat {chat_id} (its messages there: {known})")
        if check_button:
            offered = [data for _, data in record.buttons]
            if data not in offered:
                raise ValueError(f"message {message_id} in chat {chat_id} has no button with data {data!r}: {offered}")
        uid = self._default_user_id(chat_id, user_id)
        query_id = str(self._next_callback_id)
        self._next_callback_id += 1
        self._pending_callbacks[query_id] = (chat_id, message_id, data)
        query: JSONDict = {
            "id": query_id,
            "from": self._user(uid, first_name, username, language_code),
            "message": (
                {"chat": self._chat_dict(chat_id), "message_id": message_id, "date": 0}
                if inaccessible
                else self._message_dict(record)
            ),
            "chat_instance": str((chat_id * 7919 + 104729) % 10**18),
            "data": data,
        }
        self.push_update({"callback_query": query})
        return query_id

    def user_edits_text(self, chat_id: int, text: str, *, message_id: int | None = None) -> int:
        """Queue an edited_message: the user's message `message_id` in `chat_id` (default: their latest there) now
        reads `text`. Returns the update_id."""
        if message_id is None:
            message_id = max((mid for chat, mid in self._user_messages if chat == chat_id), default=0)
        original = self._user_messages.get((chat_id, message_id))
        if original is None:
            raise ValueError(f"the user sent no message {message_id} in chat {chat_id}")
        message: JSONDict = {key: value for key, value in original.items() if key != "entities"}
        message["text"] = text
        message["edit_date"] = _unix_now()
        command = _COMMAND_RE.match(text)
        if command is not None:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}]
        self._user_messages[(chat_id, message_id)] = message
        return self.push_update({"edited_message": message})

    def user_presses_inline_button(
        self,
        data: str,
        *,
        user_id: int,
        inline_message_id: str = "AAAAAAAAAAAAAAAAAA",
        first_name: str = "Alice",
        username: str | None = "alice",
        language_code: str | None = "en",
    ) -> str:
        """Queue a callback_query from a button on a message sent in inline mode: it carries `inline_message_id`
        and no message (so no chat). Its answer is recorded with chat_id and message_id 0. Returns the query id."""
        query_id = str(self._next_callback_id)
        self._next_callback_id += 1
        self._pending_callbacks[query_id] = (0, 0, data)
        query: JSONDict = {
            "id": query_id,
            "from": self._user(user_id, first_name, username, language_code),
            "inline_message_id": inline_message_id,
            "chat_instance": str((user_id * 7919 + 104729) % 10**18),
            "data": data,
        }
        self.push_update({"callback_query": query})
        return query_id

    def hold_sends(self, chat_id: int) -> None:
        """Keep every sendMessage to `chat_id` unanswered (the bot's request waits) until `release_sends`.
        A deterministic way to keep a handler busy in the middle of its replies."""
        self._holds.setdefault(chat_id, asyncio.Event())

    def release_sends(self, chat_id: int | None = None) -> None:
        """Answer the held sendMessage requests to `chat_id` (None: every chat) and stop holding new ones."""
        for held_chat in [chat_id] if chat_id is not None else list(self._holds):
            event = self._holds.pop(held_chat, None)
            if event is not None:
                event.set()

    def held_sends(self, chat_id: int) -> int:
        """How many sendMessage requests to `chat_id` were held so far (released ones included)."""
        return self._held_counts[chat_id]

    async def _hold(self, chat_id: int) -> None:
        event = self._holds.get(chat_id)
        if event is None:
            return
        self._held_counts[chat_id] += 1
        self._changed.fire()
        await event.wait()

    # ------------------------------------------------------------------------------------------------ waiting

    async def wait_until_held(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until at least `count` sendMessage requests to `chat_id` were held (see hold_sends)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._held_counts[chat_id] < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} held sendMessage(s) to chat {chat_id}; "
                    f"{self._held_counts[chat_id]} held\n" + self._diagnostics()
                )
            await self._changed.wait(remaining)

    async def wait_for_messages(self, chat_id: int, count: int, timeout: float = 5.0) -> list[SentMessage]:
        """Wait until at least `count` messages were sent to `chat_id`; returns all of them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            messages = self._sent_by_chat.get(chat_id, [])
            if len(messages) >= count:
                return list(messages)
            remaining = deadline - loop.time()
            if remaining <= 0:
                lines = [f"#{m.message_id}: {m.visible_text[:160]!r}" for m in messages]
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} message(s) to chat {chat_id}; "
                    f"got {len(messages)}:\n  " + ("\n  ".join(lines) or "(none)") + "\n" + self._diagnostics()
                )
            await self._changed.wait(remaining)

    async def wait_for_request(
        self,
        method: str,
        timeout: float = 5.0,
        predicate: Callable[[RequestRecord], bool] | None = None,
        *,
        since: float | None = None,
    ) -> RequestRecord:
        """Wait for an answered request to `method` (received at or after `since`, a time.monotonic() value, if
        given) for which `predicate` holds. Requests already answered count."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        key = method.lower()
        seen: list[RequestRecord] | None = None
        index = 0
        while True:
            records = self._requests_by_method.setdefault(key, [])
            if records is not seen:
                seen, index = records, 0
            while index < len(records):
                record = records[index]
                index += 1
                if since is not None and record.time < since:
                    continue
                if predicate is None or predicate(record):
                    return record
            remaining = deadline - loop.time()
            if remaining <= 0:
                lines = [f"{r.status} {r.params!r:.200} {r.description or ''}" for r in records[-10:]]
                raise AssertionError(
                    f"timed out after {timeout}s waiting for a {method} request"
                    + (" matching the predicate" if predicate is not None else "")
                    + f"; {len(records)} {method} request(s) received, the last ones:\n  "
                    + ("\n  ".join(lines) or "(none)")
                    + "\n"
                    + self._diagnostics()
                )
            await self._changed.wait(remaining)

    async def wait_until_updates_consumed(self, timeout: float = 5.0) -> None:
        """Wait until every queued update was fetched and then confirmed by a later getUpdates offset."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._updates:
            remaining = deadline - loop.time()
            if remaining <= 0:
                pending = [f"{uid}: {', '.join(k for k in u if k != 'update_id')}" for uid, u in self._updates]
                polls = self._requests_by_method.get("getupdates", [])
                raise AssertionError(
                    f"timed out after {timeout}s waiting for updates to be consumed; still queued: {pending}; "
                    f"{len(polls)} getUpdates request(s) answered, last params: "
                    f"{polls[-1].params if polls else None}\n" + self._diagnostics()
                )
            await self._changed.wait(remaining)

    def _diagnostics(self) -> str:
        rejected = [r for r in self.requests if r.status != 200][-10:]
        lines = [f"{r.method} {r.status} chat={r.params.get('chat_id')} {r.description}" for r in rejected]
        return (
            f"messages by chat: {self._send_counts}\n"
            f"queued updates: {len(self._updates)}; requests: {len(self.requests)}; "
            f"internal errors: {self.internal_errors!r}\n"
            "last rejected requests:\n  " + ("\n  ".join(lines) or "(none)")
        )

    # ------------------------------------------------------------------------------------------------ HTTP layer

    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = {}
        for key, value in request.query.items():
            params[key] = _decode_form_value(key, value)
        if request.method != "POST" or not request.can_read_body:
            return params
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise _bad_request(f"can't parse JSON body: {exc}") from exc
            if not isinstance(body, dict):
                raise _bad_request("JSON body must be an object")
            params.update(body)
        elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = {"filename": value.filename, "content_type": value.content_type}
                else:
                    params[key] = _decode_form_value(key, str(value))
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
                    raise _ApiError(401, "Unauthorized")
                handler = self._handlers.get(method.lower())
                if handler is None:
                    raise _ApiError(404, "Not Found: method not found")
                result = await handler(params)
                status, description = 200, None
                payload: JSONDict = {"ok": True, "result": result}
            except _ApiError as exc:
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

    # ------------------------------------------------------------------------------------------------ helpers

    def _chat_dict(self, chat_id: int) -> JSONDict:
        chat = self._chats.get(chat_id)
        if chat is not None:
            return dict(chat)
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        if chat_id <= -(10**12):
            return {"id": chat_id, "type": "supergroup", "title": f"Supergroup {chat_id}"}
        return {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}

    def _chat_id(self, params: JSONDict) -> int:
        value = params.get("chat_id")
        if value is None or value == "":
            raise _bad_request("chat_id is empty")
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("@"):
                chat_id = self._chat_usernames.get(text[1:].lower())
                if chat_id is None:
                    raise _bad_request("chat not found")
                return chat_id
            if not _INT_RE.fullmatch(text):
                raise _bad_request("chat not found")
        return _as_int(value, "chat_id")

    def _message_id(self, params: JSONDict) -> int:
        value = _opt_int(params, "message_id")
        if value is None:
            raise _bad_request("message identifier is not specified")
        return value

    def _new_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = message_id
        return message_id

    @property
    def _bot_user(self) -> JSONDict:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_name, "username": self.bot_username}

    def _message_dict(self, record: SentMessage, *, with_reply: bool = True) -> JSONDict:
        message: JSONDict = {
            "message_id": record.message_id,
            "from": self._bot_user,
            "chat": self._chat_dict(record.chat_id),
            "date": record.date,
            "text": record.visible_text,
        }
        if record.entities:
            message["entities"] = record.entities
        if record.reply_markup is not None and "inline_keyboard" in record.reply_markup:
            message["reply_markup"] = record.reply_markup
        if record.link_preview_options:
            message["link_preview_options"] = record.link_preview_options
        if record.edits:
            message["edit_date"] = record.edits[-1].date
        if with_reply and record.reply_to_message_id is not None:
            key = (record.chat_id, record.reply_to_message_id)
            target = self._messages.get(key)
            if target is not None:
                message["reply_to_message"] = self._message_dict(target, with_reply=False)
            elif key in self._user_messages:
                message["reply_to_message"] = self._user_messages[key]
        return message

    def _render(self, params: JSONDict) -> tuple[str, str, list[JSONDict], str | None]:
        """(raw text, visible text, entities, parse_mode) of a sendMessage/editMessageText, validated."""
        raw = params.get("text")
        if raw is None:
            raise _bad_request("message text is empty")
        text = raw if isinstance(raw, str) else json.dumps(raw)
        parse_mode = params.get("parse_mode") or None
        if parse_mode is not None:
            parse_mode = str(parse_mode)
        mode = parse_mode.lower() if parse_mode else ""
        if mode == "html":
            try:
                parsed = parse_html(text, strict_ampersand=self.strict_ampersand)
            except EntityParseError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from exc
            visible, entities = parsed.text, parsed.entities
        elif mode in ("", "markdown", "markdownv2"):
            # Markdown is not validated; explicit entities are taken as given.
            given = _as_json_object(params.get("entities"))
            visible, entities = text, (list(given) if isinstance(given, list) and not mode else [])
        else:
            raise _bad_request("unsupported parse_mode")
        trimmed = trim_text(visible, entities)
        if not trimmed.text:
            raise _bad_request("message text is empty")
        if utf16_len(trimmed.text) > MAX_MESSAGE_LENGTH:
            raise _bad_request("message is too long")
        return text, trimmed.text, trimmed.entities, parse_mode

    def _reply_markup(self, params: JSONDict) -> JSONDict | None:
        raw = params.get("reply_markup")
        if raw is None or raw == "":
            return None
        markup = _as_json_object(raw)
        if not isinstance(markup, dict):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        keyboard = markup.get("inline_keyboard")
        if keyboard is None:
            if any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
                return markup
            raise _bad_request("can't parse reply keyboard markup JSON object")
        if not isinstance(keyboard, list) or not all(isinstance(row, list) for row in keyboard):
            raise _bad_request('can\'t parse inline keyboard markup: field "inline_keyboard" must be an Array of Arrays')
        for row in keyboard:
            for button in row:
                self._check_button(button)
        return markup

    @staticmethod
    def _check_button(button: Any) -> None:
        if not isinstance(button, dict):
            raise _bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
        if not isinstance(button.get("text"), str):
            raise _bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
        actions = [key for key in _BUTTON_ACTIONS if key in button]
        if not actions:
            raise _bad_request("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
        if len(actions) > 1:
            raise _bad_request(
                f"can't parse inline keyboard button: exactly one optional field must be used, got {', '.join(actions)}"
            )
        if "callback_data" in button:
            data = button["callback_data"]
            if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
                raise _bad_request("BUTTON_DATA_INVALID")
        if "url" in button:
            url = button["url"]
            if not isinstance(url, str) or not url or any(ch.isspace() for ch in url):
                raise _bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")

    def _link_preview(self, params: JSONDict) -> tuple[bool | None, JSONDict | None]:
        options = _as_json_object(params.get("link_preview_options"))
        if options is not None and not isinstance(options, dict):
            raise _bad_request("can't parse link preview options JSON object")
        explicit = params.get("disable_web_page_preview")
        if explicit is not None:
            return _as_bool(explicit), options
        if options is not None and "is_disabled" in options:
            return _as_bool(options["is_disabled"]), options
        return None, options

    def _reply_target(self, chat_id: int, params: JSONDict) -> int | None:
        reply = _as_json_object(params.get("reply_parameters"))
        allow = _as_bool(params.get("allow_sending_without_reply", False))
        target: int | None
        if isinstance(reply, dict):
            target = _as_int(reply.get("message_id"), "message_id")
            allow = allow or _as_bool(reply.get("allow_sending_without_reply", False))
            if reply.get("chat_id") not in (None, chat_id, str(chat_id)):
                return None  # a reply in another chat: not tracked
        else:
            target = _opt_int(params, "reply_to_message_id")
        if target is None:
            return None
        key = (chat_id, target)
        bot_message = self._messages.get(key)
        if (bot_message is not None and not bot_message.deleted) or key in self._user_messages:
            return target
        if allow:
            return None
        raise _bad_request("message to be replied not found")

    def _admit_send(self, chat_id: int, now: float) -> None:
        """Refuse with 429 when the request would exceed a flood limit, else count it (whatever its outcome:
        a request that later fails was still a request)."""
        if self._rate_limit is not None and self._global_window.count(now) >= self._rate_limit:
            raise _ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        window = self._chat_windows.get(chat_id)
        if self._per_chat_rate_limit is not None and window is not None:
            if window.count(now) >= self._per_chat_rate_limit:
                raise _ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        self._global_window.add(now)
        if window is None:
            window = self._chat_windows[chat_id] = _Window()
        window.add(now)

    async def _apply_fault(self, chat_id: int) -> None:
        fault = self._faults.get(chat_id)
        if fault is None and self._fault_ratio > 0 and chat_id not in self._fault_ratio_seen:
            self._fault_ratio_seen.add(chat_id)
            kind = self.fault_for_ratio(chat_id)
            if kind is not None:
                times = None if kind == "403" else self._fault_ratio_times
                fault = Fault(kind, times, self._fault_ratio_retry_after, None)
                self._faults[chat_id] = fault
        if fault is None:
            return
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                del self._faults[chat_id]
        kind = fault.kind
        if kind == "429":
            raise _ApiError(
                429, f"Too Many Requests: retry after {fault.retry_after}", {"retry_after": fault.retry_after}
            )
        if kind == "403":
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if kind == "chat_not_found":
            raise _bad_request("chat not found")
        if kind == "500":
            raise _ApiError(500, "Internal Server Error")
        if kind == "502":
            raise _ApiError(502, "Bad Gateway")
        if kind == "migrate":
            migrate_to = fault.migrate_to if fault.migrate_to is not None else -(10**12 + abs(chat_id))
            raise _ApiError(
                400, "Bad Request: group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": migrate_to}
            )
        if kind == "parse":
            raise _bad_request("can't parse entities: Unsupported start tag \"fault\" at byte offset 0")
        if kind == "timeout":
            await self._sleep(self.timeout_delay)
            raise _ApiError(504, "Gateway Timeout")
        raise AssertionError(f"unhandled fault kind {kind}")

    @staticmethod
    def _scope_key(scope: Any) -> str:
        scope = _as_json_object(scope)
        if scope is None or scope == "" or (isinstance(scope, dict) and scope.get("type") == "default"):
            return "default"
        return json.dumps(scope, sort_keys=True)

    # ------------------------------------------------------------------------------------------------ methods

    async def _get_me(self, params: JSONDict) -> JSONDict:
        return {
            **self._bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _close(self, params: JSONDict) -> bool:
        return True

    async def _delete_webhook(self, params: JSONDict) -> bool:
        if _as_bool(params.get("drop_pending_updates", False)):
            self._updates.clear()
            self._changed.fire()
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
        offset = _opt_int(params, "offset")
        limit = _opt_int(params, "limit") or 100
        limit = min(max(limit, 1), 100)
        timeout = max(_opt_float(params, "timeout") or 0.0, 0.0)
        allowed = _as_json_object(params.get("allowed_updates"))
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
            await self._updates_signal.wait(remaining)
            if generation != self._poll_generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )

    async def _set_my_commands(self, params: JSONDict) -> bool:
        commands = _as_json_object(params.get("commands"))
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("too many commands specified")
        stored: list[dict[str, str]] = []
        for command in commands:
            if not isinstance(command, dict):
                raise _bad_request("can't parse BotCommand JSON object")
            name, description = command.get("command"), command.get("description")
            if not isinstance(name, str) or not _BOT_COMMAND_NAME_RE.fullmatch(name):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise _bad_request("command description must be non-empty")
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
        arrival = time.monotonic()
        try:
            self._admit_send(chat_id, arrival)
        except _ApiError:
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
            date=_unix_now(),
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

    def _editable(self, chat_id: int, message_id: int) -> SentMessage:
        record = self._messages.get((chat_id, message_id))
        if record is None or record.deleted:
            if (chat_id, message_id) in self._user_messages:
                raise _bad_request("message can't be edited")
            raise _bad_request("message to edit not found")
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
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are exactly the same as a "
                "current content and reply markup of the message"
            )
        edit = MessageEdit(method, text, visible, parse_mode, markup, time.monotonic(), _unix_now(), params)
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
            raise _bad_request("MESSAGE_ID_INVALID")
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
            raise _bad_request("MESSAGE_ID_INVALID")
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
            raise _bad_request("query is too old and response timeout expired or query ID is invalid")
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        del self._pending_callbacks[query_id]
        chat_id, message_id, data = pending
        cache_time = _opt_int(params, "cache_time")
        url = params.get("url")
        self.callback_answers.append(
            CallbackAnswer(
                callback_query_id=query_id,
                text=None if text is None else str(text),
                show_alert=_as_bool(params.get("show_alert", False)),
                url=None if url is None else str(url),
                cache_time=cache_time,
                chat_id=chat_id,
                message_id=message_id,
                data=data,
                answered_at=time.monotonic(),
            )
        )
        return True

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
        raise _bad_request("message to delete not found")

    async def _send_chat_action(self, params: JSONDict) -> bool:
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        self._chat_id(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True
