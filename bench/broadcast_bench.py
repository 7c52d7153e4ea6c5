#!/usr/bin/env python
"""Benchmark of a whole scheduled run at Telegram's paid-broadcast ceiling: N subscribers due at one slot,
prepared and sent at MAX_MESSAGES_PER_SECOND=1000 (PAID_BROADCAST) to a fake Bot API answering after 80 ms.

    .venv/bin/python bench/broadcast_bench.py                                  # 100,000 subscribers, SQLite
    .venv/bin/python bench/broadcast_bench.py --backend postgresql
    .venv/bin/python bench/broadcast_bench.py --subscribers 20000 --baseline-subscribers 10000

For each backend, two runs on fresh databases seeded alike (prepare_bench.seed: every subscriber due at 07:00
Berlin, 60 new articles): this code's `BulletinService.run_due()` (preparing overlapped with sending, requests in
flight following rate x measured round trip, SEND_CONCURRENCY=200 as the cap, the garbage collector tuned as
`newsbot run` tunes it), and a baseline of what the bot did
before, in the same run: `prepare_due()` then `engine.run()` with SEND_CONCURRENCY=32, its default then.
Each run is a fresh child process (its CPU time and peak RSS are its own); the fake Bot API is a process of its
own (`python -m fakebot --latency 0.08 --rate 1000`: it answers 429 past 1,000 sends in a sliding second and
reports the most it saw in any one second), run at a higher priority than the bot (`nice -n -10`): it stands for
Telegram's servers, whose clocks do not stop while the bot's machine is busy (--server-shares-cores: not so).
--arrivals traces every send on both ends and says, for each 429, whether the sender wrote 1,000 within a second
or the requests reached the server's count later than written. From the database afterwards: per-chat counts (lost, duplicated),
the first send after the slot, and the sustained rate (sends between the 5th and 95th percentile of send times).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from delivery_bench import TOKEN, FakeServer  # noqa: E402
from prepare_bench import NOW, drop_database, fresh_database, seed  # noqa: E402

RATE = 1000
LATENCY = 0.08
CAP = 200
BASELINE_WORKERS = 32
# The fake Bot API stands for Telegram's servers, which do not wait for a core of the bot's machine: it runs at a
# higher priority than the bot and the database (needs root; see --server-shares-cores and bench/README.md).
SERVER_NICENESS = -10
STALL_NOTED = 0.005  # --arrivals counts the event loop's stalls longer than this
LATE_ARRIVAL = 0.010  # --arrivals lists the sends that took longer than this from write to arrival


# ------------------------------------------------------------------------------------------------ child


async def _run(spec: dict[str, Any]) -> dict[str, Any]:
    from delivery.engine import DeliveryEngine, DeliveryLimits
    from delivery.transport import BotApiTransport
    from services.bulletins import BulletinService
    from storage.session import Database

    db = Database.from_url(spec["db"])
    workers = spec["workers"]
    limits = DeliveryLimits(per_second=RATE, paid_broadcast=True)
    if spec.get("writes"):  # --arrivals: note when each request body left (costs the sender some CPU)
        from rate_trace import TracedTransport

        transport: BotApiTransport = TracedTransport(spec["api"], TOKEN, connections=workers)
    else:
        transport = BotApiTransport(spec["api"], TOKEN, connections=workers)
    engine = DeliveryEngine(db, transport, limits=limits, workers=workers)
    # The bench's clock stands at the slot (plus 30 s) for preparing; the sends are timed on the real clock.
    service = BulletinService(db, engine, bulletin_size=8, clock=lambda: NOW)
    wall0, cpu0 = time.time(), time.process_time()
    stalls: list[float] = []
    watch = asyncio.create_task(_watch_loop(stalls)) if spec.get("writes") else None
    try:
        if spec["mode"] == "overlapped":
            summary = await service.run_due(wait_for_retries=True)
            prepared = summary.prepared
        else:
            prepared = await service.prepare_due()
            summary = await engine.run(wait_for_retries=True)
    finally:
        if watch is not None:
            watch.cancel()
        await transport.close()
        await db.dispose()
    if spec.get("writes"):
        Path(spec["writes"]).write_text(json.dumps(transport.written))  # type: ignore[attr-defined]
    return {
        "started": wall0,
        "wall": time.time() - wall0,
        "cpu": time.process_time() - cpu0,
        "prepared": prepared,
        "sent": summary.sent,
        "retried": summary.retried,
        "loop_stalls": stalls,
        "in_flight_limit": engine.in_flight.limit,
        "latency": engine.in_flight.latency,
    }


async def _watch_loop(stalls: list[float]) -> None:
    """--arrivals: how late the event loop runs a task that asks to wake every millisecond; each lateness over
    STALL_NOTED goes into `stalls` (seconds)."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(0.001)
        late = time.monotonic() - before - 0.001
        if late > STALL_NOTED:
            stalls.append(late)


