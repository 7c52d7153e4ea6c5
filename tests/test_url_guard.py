"""The address guard (issue 8, point 1): with ALLOW_PRIVATE_URLS off nothing is fetched from a non-public address.

The hostile servers are the tests' own, on loopback. To have an address that counts as public and is still on
this machine, the guard is told to let 127.0.0.3 through (`allowed_networks`) and a resolver mapping test names
(`public.example`) to it is passed in; names not in its table go to the system resolver. Everything else on
loopback (the "secret" server on 127.0.0.1) is refused as it would be in production.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpcore
import httpx
import pytest
from sqlalchemy import select

from fakebot import FakeBotAPI
from ingest.fetch import Fetcher, FetchError
from ingest.netguard import AddressRefused, GuardedBackend, GuardedTransport, address_kind, system_resolve
from services.feeds import FeedService, SourceError
from storage import sources as source_repo
from storage.models import Article
from storage.session import Database
from tests.conftest import Clock, start_bot
from tests.feedserver import FeedServer
from tests.test_cli import clean_env, newsbot

PUBLIC_IP = "127.0.0.3"  # stands in for a public address in these tests
ALLOW_TEST_PUBLIC = [ipaddress.ip_network(f"{PUBLIC_IP}/32")]
ADMIN = 999  # conftest's settings make user 999 the admin


class Resolver:
    """Answers from a table (a list of answers per name: one per call, the last one repeated); counts lookups."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        answers = self.table.get(host)
        if answers is None:
            return await system_resolve(host, port)
        return answers[min(self.calls.count(host), len(answers)) - 1]


def guarded_fetcher(resolver: Resolver | None = None) -> Fetcher:
    return Fetcher(
        timeout=5.0, resolve=resolver or Resolver({}), allowed_networks=ALLOW_TEST_PUBLIC, allow_private_urls=False
    )


@pytest.fixture
async def secret() -> AsyncIterator[FeedServer]:
    """What an attacker wants read: a server on loopback."""
    async with FeedServer() as server:
        server.serve("/secret", "the admin password is hunter2", content_type="text/plain")
        yield server


@pytest.fixture
async def public() -> AsyncIterator[FeedServer]:
    """A server the guard lets through (127.0.0.3, allowed in these tests only), named public.example."""
    async with FeedServer(host=PUBLIC_IP) as server:
        yield server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- which addresses are refused


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("100.64.0.1", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "reserved"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("192.0.0.8", "reserved"),
        ("192.0.2.1", "documentation"),
        ("203.0.113.7", "documentation"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12::1", "private"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("2001::1", "reserved"),  # Teredo
        ("100::1", "reserved"),  # discard-only
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "loopback"),  # IPv4-compatible
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 of 169.254.169.254
    ],
)
def test_non_public_addresses_are_refused_with_their_kind(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "1.1.1.1",
        "8.8.8.8",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700:4700::1111",
        "2a00:1450::1",
        "::ffff:93.184.216.34",
        "2002:5db8:d822::1",
    ],  # fmt: skip
)
def test_public_addresses_pass(address: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "017700000001", "localhost", "LocalHost"])
async def test_numeric_forms_and_localhost_resolve_to_loopback_and_are_refused(host: str) -> None:
    # The real system resolver: these are the forms a connect would read as loopback too.
    with pytest.raises(AddressRefused) as refused:
        await GuardedBackend().checked_addresses(host, 80)
    assert refused.value.kind == "loopback" and refused.value.host == host
    assert str(refused.value) == f"refused: {host} resolves to {refused.value.ip}, a loopback address"


def test_refusal_messages() -> None:
    assert str(AddressRefused("10.0.0.5", ipaddress.ip_address("10.0.0.5"), "private")) == (
        "refused: 10.0.0.5 is a private address"
    )
    assert str(AddressRefused("0.0.0.0", ipaddress.ip_address("0.0.0.0"), "unspecified")) == (
        "refused: 0.0.0.0 is an unspecified address"
    )


# ---------------------------------------------------------------------------- the fetcher, end to end


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1", "2130706433", "0x7f000001", "[::1]",
                                  "[::ffff:127.0.0.1]", "[::ffff:7f00:1]"])  # fmt: skip
