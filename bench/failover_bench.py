#!/usr/bin/env python
"""Failover: how long bulletins stop when the leader of several `newsbot run` is killed, and what it costs.

    .venv/bin/python bench/failover_bench.py                        # 10,000 messages, 3 instances, 3 rounds
    .venv/bin/python bench/failover_bench.py --instances 2 --leader-lease 5 --rounds 1

Each round: a fresh PostgreSQL database (migrated) with N subscribers and one pending bulletin each; the fake Bot
API in this process answering every send after 80 ms; 2-3 `newsbot run` processes on that database. Once the
leader (the holder of the lease row) has sent `--kill-after` messages it gets `kill -9`. The figures:

* takeover: from the kill to the new leader's first message arriving at the server;
* done: from the kill until every delivery row is `sent` (the dead leader's claims wait DELIVERY_LEASE_SECONDS);
* lost (chats that never got their bulletin) and duplicated (messages beyond one per chat).

Medians over the rounds are printed last. Every wait is bounded (`--round-timeout`), so is the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402

from bench.postgres import create_database, run_as_admin  # noqa: E402
from fakebot import FakeBotAPI  # noqa: E402
from storage import leases as lease_repo  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Delivery, Subscriber  # noqa: E402
from storage.session import Database  # noqa: E402

TOKEN = "123456:AAfailover-bench-token_for_the_fake_api"
BULLETIN = "<b>Midday bulletin</b>\n" + "\n".join(
    f"{n}. <b>Headline number {n}</b>\nReuters · /read_{n}" for n in range(1, 6)
)


@dataclass
class Round:
    takeover: float  # seconds from kill -9 to the new leader's first message
    done: float  # seconds from kill -9 until every row is sent
    sent_at_kill: int
    lost: int
    duplicated: int
    busiest_second: int


async def fresh_database(messages: int) -> str:
    name = f"newsbot_failover_{uuid.uuid4().hex[:10]}"
    url = await create_database(name)
    db = Database.from_url(url)
    try:
        await upgrade(db.engine)
        now = datetime.now(UTC)
        async with db.session() as session:
            for start in range(1, messages + 1, 5000):
                chats = range(start, min(start + 5000, messages + 1))
                await session.execute(
                    insert(Subscriber),
                    [
                        {"chat_id": c, "chat_type": "private", "name": f"chat {c}", "timezone": "UTC",
                         "active": True, "created_at": now, "last_article_id": 0}
                        for c in chats
                    ],
                )  # fmt: skip
            ids = dict((await session.execute(select(Subscriber.chat_id, Subscriber.id))).all())
            for start in range(1, messages + 1, 5000):
                chats = range(start, min(start + 5000, messages + 1))
                await session.execute(
                    insert(Delivery),
                    [
                        {"subscriber_id": ids[c], "chat_id": c, "kind": "broadcast", "text": BULLETIN,
                         "status": "pending", "attempts": 0, "created_at": now}
                        for c in chats
                    ],
                )  # fmt: skip
    finally:
        await db.dispose()
    return url


def child_env(url: str, api: FakeBotAPI, args: argparse.Namespace) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    env.update(
        NO_PROXY="127.0.0.1,localhost",
        DATABASE_URL=url,
        BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=api.url,
        LEADER_LEASE_SECONDS=str(args.leader_lease),
        DELIVERY_LEASE_SECONDS=str(args.delivery_lease),
        BULLETIN_CHECK_INTERVAL=str(args.check_interval),
        MAX_MESSAGES_PER_SECOND=str(args.rate),
        PAID_BROADCAST="true" if args.rate > 30 else "false",
        LOG_LEVEL="WARNING",
    )
    return env


def busiest_second(times: list[float]) -> int:
    times = sorted(times)
    busiest, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


async def wait_until(condition: Any, deadline: float, what: str) -> None:
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


async def one_round(args: argparse.Namespace, workdir: Path) -> Round:
    deadline = time.monotonic() + args.round_timeout
    url = await fresh_database(args.messages)
    processes: list[asyncio.subprocess.Process] = []
    db = Database.from_url(url)
    try:
        async with FakeBotAPI() as api:
            api.latency = 0.08
            api.arrivals = []
            env = child_env(url, api, args)
            for _ in range(args.instances):
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "bot", "run", cwd=workdir, env=env,
                        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                    )
                )  # fmt: skip

            async def enough_sent() -> bool:
                return len(api.sent()) >= args.kill_after

            await wait_until(enough_sent, deadline, f"{args.kill_after} messages before the kill")
            async with db.session() as session:
                holder = await lease_repo.current_holder(session, lease_repo.LEADER)
            assert holder is not None, "no leader while messages were going out"
            leader = next(p for p in processes if p.pid == int(holder.holder.split(":")[1]))
            leader.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            await leader.wait()
            sent_at_kill = len(api.sent())
            # Requests the dead leader wrote just before it died reach the server within milliseconds of the kill;
            # no standby can lead sooner than two thirds of a lease after it (the last renewal came at most a third
            # of a lease before the kill). So the first arrival half a second on is the new leader's.
            boundary = killed + min(0.5, args.leader_lease / 3)
            arrivals = api.arrivals

            async def a_send_after_the_kill() -> bool:
                return any(at > boundary for _chat, at, _ok in arrivals[sent_at_kill // 2 :])

            await wait_until(a_send_after_the_kill, deadline, "the new leader's first message")
            takeover = min(at for _chat, at, _ok in arrivals if at > boundary) - killed

            async def all_sent() -> bool:
                async with db.session() as session:
                    unsent = await session.scalar(select(Delivery.id).where(Delivery.status != "sent").limit(1))
                return unsent is None

            await wait_until(all_sent, deadline, "every row sent")
            done = time.monotonic() - killed
            counts = api.send_counts_by_chat()
            lost = sum(1 for chat in range(1, args.messages + 1) if chat not in counts)
            duplicated = sum(n - 1 for n in counts.values())
            busiest = busiest_second([at for _chat, at, ok in arrivals if ok])
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
        await run_as_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    return Round(takeover, done, sent_at_kill, lost, duplicated, busiest)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=3, choices=(2, 3))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kill-after", type=int, default=3_000, help="messages sent before the leader is killed")
    parser.add_argument("--leader-lease", type=float, default=15.0, help="LEADER_LEASE_SECONDS (the default)")
    parser.add_argument("--delivery-lease", type=float, default=20.0, help="DELIVERY_LEASE_SECONDS")
    parser.add_argument("--check-interval", type=float, default=1.0, help="BULLETIN_CHECK_INTERVAL")
    parser.add_argument("--rate", type=int, default=1000, help="MAX_MESSAGES_PER_SECOND (above 30: paid broadcast)")
    parser.add_argument("--round-timeout", type=float, default=240.0, help="seconds one round may take at most")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(os.environ.get("TMPDIR", "/tmp"))
    print(
        f"failover: {args.messages} messages, {args.instances} instances, fake Bot API at 80 ms, "
        f"MAX_MESSAGES_PER_SECOND={args.rate}, LEADER_LEASE_SECONDS={args.leader_lease:g}, "
        f"DELIVERY_LEASE_SECONDS={args.delivery_lease:g}, BULLETIN_CHECK_INTERVAL={args.check_interval:g}, "
        f"kill -9 after {args.kill_after} sent"
    )
    print(
        f"{'round':>5} {'sent at kill':>12} {'takeover s':>10} {'all sent s':>10} {'lost':>5} {'dup':>5} {'max/s':>6}"
    )
    rounds: list[Round] = []
    for n in range(1, args.rounds + 1):
        result = asyncio.run(one_round(args, workdir))
        rounds.append(result)
        print(
            f"{n:>5} {result.sent_at_kill:>12} {result.takeover:>10.2f} {result.done:>10.2f} {result.lost:>5} "
            f"{result.duplicated:>5} {result.busiest_second:>6}",
            flush=True,
        )
    print(
        f"median: takeover {statistics.median(r.takeover for r in rounds):.2f} s, "
        f"all sent {statistics.median(r.done for r in rounds):.2f} s after the kill, "
        f"lost {statistics.median(r.lost for r in rounds):g}, duplicated {statistics.median(r.duplicated for r in rounds):g}"
    )
    return 1 if any(r.lost for r in rounds) else 0


if __name__ == "__main__":
    raise SystemExit(main())
