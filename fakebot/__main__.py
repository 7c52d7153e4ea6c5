"""Run the fake Bot API in its own process, e.g. for a benchmark:

    python -m fakebot --port 8081 --latency 0.08 --rate 30 --fault-ratio 0.1

It prints ``fakebot listening on http://HOST:PORT`` once ready (use ``--port 0`` for a free port), serves
``GET /_stats`` (JSON counters) and ``GET /_reset``, and exits on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
from collections.abc import Sequence
from typing import cast

from .faults import FAULT_KINDS, FaultKind
from .server import FakeBotAPI


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fakebot", description="Fake Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept before answering each send")
    parser.add_argument("--rate", type=int, default=None, help="global sendMessage limit per sliding second (429)")
    parser.add_argument("--per-chat-rate", type=int, default=None, help="per-chat sendMessage limit per second")
    parser.add_argument("--fault-ratio", type=float, default=0.0, help="share of chats (picked by hash) that fail")
    parser.add_argument(
        "--fault-kinds", default="429,500,502,timeout,403", help="comma-separated kinds assigned to faulty chats"
    )
    parser.add_argument("--fault-times", type=int, default=1, help="failures per transient faulty chat (403: all)")
    parser.add_argument("--timeout-delay", type=float, default=30.0, help="seconds a 'timeout' fault holds a request")
    parser.add_argument("--bot-username", default="newsbot_test_bot")
    parser.add_argument(
        "--trace", help="write every sendMessage's (chat id, arrival time, admitted) here as JSON at exit"
    )
    parser.add_argument("--lenient-ampersand", action="store_true", help="accept a bare '&' in HTML like Telegram")
    args = parser.parse_args(argv)
    kinds = [kind.strip() for kind in args.fault_kinds.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if unknown:
        parser.error(f"unknown fault kinds {unknown}; choose from {sorted(FAULT_KINDS)}")
    args.fault_kinds = kinds
    return args


async def _serve(args: argparse.Namespace) -> None:
    # This process keeps every message it accepts (for the per-chat counts), so full (generation 2) garbage
    # collections walk an ever larger heap: 15 ms stalls after a few thousand messages were measured. A stall
    # delays the arrival times the flood limit is checked on, and would be blamed on the sender. Young
    # generations are still collected; only the full sweeps are put off.
    gc.set_threshold(700, 10, 1_000_000)
    api = FakeBotAPI(bot_username=args.bot_username)
    api.latency = args.latency
    api.timeout_delay = args.timeout_delay
    api.strict_ampersand = not args.lenient_ampersand
    api.enforce_rate(args.rate)
    api.enforce_per_chat_rate(args.per_chat_rate)
    if args.fault_ratio > 0:
        api.set_fault_ratio(
            args.fault_ratio,
            kinds=[cast(FaultKind, kind) for kind in args.fault_kinds],
            transient_times=args.fault_times,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await api.start(args.host, args.port)
    print(f"fakebot listening on {api.url}", flush=True)
    if args.trace:
        api.arrivals = []
    try:
        await stop.wait()
    finally:
        await api.stop()
        if args.trace:
            with open(args.trace, "w", encoding="utf-8") as handle:
                json.dump(api.arrivals, handle)


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
