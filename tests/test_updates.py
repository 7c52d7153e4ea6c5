"""ChatOrderedUpdateProcessor on its own: concurrency across chats, order within one, bounded workers, no leftovers.

Each fake update's work waits on an event the test sets, so what runs when is decided by the test, not by timing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telegram import Update

from bot.updates import ChatOrderedUpdateProcessor, lane_key


def message_update(update_id: int, chat_id: int, user_id: int = 1) -> Update:
    message = {
        "message_id": update_id,
        "date": 0,
        "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group", "first_name": "A", "title": "G"},
        "from": {"id": user_id, "is_bot": False, "first_name": "A"},
        "text": "hi",
    }
    return Update.de_json({"update_id": update_id, "message": message}, None)  # type: ignore[arg-type]


def inline_query_update(update_id: int, user_id: int) -> Update:
    query = {
        "id": str(update_id),
        "from": {"id": user_id, "is_bot": False, "first_name": "A"},
        "query": "",
        "offset": "",
    }
    return Update.de_json({"update_id": update_id, "inline_query": query}, None)  # type: ignore[arg-type]


class Work:
    """Stands in for Application.process_update: records start and end, finishes when released."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.changed = asyncio.Event()

    async def run(self, name: str) -> None:
        self.log.append(f"start {name}")
        self._notify()
        await self.gates.setdefault(name, asyncio.Event()).wait()
        self.log.append(f"end {name}")
        self._notify()

    def release(self, name: str) -> None:
        self.gates.setdefault(name, asyncio.Event()).set()

    def _notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def until(self, entry: str) -> None:
        async with asyncio.timeout(5):
            while entry not in self.log:
                await self.changed.wait()

    def started(self) -> list[str]:
        return [entry.removeprefix("start ") for entry in self.log if entry.startswith("start ")]


def submit(processor: ChatOrderedUpdateProcessor, update: object, coroutine: Any) -> asyncio.Task[None]:
    """What python-telegram-bot does per update: a task calling process_update, started in arrival order."""
    return asyncio.create_task(processor.process_update(update, coroutine))


async def test_chats_run_concurrently_and_each_chat_in_order() -> None:
    processor = ChatOrderedUpdateProcessor(workers=4)
    work = Work()
    async with processor:
        tasks = [
            submit(processor, message_update(1, 10), work.run("a1")),
            submit(processor, message_update(2, 10), work.run("a2")),
            submit(processor, message_update(3, 20), work.run("b1")),
            submit(processor, message_update(4, 10), work.run("a3")),
        ]
        await work.until("start b1")  # chat 20 is not held up by chat 10's unfinished update
        assert work.started() == ["a1", "b1"]
        assert processor.busy_lanes == 2
        work.release("a2")  # finishing out of turn changes nothing: a2 has not started
        work.release("b1")
        await work.until("end b1")
        assert work.started() == ["a1", "b1"]
        work.release("a1")
        await work.until("end a2")
        work.release("a3")
        await asyncio.gather(*tasks)
    assert [e for e in work.log if e.startswith("start a")] == ["start a1", "start a2", "start a3"]
    assert processor.busy_lanes == 0  # idle lanes are dropped: memory does not grow with chats


async def test_at_most_workers_run_and_waiting_chats_hold_no_worker() -> None:
    processor = ChatOrderedUpdateProcessor(workers=2)
    work = Work()
    async with processor:
        tasks = [submit(processor, message_update(n, 10), work.run(f"a{n}")) for n in range(1, 6)]
        tasks += [submit(processor, message_update(10 + n, 20 + n), work.run(f"c{n}")) for n in range(1, 4)]
        await work.until("start c1")
        # a1 and c1 run; a2..a5 wait for chat 10's turn without taking the second worker from c1.
        assert sorted(work.started()) == ["a1", "c1"]
        assert processor.current_concurrent_updates == 8  # admitted: running or waiting in their lane
        work.release("c1")
        await work.until("start c2")
        assert sorted(work.started()) == ["a1", "c1", "c2"]  # still two at once
        for name in ["a1", "a2", "a3", "a4", "a5", "c2", "c3"]:
            work.release(name)
        await asyncio.gather(*tasks)
    assert processor.busy_lanes == 0


async def test_updates_without_a_chat_go_by_user_and_others_run_freely() -> None:
    assert lane_key(message_update(1, -100, user_id=7)) == ("chat", -100)
    assert lane_key(inline_query_update(2, 7)) == ("user", 7)
    assert lane_key(Update(3)) is None
    assert lane_key("a custom update") is None

    processor = ChatOrderedUpdateProcessor(workers=4)
    work = Work()
    async with processor:
        tasks = [
            submit(processor, inline_query_update(1, 7), work.run("u1")),
            submit(processor, inline_query_update(2, 7), work.run("u2")),
            submit(processor, "custom", work.run("x1")),
            submit(processor, "custom", work.run("x2")),
        ]
        await work.until("start x2")
        assert work.started() == ["u1", "x1", "x2"]  # the user's second query waits; laneless ones don't
        for name in ["u1", "u2", "x1", "x2"]:
            work.release(name)
        await asyncio.gather(*tasks)


async def test_a_failing_update_frees_its_lane_for_the_next() -> None:
    processor = ChatOrderedUpdateProcessor(workers=2)
    work = Work()

    async def fails() -> None:
        raise RuntimeError("handler bug")

    async with processor:
        failing = submit(processor, message_update(1, 10), fails())
        after = submit(processor, message_update(2, 10), work.run("a2"))
        with pytest.raises(RuntimeError):
            await failing
        work.release("a2")
        await after
    assert work.log == ["start a2", "end a2"] and processor.busy_lanes == 0


async def test_cancelled_while_waiting_its_turn_the_update_is_closed_unrun() -> None:
    processor = ChatOrderedUpdateProcessor(workers=1)
    work = Work()
    waiting = work.run("a2")
    async with processor:
        first = submit(processor, message_update(1, 10), work.run("a1"))
        second = submit(processor, message_update(2, 10), waiting)
        await work.until("start a1")
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
        assert waiting.cr_frame is None  # closed, so no "coroutine was never awaited" warning
        work.release("a1")
        await first
    assert work.started() == ["a1"] and processor.busy_lanes == 0


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ChatOrderedUpdateProcessor(workers=0)
