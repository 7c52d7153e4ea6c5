"""What the fake Bot API knows: chats, the bot's and the users' messages, the updates queue, the request records,
and how a test drives the bot (user actions) and waits on it. The HTTP side (routes) and faults build on it."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from .html import utf16_len
from .protocol import as_json_object, unix_now
from .records import CallbackAnswer, InlineAnswer, JSONDict, RequestRecord, SentMessage

__all__ = ["DEFAULT_GROUP_USER_ID", "FakeBotState", "Signal"]

DEFAULT_GROUP_USER_ID = 100_000_001
# Who sends an anonymous group admin's messages (Telegram's own bot account).
GROUP_ANONYMOUS_BOT: JSONDict = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
MEMBER_STATUSES = frozenset({"creator", "administrator", "member", "left", "kicked"})

_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?!\S)")


class Signal:
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


# What an administrator may do unless a test says otherwise (getChatMember, my_chat_member).
_ADMIN_RIGHTS = (
    "can_manage_chat", "can_delete_messages", "can_invite_users", "can_change_info", "can_restrict_members",
    "can_manage_video_chats", "can_post_stories", "can_edit_stories", "can_delete_stories",
)  # fmt: skip


class FakeBotState:
    """The records and queues of a `FakeBotAPI`, and the test-facing calls that read or feed them."""

    def __init__(self, *, bot_id: int, bot_username: str, bot_name: str) -> None:
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.latency: float = 0.0
        """Seconds slept before answering each send/edit/delete/chat action/callback answer."""
        self.supports_inline_queries: bool = True
        """What getMe says: whether inline mode was switched on with @BotFather (/setinline)."""
        self.strict_ampersand: bool = True
        """Reject a bare "&" in HTML (Telegram itself keeps it as a literal "&")."""
        self._closing = False
        self._stopping: asyncio.Event | None = None
        self._changed = Signal()  # any request answered, updates confirmed
        self._updates_signal = Signal()  # updates queued, or a newer getUpdates arrived
        self.arrivals: list[tuple[int, float, bool]] | None = None
        """Set to a list to trace every sendMessage: (chat id, time.monotonic() on arrival, admitted by the flood
        limits). CLOCK_MONOTONIC is shared by the processes of one machine, so a sender can compare."""
        self.internal_errors: list[BaseException] = []
        """Exceptions raised by the fake itself (answered as 500); should stay empty."""
        # Bot-side settings and id counters survive reset(): ids never repeat, as on Telegram.
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._allowed_updates: frozenset[str] | None = None
        self._next_message_id: dict[int, int] = {}
        self._next_update_id = 100_001
        self._next_callback_id = 4_000_000_000_000_001
        self._next_inline_query_id = 7_000_000_000_000_001
        self._poll_generation = 0
        self._waiting_polls = 0  # getUpdates requests waiting for an update
        self._init_state()

    # ------------------------------------------------------------------------------------------------ state

    def _init_state(self) -> None:
        """(Re)create what reset() forgets; subclasses add their own parts."""
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
        self._members: dict[tuple[int, int], str] = {}  # (chat id, user id) -> status, for getChatMember
        self._member_rights: dict[tuple[int, int], JSONDict] = {}  # an administrator's rights that are not the default
        self._topics: dict[int, dict[int, str]] = {}  # forum chat id -> {message_thread_id: "open" | "closed"}
        self._updates: deque[tuple[int, JSONDict]] = deque()
        self._pending_callbacks: dict[str, tuple[int, int, str]] = {}
        self.inline_answers: list[InlineAnswer] = []
        """Accepted answerInlineQuery calls, in order."""
        self._pending_inline_queries: dict[str, tuple[int, str, str]] = {}  # id -> (user id, query, offset)
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

    # ------------------------------------------------------------------------------------------------ chats

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

    def set_chat_member(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember answers for this user in this chat: "creator", "administrator", "member", "left" or
        "kicked" (anyone not set is a "member")."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown member status {status!r}: one of {sorted(MEMBER_STATUSES)}")
        self._members[(chat_id, user_id)] = status

    def member_status(self, chat_id: int, user_id: int) -> str:
        return self._members.get((chat_id, user_id), "member")

    def set_admin_rights(self, chat_id: int, user_id: int, **rights: bool) -> None:
        """Make the user an administrator of the chat with these rights besides the defaults (in a channel,
        e.g. can_post_messages=False: an admin who may not post)."""
        self.set_chat_member(chat_id, user_id, "administrator")
        self._member_rights[(chat_id, user_id)] = dict(rights)

    def admin_rights(self, chat_id: int, user_id: int) -> JSONDict:
        return dict(self._member_rights.get((chat_id, user_id), {}))

    def _member_dict(self, chat_id: int, user: JSONDict, status: str, rights: JSONDict) -> JSONDict:
        """A ChatMember as Telegram sends it: the fields its status carries."""
        member: JSONDict = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update({right: True for right in _ADMIN_RIGHTS})
            member.update(can_be_edited=False, is_anonymous=False, can_promote_members=False)
            if self._chat_dict(chat_id)["type"] == "channel":
                member.update(can_post_messages=True, can_edit_messages=True)
            member.update(rights)
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def bot_membership_changes(
        self,
        chat_id: int,
        new_status: str,
        *,
        by_user_id: int,
        old_status: str = "left",
        first_name: str = "Alice",
        language_code: str | None = "en",
        **rights: bool,
    ) -> int:
        """Queue the my_chat_member update Telegram sends when a user adds the bot to a chat, promotes it, takes a
        right away (e.g. can_post_messages=False) or removes it; getChatMember answers the same from then on.
        Register the chat first for its type and title. Returns the update_id."""
        if new_status not in MEMBER_STATUSES:
            raise ValueError(f"unknown member status {new_status!r}: one of {sorted(MEMBER_STATUSES)}")
        self._members[(chat_id, self.bot_id)] = new_status
        self._member_rights[(chat_id, self.bot_id)] = dict(rights)
        change = {
            "chat": self._chat_dict(chat_id),
            "from": self._user(by_user_id, first_name, None, language_code),
            "date": unix_now(),
            "old_chat_member": self._member_dict(chat_id, self._bot_user, old_status, {}),
            "new_chat_member": self._member_dict(chat_id, self._bot_user, new_status, rights),
        }
        return self.push_update({"my_chat_member": change})

    def user_shares_chat(
        self, chat_id: int, request_id: int, shared_chat_id: int, *, language_code: str | None = "en"
    ) -> int:
        """Queue the service message a user's pick under a KeyboardButtonRequestChat sends (`chat_shared`), in
        their private chat `chat_id`. Returns the update_id."""
        shared = self._chat_dict(shared_chat_id)
        message_id = self._new_message_id(chat_id)
        message: JSONDict = {
            "message_id": message_id,
            "date": unix_now(),
            "chat": self._chat_dict(chat_id),
            "from": self._user(chat_id, "Alice", None, language_code),
            "chat_shared": {"request_id": request_id, "chat_id": shared_chat_id, "title": shared.get("title")},
        }
        self._user_messages[(chat_id, message_id)] = message
        return self.push_update({"message": message})

    # ------------------------------------------------------------------------------------------------ forums

    def register_forum(self, chat_id: int, *, title: str | None = None) -> None:
        """A supergroup with topics switched on (`is_forum`)."""
        self.register_chat(chat_id, "supergroup", title=title)
        self._chats[chat_id]["is_forum"] = True
        self._topics.setdefault(chat_id, {})

    def open_topic(self, chat_id: int) -> int:
        """Create a topic in the forum; returns its message_thread_id (as on Telegram: the id of the service
        message that created it)."""
        if chat_id not in self._topics:
            raise ValueError(f"chat {chat_id} is not a forum (register_forum first)")
        thread_id = self._new_message_id(chat_id)
        self._topics[chat_id][thread_id] = "open"
        return thread_id

    def close_topic(self, chat_id: int, thread_id: int) -> None:
        self._topics[chat_id][thread_id] = "closed"

    def delete_topic(self, chat_id: int, thread_id: int) -> None:
        del self._topics[chat_id][thread_id]

    def topic_state(self, chat_id: int, thread_id: int) -> str | None:
        """ "open", "closed", or None for a topic that does not exist (deleted, or never made)."""
        return self._topics.get(chat_id, {}).get(thread_id)

    def is_forum(self, chat_id: int) -> bool:
        return chat_id in self._topics

    def _chat_dict(self, chat_id: int) -> JSONDict:
        chat = self._chats.get(chat_id)
        if chat is not None:
            return dict(chat)
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        if chat_id <= -(10**12):
            return {"id": chat_id, "type": "supergroup", "title": f"Supergroup {chat_id}"}
        return {"id": chat_id, "type": "group", "title": f"Group {chat_id}"}

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

    @staticmethod
    def _scope_key(scope: Any) -> str:
        scope = as_json_object(scope)
        if scope is None or scope == "" or (isinstance(scope, dict) and scope.get("type") == "default"):
            return "default"
        return json.dumps(scope, sort_keys=True)

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
        anonymous: bool = False,
        thread_id: int | None = None,
    ) -> int:
        """Queue a text message from a user (with a bot_command entity when it starts with a command).
        `anonymous`: in a group, sent by an anonymous admin, as Telegram shows them: `sender_chat` is the group
        itself and `from` is @GroupAnonymousBot. `thread_id`: sent in that topic of a forum (register_forum,
        open_topic). Returns the update_id."""
        if chat_type == "private":
            uid = chat_id if user_id is None else user_id
            chat: JSONDict = {"id": chat_id, "type": "private", "first_name": first_name}
            if username:
                chat["username"] = username
        else:
            uid = DEFAULT_GROUP_USER_ID if user_id is None else user_id
            chat = {"id": chat_id, "type": chat_type, "title": chat_title or f"Test {chat_type} {chat_id}"}
            if self.is_forum(chat_id):
                chat["type"], chat["is_forum"] = "supergroup", True
                chat["title"] = chat_title or self._chats[chat_id]["title"]
        self._chats[chat_id] = chat
        message_id = self._new_message_id(chat_id)
        message: JSONDict = {"message_id": message_id, "date": unix_now(), "chat": dict(chat), "text": text}
        if thread_id is not None:
            if self.topic_state(chat_id, thread_id) is None:
                raise ValueError(f"chat {chat_id} has no topic {thread_id}")
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if chat_type == "channel":
            message["sender_chat"] = dict(chat)
        elif anonymous and chat_type != "private":
            message["sender_chat"] = dict(chat)
            message["from"] = dict(GROUP_ANONYMOUS_BOT)
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
        message["edit_date"] = unix_now()
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

    def user_sends_inline_query(
        self,
        user_id: int,
        query: str,
        offset: str = "",
        *,
        chat_type: str = "private",
        first_name: str = "Alice",
        username: str | None = "alice",
        language_code: str | None = "en",
    ) -> str:
        """Queue an inline_query: the user typed '@bot `query`' in a chat of `chat_type` (`offset`: the next_offset
        of a previous answer, when scrolling). Returns the inline query id."""
        if len(query) > 256:
            raise ValueError("Telegram sends at most 256 characters of an inline query")
        query_id = str(self._next_inline_query_id)
        self._next_inline_query_id += 1
        self._pending_inline_queries[query_id] = (user_id, query, offset)
        inline_query: JSONDict = {
            "id": query_id,
            "from": self._user(user_id, first_name, username, language_code),
            "query": query,
            "offset": offset,
            "chat_type": chat_type,
        }
        self.push_update({"inline_query": inline_query})
        return query_id

    # ------------------------------------------------------------------------------------------------ waiting

    async def wait_for_inline_answer(self, inline_query_id: str, timeout: float = 5.0) -> InlineAnswer:
        """Wait until the inline query `inline_query_id` was answered (accepted); returns the answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for answer in self.inline_answers:
                if answer.inline_query_id == inline_query_id:
                    return answer
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for the answer to inline query {inline_query_id}\n"
                    + self._diagnostics()
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

    async def wait_until_polling(self, timeout: float = 5.0) -> None:
        """Wait until a getUpdates request is waiting for an update (a long poll in progress)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._waiting_polls:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for a long poll\n" + self._diagnostics())
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

    # ------------------------------------------------------------------------------------------------ messages

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
        if record.thread_id is not None:
            message["message_thread_id"] = record.thread_id
            message["is_topic_message"] = True
        if with_reply and record.reply_to_message_id is not None:
            key = (record.chat_id, record.reply_to_message_id)
            target = self._messages.get(key)
            if target is not None:
                message["reply_to_message"] = self._message_dict(target, with_reply=False)
            elif key in self._user_messages:
                message["reply_to_message"] = self._user_messages[key]
        return message
