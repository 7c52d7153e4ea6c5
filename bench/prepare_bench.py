#!/usr/bin/env python
"""Benchmark of preparing scheduled bulletins: `BulletinService.prepare_due()` for N subscribers due at once.

Preparing is the step before any bulletin can leave: for each due subscriber, pick the new headlines, render
them, write the delivery row and move the schedule on. When a popular bulletin time comes round, every
subscriber who chose it is due in the same second.

    .venv/bin/python bench/prepare_bench.py                       # 20,000 subscribers, 3 rounds
    .venv/bin/python bench/prepare_bench.py --compare HEAD~1      # also the code of another revision
    .venv/bin/python bench/prepare_bench.py --subscribers 100000 --rounds 1
    .venv/bin/python bench/prepare_bench.py --subscribers 100000 --selective 0.3 --backend postgresql

Each round seeds a fresh database (N subscribers in Europe/Berlin with a 07:00 bulletin, all due, and
60 new articles from 10 public sources, with topics), then a fresh child process imports the code under test and times `prepare_due()` called
until it prepares nothing more (older code prepared at most 500 per call; the bot then waited for the next
check), with the process's CPU time and peak RSS. `--compare REF` checks REF out in a temporary git worktree
and measures it in the same rounds, interleaved, so the ratio is between runs on the same machine state.

`--selective F` gives a share F of the subscribers a reading choice, in equal thirds: their own set of sources
(one of 5 sets), topics (one of 5 choices) or a keyword filter (one of 5). `--backend postgresql` seeds a fresh
PostgreSQL database on 127.0.0.1 (NEWSBOT_BENCH_POSTGRES overrides the admin connection, see bench/postgres.py)
instead of a SQLite file.
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
from postgres import create_database, run_as_admin  # noqa: E402

SLOT = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # 07:00 in Berlin
NOW = SLOT + timedelta(seconds=30)
ARTICLES = 60
SOURCES = 10
TOPICS = ["Economy", "Politics", "Sport", "Weather", "Science", "Culture", "Health", "Technology"]
WORDS = ["markets", "budget", "vote", "storm", "ports", "election", "vaccine", "league", "climate", "bank"]
SOURCE_SETS = [[1, 2, 3, 4, 5], [2, 4, 6, 8], [1, 3, 5, 7, 9], [6, 7, 8, 9, 10], [1, 10]]
TOPIC_CHOICES = [["Economy"], ["Sport", "Health"], ["Politics", "Economy"], ["Weather"], ["Science", "Technology"]]
FILTERS = [["bank"], ["storm", "-ports"], ['"budget vote"'], ["elect*"], ["-league"]]


def article_row(i: int) -> dict[str, Any]:
    words = [WORDS[(i * 3 + k) % len(WORDS)] for k in range(3)]
    return {
        "id": i,
        "title": f"Headline number {i}: {words[0]}, {words[1]} and the {words[2]}",
        "source": "Reuters",
        "body": f"Paragraph one of story {i} about the {' '.join(words)}.\n\nParagraph two.",
        "fingerprint": f"bench-{i}",
        "published_at": SLOT - timedelta(hours=2, minutes=i),
        "ingested_at": SLOT - timedelta(hours=1),
        "topics": [TOPICS[i % len(TOPICS)], TOPICS[(i * 5) % len(TOPICS)]],
        "authors": [],
        "lead": "",
    }


def choice_of(i: int, selective: float) -> dict[str, Any]:
    """Subscriber i's reading choice: none for most, one of the 15 for a share `selective` of them."""
    if (i % 100) >= round(selective * 100):
        return {}
    kind, variant = (i // 100) % 3, (i // 300) % 5
    if kind == 0:
        return {"follows_all": False, "sources": SOURCE_SETS[variant]}
    if kind == 1:
        return {"topics": TOPIC_CHOICES[variant]}
    return {"filter_terms": FILTERS[variant]}


async def seed(url: str, subscribers: int, selective: float, chunk: int = 5_000) -> None:
    """A migrated database where all N subscribers are due at SLOT and ARTICLES articles are new to them."""
    from delivery_bench import subscriber_row
    from sqlalchemy import insert

    from storage.migrate import upgrade
    from storage.models import Article, ArticleSource, BulletinTime, Source, SourceFollow, Subscriber
    from storage.session import Database

    db = Database.from_url(url)
    created = SLOT - timedelta(days=30)
    try:
        await upgrade(db.engine)
        async with db.engine.begin() as conn:
            await conn.execute(
                insert(Source.__table__),
                [
                    {"id": n, "url": f"https://feeds.example/{n}.xml", "title": f"Feed {n}", "interval_minutes": 15,
                     "created_at": created, "consecutive_failures": 0, "public": True}
                    for n in range(1, SOURCES + 1)
                ],
            )  # fmt: skip
            await conn.execute(insert(Article.__table__), [article_row(i) for i in range(1, ARTICLES + 1)])
            carried = [{"article_id": i, "source_id": 1 + i % SOURCES} for i in range(1, ARTICLES + 1)]
            carried += [{"article_id": i, "source_id": 1 + (i + 3) % SOURCES} for i in range(1, ARTICLES + 1, 4)]
            await conn.execute(insert(ArticleSource.__table__), carried)
            for start in range(1, subscribers + 1, chunk):
                ids = range(start, min(subscribers, start + chunk - 1) + 1)
                rows, follows = [], []
                for i in ids:
                    row = subscriber_row(i, created, next_bulletin_at=SLOT)
                    choice = choice_of(i, selective)
                    row["follows_all"] = choice.get("follows_all", True)
                    row["topics"] = choice.get("topics", [])
                    row["filter_terms"] = choice.get("filter_terms", [])
                    rows.append(row)
                    follows += [
                        {"subscriber_id": i, "source_id": n, "created_at": created} for n in choice.get("sources", [])
                    ]
                await conn.execute(insert(Subscriber.__table__), rows)
                if follows:
                    await conn.execute(insert(SourceFollow.__table__), follows)
                await conn.execute(
                    insert(BulletinTime.__table__),
                    [{"subscriber_id": i, "local_time": clock_time(7, 0)} for i in ids],
                )
    finally:
        await db.dispose()


async def check(url: str) -> dict[str, int]:
    """What the run left behind, read with plain SQL (independent of the code under test)."""
    from sqlalchemy import text

    from storage.session import Database

    db = Database.from_url(url)
    try:
        async with db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT count(*), count(DISTINCT subscriber_id), count(DISTINCT text) FROM deliveries")
                )
            ).one()
            still_due = (
                await conn.execute(
                    text("SELECT count(*) FROM subscribers WHERE next_bulletin_at <= :now"),
                    {"now": NOW if url.startswith("postgresql") else NOW.strftime("%Y-%m-%d %H:%M:%S")},
                )
            ).scalar_one()
            links = (await conn.execute(text("SELECT count(*) FROM delivery_articles"))).scalar_one()
    finally:
        await db.dispose()
    return {
        "rows": rows[0],
        "subscribers_with_row": rows[1],
        "distinct_texts": rows[2],
        "still_due": still_due,
        "links": links,
    }