async def test_loopback_urls_are_refused_before_connecting(secret: FeedServer, host: str) -> None:
    url = f"http://{host}:{secret.port}/secret"
    async with Fetcher(allow_private_urls=False) as fetcher:
        with pytest.raises(FetchError, match=r"^refused: \S+ (is|resolves to \S+,) a loopback address$"):
            await fetcher.get(url)
    assert secret.requests == []


async def test_an_open_and_a_closed_port_get_the_same_refusal(secret: FeedServer) -> None:
    messages = []
    for port in (secret.port, closed_port()):
        async with Fetcher(allow_private_urls=False) as fetcher:
            with pytest.raises(FetchError) as refused:
                await fetcher.get(f"http://127.0.0.1:{port}/secret")
            messages.append(str(refused.value))
    assert messages == ["refused: 127.0.0.1 is a loopback address"] * 2
    assert secret.requests == []
    # Without the guard the two differ: that difference is what made /addsource a port scanner.
    async with Fetcher(allow_private_urls=True) as fetcher:
        assert (await fetcher.get(secret.url("/secret"), accept="text/plain")).content.startswith(b"the admin")
        with pytest.raises(FetchError, match="ConnectError"):
            await fetcher.get(f"http://127.0.0.1:{closed_port()}/secret")


@pytest.mark.parametrize(
    ("answers", "refused"),
    [
        (["10.0.0.5"], "10.0.0.5, a private address"),
        (["169.254.169.254"], "169.254.169.254, a link-local address"),
        (["fd00::5"], "fd00::5, a private address"),
        (["93.184.216.34", "127.0.0.1"], "127.0.0.1, a loopback address"),  # one bad address is enough
        (["::1", "93.184.216.34"], "::1, a loopback address"),
    ],
)
async def test_names_resolving_to_non_public_addresses_are_refused(
    secret: FeedServer, answers: list[str], refused: str
) -> None:
    resolver = Resolver({"feeds.example": [answers]})
    async with guarded_fetcher(resolver) as fetcher:
        with pytest.raises(FetchError) as error:
            await fetcher.get(f"http://feeds.example:{secret.port}/secret")
    assert str(error.value) == f"refused: feeds.example resolves to {refused}"
    assert resolver.calls == ["feeds.example"] and secret.requests == []


async def test_the_connection_goes_to_the_address_checked_with_one_lookup_per_host(public: FeedServer) -> None:
    public.serve("/a", redirect_to=f"http://other.example:{public.port}/b", status=302)
    public.serve("/b", "fine", content_type="text/plain")
    # A second lookup of public.example would answer loopback (refused), and the system resolver knows neither
    # name: the fetch can only succeed by connecting to the address that was checked.
    resolver = Resolver({"public.example": [[PUBLIC_IP], ["127.0.0.1"]], "other.example": [[PUBLIC_IP], ["10.0.0.1"]]})
    async with guarded_fetcher(resolver) as fetcher:
        result = await fetcher.get(f"http://public.example:{public.port}/a")
    assert result.content == b"fine" and result.url == f"http://other.example:{public.port}/b"
    assert resolver.calls == ["public.example", "other.example"]  # one lookup per hop
    # The Host header (and for https, TLS's server name) still carry the name, not the address.
    assert [(r.path, r.headers["Host"]) for r in public.requests] == [
        ("/a", f"public.example:{public.port}"),
        ("/b", f"other.example:{public.port}"),
    ]


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{port}/secret",
        "http://localhost:{port}/secret",
        "http://127.1:{port}/secret",
        "http://2130706433:{port}/secret",
        "http://0x7f000001:{port}/secret",
        "http://[::1]:{port}/secret",
        "http://[::ffff:127.0.0.1]:{port}/secret",
        "http://169.254.169.254/latest/meta-data/",
        "http://internal.example:{port}/secret",
    ],
)
@pytest.mark.parametrize("status", [302, 301])
async def test_a_redirect_from_an_allowed_address_to_a_refused_one_is_refused(
    public: FeedServer, secret: FeedServer, target: str, status: int
) -> None:
    location = target.format(port=secret.port)
    public.serve("/start", redirect_to=location, status=status)
    resolver = Resolver({"public.example": [[PUBLIC_IP]], "internal.example": [["192.168.7.7"]]})
    async with guarded_fetcher(resolver) as fetcher:
        with pytest.raises(FetchError, match=r"^refused: .* address$"):
            await fetcher.get(f"http://public.example:{public.port}/start")
    assert [r.path for r in public.requests] == ["/start"]  # the first hop was made: it was allowed
    assert secret.requests == []


