"""Our HTTP listener: Telegram's webhook posts, /healthz and /metrics (aiohttp; not python-telegram-bot's
run_webhook, so that the limits, the health check, the metrics and the once-only handling are ours).

A webhook request is checked in this order, each refusal cheap and before the next step's cost:
  1. the X-Telegram-Bot-Api-Secret-Token header, compared in constant time: 403, the body is never read;
  2. the size: a Content-Length over 1 MB is refused at once, and a chunked body is read at most 1 MB + 1 byte
     (under a deadline, so a trickling client cannot hold a handler): 413;
  3. JSON that parses into an update object (an integer update_id, python-telegram-bot can build an Update): 400;
  4. the claim of its update_id in `handled_updates` (storage/updates.py): taken already means a retry or a
     duplicate, answered 200 and not handled again;
  5. the update is put on the Application's update queue and the request answered 200 at once; the update is
     handled by the same processor as polled ones (bot/updates.py: chat order, concurrency), and
     Application.stop() handles every queued update before it returns.

The claim comes before the answer, in the request. Had we answered first, an update whose claim then failed would
be lost or handled twice. So when the database does not answer within CLAIM_TIMEOUT, the answer is 500: Telegram
delivers the update again later (to this instance or another), by when the database is probably back. Handling it
unclaimed instead would give up "once" exactly when it matters least to keep it: nearly every handler needs the
database, so the handling would fail anyway, and the user would get an apology instead of an answer later.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from telegram import Update

from bot.app import NewsApplication, metrics_of
from bot.metrics import CONTENT_TYPE, Metrics
from bot.settings import Listen, Settings, Webhook
from storage import health
from storage import updates as update_repo
from storage.session import Database
from storage.types import utcnow

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1024 * 1024
# A body must arrive within this many seconds; a client trickling bytes holds nothing for longer.
READ_TIMEOUT = 10.0
CLAIM_TIMEOUT = 5.0
HEALTH_TIMEOUT = 2.0
# Telegram gives up redelivering an update long before this; claims older than it are deleted.
KEEP_CLAIMS = timedelta(days=1)
PRUNE_EVERY = 3600.0
# At shutdown, requests in progress get this long to finish (they only claim and queue: milliseconds).
SHUTDOWN_TIMEOUT = 5.0
# After a refused body (413), what is still coming is read and dropped for at most this long, so the client
# reads the answer instead of a reset connection; then the connection is closed.
LINGER = 2.0

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebhookServer:
    """The listener. With `webhook`, it takes Telegram's updates on the webhook URL's path; /healthz and /metrics
    are served either way (in polling mode on METRICS_LISTEN)."""

    def __init__(
        self,
        application: NewsApplication,
        db: Database,
        metrics: Metrics,
        *,
        listen: Listen,
        webhook: Webhook | None = None,
        clock: Callable[[], datetime] = utcnow,
        prune_every: float = PRUNE_EVERY,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        if webhook is not None and webhook.path in ("/healthz", "/metrics"):
            raise ValueError(f"the webhook path {webhook.path} is taken by the health check or the metrics")
        self.application = application
        self.db = db
        self.metrics = metrics
        self.listen = listen
        self.webhook = webhook
        self.clock = clock
        self.prune_every = prune_every
        self.read_timeout = read_timeout
        self._secret = webhook.secret.encode() if webhook is not None else b""
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None
        self._pruner: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose when `listen.port` is 0)."""
        assert self._socket is not None, "not started"
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """http://host:port of the listener, for local clients (tests, the bench)."""
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.listen.host, self.listen.host)
        return f"http://{host}:{self.port}" if ":" not in host else f"http://[{host}]:{self.port}"

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        if self.webhook is not None:
            app.router.add_post(self.webhook.path, self._counted(self._on_update))
        app.router.add_get("/healthz", self._on_health)
        app.router.add_get("/metrics", self._on_metrics)
        runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT, lingering_time=LINGER
        )
        await runner.setup()
        # Our own socket: its port is known when 0 was asked for, and it is bound before anything is announced.
        family = socket.AF_INET6 if ":" in self.listen.host else socket.AF_INET
        sock = socket.create_server((self.listen.host, self.listen.port), family=family, backlog=1024)
        try:
            site = web.SockSite(runner, sock, backlog=1024)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner, self._socket = runner, sock
        if self.webhook is not None and self.prune_every > 0:
            self._pruner = asyncio.create_task(self._prune_claims(), name="forget old webhook updates")
        what = f"webhook {self.webhook.path}, /healthz, /metrics" if self.webhook else "/healthz, /metrics"
        log.info("listening on %s:%s (%s)", self.listen.host, self.port, what)

    async def stop(self) -> None:
        """Close the listener, let the requests in progress finish (their updates are on the queue by then), close
        the connections. Updates already queued are the Application's to finish (Application.stop())."""
        self._closing = True
        if self._pruner is not None:
            self._pruner.cancel()
            await asyncio.gather(self._pruner, return_exceptions=True)
            self._pruner = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._socket is not None:
            self._socket.close()

    # ------------------------------------------------------------------ webhook

    def _counted(self, handler: _Handler) -> _Handler:
        async def counting(request: web.Request) -> web.StreamResponse:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # 408 for a body that stopped coming
                self.metrics.webhook_requests.labels(str(exc.status)).inc()
                raise
            self.metrics.webhook_requests.labels(str(response.status)).inc()
            return response

        return counting

    async def _on_update(self, request: web.Request) -> web.StreamResponse:
        received = time.monotonic()
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self._secret):
            return _refuse(403, "wrong or missing secret token")
        if self._closing:
            return _refuse(503, "shutting down")  # a request on a kept-alive connection during shutdown
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _refuse(413, "body over 1 MB")
        body = await self._read_body(request)
        if body is None:
            return _refuse(413, "body over 1 MB")
        update = self._parse(body)
        if update is None:
            return web.Response(status=400, text="not a Telegram update")
        try:
            async with asyncio.timeout(CLAIM_TIMEOUT):
                first = await update_repo.claim_update(self.db, update.update_id, now=self.clock())
        except Exception as exc:  # see the module's docstring: Telegram retries, nothing is lost or doubled
            log.warning("webhook: cannot claim update %s (answered 500): %s", update.update_id, exc)
            return web.Response(status=500, text="database unavailable, try again")
        if not first:
            self.metrics.duplicate(update)
            return web.Response(text="already handled")
        self.metrics.received(update.update_id, received)
        await self.application.update_queue.put(update)
        return web.Response(text="ok")

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The body, or None when it is over MAX_BODY (never more than MAX_BODY + 1 chunk is held)."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.read_timeout):
                while chunk := await request.content.read(64 * 1024):
                    size += len(chunk)
                    if size > MAX_BODY:
                        return None
                    chunks.append(chunk)
        except TimeoutError:
            raise web.HTTPRequestTimeout(text="body not received in time") from None
        return b"".join(chunks)

    def _parse(self, body: bytes) -> Update | None:
        try:
            data: Any = json.loads(body)
        except ValueError:  # UnicodeDecodeError is one
            return None
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool) or not 0 <= update_id < 2**63:
            return None
        try:
            return Update.de_json(data, self.application.bot)
        except Exception:  # fields of the wrong shape: python-telegram-bot raises whatever its parsing hits
            log.debug("webhook: update %s does not parse", update_id, exc_info=True)
            return None

    async def _prune_claims(self) -> None:
        while True:
            try:
                async with self.db.session() as session:
                    forgotten = await update_repo.forget_handled_before(session, self.clock() - KEEP_CLAIMS)
                if forgotten:
                    log.debug("webhook: forgot %s handled update ids older than a day", forgotten)
            except Exception as exc:  # the database is down: the next round tries again
                log.warning("webhook: cannot delete old handled update ids: %s", exc)
            await asyncio.sleep(self.prune_every)

    # ------------------------------------------------------------------ health and metrics

    async def _on_health(self, request: web.Request) -> web.Response:
        database = await health.database_answers(self.db, timeout=HEALTH_TIMEOUT)
        body = {
            "status": "ok" if database else "unavailable",
            "role": self.metrics.role_provider(),
            "database": "ok" if database else "unavailable",
        }
        return web.json_response(body, status=200 if database else 503)

    async def _on_metrics(self, request: web.Request) -> web.Response:
        body = await self.metrics.render(self.db)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def _refuse(status: int, reason: str) -> web.Response:
    response = web.Response(status=status, text=reason)
    response.force_close()  # whoever sent it does not get to send more on this connection
    return response


def build_server(settings: Settings, application: NewsApplication, db: Database) -> WebhookServer | None:
    """The listener the settings ask for: the webhook's (WEBHOOK_URL), the metrics' (METRICS_LISTEN), or none."""
    webhook = settings.webhook()
    if webhook is not None:
        return WebhookServer(application, db, metrics_of(application), listen=webhook.listen, webhook=webhook)
    if settings.metrics_listen is not None:
        return WebhookServer(application, db, metrics_of(application), listen=settings.metrics_listen)
    return None
