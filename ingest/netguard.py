"""The address guard: outgoing fetches reach public internet addresses only (no server-side request forgery).

Feeds and the pages they link to are chosen by outsiders, so a URL must not make the bot fetch from loopback,
the LAN, the cloud metadata service and the like. The check sits where the connection is made, inside httpx:
`GuardedBackend.connect_tcp` resolves the host once, refuses when any of its addresses is not public, and
connects to the addresses it checked (never to the name, so no second lookup can answer differently). Every
new connection goes through it, the first request's and each redirect hop's alike, before anything is sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpcore
import httpx

__all__ = [
    "AddressRefused",
    "GuardedBackend",
    "GuardedTransport",
    "IPAddress",
    "IPNetwork",
    "Resolver",
    "address_kind",
    "system_resolve",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses it stands for, as strings ("93.184.216.34", "2606:4700::1111"); OSError when none.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


def _networks(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# Named explicitly rather than left to `is_global`, whose answers changed between Python releases.
_PRIVATE = _networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
_CARRIER_NAT = _networks("100.64.0.0/10")
_DOCUMENTATION = _networks("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")
_RESERVED = _networks("0.0.0.0/8", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4")
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")  # every public IPv6 address is in here
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: the last 32 bits are an IPv4 address


def address_kind(ip: IPAddress) -> str | None:
    """Why `ip` is not a public address ("loopback", "private", "link-local", ...), or None when it is one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_unspecified or ip.is_loopback:  # :: and ::1, before they pass for IPv4-compatible forms
            return "unspecified" if ip.is_unspecified else "loopback"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:  # ::ffff:127.0.0.1 reaches 127.0.0.1: judge the address it stands for
            return address_kind(embedded)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:  # 169.254.169.254 is the cloud metadata service
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if any(ip in network for network in _PRIVATE):
        return "private"
    if any(ip in network for network in _CARRIER_NAT):
        return "carrier-grade NAT"
    if any(ip in network for network in _DOCUMENTATION):
        return "documentation"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_UNICAST_V6:
        return "reserved"
    if any(ip in network for network in _RESERVED) or ip.is_reserved or not ip.is_global:
        return "reserved"  # broadcast, benchmarking, IETF protocol assignments, Teredo, ...
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: mapped, IPv4-compatible, 6to4 or NAT64 forms."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or int(ip) >> 32 == 0:  # 64:ff9b::a.b.c.d and the deprecated ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class AddressRefused(Exception):
    """A fetch was refused before connecting; the message is the one line shown on the source."""

    def __init__(self, host: str, ip: IPAddress, kind: str) -> None:
        article = "an" if kind[0] in "aeiou" else "a"
        if host == str(ip):
            message = f"refused: {ip} is {article} {kind} address"
        else:
            message = f"refused: {host} resolves to {ip}, {article} {kind} address"
        super().__init__(message)
        self.host = host
        self.ip = ip
        self.kind = kind


async def system_resolve(host: str, port: int) -> list[str]:
    """The system resolver, as a connect would use it (so `127.1` or `2130706433` resolve as they would connect)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to public addresses, and to exactly those it checked."""

    def __init__(
        self,
        *,
        resolve: Resolver = system_resolve,
        allowed_networks: Iterable[IPNetwork] = (),
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.resolve = resolve
        # Exceptions to the rule, checked first (the tests use this to let one loopback address pass as public).
        self.allowed_networks = tuple(allowed_networks)
        self.inner = inner or httpcore.AnyIOBackend()

    async def checked_addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for `host`; AddressRefused when any of them is not public."""
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:  # a name (or a numeric form such as 127.1 that only the resolver reads)
            try:
                answers = await self.resolve(host, port)
            except OSError as exc:  # unknown name: an ordinary connect error, as without the guard
                raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
            addresses = list(dict.fromkeys(ipaddress.ip_address(answer) for answer in answers))
            if not addresses:
                raise httpcore.ConnectError(f"{host} has no address") from None
        for ip in addresses:  # one refused address refuses the host: a retry could land on it
            if any(ip in network for network in self.allowed_networks):
                continue
            kind = address_kind(ip)
            if kind is not None:
                raise AddressRefused(host, ip, kind)
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.checked_addresses(host, port)
        failure: Exception | None = None
        for ip in addresses:  # in the resolver's order, like a plain connect; an IP literal never resolves again
            try:
                return await self.inner.connect_tcp(
                    str(ip), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("refused: unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool built on a GuardedBackend.

    httpx has no public way to pass a network backend, but its transport only adapts an httpcore connection
    pool (`_pool`), which takes one; so the pool is rebuilt here as httpx builds it, with the backend added.
    No proxy: a proxy would make the connection itself, to addresses never checked here.
    """

    def __init__(self, *, limits: httpx.Limits, backend: GuardedBackend) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
