"""Several `newsbot run` on one database: one leader at a time, failover after `kill -9`, one instance on SQLite,
and `newsbot status`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from bot.app import BULLETIN_JOB
from delivery.engine import RECORD_EVERY
from fakebot import FakeBotAPI
from services.leadership import LEADER, STANDBY, Leadership
from storage import leases as lease_repo
from storage.instances import InstanceInfo
from storage.models import Delivery, Instance, Lease, Subscriber
from storage.session import Database
from tests.conftest import TEST_TOKEN, Clock, _create_postgres_database, _drop_postgres_database, _migrate, start_bot
from tests.factories import add_articles
from tests.test_cli import clean_env, newsbot
from tests.test_delivery import rows, seed


def postgresql_only(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("several instances share a PostgreSQL database; SQLite serves one")


def instance(name: str, pid: int = 1) -> InstanceInfo:
    return InstanceInfo(id=f"host-{name}:{pid}:0000", host=f"host-{name}", pid=pid, mode="polling")


async def acquire(db: Database, holder: str, *, seconds: float = 30, force: bool = False) -> datetime | None:
    async with db.session() as session:
        return await lease_repo.acquire(session, lease_repo.LEADER, holder, seconds=seconds, force=force)


async def expire_lease(db: Database) -> None:
    """Time passes for the lease: it ran out a second ago (by the database's own clock on PostgreSQL)."""
    async with db.session() as session:
        await session.execute(
            update(Lease).values(expires_at=await lease_repo.read_database_now(session) - timedelta(seconds=1))
        )


# ------------------------------------------------------------------------------------------------ the lease


async def test_one_holder_among_concurrent_acquirers(db_url: str) -> None:
    databases = [Database.from_url(db_url) for _ in range(6)]
    try:
        for _round in range(3):
            results = await asyncio.gather(*(acquire(db, f"i{n}") for n, db in enumerate(databases)))
            assert sum(result is not None for result in results) == 1
            [winner] = [f"i{n}" for n, result in enumerate(results) if result is not None]
            async with databases[0].session() as session:
                holder = await lease_repo.current_holder(session, lease_repo.LEADER)
            assert holder is not None and holder.holder == winner
            await expire_lease(databases[0])  # the next round starts from an expired lease
    finally:
        for db in databases:
            await db.dispose()


async def test_renewal_keeps_it_and_takeover_needs_expiry(database: Database) -> None:
    first = await acquire(database, "a", seconds=30)
    assert first is not None
    assert await acquire(database, "b") is None  # a holds it
    renewed = await acquire(database, "a", seconds=60)
    assert renewed is not None and renewed > first  # a renewal moves the expiry on
    async with database.session() as session:
        term = await session.scalar(select(Lease.acquired_at))
    assert await acquire(database, "b") is None

    await expire_lease(database)
    assert await acquire(database, "b") is not None  # expired: another takes it
    assert await acquire(database, "a") is None  # and the old holder cannot renew
    async with database.session() as session:
        lease = await session.scalar(select(Lease))
        holder = await lease_repo.current_holder(session, lease_repo.LEADER)
    assert lease is not None and lease.holder == "b" and lease.acquired_at != term  # a new term began
    assert holder is not None and holder.holder == "b"

    async with database.session() as session:
        assert not await lease_repo.release(session, lease_repo.LEADER, "a")  # not a's to give up
        assert await lease_repo.release(session, lease_repo.LEADER, "b")
    assert await acquire(database, "a") is not None  # given up: taken at once


async def test_force_takes_a_lease_that_has_not_run_out(database: Database) -> None:
    # SQLite: a restarted instance holds the file lock, so a killed predecessor's lease is not waited out.
    assert await acquire(database, "killed") is not None
    assert await acquire(database, "restarted", force=True) is not None
    async with database.session() as session:
        holder = await lease_repo.current_holder(session, lease_repo.LEADER)
    assert holder is not None and holder.holder == "restarted"


async def test_the_lease_is_timed_by_the_database_clock(db_url: str) -> None:
    postgresql_only(db_url)
    db = Database.from_url(db_url)
    try:
        before = time.time()
        expires = await acquire(db, "a", seconds=30)
        async with db.session() as session:
            db_now = await lease_repo.read_database_now(session)
    finally:
        await db.dispose()
    assert expires is not None
    assert expires - db_now <= timedelta(seconds=30)
    assert abs(expires.timestamp() - 30 - before) < 5  # this host and the database agree here; skew is not ours


# ------------------------------------------------------------------------------------------------ the service


class StandDowns:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> None:
        self.count += 1


async def test_leader_and_standby_and_a_leader_that_loses_the_lease(db_url: str) -> None:
    postgresql_only(db_url)
    db_a, db_b = Database.from_url(db_url), Database.from_url(db_url)
    lost_a, lost_b = StandDowns(), StandDowns()
    a = Leadership(db_a, instance("a"), lease_seconds=30, on_lost=lost_a)
    b = Leadership(db_b, instance("b"), lease_seconds=30, on_lost=lost_b)
    try:
        await a.step()
        await b.step()
        assert (a.role(), b.role()) == (LEADER, STANDBY)
        await a.step()  # a renewal
        assert a.is_leader and lost_a.count == 0

        # Another instance took the lease (a's renewal came too late): a stands down at its next attempt.
        await expire_lease(db_a)
        await b.step()
        assert b.is_leader
        await a.step()
        assert a.role() == STANDBY and lost_a.count == 1
        async with db_a.session() as session:
            roles = dict((await session.execute(select(Instance.id, Instance.role))).all())
        assert roles == {a.instance.id: STANDBY, b.instance.id: LEADER}

        # b exits in an orderly way: it gives the lease up and a takes over at its next attempt.
        await b.stop()
        await b.resign()
        await a.step()
        assert a.is_leader and a.terms == 2
        async with db_a.session() as session:
            assert [i.id for i in await session.scalars(select(Instance))] == [a.instance.id]
    finally:
        await db_a.dispose()
        await db_b.dispose()


async def test_a_leader_that_cannot_reach_the_database_stands_down_then_leads_again(db_url: str) -> None:
    postgresql_only(db_url)
    db = Database.from_url(db_url)
    unreachable = Database.from_url("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    lost = StandDowns()
    leadership = Leadership(db, instance("a"), lease_seconds=3, on_lost=lost)
    try:
        await leadership.step()
        assert leadership.is_leader
        leadership.db = unreachable
        await leadership.step()
        assert leadership.role() == STANDBY and lost.count == 1
        leadership.db = db
        await leadership.step()  # its own lease: still its own, renewed
        assert leadership.is_leader and leadership.terms == 2
    finally:
        await db.dispose()
        await unreachable.dispose()


async def test_a_leader_stops_counting_itself_leader_when_its_lease_would_have_run_out(database: Database) -> None:
    now = [100.0]
    leadership = Leadership(database, instance("a"), lease_seconds=15, on_lost=StandDowns(), monotonic=lambda: now[0])
    await leadership.step()
    assert leadership.is_leader
    now[0] += 14.9
    assert leadership.is_leader
    now[0] += 0.2  # no renewal for a whole lease (a stalled event loop, a hung query): no longer leader
    assert not leadership.is_leader and leadership.role() == STANDBY


async def test_instances_not_seen_for_an_hour_are_forgotten(database: Database) -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    async with database.session() as session:
        for name, seen in (("gone", long_ago), ("recent", datetime.now(UTC) - timedelta(minutes=50))):
            session.add(
                Instance(id=f"{name}:1:0", host=name, pid=1, mode="webhook", role=STANDBY, started_at=long_ago,
                         seen_at=seen)
            )  # fmt: skip
    leadership = Leadership(database, instance("a"), lease_seconds=15, on_lost=StandDowns())
    await leadership.step()
    async with database.session() as session:
        found = {row.id: row for row in await session.scalars(select(Instance))}
    assert set(found) == {"recent:1:0", leadership.instance.id}
    mine = found[leadership.instance.id]
    assert (mine.role, mine.mode, mine.host, mine.pid) == (LEADER, "polling", "host-a", 1)


async def test_a_standby_tries_again_just_after_the_lease_runs_out(db_url: str) -> None:
    postgresql_only(db_url)
    db = Database.from_url(db_url)
    try:
        assert await acquire(db, "someone", seconds=2) is not None
        standby = Leadership(db, instance("b"), lease_seconds=15, on_lost=StandDowns())
        wait = await standby.step()
        assert not standby.is_leader
        assert 0.05 < wait <= 2.1  # not the full renewal interval of 5 s
    finally:
        await db.dispose()


async def test_the_bot_stops_sending_on_losing_the_lease_and_finishes_once_it_leads_again(
    fake_api: FakeBotAPI, db_url: str, clock: Clock
) -> None:
    postgresql_only(db_url)
    fake_api.latency = 0.05
    async with start_bot(fake_api, db_url, clock, max_messages_per_second=20, send_concurrency=4) as bot:
        leadership = bot.services.leadership
        assert leadership.is_leader
        await seed(bot.db, range(1, 101))
        run = asyncio.create_task(bot.bulletins.run_due())
        await fake_api.wait_for_request("sendMessage", timeout=15, predicate=lambda _r: len(fake_api.sent()) >= 10)
        async with bot.db.session() as session:  # another instance has taken the lease (this one stalled)
            later = await lease_repo.read_database_now(session) + timedelta(seconds=60)
            await session.execute(update(Lease).values(holder="other:1:0", expires_at=later))
        await leadership.step()
        assert leadership.role() == STANDBY
        summary = await asyncio.wait_for(run, 10)  # the run stopped claiming at once
        assert 10 <= summary.sent < 100
        statuses = {row.status for row in (await rows(bot.db)).values()}
        assert statuses == {"sent", "pending"}  # unsent claims handed back
        assert not bot.bulletins.engine.stopping  # ready for when it leads again

        await expire_lease(bot.db)
        await leadership.step()
        assert leadership.is_leader
        await bot.bulletins.run_due()
    assert fake_api.send_counts_by_chat() == {chat: 1 for chat in range(1, 101)}


async def test_a_standby_bot_leaves_bulletins_to_the_leader(fake_api: FakeBotAPI, db_url: str, clock: Clock) -> None:
    postgresql_only(db_url)
    db = Database.from_url(db_url)
    try:
        assert await acquire(db, "other:1:0", seconds=60) is not None  # another instance leads
        await seed(db, range(1, 6))
    finally:
        await db.dispose()
    async with start_bot(fake_api, db_url, clock, bulletin_check_interval=3600) as bot:
        assert bot.services.leadership.role() == STANDBY
        application: Any = bot.application
        [job] = application.job_queue.get_jobs_by_name(BULLETIN_JOB)
        await job.run(application)  # the bulletin check, now
        assert fake_api.send_counts_by_chat() == {}
        assert {row.status for row in (await rows(bot.db)).values()} == {"pending"}

        await expire_lease(bot.db)  # the leader died
        await bot.services.leadership.step()
        assert bot.services.leadership.role() == LEADER
        await job.run(application)
    assert fake_api.send_counts_by_chat() == {chat: 1 for chat in range(1, 6)}


# ------------------------------------------------------------------------------------------------ processes


def run_env(db_url: str, fake_api: FakeBotAPI, **extra: str) -> dict[str, str]:
    return clean_env(DATABASE_URL=db_url, BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=fake_api.url, **extra)


async def start_run(cwd: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=cwd, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@asynccontextmanager
async def fresh_postgresql() -> AsyncIterator[str]:
    try:
        url = await _create_postgres_database()
    except (OSError, ConnectionError) as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            raise
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    try:
        await _migrate(url)
        yield url
    finally:
        await _drop_postgres_database(url)


async def test_a_second_instance_on_one_sqlite_file_is_refused(tmp_path: Path, fake_api: FakeBotAPI) -> None:
    db_file = tmp_path / "bot.sqlite3"
    env = run_env(f"sqlite+aiosqlite:///{db_file}", fake_api)
    first = await start_run(tmp_path, env)
    try:
        await fake_api.wait_for_request("setMyCommands", timeout=30)
        started = time.monotonic()
        code, out, err = await newsbot("run", cwd=tmp_path, env=env, timeout=30)
        assert time.monotonic() - started < 15  # at once: no migration, no Bot API call first
        assert code == 5
        assert err.strip().splitlines() == [
            f"newsbot: another newsbot is already running on {db_file}; SQLite allows one instance — "
            "use PostgreSQL for several"
        ]
        assert first.returncode is None  # the first one runs on
        # kill -9 leaves no stale lock: the kernel drops it with the process.
        first.kill()
        await first.wait()
        restarted_at = time.monotonic()
        second = await start_run(tmp_path, env)
        try:
            await fake_api.wait_for_request("setMyCommands", timeout=30, since=restarted_at)
            assert second.returncode is None
        finally:
            second.terminate()
            await second.wait()
        assert second.returncode == 0
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()


async def test_status_lists_the_instances_and_the_leader(tmp_path: Path, db_url: str) -> None:
    postgresql_only(db_url)
    db = Database.from_url(db_url)
    a = Leadership(db, instance("a", 11), lease_seconds=30, on_lost=StandDowns())
    b = Leadership(db, instance("b", 22), lease_seconds=30, on_lost=StandDowns())
    try:
        await a.step()
        await b.step()
        async with db.session() as session:
            # One long gone: not listed.
            session.add(
                Instance(id="old:1:0", host="old", pid=1, mode="polling", role=LEADER,
                         started_at=datetime.now(UTC) - timedelta(hours=2),
                         seen_at=datetime.now(UTC) - timedelta(minutes=5))
            )  # fmt: skip
    finally:
        await db.dispose()
    code, out, err = await newsbot("status", cwd=tmp_path, env=clean_env(DATABASE_URL=db_url))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "instances seen in the last minute: 2"
    assert lines[1].split()[:3] == [a.instance.id, "leader", "polling"]
    assert lines[2].split()[:3] == [b.instance.id, "standby", "polling"]
    assert lines[3].startswith(f"leader: {a.instance.id}, lease held for ")
    assert "old:1:0" not in out
    assert lines[4:] == [
        "deliveries:",
        "  pending    0",
        "  sending    0",
        "  sent       0",
        "  failed     0",
        "  cancelled  0",
        "  last run: none yet",
    ]


async def due_subscribers(db: Database, count: int) -> None:
    await add_articles(db, "Harbour reopens", "Rail strike ends")
    now = datetime.now(UTC)
    async with db.session() as session:
        await session.execute(
            insert(Subscriber),
            [
                {
                    "chat_id": chat,
                    "chat_type": "private",
                    "name": f"chat {chat}",
                    "timezone": "UTC",
                    "active": True,
                    "created_at": now,
                    "subscribed_at": now,
                    "last_article_id": 0,
                    "next_bulletin_at": now - timedelta(minutes=1),
                }
                for chat in range(1, count + 1)
            ],
        )


async def leader_pid(db: Database) -> int | None:
    async with db.session() as session:
        holder = await lease_repo.current_holder(session, lease_repo.LEADER)
    return None if holder is None else int(holder.holder.split(":")[1])


async def outbox_settled(db: Database, count: int) -> bool:
    async with db.session() as session:
        statuses = list(await session.scalars(select(Delivery.status)))
    return len(statuses) == count and set(statuses) == {"sent"}


def busiest_second(arrivals: list[float]) -> int:
    arrivals = sorted(arrivals)
    busiest, start = 0, 0
    for end, at in enumerate(arrivals):
        while arrivals[start] <= at - 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


async def test_three_instances_the_leader_killed_mid_run(tmp_path: Path, fake_api: FakeBotAPI) -> None:
    # The bot sends at most 25 a second; the server checks Telegram's 30. The margin is for the server's own clock:
    # it stamps arrivals on this test's event loop, which a loaded machine delays by tens of milliseconds now and
    # then, bunching a few arrivals (the engine's own spacing is tested exactly in test_delivery.py).
    chats, per_second, telegram_limit, workers, lease = 300, 25, 30, 8, 2.0
    async with fresh_postgresql() as url:
        db = Database.from_url(url)
        processes: list[asyncio.subprocess.Process] = []
        try:
            await due_subscribers(db, chats)
            fake_api.latency = 0.08
            fake_api.arrivals = []
            env = run_env(
                url, fake_api,
                LEADER_LEASE_SECONDS=str(lease), DELIVERY_LEASE_SECONDS="2", BULLETIN_CHECK_INTERVAL="0.5",
                MAX_MESSAGES_PER_SECOND=str(per_second), SEND_CONCURRENCY=str(workers),
            )  # fmt: skip
            processes = [await start_run(tmp_path, env) for _ in range(3)]
            by_pid = {p.pid: p for p in processes}
            await fake_api.wait_for_request("sendMessage", timeout=60, predicate=lambda _r: len(fake_api.sent()) >= 60)
            first = await leader_pid(db)
            assert first in by_pid
            by_pid[first].send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            await by_pid[first].wait()
            sent_at_kill = len(fake_api.sent())
            assert sent_at_kill < chats  # killed mid-run
            async with db.session() as session:
                dead_lease = await lease_repo.current_holder(session, lease_repo.LEADER)
            assert dead_lease is not None and dead_lease.holder.split(":")[1] == str(first)

            async with asyncio.timeout(90):
                while not await outbox_settled(db, chats):
                    await asyncio.sleep(0.2)
            second = await leader_pid(db)
            assert second in by_pid and second != first
            async with db.session() as session:
                taken_at = await session.scalar(select(Lease.acquired_at))
            assert taken_at is not None
            # Not before the dead leader's lease ran out, and soon after it by the database's clock: within
            # LEADER_LEASE_SECONDS of the kill.
            assert dead_lease.expires_at <= taken_at < dead_lease.expires_at + timedelta(seconds=1)
            assert dead_lease.expires_at - dead_lease.now <= timedelta(seconds=lease)
            # The new leader's first message comes at its next bulletin check (every 0.5 s here), and more than a
            # second after the dead leader's last: the two never share a second of the flood limit.
            # The dead leader's last requests reach the server within milliseconds of the kill; no standby can lead
            # sooner than two thirds of a lease after it (asserted above), so the first arrival half a second on is
            # the new leader's.
            arrivals = sorted(at for _chat, at, _ok in fake_api.arrivals)
            new_first = min(at for at in arrivals if at > killed_at + 0.5)
            dead_last = max(at for at in arrivals if at < new_first)
            assert 0 < new_first - killed_at < lease + 5.0  # generous: a loaded machine
            assert new_first - dead_last > 1.0

            # `newsbot status` from real processes: the three (the killed one until a minute passes), the new leader.
            code, out, err = await newsbot("status", cwd=tmp_path, env=clean_env(DATABASE_URL=url))
            assert code == 0, err
            listed = {int(line.split()[0].split(":")[1]): line.split()[1] for line in out.splitlines()[1:4]}
            assert out.startswith("instances seen in the last minute: 3\n")
            assert listed == {pid: LEADER if pid == second else STANDBY for pid in by_pid}
            assert "  sent       300\n" in out
        finally:
            for process in processes:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            await db.dispose()
    survivors = [p for p in processes if p.pid != first]
    assert [p.returncode for p in survivors] == [0, 0]
    counts = fake_api.send_counts_by_chat()
    assert set(counts) == set(range(1, chats + 1))  # nothing lost
    duplicates = sum(n - 1 for n in counts.values())
    # Only what the killed leader had in flight, or sent and not yet recorded, can arrive twice.
    assert duplicates <= workers + RECORD_EVERY
    assert busiest_second([at for _chat, at, _admitted in fake_api.arrivals]) <= telegram_limit
    assert not fake_api.internal_errors
