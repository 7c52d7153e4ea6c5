#!/usr/bin/env python
"""Benchmark of preparing scheduled bulletins: `BulletinService.prepare_due()` for N subscribers due at once.

Preparing is the step before any bulletin can leave: for each due subscriber, pick the new headlines, render
them, write the delivery row and move the schedule on. When a popular bulletin time comes round, every
subscriber who chose it is due in the same second.

    .venv/bin/python bench/prepare_bench.py                       # 20,000 subscribers, 3 rounds
    .venv/bin/python bench/prepare_bench.py --compare HEAD~1      # also the code of another revision
    .venv/bin/python bench/prepare_bench.py --subscribers 100000 --rounds 1

Each round seeds a fresh SQLite database (N subscribers in Europe/Berlin with a 07:00 bulletin, all due, and
30 new articles), then a fresh child process imports the code under test and times `prepare_due()` called
until it prepares nothing more (older code prepared at most 500 per call; the bot then waited for the next
check), with the process's CPU time and peak RSS. `--compare REF` checks REF out in a temporary git worktree
and measures it in the same rounds, interleaved, so the ratio is between runs on the same machine state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from delivery_bench import remove_database  # noqa: E402

SLOT = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # 07:00 in Berlin
NOW = SLOT + timedelta(seconds=30)
ARTICLES = 30


async def seed(path: Path, subscribers: int, chunk: int = 5_000) -> None:
    """A migrated database where all N subscribers are due at SLOT and ARTICLES articles are new to them."""
    from delivery_bench import subscriber_row
    from sqlalchemy import insert

    from storage.migrate import upgrade
    from storage.models import Article, BulletinTime, Subscriber
    from storage.session import Database

    db = Database.from_url(f"sqlite+aiosqlite:///{path}")
    created = SLOT - timedelta(days=30)
    try:
        await upgrade(db.engine)
        async with db.engine.begin() as conn:
            await conn.execute(
                insert(Article.__table__),
                [
                    {
                        "id": i,
                        "title": f"Headline number {i}: markets, weather and the budget vote",
                        "source": "Reuters",
                        "body": f"Paragraph one of story {i}.\n\nParagraph two.",
                        "fingerprint": f"bench-{i}",
                        "published_at": SLOT - timedelta(hours=2, minutes=i),
                        "ingested_at": SLOT - timedelta(hours=1),
                    }
                    for i in range(1, ARTICLES + 1)
                ],
            )
            for start in range(1, subscribers + 1, chunk):
                ids = range(start, min(subscribers, start + chunk - 1) + 1)
                await conn.execute(
                    insert(Subscriber.__table__), [subscriber_row(i, created, next_bulletin_at=SLOT) for i in ids]
                )
                await conn.execute(
                    insert(BulletinTime.__table__),
                    [{"subscriber_id": i, "local_time": clock_time(7, 0)} for i in ids],
                )
    finally:
        await db.dispose()


def check(path: Path) -> dict[str, int]:
    """What the run left behind, read with sqlite3 (independent of the code under test)."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT subscriber_id), count(DISTINCT text) FROM deliveries"
        ).fetchone()
        still_due = conn.execute(
            "SELECT count(*) FROM subscribers WHERE next_bulletin_at <= ?", (NOW.strftime("%Y-%m-%d %H:%M:%S"),)
        ).fetchone()[0]
        links = conn.execute("SELECT count(*) FROM delivery_articles").fetchone()[0]
    return {
        "rows": rows[0],
        "subscribers_with_row": rows[1],
        "distinct_texts": rows[2],
        "still_due": still_due,
        "links": links,
    }


# ------------------------------------------------------------------------------------------------ child


async def _prepare(spec: dict[str, Any]) -> dict[str, Any]:
    from delivery.engine import DeliveryEngine
    from delivery.transport import BotApiTransport
    from services.bulletins import BulletinService
    from storage.session import Database

    db = Database.from_url(f"sqlite+aiosqlite:///{spec['db']}")
    # Nothing is sent: the engine is only there because the service owns one.
    engine = DeliveryEngine(db, BotApiTransport("http://127.0.0.1:9", "0:unused"))
    service = BulletinService(db, engine, bulletin_size=8, clock=lambda: NOW)
    calls = prepared = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    first_call = 0.0
    try:
        while True:
            calls += 1
            count = await service.prepare_due()
            if calls == 1:
                first_call = time.perf_counter() - wall0
            if not count:
                break
            prepared += count
    finally:
        await db.dispose()
    return {
        "prepared": prepared,
        "calls": calls,
        "wall": time.perf_counter() - wall0,
        "cpu": time.process_time() - cpu0,
        "first_call": first_call,
    }


