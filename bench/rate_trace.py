#!/usr/bin/env python
"""Where a rate-limited run's 429s would come from: the engine's sends traced on both ends of the wire.

    .venv/bin/python bench/rate_trace.py                      # 3,000 subscribers at 30/s, 80 ms latency
    .venv/bin/python bench/rate_trace.py --subscribers 600 --guard 0

The fake Bot API (its own process, ``--trace``) records when each sendMessage arrived; the engine's aiohttp
session records when each request body was written. Both read CLOCK_MONOTONIC, which all processes of a
machine share, so the two can be compared directly. A server enforcing N per second refuses a request when the
N before it arrived less than a second earlier: so the figure to watch is the shortest span from one arrival
to the one N later, against 1 s. The sender plans that span as 1 s + guard between its writes; the difference
is the lag from write to arrival, which the guard has to cover.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from delivery_bench import TOKEN, _no_proxy_env, seed_database, sqlite_url  # noqa: E402

from delivery.engine import DeliveryEngine, DeliveryLimits  # noqa: E402
from delivery.ratelimit import FloodLimits, default_guard  # noqa: E402
from delivery.transport import BotApiTransport  # noqa: E402
from storage.session import Database  # noqa: E402


class TracedTransport(BotApiTransport):
    """The production transport, with an aiohttp trace hook noting when each request body left."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written: dict[int, list[float]] = {}  # chat id -> its writes, in order

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            trace = aiohttp.TraceConfig()

            async def body_sent(_session: Any, _context: Any, params: aiohttp.TraceRequestChunkSentParams) -> None:
                now = time.monotonic()
                self.written.setdefault(int(json.loads(params.chunk)["chat_id"]), []).append(now)

            trace.on_request_chunk_sent.append(body_sent)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections), timeout=self._timeout, trace_configs=[trace]
            )
        return self._session


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"median {pick(0.5):.2f} ms, p99 {pick(0.99):.2f} ms, max {ordered[-1] * 1000:.2f} ms"


def shortest_span(times: list[float], limit: int) -> float:
    ordered = sorted(times)
    return min(ordered[i] - ordered[i - limit] for i in range(limit, len(ordered)))


async def run(args: argparse.Namespace, workdir: Path) -> int:
    db_path = workdir / "trace.sqlite"
    await seed_database(db_path, args.subscribers)
    trace_path = workdir / "arrivals.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "fakebot", "--port", "0", "--rate", str(args.rate), "--latency", str(args.latency),
         "--trace", str(trace_path)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env=_no_proxy_env(),
    )  # fmt: skip
    assert server.stdout is not None
    url = server.stdout.readline().strip().removeprefix("fakebot listening on ")
    db = Database.from_url(sqlite_url(db_path))
    transport = TracedTransport(url, TOKEN)
    limits = DeliveryLimits(per_second=args.rate)
    flood = FloodLimits(args.rate, guard=args.guard)
    engine = DeliveryEngine(db, transport, limits=limits, flood=flood)
    try:
        summary = await engine.run()
    finally:
        await transport.close()
        await db.dispose()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    arrivals = json.loads(trace_path.read_text())
    admitted = [(chat, at) for chat, at, ok in arrivals if ok]
    refused = sum(1 for _, _, ok in arrivals if not ok)
    # A retried chat is written twice: compare only chats sent once, so write and arrival belong together.
    once = {chat for chat, count in Counter(chat for chat, _, _ in arrivals).items() if count == 1}
    lags = [at - transport.written[chat][0] for chat, at in admitted if chat in once and chat in transport.written]
    print(summary.line())
    print(f"server limit {args.rate}/s, latency {args.latency * 1000:.0f} ms, engine guard {args.guard * 1000:.0f} ms")
    print(f"429 answered by the server's limit: {refused}")
    print(f"lag from request written to server arrival ({len(lags)} sends): {percentiles(lags)}")
    writes = [at for chat_writes in transport.written.values() for at in chat_writes]
    print(
        f"shortest span from a write to the {args.rate}th after it:   {shortest_span(writes, args.rate) * 1000:.1f} ms"
    )
    print(f"shortest span from an arrival to the {args.rate}th after it: "
          f"{shortest_span([at for _, at in admitted], args.rate) * 1000:.1f} ms (a 429 needs < 1000)")  # fmt: skip
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/rate_trace.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=3_000)
    parser.add_argument("--rate", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.08)
    parser.add_argument("--guard", type=float, help="seconds; default: the engine's for the rate")
    args = parser.parse_args()
    if args.guard is None:
        args.guard = default_guard(args.rate)
    with tempfile.TemporaryDirectory(prefix="rate-trace-") as temp:
        return asyncio.run(run(args, Path(temp)))


if __name__ == "__main__":
    sys.exit(main())
