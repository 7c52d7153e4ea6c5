"""Updates from different chats are handled concurrently; one chat's updates one at a time, in the order they came.

Without this, python-telegram-bot handles one update at a time: a /read sending many messages held every other
user's command behind it. With `concurrent_updates(True)` alone, two commands of one chat could overtake each
other (replies out of order, two /subscribe racing on the same row).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

DEFAULT_WORKERS = 16
# How many updates may be in the processor at once, running or waiting for their chat's turn. Waiting ones hold
# no worker, so a chat sending many commands delays only itself. Python-telegram-bot starts a task per update
# anyway; this bound only makes it queue further ones (in order) before they reach the lanes.
DEFAULT_MAX_PENDING = 1024


def lane_key(update: object) -> Hashable | None:
    """The lane an update is serialised in: its chat, else its user (inline queries, buttons on inline messages),
    else none (such updates run as they come)."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return ("chat", update.effective_chat.id)
    if update.effective_user is not None:
        return ("user", update.effective_user.id)
    return None


class _Lane:
    """One chat's turn-taking: a FIFO lock and how many updates are in it (running or waiting)."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class ChatOrderedUpdateProcessor(BaseUpdateProcessor):
    """Runs up to `workers` updates at once, at most one per chat (or per user for updates without a chat).

    Order: python-telegram-bot starts one task per update in the order the updates arrive, and each reaches
    `do_process_update` without yielding (its semaphore and asyncio.Lock are both first come, first served), so
    a lane's lock is queued for in arrival order. Lanes exist only while they hold updates, so memory follows
    the number of busy chats, not of all chats ever seen.

    Errors raised by handlers are dealt with inside `coroutine` (Application.process_update calls the error
    handlers), so a failure ends its update only; JobQueue jobs and `block=False` handlers run as their own
    tasks and are not held by lanes or workers.
    """

    __slots__ = ("_lanes", "_running", "observer", "workers")

    def __init__(
        self,
        workers: int = DEFAULT_WORKERS,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        observer: Callable[[object, float], None] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        # python-telegram-bot's own bound (max_concurrent_updates) counts updates admitted here.
        super().__init__(max(max_pending, workers))
        self.workers = workers
        self._running = asyncio.Semaphore(workers)
        self._lanes: dict[Hashable, _Lane] = {}
        # Called with each update that ran, and when it entered the processor (time.monotonic()): the metrics.
        self.observer = observer

    @property
    def busy_lanes(self) -> int:
        """Chats (or users) with an update running or waiting."""
        return len(self._lanes)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        entered = time.monotonic()
        key = lane_key(update)
        lane = self._enter(key) if key is not None else None
        started = False
        try:
            async with lane.lock if lane is not None else contextlib.nullcontext(), self._running:
                started = True
                await coroutine
            if self.observer is not None:
                self.observer(update, entered)
        finally:
            if not started and inspect.iscoroutine(coroutine):
                coroutine.close()  # cancelled while waiting for its turn (shutdown): it never ran, don't warn
            if lane is not None:
                self._leave(key, lane)

    def _enter(self, key: Hashable) -> _Lane:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.users += 1
        return lane

    def _leave(self, key: Hashable, lane: _Lane) -> None:
        lane.users -= 1
        if lane.users == 0:
            del self._lanes[key]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        # Application.stop() has waited for every update (update_queue.join()) before this is called.
        return None
