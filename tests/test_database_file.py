"""A running bot whose SQLite file is deleted or replaced says so and stops, instead of writing into the void."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.runner import DatabaseFileLost, run_bot
from fakebot import FakeBotAPI
from storage.sqlite_file import SqliteFileWatch, sqlite_file
from tests.conftest import TEST_TOKEN, make_settings
from tests.test_cli import clean_env, newsbot_running


def test_sqlite_file_of_urls() -> None:
    assert sqlite_file("sqlite+aiosqlite:////srv/news/bot.sqlite3") == Path("/srv/news/bot.sqlite3")
    assert sqlite_file("sqlite+aiosqlite:///newsbot.sqlite3") == Path("newsbot.sqlite3").absolute()
    assert sqlite_file("sqlite+aiosqlite://") is None
    assert sqlite_file("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_file("postgresql+asyncpg://postgres@127.0.0.1/test") is None


def test_watch_tells_deleted_from_replaced(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    path.write_bytes(b"first")
    watch = SqliteFileWatch(path)
    assert watch.problem() is None
    path.write_bytes(b"rewritten in place")  # same file: still fine
    assert watch.problem() is None
    replacement = tmp_path / "other.sqlite3"
    replacement.write_bytes(b"another")
    os.replace(replacement, path)
    assert watch.problem() == f"the database file {path} was replaced by another file while the bot was running"
    path.unlink()
    assert watch.problem() == f"the database file {path} was deleted while the bot was running"


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_running_bot_stops_and_tells_admins_when_its_file_goes(
    tmp_path: Path, fake_api: FakeBotAPI, how: str
) -> None:
    path = tmp_path / "newsbot.sqlite3"
    settings = make_settings(fake_api, f"sqlite+aiosqlite:///{path}", database_check_interval=0.05)
    running = asyncio.create_task(run_bot(settings, stop=asyncio.Event()))
    try:
        await fake_api.wait_for_request("setMyCommands", timeout=30)  # the watch is set up by then
        if how == "deleted":
            path.unlink()
        else:
            (tmp_path / "fresh.sqlite3").write_bytes(b"")
            os.replace(tmp_path / "fresh.sqlite3", path)
        with pytest.raises(DatabaseFileLost, match=f"the database file {path} was {how}"):
            await asyncio.wait_for(running, 30)
    finally:
        running.cancel()
    [alert] = fake_api.sent(999)
    assert alert.text == f"⛔ newsbot stopped: the database file {path} was {how}" + (
        " while the bot was running." if how == "deleted" else " by another file while the bot was running."
    )


async def test_bot_keeps_running_while_its_file_stays(tmp_path: Path, fake_api: FakeBotAPI) -> None:
    settings = make_settings(
        fake_api, f"sqlite+aiosqlite:///{tmp_path / 'newsbot.sqlite3'}", database_check_interval=0.01
    )
    stop = asyncio.Event()
    running = asyncio.create_task(run_bot(settings, stop=stop))
    await fake_api.wait_for_request("setMyCommands", timeout=30)  # the watch is set up by then
    fake_api.user_sends_text(5, "/help")  # a reply needs the database: it writes the subscriber row
    await fake_api.wait_for_messages(5, 1)
    assert not running.done()
    stop.set()
    await asyncio.wait_for(running, 30)
    assert fake_api.sent(999) == []


async def test_newsbot_run_exits_4_with_one_line(tmp_path: Path, fake_api: FakeBotAPI) -> None:
    env = clean_env(BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=fake_api.url, DATABASE_CHECK_INTERVAL="0.1")
    async with newsbot_running(fake_api, cwd=tmp_path, env=env) as process:  # the watch is set up by then
        (tmp_path / "newsbot.sqlite3").unlink()
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 4
    log = err.decode()
    assert "CRITICAL bot.runner: the database file" in log and "Traceback" not in log
    assert log.strip().splitlines()[-1] == (
        f"newsbot: the database file {tmp_path / 'newsbot.sqlite3'} was deleted while the bot was running; "
        "stopped so that a supervisor restarts the bot on a fresh database."
    )
