"""The fake Telegram Bot API server (aiohttp.web): `FakeBotAPI` starts and stops the HTTP server.

Its parts build on one another, one module each: `state.FakeBotState` (records, queues, user actions, waiting) <-
`faults.FaultInjection` (faults, flood limits, held sends) <- `routes.BotApiRoutes` (HTTP and the Bot API methods)
<- `FakeBotAPI`. A chain rather than side-by-side mixins, so that each part sees the attributes of the ones below
it with their types.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from aiohttp import web

from .routes import MAX_MESSAGE_LENGTH, BotApiRoutes

__all__ = ["FakeBotAPI", "MAX_MESSAGE_LENGTH"]


class FakeBotAPI(BotApiRoutes):
    """A fake Telegram Bot API over real HTTP, for python-telegram-bot clients.

    Point the bot at it with ``base_url=f"{api.url}/bot"`` and ``base_file_url=f"{api.url}/file/bot"``.
    Everything is single-threaded on the event loop, so the records can be read at any time.
    """

    def __init__(
        self, *, bot_id: int = 7000001, bot_username: str = "newsbot_test_bot", bot_name: str = "NewsBot"
    ) -> None:
        super().__init__(bot_id=bot_id, bot_username=bot_username, bot_name=bot_name)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # ------------------------------------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:43121``."""
        if self._url is None:
            raise RuntimeError("FakeBotAPI is not started")
        return self._url

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("FakeBotAPI already started")
        self._closing = False
        self._stopping = asyncio.Event()
        app = self._make_app()
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound_port = runner.addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        self._url = f"http://{shown_host}:{bound_port}"

    async def stop(self) -> None:
        runner = self._runner
        if runner is None:
            return
        self._closing = True
        if self._stopping is not None:
            self._stopping.set()
        self.release_sends()
        self._updates_signal.fire()
        self._changed.fire()
        self._runner = None
        await runner.cleanup()

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
