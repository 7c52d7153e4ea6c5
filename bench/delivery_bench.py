#!/usr/bin/env python
"""Benchmark of bulletin delivery: the delivery engine against naive senders, on the fake Bot API.

Not a test: it measures. See bench/README.md for what each column means and how to run it, e.g.

    .venv/bin/python bench/delivery_bench.py --quick
    .venv/bin/python bench/delivery_bench.py --scenario limited --scenario unlimited --out bench/results.md

Layout of one scenario: one fake Bot API server process (``python -m fakebot``) for the whole scenario;
for each round, for each sender in a fixed order (A, B, C, A, B, C, ...): reset the server, seed a fresh
SQLite database (Core bulk inserts), run the sender in a fresh child process (so its peak RSS is its own),
read the server's ``/_stats``. Seeding and the child's imports are outside the timed send phase.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import math
import os
import resource
import select
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PYTHON = sys.executable
TOKEN = "123456:AAbench-fake-token_for_the_fake_bot_api"
WORKERS = 32
PAGE = 1000  # rows per page when the baselines read pending deliveries
MB = 1024 * 1024

SENDER_LABELS = {
    "engine": "engine (DeliveryEngine + BotApiTransport)",
    "ptb": "naive PTB loop (`await bot.send_message` one by one)",
    "httpx": "raw httpx.AsyncClient loop (one by one)",
    "ptb-aiorl": "PTB ExtBot + AIORateLimiter(overall_max_rate=30), 32 workers",
}
ALL_SENDERS = tuple(SENDER_LABELS)


# ------------------------------------------------------------------------------------------------ scenarios


@dataclass(frozen=True)
class Scenario:
    key: str
    letter: str
    title: str
    subscribers: int
    latency: float
    server_rate: int | None
    engine_per_second: int | None
    senders: tuple[str, ...]
    fault_ratio: float = 0.0
    fault_kinds: str = "429,500,502,timeout,403"
    timeout_delay: float = 30.0
    client_timeout: float | None = None  # seconds; None: each client's default

    def describe(self, n: int) -> str:
        rate = f"server limit {self.server_rate}/s" if self.server_rate else "no server limit"
        engine = f"engine per_second={self.engine_per_second}"
        parts = [f"{n:,} subscribers", f"{self.latency * 1000:.0f} ms latency", rate, engine]
        if self.fault_ratio:
            parts.append(
                f"{self.fault_ratio:.0%} of chats faulted ({self.fault_kinds}; timeout faults held "
                f"{self.timeout_delay:g} s, client timeout {self.client_timeout:g} s)"
            )
        return ", ".join(parts)


SCENARIOS: dict[str, Scenario] = {
    "limited": Scenario(
        "limited", "A", "rate-limited (30/s)", 3_000, 0.08, 30, 30, ("engine", "ptb", "httpx", "ptb-aiorl")
    ),
    "unlimited": Scenario("unlimited", "B", "unlimited", 20_000, 0.0, None, None, ("engine", "ptb", "httpx")),
    "memory": Scenario("memory", "C", "memory", 100_000, 0.0, None, None, ("engine", "ptb", "httpx")),
    "faults": Scenario(
        "faults",
        "D",
        "faults",
        3_000,
        0.08,
        30,
        30,
        ("engine", "ptb", "httpx"),
        fault_ratio=0.1,
        timeout_delay=2.0,
        client_timeout=1.0,
    ),
}


# ------------------------------------------------------------------------------------------------ bulletin text

_HEADLINES = [
    "Central bank holds rates steady as inflation eases for a third month",
    "Storm Bert leaves thousands without power across the northern coast",
    "Parliament approves the new budget after a late-night vote on pensions",
    "Researchers map the deep-sea currents that carry heat to the Arctic",
    "Rail strike called off after unions accept a revised pay offer",
    "City council votes to turn the old harbour into a public park by 2028",
    "Chipmaker's shares jump after a record quarter for data-centre sales",
    "Health ministry extends the free vaccination programme to over-60s",
    "Wildfire season ends early as autumn rains arrive in the south",
    "M&A activity picks up as lenders ease terms for mid-sized companies",
    "National team reaches the final after a penalty shoot-out in Lisbon",
    "Museum returns looted bronzes in a ceremony attended by both ministers",
    "Electric-car registrations overtake diesel for the first time",
    "Court rules that the data-retention law breaches privacy rights",
    "Farmers warn of a poor olive harvest after the summer drought",
    "Space agency delays the lunar lander test by six weeks",
    "Housing starts fall to their lowest level in a decade, figures show",
    "Negotiators agree on a draft text at the climate talks in Belém",
]
_SOURCES = [
    "Reuters, London",
    "The Guardian, Manchester",
    "Le Monde, Paris",
    "Associated Press, Washington",
    "BBC News, Cardiff",
    "Der Spiegel, Hamburg",
    "NHK World, Tokyo",
]
TEXT_VARIANTS = 16


def bulletin_text(variant: int) -> str:
    """A ~600-character HTML bulletin like compose.bulletins renders: heading, then numbered
    '<b>title</b>' entries with 'source · /read_<id>' lines."""
    heading = "<b>Midday bulletin · Friday 27 November 2026</b>"
    entries = []
    for position in range(5):
        title = _HEADLINES[(variant * 5 + position) % len(_HEADLINES)]
        source = _SOURCES[(variant + position) % len(_SOURCES)]
        article_id = 48_100 + variant * 11 + position
        entries.append(
            f"{position + 1}. <b>{html.escape(title, quote=False)}</b>\n"
            f"{html.escape(source, quote=False)} · /read_{article_id}"
        )
    return "\n\n".join([heading, *entries])


# ------------------------------------------------------------------------------------------------ seeding


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def subscriber_row(i: int, now: datetime, *, next_bulletin_at: datetime | None = None) -> dict[str, Any]:
    """Subscriber i (chat id i): private, active, in Europe/Berlin, subscribed at `now`."""
    return {
        "id": i,
        "chat_id": i,
        "chat_type": "private",
        "name": f"Reader {i}",
        "language": "en",
        "timezone": "Europe/Berlin",
        "active": True,
        "created_at": now,
        "subscribed_at": now,
        "blocked_at": None,
        "next_bulletin_at": next_bulletin_at,
        "last_bulletin_at": None,
        "last_article_id": 0,
    }


async def seed_database(path: Path, subscribers: int, chunk: int = 5_000) -> None:
    """A fresh migrated database: subscribers 1..N (private, active), one pending broadcast delivery each."""
    from sqlalchemy import insert

    from storage.migrate import upgrade
    from storage.models import Delivery, Subscriber
    from storage.session import Database

    remove_database(path)
    texts = [bulletin_text(variant) for variant in range(TEXT_VARIANTS)]
    now = datetime.now(UTC)
    subscriber_table = Subscriber.__table__
    delivery_table = Delivery.__table__
    db = Database.from_url(sqlite_url(path))
    try:
        await upgrade(db.engine)
        async with db.engine.begin() as conn:
            for start in range(1, subscribers + 1, chunk):
                ids = range(start, min(subscribers, start + chunk - 1) + 1)
                await conn.execute(insert(subscriber_table), [subscriber_row(i, now) for i in ids])
                await conn.execute(
                    insert(delivery_table),
                    [
                        {
                            "id": i,
                            "subscriber_id": i,
                            "chat_id": i,
                            "kind": "broadcast",
                            "slot_at": None,
                            "text": texts[i % TEXT_VARIANTS],
                            "status": "pending",
                            "attempts": 0,
                            "claimed_at": None,
                            "not_before": None,
                            "last_error": None,
                            "message_id": None,
                            "created_at": now,
                            "sent_at": None,
                        }
                        for i in ids
                    ],
                )
    finally:
        await db.dispose()


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def database_facts(path: Path) -> dict[str, Any]:
    """What the run left in the database: delivery statuses and which chats are inactive."""
    conn = sqlite3.connect(path)
    try:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall())
        inactive = [row[0] for row in conn.execute("SELECT chat_id FROM subscribers WHERE NOT active")]
    finally:
        conn.close()
    return {"statuses": statuses, "inactive": inactive}


# ------------------------------------------------------------------------------------------------ the fake server


def _no_proxy_env() -> dict[str, str]:
    """The environment for children: no proxy settings, so every client talks straight to 127.0.0.1."""
    env = {key: value for key, value in os.environ.items() if "proxy" not in key.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        data = handle.read()
    fields = data[data.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FakeServer:
    """`python -m fakebot` as a child process of the bench, on a free port of 127.0.0.1."""

    def __init__(self, scenario: Scenario, log_path: Path, *, trace: Path | None = None, niceness: int = 0) -> None:
        cmd = [PYTHON, "-m", "fakebot", "--host", "127.0.0.1", "--port", "0"]
        if niceness:
            # nice(1) execs the server (same pid); raising the priority (below 0) needs root or CAP_SYS_NICE, and
            # without them nice says so in the server's log and runs it at the default priority.
            cmd = ["nice", "-n", str(niceness), *cmd]
        if trace is not None:  # every sendMessage's arrival, written when the server stops
            cmd += ["--trace", str(trace)]
        cmd += ["--latency", str(scenario.latency)]
        if scenario.server_rate:
            cmd += ["--rate", str(scenario.server_rate)]
        if scenario.fault_ratio:
            cmd += ["--fault-ratio", str(scenario.fault_ratio), "--fault-kinds", scenario.fault_kinds]
            cmd += ["--timeout-delay", str(scenario.timeout_delay)]
        self.command = cmd
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=_no_proxy_env(), stdout=subprocess.PIPE, stderr=self._log, start_new_session=True
        )
        self.url = self._wait_listening(timeout=30.0)
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_listening(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fake Bot API exited with {self.proc.returncode}; see {self._log.name}")
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline().decode().strip()
                if line.startswith("fakebot listening on "):
                    url = line.removeprefix("fakebot listening on ")
                    if not url.startswith("http://127.0.0.1:"):
                        raise RuntimeError(f"fake Bot API listens on {url}, not 127.0.0.1")
                    return url
        self.stop()
        raise RuntimeError(f"fake Bot API did not start listening within {timeout:.0f} s")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)

    def _get(self, path: str) -> Any:
        with _OPENER.open(f"{self.url}{path}", timeout=60) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return self._get("/_stats")

    def reset(self) -> None:
        self._get("/_reset")

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class FaultPlan:
    """Which chats the server faults and how: the server's own deterministic choice, computed the same way."""

    def __init__(self, scenario: Scenario, subscribers: int) -> None:
        self.kinds: dict[int, str] = {}
        if scenario.fault_ratio > 0:
            from fakebot import FakeBotAPI

            api = FakeBotAPI()
            kinds = [kind.strip() for kind in scenario.fault_kinds.split(",") if kind.strip()]
            api.set_fault_ratio(scenario.fault_ratio, kinds=kinds)  # type: ignore[arg-type]
            for chat in range(1, subscribers + 1):
                kind = api.fault_for_ratio(chat)
                if kind is not None:
                    self.kinds[chat] = kind
        self.forbidden = {chat for chat, kind in self.kinds.items() if kind == "403"}
        self.injected_429 = sum(1 for kind in self.kinds.values() if kind == "429")

    def summary(self) -> str:
        if not self.kinds:
            return "no faulted chats"
        counts = Counter(self.kinds.values())
        return f"{len(self.kinds)} faulted chats: " + ", ".join(f"{kind} ×{counts[kind]}" for kind in sorted(counts))


