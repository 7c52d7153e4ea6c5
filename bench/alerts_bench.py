#!/usr/bin/env python
"""Benchmark of alert matching: N alerts against M new articles, in memory and through the store hook.

    .venv/bin/python bench/alerts_bench.py                        # 100,000 alerts, 1,000 articles, SQLite too
    .venv/bin/python bench/alerts_bench.py --no-db                # the index alone
    .venv/bin/python bench/alerts_bench.py --alerts 10000 --articles 200

Everything comes from a fixed seed. The vocabulary is 20,000 made-up words with Zipf frequencies (rank r is
drawn in proportion to 1/r), plus 2,000 two- and three-word phrases that articles use now and then. Articles:
a 6–14-word title and a body of 5–9 paragraphs of 50–120 words (about 2,600 characters: the made-up words are
short) drawn from that distribution, with a few phrases. Alerts: 1–3 include terms each, words of ranks
2,000–20,000 log-uniformly (`--watched-from`: the kind of word people watch for, not "the"), a third of them
single words, a third prefixes (the first 5–8 letters of a word, then *), a third phrases; one alert in six also
has an exclude term. 5 alerts per chat. That makes a heavy load: each article matches about 1,100 alerts.

Printed: the time to parse the terms and build the index (model.alert_index), the time to match every article
(tokenising it into a MatchText included; median of 3 rounds), and the matches found. With the database: a fresh
SQLite file with the alerts and chats, then two batches of articles stored in one transaction each through
storage.articles.store_articles and services.alerts.AlertMatcher.record, as a poll stores them: the first batch
pays for loading and indexing every alert, the second finds the index up to date.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.alert_index import AlertIndex, IndexedAlert  # noqa: E402
from model.terms import MatchText, parse_term  # noqa: E402

SEED = 20261127
VOCABULARY = 20_000
PHRASES = 2_000
ALERTS_PER_CHAT = 5
WATCHED_FROM = 2_000  # alerts watch words of ranks 2,000-20,000: names, places, topics, not "the" or "said"
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]


class Corpus:
    def __init__(self, rng: random.Random, watched_from: int = WATCHED_FROM) -> None:
        self.watched_from = watched_from
        words: set[str] = set()
        while len(words) < VOCABULARY:
            words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))))
        self.words = sorted(words, key=lambda word: (len(word), word))  # short words are the frequent ones
        self.weights = [1 / rank for rank in range(1, VOCABULARY + 1)]
        self.phrases = [
            " ".join(rng.choice(self.words[200:5000]) for _ in range(rng.choice((2, 2, 3)))) for _ in range(PHRASES)
        ]
        self.rng = rng

    def text(self, count: int) -> str:
        words = self.rng.choices(self.words, self.weights, k=count)
        for _ in range(count // 150):
            words.insert(self.rng.randrange(len(words)), self.rng.choice(self.phrases))
        return " ".join(words)

    def article(self) -> tuple[str, str]:
        title = self.text(self.rng.randint(6, 14)).capitalize()
        paragraphs = [self.text(self.rng.randint(50, 120)).capitalize() + "." for _ in range(self.rng.randint(5, 9))]
        return title, "\n\n".join(paragraphs)

    def watched_word(self) -> str:
        low = self.watched_from  # log-uniform over the ranks low..VOCABULARY
        return self.words[int(low * (VOCABULARY / low) ** self.rng.random()) - 1]

    def include_term(self) -> str:
        kind = self.rng.random()
        if kind < 0.34:
            return self.watched_word()
        if kind < 0.67:
            word = self.watched_word()
            while len(word) < 6:
                word = self.watched_word()
            return word[: self.rng.randint(5, min(8, len(word) - 1))] + "*"
        return f'"{self.rng.choice(self.phrases)}"'

    def alert(self) -> list[str]:
        terms = [self.include_term() for _ in range(self.rng.choice((1, 1, 2, 2, 3)))]
        if self.rng.random() < 1 / 6:
            terms.append("-" + self.watched_word())
        return [parse_term(term).display() for term in dict.fromkeys(terms)]


def build_index(alerts: list[list[str]]) -> AlertIndex:
    parsed: dict[str, object] = {}
    indexed = []
    for alert_id, terms in enumerate(alerts, start=1):
        indexed.append(
            IndexedAlert(
                alert_id,
                1 + (alert_id - 1) // ALERTS_PER_CHAT,
                tuple(parsed.setdefault(term, parse_term(term)) for term in terms),  # type: ignore[misc]
            )
        )
    return AlertIndex(indexed)


def match_all(index: AlertIndex, articles: list[tuple[str, str]]) -> tuple[int, int]:
    """(alert matches, distinct chat-article pairs)."""
    matches = pairs = 0
    for title, body in articles:
        found = index.match(MatchText.of(title, body))
        matches += len(found)
        pairs += len({alert.subscriber_id for alert in found})
    return matches, pairs


async def through_storage(alerts: list[list[str]], batches: list[list[tuple[str, str]]]) -> None:
    from sqlalchemy import func, insert, select

    from model.articles import ParsedArticle
    from services.alerts import AlertMatcher
    from storage.articles import store_articles
    from storage.migrate import upgrade
    from storage.models import Alert, AlertMatch, Subscriber
    from storage.session import Database, create_engine

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"
        engine = create_engine(url)
        await upgrade(engine)
        await engine.dispose()
        db = Database.from_url(url)
        now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
        chats = (len(alerts) + ALERTS_PER_CHAT - 1) // ALERTS_PER_CHAT
        started = time.perf_counter()
        async with db.session() as session:
            await session.execute(
                insert(Subscriber.__table__),
                [
                    {"id": n, "chat_id": n, "chat_type": "private", "name": "", "timezone": "UTC", "active": False}
                    for n in range(1, chats + 1)
                ],
            )
            await session.execute(
                insert(Alert.__table__),
                [
                    {"id": n, "subscriber_id": 1 + (n - 1) // ALERTS_PER_CHAT, "terms": terms, "created_at": now}
                    for n, terms in enumerate(alerts, start=1)
                ],
            )
        print(f"seeded {chats:,} chats and {len(alerts):,} alerts in SQLite: {time.perf_counter() - started:.2f} s")
        matcher = AlertMatcher()
        for label, batch in zip(
            ("first batch (loads and indexes every alert)", "second batch (index up to date)"), batches, strict=False
        ):
            parsed = [
                ParsedArticle(title=title, paragraphs=body.split("\n\n"), source="Bench") for title, body in batch
            ]
            async with db.session() as session:
                started = time.perf_counter()
                results = await store_articles(session, [(article, None) for article in parsed], now=now, seen_at=now)
                stored = time.perf_counter()
                recorded = await matcher.record(session, [r.article for r in results if r.created], now=now)
                done = time.perf_counter()
            print(
                f"{label}: {len(batch):,} articles stored in {stored - started:.2f} s, "
                f"alerts matched and {recorded:,} matches recorded in {done - stored:.2f} s"
            )
        async with db.session() as session:
            total = await session.scalar(select(func.count()).select_from(AlertMatch))
        print(f"alert_matches rows: {total:,}")
        await db.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--articles", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--watched-from",
        type=int,
        default=WATCHED_FROM,
        help="the most frequent word rank an alert watches (higher: rarer words, fewer matches)",
    )
    parser.add_argument("--no-db", action="store_true", help="skip the end-to-end run through SQLite")
    args = parser.parse_args()

    rng = random.Random(SEED)
    corpus = Corpus(rng, args.watched_from)
    alerts = [corpus.alert() for _ in range(args.alerts)]
    articles = [corpus.article() for _ in range(args.articles)]
    characters = statistics.mean(len(title) + len(body) for title, body in articles)
    print(f"{args.alerts:,} alerts, {args.articles:,} articles of {characters:,.0f} characters on average")

    started = time.perf_counter()
    index = build_index(alerts)
    print(f"index build (parse every term, file every alert): {time.perf_counter() - started:.2f} s")

    started = time.perf_counter()
    for title, body in articles:
        MatchText.of(title, body)
    print(f"tokenising {args.articles:,} articles alone (MatchText.of): {time.perf_counter() - started:.2f} s")
    timings = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        matches, pairs = match_all(index, articles)
        timings.append(time.perf_counter() - started)
    print(
        f"matching {args.articles:,} articles: median {statistics.median(timings):.2f} s of {args.rounds} rounds "
        f"({', '.join(f'{t:.2f}' for t in timings)}); {matches:,} alert matches, {pairs:,} chat-article pairs"
    )
    if not args.no_db:
        second = [corpus.article() for _ in range(args.articles)]
        asyncio.run(through_storage(alerts, [articles, second]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
