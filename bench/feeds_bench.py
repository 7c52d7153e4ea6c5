"""Feed ingestion benchmark: a full poll of N synthetic feeds, served over HTTP from a separate process.

    .venv/bin/python bench/feeds_bench.py                 # 200 feeds x 50 entries, 3 runs, memory at 50/100/200
    .venv/bin/python bench/feeds_bench.py --runs 1 --sizes 200

What one run does: a fresh SQLite database (migrated), one source per feed, then a fresh child process that
imports everything, opens the database and times `FeedService.poll()` of every source (the production code
path: HTTP fetch, feedparser, HTML to text, de-duplication lookups, one transaction per source) with the
default concurrency. Entries carry full content (content:encoded), so no article pages are fetched.
The child reports wall time, its CPU time, the number of articles stored, its RSS before polling and its peak
RSS (ru_maxrss). Figures are medians over the runs. It is a benchmark, not a test: it prints a table and exits
1 when the throughput target (200 articles/s at 200 feeds) is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_ARTICLES_PER_SECOND = 200
WORDS = [
    "harbour",
    "council",
    "minister",
    "storm",
    "ferry",
    "budget",
    "election",
    "court",
    "hospital",
    "school",
    "river",
    "bridge",
    "market",
    "energy",
    "festival",
    "museum",
    "railway",
    "airport",
    "farmers",
    "police",
    "union",
    "workers",
    "prices",
    "housing",
    "climate",
    "research",
    "university",
]


# ---------------------------------------------------------------------------- synthetic feeds


def _sentence(seed: int, words: int = 18) -> str:
    picked = [WORDS[(seed * 7 + i * 13 + (seed >> 3)) % len(WORDS)] for i in range(words)]
    return f"{picked[0].capitalize()} {' '.join(picked[1:])} number {seed}."


def synthetic_feed(feed: int, entries: int) -> bytes:
    """An RSS 2.0 feed with `entries` items, each with ~1.5 kB of HTML in content:encoded; unique text per item."""
    base = datetime(2026, 3, 1, tzinfo=UTC)
    items = []
    for entry in range(entries):
        seed = feed * 1000 + entry
        paragraphs = "".join(
            f"<p>{_sentence(seed * 10 + p)} {_sentence(seed * 10 + p + 5)} <a href='/x'>{_sentence(seed + p, 6)}</a></p>"
            for p in range(5)
        )
        items.append(
            f"<item><title>Story {entry} of feed {feed}: {_sentence(seed, 6)}</title>"
            f"<link>https://feed{feed}.example/news/{entry}?utm_source=rss</link>"
            f"<guid isPermaLink='false'>feed{feed}-entry{entry}</guid>"
            f"<pubDate>{format_datetime(base + timedelta(minutes=seed % 5000))}</pubDate>"
            f"<dc:creator>Reporter {entry % 7}</dc:creator><category>Topic {entry % 5}</category>"
            f"<description>{_sentence(seed, 10)}</description>"
            f"<content:encoded><![CDATA[{paragraphs}]]></content:encoded></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel><title>Synthetic feed {feed}</title><link>https://feed{feed}.example/</link>"
        f"<language>en</language>{''.join(items)}</channel></rss>"
    ).encode()


def serve(feeds: int, entries: int) -> None:
    """The HTTP server process: prints its port, then serves /feed/<n>.xml until killed."""
    from aiohttp import web

    bodies = {f"/feed/{n}.xml": synthetic_feed(n, entries) for n in range(feeds)}

    async def handle(request: web.Request) -> web.Response:
        body = bodies.get(request.path)
        if body is None:
            return web.Response(status=404)
        return web.Response(body=body, content_type="application/rss+xml", charset="utf-8")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


# ---------------------------------------------------------------------------- one measured run


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def child(db_url: str) -> dict[str, float]:
    from services.feeds import FeedService
    from storage.session import Database

    db = Database.from_url(db_url)
    service = FeedService(db, allow_private_urls=True)  # its feed server listens on loopback
    before = rss_kb()
    wall, cpu = time.perf_counter(), time.process_time()
    summary = await service.poll()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await db.dispose()
    return {
        "added": summary.added,
        "failed": summary.failed,
        "wall": wall,
        "cpu": cpu,
        "rss_before_mb": before / 1024,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def seed(db_url: str, port: int, feeds: int) -> None:
    from storage.migrate import upgrade
    from storage.session import Database
    from storage.sources import add_source

    db = Database.from_url(db_url)
    try:
        await upgrade(db.engine)
        async with db.session() as session:
            now = datetime.now(UTC)
            for n in range(feeds):
                await add_source(session, f"http://127.0.0.1:{port}/feed/{n}.xml", interval_minutes=15, now=now)
    finally:
        await db.dispose()


def run_once(port: int, feeds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        asyncio.run(seed(db_url, port, feeds))
        out = subprocess.run(
            [sys.executable, __file__, "--child", db_url], check=True, capture_output=True, text=True, cwd=ROOT
        ).stdout
        return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument(
        "--sizes", default="50,100,200", help="comma-separated feed counts; the largest is the headline"
    )
    parser.add_argument("--child", metavar="DB_URL", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, metavar="FEEDS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.entries)
        return 0
    if args.child:
        print(json.dumps(asyncio.run(child(args.child))))
        return 0

    sizes = sorted(int(s) for s in args.sizes.split(","))
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(max(sizes)), "--entries", str(args.entries)],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        print(f"feeds_bench: {args.entries} entries per feed, {args.runs} runs per size, server pid {server.pid}, "
              f"{os.cpu_count()} CPUs\n")  # fmt: skip
        print("| feeds | articles | wall s | CPU s | articles/s | RSS before poll MB | peak RSS MB |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        headline = 0.0
        for feeds in sizes:
            runs = [run_once(port, feeds) for _ in range(args.runs)]
            expected = feeds * args.entries
            bad = [r for r in runs if r["added"] != expected or r["failed"]]
            if bad:
                print(
                    f"run stored {bad[0]['added']} of {expected} articles, {bad[0]['failed']} feeds failed",
                    file=sys.stderr,
                )
                return 1
            med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            rate = statistics.median(r["added"] / r["wall"] for r in runs)
            headline = rate if feeds == max(sizes) else headline
            print(f"| {feeds} | {int(med['added'])} | {med['wall']:.2f} | {med['cpu']:.2f} | {rate:.0f} | "
                  f"{med['rss_before_mb']:.0f} | {med['peak_rss_mb']:.0f} |", flush=True)  # fmt: skip
    finally:
        server.terminate()
        server.wait()
    verdict = "PASS" if headline >= TARGET_ARTICLES_PER_SECOND else "FAIL"
    print(f"\n{verdict}: {headline:.0f} articles/s at {max(sizes)} feeds (target {TARGET_ARTICLES_PER_SECOND})")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