# ------------------------------------------------------------------------------------------------ child: senders


async def _pending_rows(db: Any) -> AsyncIterator[Any]:
    """Pending deliveries (id, chat_id, text) in id order, a page at a time (keyset), through SQLAlchemy."""
    from sqlalchemy import select

    from storage.models import Delivery

    table = Delivery.__table__
    query = select(table.c.id, table.c.chat_id, table.c.text).order_by(table.c.id).limit(PAGE)
    last = 0
    while True:
        async with db.engine.connect() as conn:
            rows = (await conn.execute(query.where(table.c.status == "pending", table.c.id > last))).all()
        if not rows:
            return
        for row in rows:
            yield row
        last = rows[-1].id


def peak_rss_kb() -> int:
    """This process's own peak RSS in KiB: VmHWM from /proc/self/status.

    Not ru_maxrss: Linux keeps ru_maxrss across execve, so a child started by a parent that once held 90 MB
    (after seeding 100,000 rows) reports at least 90 MB. VmHWM belongs to the memory map that execve made.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def _timed(body: Callable[[], Any]) -> tuple[Any, float, float, int]:
    """(result, wall seconds, CPU seconds of this process, peak RSS KiB before) of `await body()`."""
    rss_before = peak_rss_kb()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = await body()
    return result, time.perf_counter() - wall0, time.process_time() - cpu0, rss_before


async def _baseline_result(db: Any, body: Callable[[], Any], errors: Counter[str]) -> dict[str, Any]:
    """Time a naive sender's send phase, close its database, and report what child_main records."""
    try:
        sent, wall, cpu, rss_before = await _timed(body)
    finally:
        await db.dispose()
    return {"sent": sent, "errors": dict(errors), "wall": wall, "cpu": cpu, "rss_before_kb": rss_before}


