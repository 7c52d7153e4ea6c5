"""The `newsbot` command as a user runs it: a real subprocess, a real database, the fake Bot API."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from fakebot import FakeBotAPI
from storage.models import Article, Subscriber
from storage.session import Database
from tests.conftest import DATA, TEST_TOKEN, Clock, start_bot
from tests.factories import add_articles

SAMPLE = DATA / "reuters-kremlin-talks.txt"


def clean_env(**extra: str) -> dict[str, str]:
    hidden = {"BOT_TOKEN", "DATABASE_URL", "TELEGRAM_API_URL", "ALLOW_PRIVATE_URLS"}
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env.update(extra)
    return env


async def newsbot(
    *args: str, cwd: Path, env: dict[str, str], stdin: bytes | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_run_without_token_explains_in_one_line(tmp_path: Path) -> None:
    code, out, err = await newsbot("run", cwd=tmp_path, env=clean_env())
    assert code == 2
    assert err.strip().splitlines() == [
        "newsbot: BOT_TOKEN is not set: put BOT_TOKEN=<token from @BotFather> in .env or the environment (see .env.example)."
    ]
    assert "Traceback" not in out + err


async def test_ingest_sample_twice_stores_once(tmp_path: Path, db_url: str) -> None:
    env = clean_env(DATABASE_URL=db_url)
    code, out, _ = await newsbot("ingest", str(SAMPLE), cwd=tmp_path, env=env)
    assert code == 0
    assert out.startswith(f"stored {SAMPLE} as article ")
    assert out.rstrip().endswith(': Kremlin calls talks with U.S. and NATO so far "unsuccessful"')
    code, out, _ = await newsbot("ingest", str(SAMPLE), cwd=tmp_path, env=env)
    assert code == 0 and out.startswith(f"skipped {SAMPLE}: already stored as article ")

    db = Database.from_url(db_url)
    try:
        async with db.session() as session:
            [article] = list(await session.scalars(select(Article)))
    finally:
        await db.dispose()
    assert article.title == 'Kremlin calls talks with U.S. and NATO so far "unsuccessful"'
    assert (article.source, article.authors, article.dateline) == (
        "Reuters",
        ["Dmitry Antonov", "Tom Balmforth"],
        "MOSCOW",
    )
    paragraphs = article.body.split("\n\n")
    assert len(paragraphs) == 11
    assert paragraphs[0].startswith("The Kremlin on Thursday gave a bleak assessment")
    assert paragraphs[-1].endswith("missile deployments and confidence-building measures.")
    assert article.lead == paragraphs[0]
    assert "\xa0" not in article.body + article.title


async def test_ingest_reports_each_file_and_keeps_going(tmp_path: Path, db_url: str) -> None:
    env = clean_env(DATABASE_URL=db_url)
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00garbage\x80")
    (tmp_path / "good.txt").write_text(
        "Harbour reopens after storm\n\nBy Ann Lee\n\nOSLO - The harbour reopened on Monday.\n\nShips queued.\n"
    )
    code, out, _ = await newsbot("ingest", "empty.txt", "missing.txt", "binary.txt", "good.txt", cwd=tmp_path, env=env)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("skipped empty.txt: ")
    assert lines[1].startswith("skipped missing.txt: cannot read it")
    assert lines[2].startswith("skipped binary.txt: ")
    assert lines[3].startswith("stored good.txt as article ") and lines[3].endswith(": Harbour reopens after storm")

    code, out, _ = await newsbot("ingest", "empty.txt", "missing.txt", cwd=tmp_path, env=env)
    assert code == 1 and len(out.strip().splitlines()) == 2


async def test_ingest_from_standard_input(tmp_path: Path, db_url: str) -> None:
    env = clean_env(DATABASE_URL=db_url)
    code, out, _ = await newsbot("ingest", "-", cwd=tmp_path, env=env, stdin=SAMPLE.read_bytes())
    assert code == 0 and out.startswith("stored <stdin> as article ")


async def test_db_upgrade_creates_the_default_sqlite_file(tmp_path: Path) -> None:
    code, out, _ = await newsbot("db", "upgrade", cwd=tmp_path, env=clean_env())
    assert code == 0 and out.strip() == "database is up to date"
    assert (tmp_path / "newsbot.sqlite3").exists()


async def test_bulletin_send_and_send_all(tmp_path: Path, fake_api: FakeBotAPI, db_url: str) -> None:
    clock = Clock()
    now = datetime.now(UTC)
    async with start_bot(fake_api, db_url, clock) as running:
        for chat in (1, 2):
            await running.ask(chat, "/subscribe")
        await add_articles(running.db, "First story", "Second story")
    # Chat 1 is due, chat 2 is not.
    db = Database.from_url(db_url)
    try:
        async with db.session() as session:
            due = await session.scalar(select(Subscriber).where(Subscriber.chat_id == 1))
            assert due is not None
            due.next_bulletin_at = now - timedelta(minutes=1)
    finally:
        await db.dispose()
    env = clean_env(DATABASE_URL=db_url, BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=fake_api.url)
    code, out, err = await newsbot("bulletin", "send", cwd=tmp_path, env=env)
    assert code == 0, err
    assert "sent=1" in out
    assert [m for m in fake_api.sent(1) if "bulletin ·" in m.visible_text]
    assert not [m for m in fake_api.sent(2) if "bulletin ·" in m.visible_text]
    assert TEST_TOKEN not in out + err

    code, out, _ = await newsbot("bulletin", "send", "--all", cwd=tmp_path, env=env)
    assert code == 0 and "sent=1" in out  # chat 1 has nothing new; chat 2 gets its first
    assert len([m for m in fake_api.sent(2) if "bulletin ·" in m.visible_text]) == 1


@asynccontextmanager
async def newsbot_running(fake_api: FakeBotAPI, *, cwd: Path, env: dict[str, str]) -> AsyncIterator[Process]:
    """`newsbot run` as a real process, given once it has set its command menu (polling starts right after);
    killed on leaving if it is still running."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await fake_api.wait_for_request("setMyCommands", timeout=30)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_run_serves_commands_and_stops_on_sigterm(tmp_path: Path, fake_api: FakeBotAPI, db_url: str) -> None:
    env = clean_env(DATABASE_URL=db_url, BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=fake_api.url, LOG_LEVEL="DEBUG")
    async with newsbot_running(fake_api, cwd=tmp_path, env=env) as process:
        fake_api.user_sends_text(77, "/help")
        [reply] = await fake_api.wait_for_messages(77, 1, timeout=15)
        assert "/headlines — " in reply.visible_text
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0
    log = err.decode()
    assert "newsbot is running as @" in log and "stopping" in log
    assert TEST_TOKEN not in log and TEST_TOKEN.split(":")[1] not in log


async def test_run_with_a_token_telegram_refuses_says_so(tmp_path: Path, fake_api: FakeBotAPI) -> None:
    env = clean_env(BOT_TOKEN="not-a-token", TELEGRAM_API_URL=fake_api.url)
    code, out, err = await newsbot("run", cwd=tmp_path, env=env)
    assert code == 2
    assert err.strip().splitlines()[-1] == "newsbot: Telegram refused BOT_TOKEN; check it with @BotFather."
    assert "Traceback" not in out + err


async def test_run_when_telegram_is_unreachable_says_so(tmp_path: Path) -> None:
    env = clean_env(BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL="http://127.0.0.1:9")
    code, out, err = await newsbot("run", cwd=tmp_path, env=env)
    assert code == 3
    assert err.strip().splitlines()[-1].startswith("newsbot: cannot reach the Telegram Bot API at http://127.0.0.1:9")
    assert "Traceback" not in out + err and TEST_TOKEN not in out + err
