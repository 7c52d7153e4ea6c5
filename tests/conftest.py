"""Shared fixtures: a real database per backend, the fake Bot API server, and the real bot running against both.

Every test that takes `db_url` (directly or through `database`, `bot`) runs once on SQLite and once on
PostgreSQL. PostgreSQL gets a fresh database per test run (created here, dropped at the end). When no
PostgreSQL answers, those tests are skipped on a developer machine and fail under CI (CI=true).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, text

from bot.app import build_application
from bot.runner import running
from bot.settings import Settings, load_settings
from fakebot import FakeBotAPI
from handlers.context import SERVICES_KEY, BotServices
from services.bulletins import BulletinService, RunSummary
from storage.migrate import upgrade
from storage.models import Base
from storage.session import Database, create_engine
from tests.feedserver import FeedServer

TEST_TOKEN = "123456789:TEST-token_abcdefghijklmnopqrstuvwxyz"
POSTGRES_ADMIN_URL = os.environ.get("NEWSBOT_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
DATA = Path(__file__).parent / "data"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


async def _run_as_admin(statement: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE cannot run inside one)."""
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _create_postgres_database() -> str:
    name = f"newsbot_test_{uuid.uuid4().hex[:12]}"
    await _run_as_admin(f'CREATE DATABASE "{name}"')
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def _drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    await _run_as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'newsbot.sqlite3'}"
    asyncio.run(_migrate(url))
    return url


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    try:
        url = asyncio.run(_create_postgres_database())
    except (OSError, ConnectionError) as exc:
        if _in_ci():
            raise
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(_drop_postgres_database(url))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database of each backend."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    asyncio.run(_empty_all_tables(url))
    return url


async def _empty_all_tables(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Test-only, dialect-specific: also restarts ids so runs are independent.
                names = ", ".join(table.name for table in Base.metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(Base.metadata.sorted_tables):
                    await conn.execute(delete(table))
    finally:
        await engine.dispose()


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    db = Database.from_url(db_url)
    yield db
    await db.dispose()


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    """A local feed and page server (tests/feedserver.py) on 127.0.0.1."""
    async with FeedServer() as feed_server:
        yield feed_server


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api


class Clock:
    """A settable UTC clock; starts at the real time."""

    def __init__(self) -> None:
        self.current: datetime | None = None

    def __call__(self) -> datetime:
        return self.current or datetime.now(UTC)

    def set(self, when: datetime) -> None:
        assert when.tzinfo is not None
        self.current = when


def make_settings(fake_api: FakeBotAPI, db_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "bot_token": TEST_TOKEN,
        "database_url": db_url,
        "telegram_api_url": fake_api.url,
        # Tests trigger bulletin runs themselves unless they ask for the periodic job.
        "bulletin_check_interval": 0,
        "admin_ids": frozenset({999}),
        # The tests' feed servers listen on loopback; tests of the address guard turn this off.
        "allow_private_urls": True,
    }
    values.update(overrides)
    return load_settings(_env_file=None, **values)


@dataclass
class RunningBot:
    api: FakeBotAPI
    db: Database
    services: BotServices
    clock: Clock
    application: object = field(repr=False)

    @property
    def bulletins(self) -> BulletinService:
        return self.services.bulletins

    async def run_bulletins(self) -> RunSummary:
        """What the periodic job does, run now."""
        return await self.services.bulletins.run_due(wait_for_retries=False)

    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Until every update the bot has fetched so far has been handled (for updates that send no reply)."""
        await self.api.wait_until_updates_consumed(timeout)
        await wait_until_handled(self.application, timeout)

    async def ask(self, chat_id: int, text: str, *, count: int = 1, **kwargs: object):  # type: ignore[no-untyped-def]
        """Send `text` as a user in `chat_id` and return the bot's new messages to that chat (at least `count`)."""
        before = len(self.api.sent(chat_id))
        self.api.user_sends_text(chat_id, text, **kwargs)
        messages = await self.api.wait_for_messages(chat_id, before + count)
        return messages[before:]

    async def press(self, chat_id: int, message_id: int, data: str, *, count: int = 0, edit: bool = False):  # type: ignore[no-untyped-def]
        """Press an inline button; wait for the callback answer, `count` new messages, and an edit if asked."""
        before = len(self.api.sent(chat_id))
        pressed_at = time.monotonic()
        self.api.user_presses_button(chat_id, message_id, data)
        await self.api.wait_for_request("answerCallbackQuery", since=pressed_at)
        if count:
            await self.api.wait_for_messages(chat_id, before + count)
        if edit:
            await self.api.wait_for_request("editMessageText", since=pressed_at)
        return self.api.sent(chat_id)[before:]


async def wait_until_handled(application: Any, timeout: float = 5.0) -> None:
    """Until every update the application has taken has been handled."""
    idle_checks = 0
    async with asyncio.timeout(timeout):
        while idle_checks < 3:  # an update taken off the queue is a task before it counts as running
            busy = application.update_queue.qsize() or application.update_processor.current_concurrent_updates
            idle_checks = 0 if busy else idle_checks + 1
            await asyncio.sleep(0.005)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@asynccontextmanager
async def start_bot(fake_api: FakeBotAPI, db_url: str, clock: Clock, **overrides: object) -> AsyncIterator[RunningBot]:
    """Start the real Application; leaving the block stops it the way SIGTERM does."""
    settings = make_settings(fake_api, db_url, **overrides)
    db = Database.from_url(db_url)
    application = build_application(settings, db, clock=clock)
    try:
        async with running(application):
            yield RunningBot(fake_api, db, application.bot_data[SERVICES_KEY], clock, application)
    finally:
        await db.dispose()


@pytest.fixture
async def bot(fake_api: FakeBotAPI, db_url: str, clock: Clock) -> AsyncIterator[RunningBot]:
    """The real Application, long-polling the fake Bot API over HTTP, on a real database."""
    async with start_bot(fake_api, db_url, clock) as running_bot:
        yield running_bot