async def test_a_proxy_in_the_environment_does_not_get_around_the_guard(
    monkeypatch: pytest.MonkeyPatch, public: FeedServer, secret: FeedServer
) -> None:
    # A proxy connects on our behalf, to addresses the guard never sees: with the guard on it is not used.
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, secret.base)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    resolver = Resolver({"public.example": [[PUBLIC_IP]], "internal.example": [["10.0.0.5"]]})
    public.serve("/feed", "public text", content_type="text/plain")
    async with guarded_fetcher(resolver) as fetcher:
        with pytest.raises(FetchError, match="^refused: internal.example resolves to 10.0.0.5, a private address$"):
            await fetcher.get("http://internal.example/secret")
        assert (await fetcher.get(f"http://public.example:{public.port}/feed")).content == b"public text"
    assert secret.requests == [] and len(public.requests) == 1


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Stands in for the network under the guard: records where it is asked to connect; IPv6 is unreachable."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []
        self.server_names: list[str | None] = []

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: object = None) -> httpcore.AsyncNetworkStream:  # fmt: skip
        self.connects.append((host, port))
        if ":" in host:
            raise httpcore.ConnectError("network unreachable")
        return RecordingStream(self)


class RecordingStream(httpcore.AsyncNetworkStream):
    def __init__(self, backend: RecordingBackend) -> None:
        self.backend = backend

    async def start_tls(self, ssl_context: object, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:  # fmt: skip
        self.backend.server_names.append(server_hostname)
        raise httpcore.ConnectError("the test stops at the TLS handshake")

    async def aclose(self) -> None:
        pass


async def test_https_connects_to_the_checked_addresses_in_order_and_keeps_the_name_for_tls() -> None:
    network = RecordingBackend()
    resolver = Resolver({"news.example": [["2606:4700::6810:1", "93.184.216.34"]]})
    backend = GuardedBackend(resolve=resolver, inner=network)
    async with httpx.AsyncClient(transport=GuardedTransport(limits=httpx.Limits(), backend=backend)) as client:
        with pytest.raises(httpx.ConnectError, match="TLS handshake"):
            await client.get("https://news.example/feed")
    assert network.connects == [("2606:4700::6810:1", 443), ("93.184.216.34", 443)]  # the next one when one fails
    assert network.server_names == ["news.example"] and resolver.calls == ["news.example"]


async def test_allow_private_urls_switches_the_guard_off(secret: FeedServer) -> None:
    async with Fetcher(allow_private_urls=True) as fetcher:
        for host in ("127.0.0.1", "localhost", "2130706433"):
            result = await fetcher.get(f"http://{host}:{secret.port}/secret", accept="text/plain")
            assert result.content == b"the admin password is hunter2"
    assert len(secret.requests) == 3


# ---------------------------------------------------------------------------- polling, adding sources, ingest


class GuardedFeedService(FeedService):
    """The feed service with the guard on, the tests' resolver and 127.0.0.3 counted as public."""

    def __init__(self, db: Database, resolver: Resolver) -> None:
        super().__init__(db, fetch_timeout=5.0, allow_private_urls=False)
        self.resolver = resolver

    def fetcher(self) -> Fetcher:
        return Fetcher(timeout=self.fetch_timeout, max_bytes=self.max_feed_bytes, allow_private_urls=False,
                       resolve=self.resolver, allowed_networks=ALLOW_TEST_PUBLIC)  # fmt: skip


def feed_linking_to(*links: str) -> str:
    items = "".join(
        f"<item><title>Entry {n}</title><link>{link}</link><guid>entry-{n}</guid>"
        f"<description>Short summary {n}.</description></item>"
        for n, link in enumerate(links, 1)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Public feed</title>{items}</channel></rss>'


async def test_the_poller_does_not_fetch_entry_links_on_internal_addresses(
    database: Database, public: FeedServer, secret: FeedServer
) -> None:
    port = secret.port
    public.serve_file("/page.html", "harbour-reopens.html", content_type="text/html")
    feed = public.serve("/feed.xml", feed_linking_to(
        f"http://127.0.0.1:{port}/secret", f"http://localhost:{port}/secret", f"http://2130706433:{port}/secret",
        f"http://public.example:{public.port}/redirect", f"http://public.example:{public.port}/page.html",
    ))  # fmt: skip
    public.serve("/redirect", redirect_to=f"http://127.1:{port}/secret", status=302)
    service = GuardedFeedService(database, Resolver({"public.example": [[PUBLIC_IP]]}))
    async with database.session() as session:
        source, _ = await source_repo.add_source(
            session, feed.replace(PUBLIC_IP, "public.example"), interval_minutes=15, now=service.clock()
        )
    [result] = (await service.poll([source.id])).results
    assert result.ok and len(result.added) == 5
    assert secret.requests == []
    async with database.session() as session:
        stored = list(await session.scalars(select(Article).order_by(Article.guid)))
    assert [a.body for a in stored[:4]] == [f"Short summary {n}." for n in range(1, 5)]
    assert stored[4].body.startswith("Millbrook harbour reopened")  # the public page was fetched as before


async def test_adding_a_source_on_an_internal_address_is_refused(
    database: Database, public: FeedServer, secret: FeedServer
) -> None:
    service = GuardedFeedService(database, Resolver({"public.example": [[PUBLIC_IP]]}))
    secret.serve("/feed.xml", feed_linking_to("http://example.com/a"))
    for port in (secret.port, closed_port()):
        url = f"http://127.0.0.1:{port}/feed.xml"
        with pytest.raises(SourceError) as error:
            await service.add(url)
        assert str(error.value) == f"cannot use {url} as a source: refused: 127.0.0.1 is a loopback address"
    # Feed discovery: a public page naming a feed on loopback.
    page = public.serve("/home.html", f'<html><head><link rel="alternate" type="application/rss+xml" '
                                      f'href="http://localhost:{secret.port}/feed.xml"></head><body>Hi</body></html>',
                        content_type="text/html")  # fmt: skip
    with pytest.raises(SourceError, match=r"^cannot use .* as a source: refused: localhost resolves to .*loopback"):
        await service.add(page.replace(PUBLIC_IP, "public.example"))
    assert secret.requests == [] and [r.path for r in public.requests] == ["/home.html"]
    async with database.session() as session:
        assert await source_repo.list_sources(session) == []


async def test_addsource_in_the_chat_refuses_loopback_the_same_way_for_open_and_closed_ports(
    fake_api: FakeBotAPI, db_url: str, clock: Clock, secret: FeedServer
) -> None:
    secret.serve("/feed.xml", feed_linking_to("http://example.com/a"))
    async with start_bot(fake_api, db_url, clock, allow_private_urls=False) as bot:
        for port in (secret.port, closed_port()):
            url = f"http://127.0.0.1:{port}/feed.xml"
            [reply] = await bot.ask(ADMIN, f"/addsource {url}")
            assert reply.visible_text == f"❌ cannot use {url} as a source: refused: 127.0.0.1 is a loopback address"
    assert secret.requests == []


async def test_the_cli_refuses_internal_urls_in_one_line(tmp_path: Path, secret: FeedServer) -> None:
    env = clean_env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}")  # ALLOW_PRIVATE_URLS unset
    url = secret.serve("/feed.xml", feed_linking_to("http://example.com/a"))
    code, out, err = await newsbot("sources", "add", url, cwd=tmp_path, env=env)
    assert (code, out) == (1, "") and "Traceback" not in err
    refused = "refused: 127.0.0.1 is a loopback address"
    # One line (besides the log's note that it migrated the new database file).
    lines = [line for line in err.splitlines() if " INFO " not in line]
    assert lines == [f"newsbot: cannot use {url} as a source: {refused}"]
    page = f"http://2130706433:{secret.port}/secret"
    code, out, err = await newsbot("ingest", page, cwd=tmp_path, env=env)
    assert code == 1 and "Traceback" not in err
    refused = "refused: 2130706433 resolves to 127.0.0.1, a loopback address"
    assert out.strip() == f"skipped {page}: cannot fetch it ({refused})"
    assert secret.requests == []
