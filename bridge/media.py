"""Media the bridge downloads for the bot, from public addresses only.

With `BRIDGE_UPLOAD_MEDIA` the bridge fetches a URL the bot sent and puts what it gets in a
Slack thread. Whoever can make the bot send a link could otherwise read, through Slack, what
only the bridge can reach: its loopback, a cloud metadata service, the private network.

- Every address is checked where the connection is made, so every hop is covered: a
  `PublicConnector` resolves a name once, through `PublicResolver`, which refuses the name if
  any of its addresses may not be fetched from, and connects to exactly those addresses (no
  second lookup that a rebinding name server could answer differently). Its socket factory
  checks each address again as the socket is made, which also covers IP literals.
- Redirects are followed here, not by aiohttp: at most `MAX_REDIRECTS`, each hop http(s).
- The body is read whole up to a limit, as sent (not decompressed), all hops within one
  deadline.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 5
TIMEOUT = 30.0  # seconds for a whole fetch: every hop and the body
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 65536


def _networks(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr) for cidr in cidrs)


# IANA's special-purpose IPv4 blocks: this network, private (RFC 1918), CGNAT, loopback,
# link-local, protocol assignments, documentation, the 6to4 relay, benchmarking, multicast,
# reserved and broadcast. Written out: `is_global` differs between Python releases.
_IPV4_SPECIAL = _networks(
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
# Public IPv6 is global unicast only (which leaves out loopback, unspecified, IPv4-compatible,
# unique-local, link-local, site-local and multicast), less its protocol and documentation
# blocks (Teredo among them).
_IPV6_GLOBAL = ipaddress.IPv6Network("2000::/3")
_IPV6_SPECIAL = _networks("2001::/23", "2001:db8::/32", "3fff::/20")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # stands for the IPv4 address in its last bits
# Cloud metadata services (AWS, ECS, Alibaba, Oracle; GCP and Azure share AWS's): never, not
# even inside a network a deployment allows.
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192", "fd00:ec2::254")
)


class NotAllowed(OSError):
    """An address media may not be fetched from (an OSError: aiohttp wraps it as the cause
    of its connection error)."""


class Unfetchable(Exception):
    """The media could not be had: why, naming no secret."""


def parse(host: str) -> IPAddress | None:
    """`host` as an IP address, without an IPv6 zone; None when it is not one."""
    try:
        return ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None


def _embedded(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, 6to4, NAT64), else `ip`."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _within(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    # `in` compares bits only: an IPv4 address would match an IPv6 network.
    return any(ip.version == net.version and ip in net for net in networks)


def public(ip: IPAddress) -> bool:
    """Whether `ip` is a public unicast address, whatever form it is written in."""
    ip = _embedded(ip)
    if isinstance(ip, ipaddress.IPv4Address):
        return not _within(ip, _IPV4_SPECIAL)
    return ip in _IPV6_GLOBAL and not _within(ip, _IPV6_SPECIAL)


def allowed(ip: IPAddress, allow: Iterable[IPNetwork] = ()) -> bool:
    """Whether media may be fetched from `ip`: a public address, or one in `allow` (a
    deployment's own media hosts; loopback in tests), but never a metadata service."""
    ip = _embedded(ip)
    if ip in METADATA:
        return False
    return public(ip) or _within(ip, allow)


class PublicResolver(AbstractResolver):
    """Resolves a name once, and refuses it if any of its addresses is not allowed (a name
    that also points inward is not trusted for its other addresses)."""

    def __init__(
        self, allow: Iterable[IPNetwork] = (), inner: AbstractResolver | None = None
    ) -> None:
        self._allow = tuple(allow)
        # The system's lookup (hosts file included); it holds nothing to close.
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            ip = parse(result["host"])
            if ip is None or not allowed(ip, self._allow):
                raise NotAllowed(f"{host} resolves to {result['host']}, which is not public")
        return found

    async def close(self) -> None:
        await self._inner.close()


def socket_factory(allow: Iterable[IPNetwork] = ()) -> Callable[[tuple[Any, ...]], socket.socket]:
    """Makes the socket for one address, if it is allowed: the last check before connecting,
    the one that sees IP literals (which aiohttp never hands to the resolver)."""
    networks = tuple(allow)

    def make(addr_info: tuple[Any, ...]) -> socket.socket:
        family, kind, proto, _, address = addr_info
        ip = parse(str(address[0]))
        if ip is None or not allowed(ip, networks):
            raise NotAllowed(f"{address[0]} is not a public address")
        return socket.socket(family, kind, proto)

    return make


class PublicConnector(aiohttp.TCPConnector):
    """A connector that connects to allowed addresses only; `fetch` insists on one."""

    def __init__(
        self, allow: Iterable[IPNetwork] = (), *, resolver: AbstractResolver | None = None
    ) -> None:
        networks = tuple(allow)
        super().__init__(
            resolver=PublicResolver(networks, resolver), socket_factory=socket_factory(networks)
        )


def public_session(
    allow: Iterable[IPNetwork] = (), *, resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """A session for `fetch` (close it when done). `allow`: networks besides the public ones
    media may come from; `resolver`: how names are looked up (the system's by default)."""
    return aiohttp.ClientSession(
        connector=PublicConnector(allow, resolver=resolver),
        trust_env=False,  # a proxy from the environment would connect for us, unchecked
        cookie_jar=aiohttp.DummyCookieJar(),  # nothing carried from one bot's URL to another
        auto_decompress=False,  # the limit counts bytes as sent: no decompression bomb
        headers={"Accept-Encoding": "identity"},
    )


async def fetch(
    session: aiohttp.ClientSession, url: str, *, limit: int, timeout: float = TIMEOUT
) -> bytes | None:
    """The body at `url`, whole, at most `limit` bytes, after at most `MAX_REDIRECTS`
    redirects, within `timeout` seconds; None when it cannot be had, or may not be (one log
    line says why). `session` must come from `public_session`."""
    if not isinstance(session.connector, PublicConnector):
        log.error("media not fetched: its session does not check addresses (public_session)")
        return None
    try:
        async with asyncio.timeout(timeout):
            return await _follow(session, URL(url), limit)
    except Unfetchable as exc:
        log.info("media not fetched: %s", exc)
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, NotAllowed):
            log.warning("media not fetched, refused: %s", exc.os_error)
        else:
            log.info("media not fetched: cannot connect to %s", exc.host)
    except TimeoutError:
        log.info("media not fetched: no whole answer within %s s", timeout)
    except (aiohttp.ClientError, ValueError) as exc:
        log.info("media not fetched: %s", type(exc).__name__)
    return None


async def _follow(session: aiohttp.ClientSession, url: URL, limit: int) -> bytes:
    """Follow redirects by hand, so each hop's scheme is checked and its address is checked
    by the connector like the first."""
    for _ in range(MAX_REDIRECTS + 1):
        if url.scheme not in ("http", "https"):
            raise Unfetchable(f"{url.scheme or 'no'} scheme (only http and https)")
        async with session.get(url, allow_redirects=False) as resp:
            location = resp.headers.get("Location")
            if resp.status in REDIRECTS and location:
                url = resp.url.join(URL(location))
                continue
            if resp.status != 200:
                raise Unfetchable(f"{url.host} answered {resp.status}")
            return await _read(resp, limit)
    raise Unfetchable(f"more than {MAX_REDIRECTS} redirects")


async def _read(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body, or Unfetchable as soon as it is known to be larger than `limit`."""
    if resp.headers.get("Content-Encoding", "identity").lower() != "identity":
        raise Unfetchable("the body is encoded (asked for identity)")
    if (resp.content_length or 0) > limit:
        raise Unfetchable(f"larger than {limit} bytes")
    data = bytearray()
    async for chunk in resp.content.iter_chunked(CHUNK):
        data += chunk
        if len(data) > limit:
            raise Unfetchable(f"larger than {limit} bytes")
    return bytes(data)
