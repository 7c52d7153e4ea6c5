"""Faults the fake injects: failures per chat (fail_chat, set_fault_ratio), the flood limits with their sliding
one-second windows, and sends held unanswered (hold_sends)."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .protocol import ApiError, bad_request, unix_now
from .records import JSONDict
from .state import DEFAULT_GROUP_USER_ID, FakeBotState

__all__ = ["FAULT_KINDS", "Fault", "FaultInjection", "FaultKind", "RateWindow"]

FaultKind = Literal["429", "403", "chat_not_found", "500", "502", "timeout", "migrate", "parse"]
FAULT_KINDS: frozenset[str] = frozenset({"429", "403", "chat_not_found", "500", "502", "timeout", "migrate", "parse"})

# Faults injected with fail_chat apply to these methods.
_FAULT_METHODS = frozenset({"sendmessage", "editmessagetext"})


@dataclass(slots=True)
class Fault:
    """A fault injected for one chat; ``remaining`` None means forever."""

    kind: FaultKind
    remaining: int | None
    retry_after: int = 3
    migrate_to: int | None = None


class RateWindow:
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


class FaultInjection(FakeBotState):
    """Fault and flood-limit configuration, and the checks a send passes before it is accepted."""

    def __init__(self, *, bot_id: int, bot_username: str, bot_name: str) -> None:
        # Before FakeBotState.__init__, which ends with _init_state() (overridden below).
        self.timeout_delay: float = 30.0
        """Seconds a "timeout" fault holds the request before answering 504 (the client should give up first)."""
        self._rate_limit: int | None = None
        self._per_chat_rate_limit: int | None = None
        self._fault_ratio = 0.0
        self._fault_ratio_kinds: tuple[FaultKind, ...] = ()
        self._fault_ratio_salt = ""
        self._fault_ratio_times: int | None = 1
        self._fault_ratio_retry_after = 1
        # Chats whose sendMessage requests are held unanswered (see hold_sends), and how many were held so far.
        self._holds: dict[int, asyncio.Event] = {}
        self._held_counts: Counter[int] = Counter()
        super().__init__(bot_id=bot_id, bot_username=bot_username, bot_name=bot_name)

    def _init_state(self) -> None:
        super()._init_state()
        self._faults: dict[int, Fault] = {}
        self._fault_ratio_seen: set[int] = set()
        self._global_window = RateWindow()
        self._chat_windows: dict[int, RateWindow] = {}

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

    def max_sends_in_any_second(self, chat_id: int | None = None) -> int:
        """The most sendMessage requests let through the flood limits (counted on arrival, whatever their outcome)
        in any sliding one-second window (all chats, or one)."""
        if chat_id is None:
            return self._global_window.max
        window = self._chat_windows.get(chat_id)
        return window.max if window is not None else 0

    # ------------------------------------------------------------------------------------------------ checks

    def _admit_send(self, chat_id: int, now: float) -> None:
        """Refuse with 429 when the request would exceed a flood limit, else count it (whatever its outcome:
        a request that later fails was still a request)."""
        if self._rate_limit is not None and self._global_window.count(now) >= self._rate_limit:
            raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        window = self._chat_windows.get(chat_id)
        if (
            self._per_chat_rate_limit is not None
            and window is not None
            and window.count(now) >= self._per_chat_rate_limit
        ):
            raise ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        self._global_window.add(now)
        if window is None:
            window = self._chat_windows[chat_id] = RateWindow()
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
            raise ApiError(
                429, f"Too Many Requests: retry after {fault.retry_after}", {"retry_after": fault.retry_after}
            )
        if kind == "403":
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if kind == "chat_not_found":
            raise bad_request("chat not found")
        if kind == "500":
            raise ApiError(500, "Internal Server Error")
        if kind == "502":
            raise ApiError(502, "Bad Gateway")
        if kind == "migrate":
            migrate_to = fault.migrate_to if fault.migrate_to is not None else -(10**12 + abs(chat_id))
            raise ApiError(
                400, "Bad Request: group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": migrate_to}
            )
        if kind == "parse":
            raise bad_request('can\'t parse entities: Unsupported start tag "fault" at byte offset 0')
        if kind == "timeout":
            await self._sleep(self.timeout_delay)
            raise ApiError(504, "Gateway Timeout")
        raise AssertionError(f"unhandled fault kind {kind}")

    # ------------------------------------------------------------------------------------------------ held sends

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

    def group_migrates(self, chat_id: int, new_chat_id: int) -> None:
        """A group becomes a supergroup with a new id: queue the two service messages Telegram sends
        (migrate_to_chat_id in the old chat, migrate_from_chat_id in the new one); sends to the old id fail with
        ChatMigrated from now on."""
        old = self._chat_dict(chat_id)
        self.register_chat(new_chat_id, "supergroup", title=old.get("title"))
        self.fail_chat(chat_id, "migrate", migrate_to=new_chat_id, times=10**6)
        for in_chat, field, value in ((chat_id, "migrate_to_chat_id", new_chat_id),
                                      (new_chat_id, "migrate_from_chat_id", chat_id)):  # fmt: skip
            message_id = self._new_message_id(in_chat)
            message: JSONDict = {
                "message_id": message_id,
                "date": unix_now(),
                "chat": self._chat_dict(in_chat),
                "from": self._user(DEFAULT_GROUP_USER_ID, "Alice", None, None),
                field: value,
            }
            self._user_messages[(in_chat, message_id)] = message
            self.push_update({"message": message})