def fresh_database(backend: str, workdir: Path, name: str) -> str:
    if backend == "sqlite":
        path = workdir / f"{name}.sqlite"
        remove_database(path)
        return f"sqlite+aiosqlite:///{path}"
    return asyncio.run(create_database(f"newsbot_bench_{name.replace('-', '_')}"))


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        remove_database(Path(url.removeprefix("sqlite+aiosqlite:///")))
    else:
        asyncio.run(run_as_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))


# ------------------------------------------------------------------------------------------------ child


async def _prepare(spec: dict[str, Any]) -> dict[str, Any]:
    from delivery.engine import DeliveryEngine
    from delivery.transport import BotApiTransport
    from services.bulletins import BulletinService
    from storage.session import Database

    db = Database.from_url(spec["db"])
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


def run_once(
    tree: Path, subscribers: int, workdir: Path, label: str, round_no: int, *, backend: str, selective: float
) -> dict[str, Any]:
    db = fresh_database(backend, workdir, f"{label}-r{round_no}")
    try:
        asyncio.run(seed(db, subscribers, selective))
        spec = workdir / f"{label}-r{round_no}.json"
        result_path = workdir / f"{label}-r{round_no}.result.json"
        spec.write_text(json.dumps({"db": db, "tree": str(tree), "result": str(result_path)}))
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(spec)], cwd=tree, check=True)
        result = json.loads(result_path.read_text())
        result.update(asyncio.run(check(db)))
    finally:
        drop_database(db)
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
    parser.add_argument("--selective", type=float, default=0.0, help="share of subscribers with a reading choice")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
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
                    runs[label].append(
                        run_once(
                            tree, args.subscribers, workdir, f"tree{n}", round_no,
                            backend=args.backend, selective=args.selective,
                        )
                    )  # fmt: skip
                    print(f"  r{round_no} {label}: {runs[label][-1]['wall']:.2f} s", file=sys.stderr, flush=True)
        finally:
            if args.compare:
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(workdir / "compare")], check=False
                )
    print(
        f"\n{args.subscribers:,} subscribers due at once ({args.selective:.0%} with a reading choice), {ARTICLES} new "
        f"articles, {args.backend}; medians of {args.rounds} rounds\n"
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
