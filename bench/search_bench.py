#!/usr/bin/env python
"""Benchmark of /search: ten queries against 100,000 articles, on SQLite and on PostgreSQL.

    .venv/bin/python bench/search_bench.py                          # 100,000 articles, both backends, 3 runs
    .venv/bin/python bench/search_bench.py --articles 20000 --backend sqlite

Each backend gets a fresh database (a new SQLite file; a new PostgreSQL database created next to
NEWSBOT_BENCH_POSTGRES and dropped at the end), migrated, then loaded with the same synthetic articles from a
fixed seed through Core multi-row inserts, so the migration's triggers index them as they would any article.
Titles of 6-12 words, leads of 20-40, bodies of 150-450 words (about 2 KB): filler words drawn from a Zipf-like
vocabulary, plus words and phrases planted at known rates so that the queries hit common, rare and mid-frequency
terms. Then each query runs through `storage.search.search_articles` (the function /search calls, asking for one
page plus one row, as /search does), three runs each, one unit of work per run. Printed per backend: each query's
number of matches and median, and the 95th percentile of all runs, in milliseconds. Target: p95 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from postgres import database_url, run_as_admin  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from model.search import SearchQuery, parse_query  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Article  # noqa: E402
from storage.search import search_article_ids, search_articles  # noqa: E402
from storage.session import Database  # noqa: E402

SEED = 20261201
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TARGET_P95_MS = 50.0
PAGE = 5  # compose.search.RESULTS_PER_PAGE: /search asks for one more to know whether there is a next page

QUERIES = [
    ("common word", "market"),
    ("rare word", "zeppelin"),
    ("two words", "budget vote"),
    ("phrase", '"central bank"'),
    ("exclusion", "election -sport"),
    ("cyrillic", "москва"),
    ("word form", "sanction"),
    ("three words", "oil prices rise"),
    ("accent", "cafe"),
    ("phrase, exclusion", '"prime minister" -scandal'),
]

# Planted terms: (text, share of articles whose body gets it once or a few times).
PLANTED = [
    ("market", 0.40),
    ("markets", 0.10),
    ("zeppelin", 0.0002),
    ("budget", 0.05),
    ("vote", 0.05),
    ("central bank", 0.05),
    ("election", 0.04),
    ("sport", 0.10),
    ("sanctions", 0.03),
    ("oil", 0.06),
    ("prices", 0.08),
    ("rise", 0.05),
    ("café", 0.01),
    ("prime minister", 0.05),
    ("scandal", 0.01),
]
CYRILLIC_SHARE = 0.05
CYRILLIC_WORDS = ["москва", "новости", "сегодня", "правительство", "выборы", "рынок", "цены", "город", "люди"]


def vocabulary(rng: random.Random, size: int = 4000) -> tuple[list[str], list[float]]:
    """Pseudo-words from syllables, with Zipf-like cumulative weights (rank^-1.05)."""
    onsets = ["b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "tr", "pl", "gr"]
    nuclei = ["a", "e", "i", "o", "u", "ea", "ou", "ai"]
    codas = ["", "n", "r", "s", "t", "l", "nd", "st", "ng"]
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.randint(1, 3)
        words.add("".join(rng.choice(onsets) + rng.choice(nuclei) + rng.choice(codas) for _ in range(syllables)))
    ordered = sorted(words)
    rng.shuffle(ordered)
    cumulative, total = [], 0.0
    for rank in range(1, size + 1):
        total += rank**-1.05
        cumulative.append(total)
    return ordered, cumulative


def article_row(index: int, rng: random.Random, words: list[str], weights: list[float]) -> dict[str, Any]:
    def filler(count: int) -> list[str]:
        return rng.choices(words, cum_weights=weights, k=count)

    body = filler(rng.randint(150, 450))
    for term, share in PLANTED:
        if rng.random() < share:
            for _ in range(rng.randint(1, 3)):
                body.insert(rng.randrange(len(body) + 1), term)
    if rng.random() < CYRILLIC_SHARE:
        for _ in range(rng.randint(20, 60)):
            body.insert(rng.randrange(len(body) + 1), rng.choice(CYRILLIC_WORDS))
    sentences = [" ".join(body[i : i + 18]).capitalize() + "." for i in range(0, len(body), 18)]
    paragraphs = [" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4)]
    title = " ".join(filler(rng.randint(6, 12))).capitalize()
    if rng.random() < 0.1:
        title += " " + rng.choice(["market", "election", "oil prices", "central bank"])
    lead = " ".join(filler(rng.randint(20, 40))).capitalize() + "."
    published = NOW - timedelta(minutes=index)
    return {
        "title": title,
        "lead": lead,
        "body": lead + "\n\n" + "\n\n".join(paragraphs),
        "authors": [],
        "topics": [],
        "source": rng.choice(["Reuters", "AP", "BBC News", "Le Monde", "Meduza"]),
        "published_at": published,
        "ingested_at": published,
        "fingerprint": f"bench-{index}",
    }


async def load(db: Database, count: int, chunk: int = 2_000) -> float:
    rng = random.Random(SEED)
    words, weights = vocabulary(rng)
    started = time.perf_counter()
    for start in range(0, count, chunk):
        rows = [article_row(i, rng, words, weights) for i in range(start, min(count, start + chunk))]
        async with db.engine.begin() as conn:
            await conn.execute(insert(Article.__table__), rows)
    async with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("ANALYZE articles"))
        else:
            await conn.execute(text("INSERT INTO articles_fts(articles_fts) VALUES ('optimize')"))
            await conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


async def run_queries(db: Database, runs: int) -> list[tuple[str, str, int, list[float]]]:
    results = []
    for label, typed in QUERIES:
        query = parse_query(typed)
        assert isinstance(query, SearchQuery), typed
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            async with db.session() as session:
                await search_articles(session, query, limit=PAGE + 1)
            timings.append((time.perf_counter() - started) * 1000)
        async with db.session() as session:
            matches = len(await search_article_ids(session, query, limit=10**9, candidates=10**9))
        results.append((label, typed, matches, timings))
    return results


def report(backend: str, count: int, load_seconds: float, results: list[tuple[str, str, int, list[float]]]) -> bool:
    print(f"\n{backend}: {count:,} articles loaded and indexed in {load_seconds:.1f} s")
    print(f"  {'query':<20} {'typed':<28} {'matches':>8} {'median ms':>10}")
    every = []
    for label, typed, matches, timings in results:
        every += timings
        print(f"  {label:<20} {typed:<28} {matches:>8,} {statistics.median(timings):>10.1f}")
    p95 = statistics.quantiles(every, n=20, method="inclusive")[-1]
    verdict = "PASS" if p95 <= TARGET_P95_MS else "FAIL"
    print(f"  p95 of {len(every)} runs: {p95:.1f} ms (target ≤ {TARGET_P95_MS:.0f} ms) {verdict}")
    return p95 <= TARGET_P95_MS


async def bench_sqlite(count: int, runs: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="search-bench-") as folder:
        db = Database.from_url(f"sqlite+aiosqlite:///{Path(folder) / 'search.sqlite3'}")
        try:
            await upgrade(db.engine)
            seconds = await load(db, count)
            async with db.session() as session:
                assert await session.scalar(select(func.count()).select_from(Article)) == count
            return report("SQLite (FTS5, bm25)", count, seconds, await run_queries(db, runs))
        finally:
            await db.dispose()


async def bench_postgresql(count: int, runs: int) -> bool:
    name = f"newsbot_search_bench_{uuid.uuid4().hex[:8]}"
    await run_as_admin(f'CREATE DATABASE "{name}"')
    db = Database.from_url(database_url(name))
    try:
        await upgrade(db.engine)
        seconds = await load(db, count)
        return report("PostgreSQL (tsvector + GIN, ts_rank)", count, seconds, await run_queries(db, runs))
    finally:
        await db.dispose()
        await run_as_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    passed = True
    if args.backend in ("sqlite", "both"):
        passed &= await bench_sqlite(args.articles, args.runs)
    if args.backend in ("postgresql", "both"):
        passed &= await bench_postgresql(args.articles, args.runs)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