async def _send_engine(spec: dict[str, Any]) -> dict[str, Any]:
    import inspect

    from delivery.engine import DeliveryEngine, DeliveryLimits
    from delivery.transport import BotApiTransport
    from storage.session import Database

    db = Database.from_url(spec["db_url"])
    transport_kwargs: dict[str, Any] = {}
    notes = []
    if spec.get("client_timeout") is not None:
        if "timeout" in inspect.signature(BotApiTransport).parameters:
            transport_kwargs["timeout"] = spec["client_timeout"]
            notes.append(f"transport timeout={spec['client_timeout']:g}s")
        else:
            notes.append("transport has no timeout parameter: default kept")
    transport = BotApiTransport(api_url=spec["api_url"], token=TOKEN, **transport_kwargs)
    limits = DeliveryLimits(per_second=spec["per_second"], per_chat_per_second=1, per_group_per_minute=20)
    engine = DeliveryEngine(db, transport, limits=limits, workers=spec["workers"])
    try:
        summary, wall, cpu, rss_before = await _timed(engine.run)
    finally:
        await transport.close()
        await db.dispose()
    return {
        "sent": summary.sent,
        "errors": {},
        "engine": {
            "sent": summary.sent,
            "retried": summary.retried,
            "failed": summary.failed,
            "blocked": summary.blocked,
            "line": summary.line(),
        },
        "notes": notes,
        "wall": wall,
        "cpu": cpu,
        "rss_before_kb": rss_before,
    }


async def _send_ptb(spec: dict[str, Any]) -> dict[str, Any]:
    import telegram

    from storage.session import Database

    db = Database.from_url(spec["db_url"])
    errors: Counter[str] = Counter()

    async def body() -> int:
        sent = 0
        async with telegram.Bot(TOKEN, base_url=f"{spec['api_url']}/bot") as bot:
            async for row in _pending_rows(db):
                try:
                    await bot.send_message(row.chat_id, row.text, parse_mode="HTML")
                    sent += 1
                except Exception as exc:  # a naive loop that at least survives errors: count, go on
                    errors[type(exc).__name__] += 1
        return sent

    return await _baseline_result(db, body, errors)


