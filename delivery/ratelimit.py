"""Telegram's flood limits, enforced strictly: never more than N sends in any sliding window.

A token bucket that starts full lets about twice the rate through in its first second; a sliding window of
the last N start times cannot. Waiters are served by priority (replies to users before bulletins), then
in arrival order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram.ext import BaseRateLimiter

Sleep = Callable[[float], Awaitable[None]]  # asyncio.sleep; tests pass one that moves their clock instead

REPLY = 0  # a user is waiting for this message
BULK = 1  # bulletins: yield to replies

# Methods that put a message in a chat (and so count against Telegram's limits).
_SENDING_METHODS = frozenset(
    {"sendmessage", "editmessagetext", "sendphoto", "senddocument", "sendmediagroup", "copymessage", "forwardmessage"}
)


class Slot:
    """A granted start. `started()` records when the request really went out (a busy event loop can run
    other work between the grant and the send, and between the send's call and its body's write), so later
    grants are measured from that moment."""

    __slots__ = ("at", "_clock")

    def __init__(self, at: float, clock: Callable[[], float]) -> None:
        self.at = at
        self._clock = clock

    def started(self) -> None:
        self.at = max(self.at, self._clock())


class SlidingWindow:
    """Admission for at most `limit` events in any `period`-second window (start times are counted).

    With `smooth`, starts are also spaced at least period/limit apart. Telegram counts arrivals, not our
    start times, so what matters is how much later one request arrives than the one `limit` sends before it.
    A whole window's worth sent at once queues up at the far end and arrives spread over milliseconds; even
    spacing avoids those bursts. `guard` widens the window: it is the slack left for that difference (10 ms
    by default, which costs 1% of the rate; bench/README.md has the differences measured here).

    A dispatcher that wakes late (the event loop was busy) admits at once the starts planned over the last
    half `guard` seconds, at least one: those small bursts stay within the slack (a whole guard's worth let the
    fake Bot API refuse up to 0.5% of sends on a loaded machine). At 1,000 a second, without them,
    every stall of the loop longer than one spacing (1 ms) lost its slots for good, about 7% of the rate.
    """

    def __init__(
        self,
        limit: int,
        period: float = 1.0,
        *,
        guard: float = 0.0,
        smooth: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.period = period + guard
        self.spacing = self.period / limit if smooth else 0.0
        self.catch_up = max(self.spacing, guard / 2)
        # Evenly spaced starts are planned on a grid, so a sleep that wakes a little late does not push every
        # later start back too (at 30/s, 1 ms of lateness per send would cost 3% of the rate).
        self._next_planned = 0.0
        self._clock = clock
        self._sleep = sleep
        # One cell per admitted start. The caller may move its time later (Slot.started) to the moment the
        # request really left: the window is then measured on that, not on when the slot was granted.
        self._starts: deque[Slot] = deque(maxlen=limit)
        self._waiters: list[tuple[int, int, asyncio.Future[Slot]]] = []
        self._order = itertools.count()
        self._dispatcher: asyncio.Task[None] | None = None

    def _delay(self, now: float) -> float:
        spaced = self._next_planned - now
        if len(self._starts) < self.limit:
            return max(0.0, spaced)
        return max(0.0, self._starts[0].at + self.period - now, spaced)

    def _admit(self, now: float) -> Slot:
        slot = Slot(now, self._clock)
        self._starts.append(slot)
        if self.spacing:
            # Next start: one spacing after this one's planned time, unless we were idle for longer.
            self._next_planned = max(self._next_planned, now - self.catch_up) + self.spacing
        return slot

    async def acquire(self, priority: int = BULK) -> Slot:
        now = self._clock()
        if not self._waiters and self._delay(now) == 0.0:
            return self._admit(now)  # fast path: a free slot and nobody queued ahead
        future: asyncio.Future[Slot] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="rate-limit-dispatch")
        return await future

    async def _dispatch(self) -> None:
        while self._waiters:
            delay = self._delay(self._clock())
            if delay > 0:
                # A more urgent waiter arriving meanwhile does not change when the next slot frees.
                await self._sleep(delay)
                continue
            _, _, future = heapq.heappop(self._waiters)
            if future.done():  # its caller was cancelled
                continue
            future.set_result(self._admit(self._clock()))


class ChatLimits:
    """Per-chat limits: `per_chat_per_second` in any chat, and `per_group_per_minute` in groups/channels.

    Chat ids below zero are groups, supergroups and channels in the Bot API. Only recent start times are
    kept (a deque per active chat, pruned as the run moves on), so a run over 100,000 chats stays small.
    """

    PRUNE_EVERY = 4096

    def __init__(
        self,
        per_chat_per_second: int = 1,
        per_group_per_minute: int = 20,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.per_chat_per_second = per_chat_per_second
        self.per_group_per_minute = per_group_per_minute
        self._clock = clock
        self._sleep = sleep
        self._recent: dict[int, deque[float]] = {}
        self._since_prune = 0

    def _delay(self, starts: deque[float], now: float, chat_id: int) -> float:
        delays = [0.0]
        in_last_second = sum(1 for t in starts if now - t < 1.0)
        if in_last_second >= self.per_chat_per_second:
            delays.append(starts[-self.per_chat_per_second] + 1.0 - now)
        if chat_id < 0 and len(starts) >= self.per_group_per_minute:
            delays.append(starts[-self.per_group_per_minute] + 60.0 - now)
        return max(delays)

    async def acquire(self, chat_id: int, priority: int = BULK) -> None:
        keep = max(self.per_chat_per_second, self.per_group_per_minute if chat_id < 0 else 0)
        starts = self._recent.get(chat_id)
        if starts is None:
            starts = self._recent[chat_id] = deque(maxlen=keep)
        while (delay := self._delay(starts, self._clock(), chat_id)) > 0:
            await self._sleep(delay)
        starts.append(self._clock())
        self._since_prune += 1
        if self._since_prune >= self.PRUNE_EVERY:
            self._prune()

    def _prune(self) -> None:
        self._since_prune = 0
        now = self._clock()
        # A private chat's history matters for a second, a group's for a minute.
        stale = [
            chat
            for chat, starts in self._recent.items()
            if not starts or now - starts[-1] >= (60.0 if chat < 0 else 1.0)
        ]
        for chat in stale:
            del self._recent[chat]


def default_guard(per_second: int | None) -> float:
    """The sliding window's slack, in seconds: 10 ms (1% of the rate) up to 100 sends a second; 20 ms above,
    where a busy event loop's catch-up bursts (see SlidingWindow) spread arrivals further: with 10 ms the fake
    Bot API refused 20 of 30,000 sends at 1,000 a second, with 20 ms none (bench/broadcast_bench.py)."""
    return 0.02 if per_second and per_second > 100 else 0.01


class FloodLimits:
    """The bot's shared limits: one global window plus per-chat windows, used by bulletins and replies alike."""

    def __init__(
        self,
        per_second: int | None,
        *,
        per_chat_per_second: int = 1,
        per_group_per_minute: int = 20,
        guard: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        guard = default_guard(per_second) if guard is None else guard
        self.overall = (
            SlidingWindow(per_second, 1.0, guard=guard, smooth=True, clock=clock, sleep=sleep) if per_second else None
        )
        self.chats = ChatLimits(per_chat_per_second, per_group_per_minute, clock=clock, sleep=sleep)

    async def acquire(self, chat_id: int | None, priority: int) -> Slot | None:
        """Wait for a free start; call `started()` on the result right before sending."""
        if chat_id is not None:
            await self.chats.acquire(chat_id, priority)
        if self.overall is not None:
            return await self.overall.acquire(priority)
        return None


class ReplyRateLimiter(BaseRateLimiter[None]):
    """python-telegram-bot's hook: every message the Application sends takes a REPLY slot in the shared limits.

    Replies skip the per-chat limit in private chats (a user asked for them, and Telegram allows short
    bursts there), but count against the global and per-group limits.
    """

    def __init__(self, limits: FloodLimits) -> None:
        self.limits = limits

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if endpoint.lower() in _SENDING_METHODS:
            chat_id = _as_chat_id(data.get("chat_id"))
            if chat_id is not None and chat_id < 0:
                await self.limits.chats.acquire(chat_id, REPLY)
            if self.limits.overall is not None:
                (await self.limits.overall.acquire(REPLY)).started()
        return await callback(*args, **kwargs)


def _as_chat_id(value: object) -> int | None:
    if not isinstance(value, (int, str)):  # the Bot API's chat_id is an integer or a string; None when absent
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None  # @channelusername: no per-chat accounting
