"""Fetching feeds and article pages over HTTP: a total timeout, a size cap, redirects, gzip, conditional GET."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

import httpx

from ingest.netguard import AddressRefused, GuardedBackend, GuardedTransport, IPNetwork, Resolver, system_resolve

__all__ = ["FetchError", "FetchResult", "Fetcher"]

USER_AGENT = "newsbot/0.1 (news feed reader)"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
MAX_REDIRECTS = 5
PERMANENT_REDIRECTS = (301, 308)


class FetchError(Exception):
    """The document could not be fetched; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class FetchResult:
    url: str  # where the document finally came from
    status: int  # 200, or 304 when the validators matched (then `content` is empty)
    content: bytes
    content_type: str | None
    etag: str | None
    last_modified: str | None
    # Where a permanent redirect (301/308) from the requested URL leads: the URL to remember from now on.
    moved_to: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


class Fetcher:
    """One HTTP client shared by many fetches; use as `async with Fetcher() as fetcher:`.

    Unless `allow_private_urls`, every connection (redirects included) goes to public addresses only
    (ingest/netguard.py): `resolve` replaces the system resolver and `allowed_networks` are let through
    anyway (both for tests). A `transport` given is used as it is, without the guard (tests of other things).
    """

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        max_bytes: int = 5 * 1024 * 1024,
        max_connections: int = 20,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_private_urls: bool = False,
        resolve: Resolver = system_resolve,
        allowed_networks: Iterable[IPNetwork] = (),
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        # False: refuse every address that is not globally routable (ALLOW_PRIVATE_URLS).
        self.allow_private_urls = allow_private_urls
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        guarded = not allow_private_urls and transport is None
        if guarded:
            backend = GuardedBackend(resolve=resolve, allowed_networks=allowed_networks)
            transport = GuardedTransport(limits=limits, backend=backend)
        self._client = httpx.AsyncClient(
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            timeout=httpx.Timeout(timeout),
            limits=limits,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            # Guarded: no proxy from HTTP(S)_PROXY/ALL_PROXY, which would connect where the guard never looked.
            trust_env=not guarded,
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = FEED_ACCEPT,
        max_bytes: int | None = None,
    ) -> FetchResult:
        if not url.startswith(("http://", "https://")):
            raise FetchError(f"not an http(s) URL: {url}")
        limit = max_bytes or self.max_bytes
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        try:
            async with asyncio.timeout(self.timeout):
                async with self._client.stream("GET", url, headers=headers) as response:
                    content = b""
                    if response.status_code != 304:
                        if response.status_code >= 400:
                            raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
                        if response.status_code != 200:
                            raise FetchError(f"unexpected HTTP status {response.status_code}")
                        content = await _read_capped(response, limit)
                    return FetchResult(
                        url=str(response.url),
                        status=response.status_code,
                        content=content,
                        content_type=response.headers.get("content-type"),
                        etag=response.headers.get("etag"),
                        last_modified=response.headers.get("last-modified"),
                        moved_to=_permanent_target(response),
                    )
        except TimeoutError:
            raise FetchError(f"timed out after {self.timeout:g} s") from None
        except AddressRefused as exc:  # the same line whether or not anything listens there: nothing was tried
            raise FetchError(str(exc)) from None
        except httpx.TooManyRedirects:
            raise FetchError(f"more than {MAX_REDIRECTS} redirects") from None
        except httpx.HTTPError as exc:
            detail = str(exc) or type(exc).__name__
            raise FetchError(f"{type(exc).__name__}: {detail}") from None


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(f"response too large: {int(declared)} bytes (the limit is {limit})")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():  # decompressed, so a gzip bomb stops at the limit too
        size += len(chunk)
        if size > limit:
            raise FetchError(f"response too large: more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _permanent_target(response: httpx.Response) -> str | None:
    """The URL reached through the unbroken run of permanent redirects that starts at the requested URL."""
    hops = response.history
    if not hops:
        return None
    urls = [str(hop.url) for hop in hops] + [str(response.url)]
    target = None
    for index, hop in enumerate(hops):
        if hop.status_code not in PERMANENT_REDIRECTS:
            break
        target = urls[index + 1]
    return target