async def _send_ptb_aiorl(spec: dict[str, Any]) -> dict[str, Any]:
    from telegram.ext import AIORateLimiter, ExtBot
    from telegram.request import HTTPXRequest

    from storage.session import Database

    db = Database.from_url(spec["db_url"])
    errors: Counter[str] = Counter()
    workers = spec["workers"]

    async def body() -> int:
        sent = 0
        bot = ExtBot(
            TOKEN,
            base_url=f"{spec['api_url']}/bot",
            request=HTTPXRequest(connection_pool_size=workers),
            rate_limiter=AIORateLimiter(overall_max_rate=30),
        )
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=workers * 2)

        async def worker() -> None:
            nonlocal sent
            while (row := await queue.get()) is not None:
                try:
                    await bot.send_message(row.chat_id, row.text, parse_mode="HTML")
                    sent += 1
                except Exception as exc:
                    errors[type(exc).__name__] += 1

        async with bot:
            tasks = [asyncio.create_task(worker()) for _ in range(workers)]
            async for row in _pending_rows(db):
                await queue.put(row)
            for _ in tasks:
                await queue.put(None)
            await asyncio.gather(*tasks)
        return sent

    return await _baseline_result(db, body, errors)


async def _send_httpx(spec: dict[str, Any]) -> dict[str, Any]:
    import httpx

    from storage.session import Database

    db = Database.from_url(spec["db_url"])
    errors: Counter[str] = Counter()
    endpoint = f"{spec['api_url']}/bot{TOKEN}/sendMessage"
    timeout = httpx.Timeout(spec.get("client_timeout") or 5.0)

    async def body() -> int:
        sent = 0
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            async for row in _pending_rows(db):
                try:
                    response = await client.post(
                        endpoint, json={"chat_id": row.chat_id, "text": row.text, "parse_mode": "HTML"}
                    )
                    answer = response.json()
                    if answer.get("ok"):
                        sent += 1
                    else:
                        errors[f"HTTP {answer.get('error_code', response.status_code)}"] += 1
                except (httpx.HTTPError, ValueError) as exc:
                    errors[type(exc).__name__] += 1
        return sent

    return await _baseline_result(db, body, errors)


_SENDERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "engine": _send_engine,
    "ptb": _send_ptb,
    "httpx": _send_httpx,
    "ptb-aiorl": _send_ptb_aiorl,
}