def child_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    sys.path.insert(0, spec["tree"])  # the code under test, not necessarily this file's checkout
    result = asyncio.run(_prepare(spec))
    with open("/proc/self/status", encoding="ascii") as status:
        result["peak_rss_mb"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


# ------------------------------------------------------------------------------------------------ parent


def run_once(tree: Path, subscribers: int, workdir: Path, label: str, round_no: int) -> dict[str, Any]:
    db = workdir / f"{label}-r{round_no}.sqlite"
    remove_database(db)
    asyncio.run(seed(db, subscribers))
    spec = workdir / f"{label}-r{round_no}.json"
    result_path = workdir / f"{label}-r{round_no}.result.json"
    spec.write_text(json.dumps({"db": str(db), "tree": str(tree), "result": str(result_path)}))
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(spec)], cwd=tree, check=True)
    result = json.loads(result_path.read_text())
    result.update(check(db))
    remove_database(db)
    return result


def describe(label: str, runs: list[dict[str, Any]], subscribers: int) -> dict[str, float]:
    wall = statistics.median(r["wall"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    figures = {
        "per_second": subscribers / wall,
        "wall": wall,
        "first_call": statistics.median(r["first_call"] for r in runs),
        "cpu_ms": 1000 * cpu / subscribers,
        "rss": statistics.median(r["peak_rss_mb"] for r in runs),
    }
    complete = all(
        r["prepared"] == r["rows"] == r["subscribers_with_row"] == subscribers and r["still_due"] == 0 for r in runs
    )
    print(
        f"| {label} | {figures['per_second']:,.0f} | {wall:.2f} | {figures['first_call']:.2f} | "
        f"{max(r['calls'] for r in runs)} | {figures['cpu_ms']:.3f} | {figures['rss']:.1f} | "
        f"{max(r['distinct_texts'] for r in runs)} | {'yes' if complete else 'NO'} |"
    )
    return figures


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1])
    parser = argparse.ArgumentParser(prog="bench/prepare_bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", metavar="REF", help="also measure git revision REF (in a temporary worktree)")
    args = parser.parse_args(argv)
    trees: dict[str, Path] = {"this checkout": ROOT}
    with tempfile.TemporaryDirectory(prefix="prepare-bench-") as temp:
        workdir = Path(temp)
        if args.compare:
            other = workdir / "compare"
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(other), args.compare], check=True
            )
            revision = subprocess.run(
                ["git", "-C", str(other), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            )
            trees[f"{args.compare} ({revision.stdout.strip()})"] = other
        try:
            runs: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
            for round_no in range(1, args.rounds + 1):
                for n, (label, tree) in enumerate(trees.items()):
                    runs[label].append(run_once(tree, args.subscribers, workdir, f"tree{n}", round_no))
                    print(f"  r{round_no} {label}: {runs[label][-1]['wall']:.2f} s", file=sys.stderr, flush=True)
        finally:
            if args.compare:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(workdir / "compare")], check=False
                )
    print(
        f"\n{args.subscribers:,} subscribers due at once, {ARTICLES} new articles, SQLite; medians of {args.rounds} rounds\n"
    )
    print(
        "| code | subscribers/s | wall s | first call s | calls | CPU ms/subscriber | peak RSS MB | distinct texts | every subscriber once |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    figures = {label: describe(label, label_runs, args.subscribers) for label, label_runs in runs.items()}
    if len(figures) == 2:
        mine, other = figures.values()
        print(
            f"\nthis checkout / {list(figures)[1]}: {mine['per_second'] / other['per_second']:.2f}× subscribers/s, "
            f"{mine['cpu_ms'] / other['cpu_ms']:.2f}× CPU per subscriber"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