def child_main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    if spec["mode"] == "overlapped":  # this code: the collector as `newsbot run` sets it
        from bot.runner import tune_garbage_collector
        from services.bulletins import BulletinService  # noqa: F401  # imported before the freeze, as in the bot

        tune_garbage_collector()
    result = asyncio.run(_run(spec))
    with open("/proc/self/status", encoding="ascii") as status:
        result["peak_rss_mb"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


# ------------------------------------------------------------------------------------------------ parent


async def outcome(url: str, subscribers: int, started: float) -> dict[str, Any]:
    """Read back from the outbox: per-chat sends, the first send after the start, the sustained rate."""
    from sqlalchemy import select

    from storage.models import Delivery
    from storage.session import Database

    db = Database.from_url(url)
    table = Delivery.__table__
    try:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(select(table.c.subscriber_id, table.c.status, table.c.sent_at))).all()
    finally:
        await db.dispose()
    per_chat: dict[int, int] = {}
    times = []
    for subscriber_id, status, sent_at in rows:
        if status == "sent":
            per_chat[subscriber_id] = per_chat.get(subscriber_id, 0) + 1
            if sent_at is not None:
                times.append(sent_at.timestamp())
    times.sort()
    per_second = [0] * (int(times[-1] - started) + 1 if times else 0)
    for moment in times:
        per_second[int(moment - started)] += 1
    low, high = times[len(times) // 20], times[(len(times) * 19) // 20]
    sustained = (len(times) * 0.9) / (high - low) if high > low else float("nan")
    return {
        "lost": subscribers - len(per_chat),
        "duplicated": sum(count - 1 for count in per_chat.values() if count > 1),
        "first_send_s": times[0] - started if times else float("nan"),
        "sustained": sustained,
        "per_second": per_second,
    }


def arrival_report(arrivals: list[tuple[int, float, bool]], written: dict[str, list[float]], limit: int) -> str:
    """Where the server's 429s came from (--arrivals): for each refused send, the admitted send `limit` before it,
    compared on both ends. Sender and server read one CLOCK_MONOTONIC. A write span under 1 s is the sender's
    burst; a write span over 1 s that arrived as under 1 s is lag between the write and the server's count of it
    (the server's or the sender's process waiting for a core, the loopback), which the guard has to cover."""
    writes = {int(chat): times for chat, times in written.items()}
    lines = [f"sends traced: {len(arrivals)} arrivals, {sum(map(len, writes.values()))} writes"]
    once = [(chat, at) for chat, at, ok in arrivals if ok and len(writes.get(chat, ())) == 1]
    lags = sorted(at - writes[chat][0] for chat, at in once)
    if lags:
        pick = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))] * 1000  # noqa: E731
        lines.append(
            f"lag from write to arrival: median {pick(0.5):.2f} ms, p99 {pick(0.99):.2f} ms, "
            f"p99.9 {pick(0.999):.2f} ms, max {lags[-1] * 1000:.2f} ms"
        )
    start = min((at for _, at, _ in arrivals), default=0.0)
    late = sorted((at - start, at - writes[chat][0]) for chat, at in once if at - writes[chat][0] > LATE_ARRIVAL)
    lines.append(
        f"arrivals more than {LATE_ARRIVAL * 1000:.0f} ms after their write: {len(late)}"
        + "".join(f"; {lag * 1000:.1f} ms at {moment:.1f} s" for moment, lag in late[:10])
    )
    seen: dict[int, int] = {}  # chat -> arrivals of it so far, to pair the nth arrival with the nth write
    admitted: list[tuple[int, float, float]] = []  # chat, arrival, write
    refusals = []
    for chat, at, ok in arrivals:
        nth = seen.get(chat, 0)
        seen[chat] = nth + 1
        chat_writes = writes.get(chat, [])
        wrote = chat_writes[nth] if nth < len(chat_writes) else float("nan")
        if ok:
            admitted.append((chat, at, wrote))
        elif len(admitted) >= limit:
            _, first_at, first_wrote = admitted[-limit]
            refusals.append((at - start, at - first_at, wrote - first_wrote, first_at - first_wrote, at - wrote))
    bursts = sum(1 for _, _, write_span, _, _ in refusals if write_span < 1.0)
    lines.append(f"refused: {len(refusals)}, of them written within 1 s of the send {limit} before: {bursts}")
    for moment, arrival_span, write_span, first_lag, lag in refusals[:10]:
        lines.append(
            f"  at {moment:.1f} s: arrival span {arrival_span * 1000:.1f} ms, write span {write_span * 1000:.1f} ms; "
            f"lag of the earlier send {first_lag * 1000:.1f} ms, of the refused {lag * 1000:.1f} ms"
        )
    return "\n".join(lines)