def child_main(spec_path: str) -> int:
    """Run one sender once (in this fresh process) and write its measurements as JSON."""
    import warnings

    warnings.filterwarnings("ignore")
    spec = json.loads(Path(spec_path).read_text())
    result = asyncio.run(_SENDERS[spec["sender"]](spec))
    result["maxrss_kb"] = peak_rss_kb()
    result["ru_maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    Path(spec["result_path"]).write_text(json.dumps(result))
    return 0


# ------------------------------------------------------------------------------------------------ parent: one run


@dataclass
class RunResult:
    sender: str
    round: int
    ok: bool
    error: str = ""
    wall: float = math.nan
    cpu: float = math.nan
    delivered: int = 0
    server_total: int = 0
    sender_sent: int = 0
    msgs_per_s: float = math.nan
    cpu_ms_per_msg: float = math.nan
    peak_rss_mb: float = math.nan
    rss_before_mb: float = math.nan
    max_window: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    rate_429: int = 0
    duplicates: int = 0
    losses: int = 0
    strays: int = 0
    sender_errors: dict[str, int] = field(default_factory=dict)
    server_cpu_pct: float = math.nan
    server_rss_mb: float = math.nan
    engine: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    forbidden_deactivated: int = 0
    wrongly_deactivated: int = 0


def child_command(spec_path: Path, profile_path: Path | None) -> list[str]:
    cmd = [PYTHON, str(Path(__file__).resolve()), "--child", str(spec_path)]
    if profile_path is not None:
        py_spy = shutil.which("py-spy") or str(Path(PYTHON).with_name("py-spy"))
        cmd = [py_spy, "record", "--rate", "200", "--format", "raw", "--output", str(profile_path), "--", *cmd]
    return cmd


def run_once(
    scenario: Scenario,
    sender: str,
    round_no: int,
    subscribers: int,
    server: FakeServer,
    plan: FaultPlan,
    workdir: Path,
    args: argparse.Namespace,
) -> RunResult:
    result = RunResult(sender, round_no, ok=False)
    db_path = workdir / f"{scenario.key}-{sender}-r{round_no}.sqlite3"
    spec_path = workdir / f"{scenario.key}-{sender}-r{round_no}.spec.json"
    result_path = workdir / f"{scenario.key}-{sender}-r{round_no}.result.json"
    log_path = workdir / f"{scenario.key}-{sender}-r{round_no}.log"
    result_path.unlink(missing_ok=True)
    asyncio.run(seed_database(db_path, subscribers))
    server.reset()
    spec = {
        "sender": sender,
        "db_url": sqlite_url(db_path),
        "api_url": server.url,
        "per_second": scenario.engine_per_second,
        "workers": args.workers,
        "client_timeout": scenario.client_timeout,
        "result_path": str(result_path),
    }
    spec_path.write_text(json.dumps(spec))
    profile_path = None
    if args.profile_dir and sender in args.profile_senders:
        profile_path = Path(args.profile_dir) / f"{scenario.key}-{sender}-r{round_no}.txt"
        profile_path.parent.mkdir(parents=True, exist_ok=True)
    server_cpu0 = server.cpu_seconds()
    timeout = 900 + subscribers * 0.2
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.run(
                child_command(spec_path, profile_path),
                cwd=ROOT,
                env=_no_proxy_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            returncode = None
    time.sleep(0.3)  # let the server finish bookkeeping of the last answers
    server_cpu = server.cpu_seconds() - server_cpu0
    stats = server.stats()
    result.server_rss_mb = server.rss_mb()
    if returncode != 0 or not result_path.exists():
        tail = log_path.read_text(errors="replace").strip().splitlines()[-6:]
        what = "timed out" if returncode is None else f"exited with {returncode}"
        result.error = f"child {what}: " + " | ".join(line.strip() for line in tail)
    else:
        child = json.loads(result_path.read_text())
        result.ok = True
        result.wall = child["wall"]
        result.cpu = child["cpu"]
        result.sender_sent = child["sent"]
        result.sender_errors = child.get("errors", {})
        result.engine = child.get("engine")
        result.notes = child.get("notes", [])
        result.peak_rss_mb = child["maxrss_kb"] / 1024
        result.rss_before_mb = child["rss_before_kb"] / 1024
    counts = {int(chat): count for chat, count in stats["sent_by_chat"].items()}
    result.server_total = int(stats["total"])
    result.delivered = sum(1 for chat, count in counts.items() if count > 0 and 1 <= chat <= subscribers)
    result.duplicates = sum(max(0, count - 1) for count in counts.values())
    result.strays = sum(1 for chat in counts if not 1 <= chat <= subscribers)
    result.losses = sum(
        1 for chat in range(1, subscribers + 1) if chat not in plan.forbidden and counts.get(chat, 0) == 0
    )
    result.max_window = int(stats["max_sends_in_any_second"])
    result.rejected = {str(code): int(n) for code, n in stats["rejected_by_code"].items()}
    result.rate_429 = max(0, result.rejected.get("429", 0) - plan.injected_429)
    if result.ok and result.wall > 0:
        result.msgs_per_s = result.delivered / result.wall
        result.cpu_ms_per_msg = result.cpu * 1000 / result.delivered if result.delivered else math.nan
        result.server_cpu_pct = 100 * server_cpu / result.wall
    facts = database_facts(db_path)
    result.statuses = facts["statuses"]
    inactive = set(facts["inactive"])
    result.forbidden_deactivated = len(inactive & plan.forbidden)
    result.wrongly_deactivated = len(inactive - plan.forbidden)
    if not args.keep:
        remove_database(db_path)
        for path in (spec_path, result_path):
            path.unlink(missing_ok=True)
        if result.ok:
            log_path.unlink(missing_ok=True)
    return result


ENGINE_FILES = ("delivery/engine.py", "delivery/transport.py", "delivery/ratelimit.py")


def engine_fingerprint() -> str:
    """Short hash and modification times of the engine's files, to tell whether it changed during a scenario."""
    import hashlib

    digest = hashlib.sha256()
    stamps = []
    for name in ENGINE_FILES:
        path = ROOT / name
        if path.exists():
            digest.update(path.read_bytes())
            stamps.append(f"{Path(name).name} {datetime.fromtimestamp(path.stat().st_mtime):%H:%M:%S}")
    return f"{digest.hexdigest()[:10]} ({', '.join(stamps) or 'no files'})"


def engine_availability() -> str | None:
    """None when delivery.engine / delivery.transport import and have the contract's names, else why not."""
    probe = (
        "from delivery.engine import DeliveryEngine, DeliveryLimits\nfrom delivery.transport import BotApiTransport\n"
    )
    proc = subprocess.run(
        [PYTHON, "-c", probe], cwd=ROOT, env=_no_proxy_env(), capture_output=True, text=True, timeout=120
    )
    if proc.returncode == 0:
        return None
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"import failed with {proc.returncode}"


# ------------------------------------------------------------------------------------------------ aggregation


def _median(values: Sequence[float]) -> float:
    clean = [value for value in values if not math.isnan(value)]
    return statistics.median(clean) if clean else math.nan


def _fmt(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _ratio(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b) or b == 0:
        return math.nan
    return a / b


@dataclass
class SenderSummary:
    sender: str
    runs: list[RunResult]

    @property
    def good(self) -> list[RunResult]:
        return [run for run in self.runs if run.ok]

    def median(self, name: str) -> float:
        return _median([getattr(run, name) for run in self.good])

    def worst(self, name: str) -> int:
        return max((getattr(run, name) for run in self.runs), default=0)

    def worst_rejected(self, code: str) -> int:
        return max((run.rejected.get(code, 0) for run in self.runs), default=0)


@dataclass
class Target:
    text: str
    measured: str
    passed: bool | None  # None: could not be judged


@dataclass
class ScenarioReport:
    scenario: Scenario
    subscribers: int
    rounds: int
    plan: FaultPlan
    senders: list[str]
    summaries: dict[str, SenderSummary]
    engine_missing: str | None
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    server_command: list[str]
    elapsed: float
    engine_code: tuple[str, str] = ("", "")

    def targets(self) -> list[Target]:
        engine = self.summaries.get("engine")
        key = self.scenario.key
        targets: list[Target] = []
        if engine is None or not engine.good:
            reason = (
                f"engine not available ({self.engine_missing})"
                if self.engine_missing
                else "engine not run"
                if engine is None
                else "engine failed"
            )
            return [Target(f"all {self.scenario.letter} targets", reason, None)]
        complete = len(engine.good) == len(engine.runs)
        if not complete:
            targets.append(Target("every engine round completed", f"{len(engine.good)}/{len(engine.runs)}", False))
        if key == "limited":
            rate = engine.median("msgs_per_s")
            targets.append(Target("engine ≥ 29.5 msg/s (median)", _fmt(rate, 2), rate >= 29.5))
            window = engine.worst("max_window")
            targets.append(Target("max sends in any 1 s ≤ 30 (worst round)", str(window), window <= 30))
            n429 = engine.worst_rejected("429")
            targets.append(Target("zero 429 (worst round)", str(n429), n429 == 0))
        elif key == "unlimited":
            naive = self.summaries.get("ptb")
            if naive is None or not naive.good:
                targets.append(Target("engine ≥ 2× naive msg/s", "naive loop not run", None))
                targets.append(Target("engine ≤ 0.5× naive CPU ms/msg", "naive loop not run", None))
            else:
                speed = _ratio(engine.median("msgs_per_s"), naive.median("msgs_per_s"))
                targets.append(Target("engine ≥ 2× naive msg/s", f"{_fmt(speed, 2)}×", speed >= 2))
                cpu = _ratio(engine.median("cpu_ms_per_msg"), naive.median("cpu_ms_per_msg"))
                targets.append(Target("engine ≤ 0.5× naive CPU ms/msg", f"{_fmt(cpu, 2)}×", cpu <= 0.5))
        elif key == "memory":
            peak = max(run.peak_rss_mb for run in engine.good)
            targets.append(Target("engine peak RSS ≤ 150 MB (worst round)", f"{_fmt(peak)} MB", peak <= 150))
        elif key == "faults":
            dups, losses = engine.worst("duplicates"), engine.worst("losses")
            deliverable = self.subscribers - len(self.plan.forbidden)
            targets.append(
                Target(
                    f"every deliverable message ({deliverable:,}) delivered exactly once (every round)",
                    f"{dups} duplicates, {losses} lost (worst round)",
                    dups == 0 and losses == 0,
                )
            )
            deactivated = min(run.forbidden_deactivated for run in engine.runs)
            wrong = engine.worst("wrongly_deactivated")
            targets.append(
                Target(
                    f"every 403 chat ({len(self.plan.forbidden)}) deactivated in the DB (every round)",
                    f"{deactivated}/{len(self.plan.forbidden)}; healthy chats deactivated: {wrong}",
                    deactivated == len(self.plan.forbidden),
                )
            )
        return targets

    def render(self) -> str:
        sc = self.scenario
        out: list[str] = []
        out.append(f"### Scenario {sc.letter} — `--scenario {sc.key}`: {sc.title}")
        out.append("")
        rounds = f"Rounds: {self.rounds} (senders interleaved each round)"
        baseline_rounds = {len(summary.runs) for name, summary in self.summaries.items() if name != "engine"}
        if baseline_rounds and max(baseline_rounds) < self.rounds:
            rounds += f"; naive senders in the first {max(baseline_rounds)} only"
        out.append(f"{sc.describe(self.subscribers)}. {rounds}.")
        if self.plan.kinds:
            out.append(f"Server fault plan: {self.plan.summary()}; injected 429s are not counted in the 429 column.")
        out.append(
            f"Load average before/after: {self.load_before[0]:.2f} / {self.load_after[0]:.2f}; "
            f"scenario took {self.elapsed / 60:.1f} min."
        )
        if "engine" in self.summaries:
            before, after = self.engine_code
            changed = "" if before == after else f" → **changed during the scenario** to {after}"
            out.append(f"Engine code: {before}{changed}.")
        out.append("")
        out.append(
            "| sender | msg/s | CPU ms/msg | peak RSS MB | RSS before send MB | max sends in 1 s | 429 | duplicates "
            "| losses | sender errors | wall s | server CPU % |"
        )
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
        for sender in self.senders:
            label = SENDER_LABELS[sender]
            summary = self.summaries.get(sender)
            if summary is None:
                reason = self.engine_missing if sender == "engine" and self.engine_missing else "not run"
                out.append(f"| {label}: not available ({reason}) |" + " |" * 11)
                continue
            if not summary.good:
                errors = "; ".join(sorted({run.error for run in summary.runs}))[:300]
                out.append(f"| {label}: FAILED ({errors}) |" + " |" * 11)
                continue
            errs: Counter[str] = Counter()
            for run in summary.runs:
                for name, count in run.sender_errors.items():
                    errs[name] = max(errs[name], count)
            failed_rounds = len(summary.runs) - len(summary.good)
            label_text = label + (f" ({failed_rounds} round(s) failed)" if failed_rounds else "")
            out.append(
                f"| {label_text} | {_fmt(summary.median('msgs_per_s'))} | {_fmt(summary.median('cpu_ms_per_msg'), 2)} "
                f"| {_fmt(summary.median('peak_rss_mb'))} | {_fmt(summary.median('rss_before_mb'))} "
                f"| {summary.worst('max_window')} | {summary.worst('rate_429')} | {summary.worst('duplicates')} "
                f"| {summary.worst('losses')} | {', '.join(f'{k} {v}' for k, v in sorted(errs.items())) or '0'} "
                f"| {_fmt(summary.median('wall'))} | {_fmt(summary.median('server_cpu_pct'), 0)} |"
            )
        out.append("")
        out.append(
            "msg/s, CPU ms/msg, RSS, wall and server CPU: medians over rounds; max in 1 s, 429, duplicates, losses "
            "and sender errors: worst round."
        )
        engine = self.summaries.get("engine")
        if engine is not None and engine.good:
            lines = []
            for run in engine.good:
                if run.engine:
                    lines.append(
                        f"r{run.round}: sent={run.engine['sent']} retried={run.engine['retried']} "
                        f"failed={run.engine['failed']} blocked={run.engine['blocked']}; rows "
                        + ", ".join(f"{status} {count}" for status, count in sorted(run.statuses.items()))
                    )
            if lines:
                out.append("")
                out.append("Engine summaries: " + "; ".join(lines) + ".")
            notes = sorted({note for run in engine.good for note in run.notes})
            if notes:
                out.append("Engine notes: " + "; ".join(notes) + ".")
        codes: dict[str, Counter[str]] = {}
        for sender, summary in self.summaries.items():
            merged: Counter[str] = Counter()
            for run in summary.runs:
                for code, count in run.rejected.items():
                    merged[code] = max(merged[code], count)
            if merged:
                codes[sender] = merged
        if codes:
            out.append(
                "Server rejections by HTTP status (worst round, incl. injected faults): "
                + "; ".join(
                    f"{sender}: " + ", ".join(f"{code} ×{n}" for code, n in sorted(counter.items()))
                    for sender, counter in codes.items()
                )
                + "."
            )
        aiorl = self.summaries.get("ptb-aiorl")
        if aiorl is not None and aiorl.good:
            out.append(
                f"AIORateLimiter is a token bucket that starts full, so it bursts past 30 in its first second: the "
                f"server answered {aiorl.worst_rejected('429')} of its sends with 429 (worst round); with "
                f"max_retries=0 each is raised as RetryAfter and that message is lost "
                f"({aiorl.worst('losses')} lost in the worst round). The accepted-sends column cannot exceed the "
                f"server's 30."
            )
        baselines = [name for name in ("ptb", "httpx") if name in self.summaries and self.summaries[name].good]
        if engine is not None and engine.good and baselines:
            out.append("")
            out.append("| ratio | msg/s | CPU ms/msg | peak RSS |")
            out.append("| --- | ---: | ---: | ---: |")
            for name in baselines:
                base = self.summaries[name]
                out.append(
                    f"| engine / {'naive PTB' if name == 'ptb' else 'raw httpx'} "
                    f"| {_fmt(_ratio(engine.median('msgs_per_s'), base.median('msgs_per_s')), 2)}× "
                    f"| {_fmt(_ratio(engine.median('cpu_ms_per_msg'), base.median('cpu_ms_per_msg')), 2)}× "
                    f"| {_fmt(_ratio(engine.median('peak_rss_mb'), base.median('peak_rss_mb')), 2)}× |"
                )
        out.append("")
        out.append("| target | measured | result |")
        out.append("| --- | --- | --- |")
        for target in self.targets():
            verdict = "SKIP" if target.passed is None else "PASS" if target.passed else "FAIL"
            out.append(f"| {target.text} | {target.measured} | **{verdict}** |")
        out.append("")
        return "\n".join(out)


def run_scenario(scenario: Scenario, args: argparse.Namespace, workdir: Path) -> ScenarioReport:
    subscribers = args.subscribers or scenario.subscribers
    if args.quick and not args.subscribers:
        subscribers //= 10
    senders = list(args.senders) if args.senders else list(scenario.senders)
    engine_missing: str | None = None
    if "engine" in senders:
        engine_missing = engine_availability()
    if "ptb-aiorl" in senders:
        try:
            import aiolimiter  # noqa: F401
        except ImportError:
            print("  ptb-aiorl skipped: aiolimiter is not installed (pip install aiolimiter)", file=sys.stderr)
            senders.remove("ptb-aiorl")
    runnable = [sender for sender in senders if not (sender == "engine" and engine_missing)]
    plan = FaultPlan(scenario, subscribers)
    started = time.monotonic()
    load_before = os.getloadavg()
    print(f"== scenario {scenario.letter} ({scenario.key}): {scenario.describe(subscribers)}", file=sys.stderr)
    if engine_missing:
        print(f"  engine: not available ({engine_missing})", file=sys.stderr)
    code_before = engine_fingerprint()
    server = FakeServer(scenario, workdir / f"{scenario.key}-server.log")
    runs: dict[str, list[RunResult]] = {sender: [] for sender in runnable}
    try:
        for round_no in range(1, args.rounds + 1):
            for sender in runnable:
                if sender != "engine" and args.baseline_rounds is not None and round_no > args.baseline_rounds:
                    continue
                run = run_once(scenario, sender, round_no, subscribers, server, plan, workdir, args)
                runs[sender].append(run)
                if run.ok:
                    print(
                        f"  r{round_no} {sender:<9} {run.msgs_per_s:8.1f} msg/s {run.cpu_ms_per_msg:6.2f} CPU ms/msg "
                        f"peak {run.peak_rss_mb:6.1f} MB  max/s {run.max_window:4d}  429 {run.rate_429:4d}  "
                        f"dup {run.duplicates}  lost {run.losses}  errors {run.sender_errors or 0}  "
                        f"wall {run.wall:6.1f} s  server CPU {run.server_cpu_pct:3.0f}%",
                        file=sys.stderr,
                        flush=True,
                    )
                else:
                    print(f"  r{round_no} {sender:<9} FAILED: {run.error}", file=sys.stderr, flush=True)
    finally:
        server.stop()
    report = ScenarioReport(
        scenario=scenario,
        subscribers=subscribers,
        rounds=args.rounds,
        plan=plan,
        senders=senders,
        summaries={sender: SenderSummary(sender, sender_runs) for sender, sender_runs in runs.items()},
        engine_missing=engine_missing,
        load_before=load_before,
        load_after=os.getloadavg(),
        server_command=server.command,
        elapsed=time.monotonic() - started,
        engine_code=(code_before, engine_fingerprint()),
    )
    return report


# ------------------------------------------------------------------------------------------------ profiles


_IDLE_LEAVES = (
    "_connection_worker_thread (aiosqlite/core.py:59)",
    "EpollSelector.select (selectors.py",
    "select (selectors.py",
)


def summarize_profile(path: Path, top: int = 25) -> str:
    """Top packages and functions of a py-spy `--format raw` (collapsed stacks) file.

    Samples whose innermost frame is a thread waiting for work (aiosqlite's queue, the selector) are counted
    as idle and left out of the shares.
    """
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = idle = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        leaf = frames[-1]
        if any(leaf.startswith(marker) for marker in _IDLE_LEAVES):
            idle += count
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[leaf] += count
        where = leaf[leaf.rfind("(") + 1 : leaf.rfind(")")] if "(" in leaf else leaf
        where = where.rsplit(":", 1)[0]
        if "site-packages/" in where:
            where = where.split("site-packages/", 1)[1]
        top_name = where.split("/", 1)[0] if "/" in where else f"{where} (stdlib/module)"
        packages[top_name] += count
    if not total:
        return f"{path}: no busy samples"
    lines = [f"{path}: {total} busy samples ({idle} idle samples left out)", "", "self time by top-level package:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in packages.most_common(top)]
    lines += ["", "self time by function:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines += ["", "inclusive time by function:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/delivery_bench.py",
        description="Benchmark the bulletin delivery engine against naive senders on the fake Bot API.",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "all"],
        help="limited (A), unlimited (B), memory (C), faults (D); repeatable; default: all",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per scenario; medians are reported")
    parser.add_argument(
        "--baseline-rounds",
        type=int,
        help="run the naive senders in only the first N rounds (they take minutes per run in C and D)",
    )
    parser.add_argument("--quick", action="store_true", help="10× fewer subscribers: a smoke run")
    parser.add_argument(
        "--senders",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        help=f"comma-separated, from {','.join(ALL_SENDERS)}; default: per scenario",
    )
    parser.add_argument("--subscribers", type=int, help="override the scenario's subscriber count")
    parser.add_argument("--workers", type=int, default=WORKERS, help="engine workers (and ptb-aiorl workers)")
    parser.add_argument("--out", type=Path, help="also write the markdown tables to this file")
    parser.add_argument("--json", type=Path, help="write every run's raw measurements as JSON")
    parser.add_argument("--workdir", type=Path, help="where databases and logs go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep databases, specs and child logs")
    parser.add_argument("--profile-dir", type=Path, help="record py-spy profiles (collapsed stacks) of the runs")
    parser.add_argument(
        "--profile-senders",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=["engine"],
        help="senders to profile with --profile-dir (default: engine)",
    )
    parser.add_argument("--summarize", type=Path, nargs="+", help="print a summary of py-spy raw profiles and exit")
    args = parser.parse_args(argv)
    if args.senders:
        unknown = [name for name in args.senders if name not in SENDER_LABELS]
        if unknown:
            parser.error(f"unknown senders {unknown}; choose from {list(ALL_SENDERS)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--child"]:
        return child_main(argv[1])
    args = parse_args(argv)
    if args.summarize:
        for path in args.summarize:
            print(summarize_profile(path))
            print()
        return 0
    chosen = args.scenario or ["all"]
    keys = list(SCENARIOS) if "all" in chosen else list(dict.fromkeys(chosen))
    temp: tempfile.TemporaryDirectory[str] | None = None
    if args.workdir:
        workdir = args.workdir
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        temp = tempfile.TemporaryDirectory(prefix="delivery-bench-")
        workdir = Path(temp.name)
    text_lengths = [len(bulletin_text(variant)) for variant in range(TEXT_VARIANTS)]
    header = [
        "## Delivery benchmark results",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}; command: `{' '.join(['bench/delivery_bench.py', *argv])}`. "
        f"Bulletin text {min(text_lengths)}–{max(text_lengths)} characters of HTML.",
        "",
    ]
    print("\n".join(header), flush=True)
    reports: list[ScenarioReport] = []
    sections = list(header)
    try:
        for key in keys:
            report = run_scenario(SCENARIOS[key], args, workdir)
            reports.append(report)
            text = report.render()
            sections.append(text)
            print(text, flush=True)
            if args.out:
                args.out.write_text("\n".join(sections))
    finally:
        if args.json:
            args.json.write_text(
                json.dumps(
                    [
                        {
                            "scenario": report.scenario.key,
                            "subscribers": report.subscribers,
                            "runs": [run.__dict__ for summary in report.summaries.values() for run in summary.runs],
                        }
                        for report in reports
                    ],
                    indent=1,
                    default=str,
                )
            )
        if temp is not None:
            temp.cleanup()
    failed = [target for report in reports for target in report.targets() if target.passed is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
