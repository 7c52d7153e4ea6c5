"""A local HTTP server for feed tests: serves the files in tests/data/feeds and the ways real servers fail.

Each path is configured with `serve(...)`: a body (or a file, where `{{BASE}}` becomes the server's own URL),
a content type, ETag / Last-Modified validators (answered with 304 when the request's match), gzip when the
client accepts it, an HTTP status, a redirect, a delay (for timeouts) or an endless body (for size caps), an
answer held until the test sets an event, or held at a `Gate` the test opens one request at a time. Every request is recorded with its headers, and when its answer
starts and ends, so a test can ask how many requests of a kind were answered at once (`peak`).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from aiohttp import web

FEEDS = Path(__file__).parent / "data" / "feeds"


class Gate:
    """Holds the requests to every route that shares it until the test lets them through: one per `release()`, or
    all once `open()`. `held` is how many are being held now."""

    def __init__(self) -> None:
        self.held = 0
        self._passes = 0
        self._open = False
        self._changed = asyncio.Condition()

    async def pass_through(self) -> None:
        async with self._changed:
            self.held += 1
            try:
                await self._changed.wait_for(lambda: self._open or self._passes > 0)
                if not self._open:
                    self._passes -= 1
            finally:
                self.held -= 1

    async def release(self) -> None:
        async with self._changed:
            self._passes += 1
            self._changed.notify_all()

    async def open(self) -> None:
        async with self._changed:
            self._open = True
            self._changed.notify_all()


@dataclass
class Route:
    body: bytes = b""
    content_type: str | None = "application/xml"
    status: int = 200
    etag: bool = True
    last_modified: str | None = None
    gzip: bool = False
    redirect_to: str | None = None
    delay: float = 0.0
    endless: bool = False  # stream data without Content-Length until the client gives up
    hold: asyncio.Event | None = None  # answer only once the test sets this event
    gate: Gate | None = None  # answer only once the test lets it through this gate


@dataclass
class Request:
    path: str
    headers: dict[str, str] = field(default_factory=dict)


class FeedServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host  # any loopback address (127.0.0.0/8) will do: the address guard's tests use two
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        # (path, +1) when a request's answer starts, (path, -1) when it ends, in that order.
        self.timeline: list[tuple[str, int]] = []
        self._arrived: asyncio.Condition | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    async def __aenter__(self) -> FeedServer:
        self._arrived = asyncio.Condition()
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ configuration

    def load(self, name: str) -> bytes:
        return (FEEDS / name).read_bytes().replace(b"{{BASE}}", self.base.encode())

    def serve(self, path: str, body: bytes | str = b"", **options: object) -> str:
        """Configure `path`; returns its full URL."""
        data = body.encode() if isinstance(body, str) else body
        self.routes[path] = Route(body=data, **options)  # type: ignore[arg-type]
        return self.url(path)

    def serve_file(self, path: str, name: str, **options: object) -> str:
        return self.serve(path, self.load(name), **options)

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def peak(self, matching: Callable[[str], bool] = lambda path: True) -> int:
        """The most requests with a matching path that were being answered at once."""
        now = highest = 0
        for path, step in self.timeline:
            if matching(path):
                now += step
                highest = max(highest, now)
        return highest

    async def wait_for_request(self, path: str, count: int = 1) -> None:
        """Until `count` requests to `path` have arrived (bound it with the test's own timeout)."""
        assert self._arrived is not None
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests_to(path)) >= count)

    # ------------------------------------------------------------------ answering

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(Request(request.path_qs, dict(request.headers)))
        if self._arrived is not None:
            async with self._arrived:
                self._arrived.notify_all()
        self.timeline.append((request.path_qs, 1))
        try:
            return await self._answer(request)
        finally:
            self.timeline.append((request.path_qs, -1))

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="not found")
        if route.hold is not None:
            await route.hold.wait()
        if route.gate is not None:
            await route.gate.pass_through()
        if route.delay:
            await asyncio.sleep(route.delay)
        if route.redirect_to is not None:
            return web.Response(status=route.status, headers={"Location": route.redirect_to})
        if route.status != 200:
            return web.Response(status=route.status, text=f"error {route.status}")
        headers: dict[str, str] = {}
        if route.content_type:
            headers["Content-Type"] = route.content_type
        tag = f'"{hashlib.sha1(route.body).hexdigest()[:16]}"' if route.etag else None
        if tag:
            headers["ETag"] = tag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if (tag and request.headers.get("If-None-Match") == tag) or (
            route.last_modified and request.headers.get("If-Modified-Since") == route.last_modified
        ):
            return web.Response(status=304, headers=headers)
        if route.endless:
            response = web.StreamResponse(headers=headers)
            await response.prepare(request)
            chunk = b"<!-- padding -->" * 4096
            try:
                for _ in range(10_000):
                    await response.write(chunk)
            except (ConnectionError, RuntimeError):
                pass
            return response
        body = route.body
        if route.gzip and "gzip" in request.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        response = web.Response(body=body, headers=headers)
        if not route.content_type:
            # aiohttp adds application/octet-stream by default; a server that sends no type at all is wanted here.
            response.headers.popall("Content-Type", None)
        return response