def run_once(
    mode: str, backend: str, subscribers: int, workers: int, server: FakeServer, workdir: Path, *, writes: bool = False
) -> dict:
    db = fresh_database(backend, workdir, f"{mode}-{backend}")
    try:
        asyncio.run(seed(db, subscribers, 0.0))
        server.reset()
        spec = workdir / f"{mode}.json"
        result_path = workdir / f"{mode}.result.json"
        writes_path = str(workdir / f"{mode}.writes.json") if writes else None
        spec.write_text(
            json.dumps(
                {
                    "db": db,
                    "api": server.url,
                    "workers": workers,
                    "mode": mode,
                    "result": str(result_path),
                    "writes": writes_path,
                }
            )
        )
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(spec)], cwd=ROOT, check=True)
        result = json.loads(result_path.read_text())
        stats = server.stats()
        result.update(asyncio.run(outcome(db, subscribers, result["started"])))
        result["max_in_any_second"] = stats["max_sends_in_any_second"]
        result["rejected"] = stats["rejected_by_code"]
        result["subscribers"] = subscribers
    finally:
        drop_database(db)
    return result


def row(label: str, r: dict[str, Any]) -> str:
    n = r["subscribers"]
    return (
        f"| {label} | {n:,} | {r['sustained']:,.0f} | {r['max_in_any_second']} | {r['wall']:.1f} | "
        f"{r['first_send_s']:.2f} | {1000 * r['cpu'] / max(r['sent'], 1):.3f} | {r['peak_rss_mb']:.0f} | "
        f"{r['in_flight_limit']} | {r['lost']} | {r['duplicated']} | {r['rejected'] or '-'} |"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child_main(argv[1])
    parser = argparse.ArgumentParser(prog="bench/broadcast_bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--baseline-subscribers", type=int, default=20_000, help="the baseline's run (it is slower)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--trace", action="store_true", help="also print each run's sends in each second")
    parser.add_argument(
        "--server-shares-cores",
        action="store_true",
        help="run the fake Bot API at the default priority, its arrival times delayed whenever the bot and the "
        "database keep it from a core",
    )
    parser.add_argument(
        "--arrivals",
        action="store_true",
        help="trace every send on both ends (server arrival, sender write) and say where 429s came from; no baseline",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="broadcast-bench-") as temp:
        workdir = Path(temp)
        scenario = SimpleNamespace(latency=LATENCY, server_rate=RATE, fault_ratio=0.0)
        arrivals_path = workdir / "arrivals.json" if args.arrivals else None
        server = FakeServer(
            scenario,  # type: ignore[arg-type]
            workdir / "fakebot.log",
            trace=arrivals_path,
            niceness=0 if args.server_shares_cores else SERVER_NICENESS,
        )
        try:
            results = {
                "this code": run_once(
                    "overlapped", args.backend, args.subscribers, CAP, server, workdir, writes=args.arrivals
                )
            }
            if not args.no_baseline and not args.arrivals:
                results["baseline"] = run_once(
                    "sequential", args.backend, args.baseline_subscribers, BASELINE_WORKERS, server, workdir
                )
        finally:
            server.stop()
        if arrivals_path is not None:
            written = json.loads((workdir / "overlapped.writes.json").read_text())
            report = arrival_report(json.loads(arrivals_path.read_text()), written, RATE)
            print(f"\nthis code, traced on both ends:\n{report}")
            stalls = sorted(results["this code"]["loop_stalls"])
            if stalls:
                print(
                    f"event loop stalls over {STALL_NOTED * 1000:.0f} ms: {len(stalls)}, "
                    f"median {stalls[len(stalls) // 2] * 1000:.1f} ms, longest {stalls[-1] * 1000:.1f} ms"
                )
            else:
                print(f"event loop stalls over {STALL_NOTED * 1000:.0f} ms: none")
    print(
        f"\n{args.backend}, MAX_MESSAGES_PER_SECOND={RATE} with PAID_BROADCAST, fake Bot API answering after "
        f"{LATENCY * 1000:.0f} ms; this code: run_due() with SEND_CONCURRENCY={CAP} as the cap; baseline: "
        f"prepare_due() then engine.run() with SEND_CONCURRENCY={BASELINE_WORKERS}\n"
    )
    print(
        "| run | subscribers | sustained msg/s | most in any second (server) | whole run s | first send after slot s "
        "| CPU ms/msg | peak RSS MB | in flight at the end | lost | duplicated | rejected |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for label, result in results.items():
        print(row(label, result))
    if args.trace:
        for label, result in results.items():
            print(f"\n{label}, sends in each second from the start: {' '.join(map(str, result['per_second']))}")
    if "baseline" in results:
        ratio = results["this code"]["sustained"] / results["baseline"]["sustained"]
        print(f"\nsustained rate, this code / baseline: {ratio:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
