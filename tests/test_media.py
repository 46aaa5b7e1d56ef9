"""Media is fetched from public addresses only: every address checked where it is connected
to, every redirect followed by hand, the body read whole up to a limit within one deadline."""

from __future__ import annotations

import ipaddress
import logging
import socket
import time

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bridge import media
from tests.media_host import PICTURE, media_host

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)

INSIDE = [
    *("127.0.0.1", "127.255.255.254", "0.0.0.0", "10.1.2.3", "172.16.0.1", "172.31.255.255"),
    *("192.168.1.1", "169.254.1.1", "169.254.169.254", "100.64.0.1", "100.127.255.255"),
    *("100.100.100.200", "192.0.0.192", "224.0.0.1", "239.255.255.250", "240.0.0.1"),
    *("255.255.255.255", "198.18.0.1", "192.0.2.1"),
    *("::1", "::", "fe80::1", "fe80::1%lo", "fc00::1", "fd00:ec2::254", "fec0::1", "ff02::1"),
    *("::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::127.0.0.1"),
    *("64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "2002:a9fe:a9fe::"),
    *("2001::1", "2001:db8::1"),
]
OUTSIDE = [
    *("8.8.8.8", "93.184.216.34", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111"),
    *("2a00:1450:4001::1", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"),
]


def ip(text: str) -> media.IPAddress:
    parsed = media.parse(text)
    assert parsed is not None
    return parsed


class Names(AbstractResolver):
    """A name server that knows a few names; `asked` lists the lookups."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in self.names[host]
        ]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("address", INSIDE)
def test_inside_addresses_are_refused_in_every_form(address: str) -> None:
    assert not media.allowed(ip(address))


@pytest.mark.parametrize("address", OUTSIDE)
def test_public_addresses_are_allowed_in_every_form(address: str) -> None:
    assert media.allowed(ip(address))


def test_allowed_networks_widen_but_never_to_metadata() -> None:
    assert media.allowed(ip("127.0.0.1"), LOOPBACK)
    assert media.allowed(ip("::ffff:127.0.0.1"), LOOPBACK)
    assert not media.allowed(ip("::1"), LOOPBACK)
    assert not media.allowed(ip("127.0.0.1"), [ipaddress.ip_network("::/96")])  # not bits alone
    assert not media.allowed(ip("169.254.169.254"), [ipaddress.ip_network("169.254.0.0/16")])
    assert not media.allowed(ip("fd00:ec2::254"), [ipaddress.ip_network("fc00::/7")])


def test_the_socket_is_refused_for_an_inside_address() -> None:
    make = media.socket_factory()
    for address in ("127.0.0.1", "2130706433", "::ffff:127.0.0.1"):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with pytest.raises(media.NotAllowed):
            make((family, socket.SOCK_STREAM, 6, "", (address, 80)))
    make((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 80))).close()


async def test_ip_literals_of_loopback_are_not_fetched(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "bridge.media")
    async with media_host() as host, media.public_session() as session:
        port = host.url.rsplit(":", 1)[1]
        for url in (
            f"http://127.0.0.1:{port}/a.png",
            f"http://[::ffff:127.0.0.1]:{port}/b.png",
            f"http://0.0.0.0:{port}/c.png",  # Linux connects that to itself
            f"http://127.1:{port}/d.png",
            f"http://2130706433:{port}/e.png",
        ):
            assert await media.fetch(session, url, limit=1000) is None
        assert host.hits == []
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 3 and "127.0.0.1 is not a public address" in refused[0]


async def test_names_are_looked_up_once_and_refused_if_any_address_is_inside(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "bridge.media")
    async with media_host() as host:
        port = host.url.rsplit(":", 1)[1]
        names = Names({"media.test": ["127.0.0.1"], "mixed.test": ["127.0.0.1", "10.0.0.1"]})
        async with media.public_session(LOOPBACK, resolver=names) as session:
            # A name only this resolver knows: the connection went to the address it checked.
            picture = await media.fetch(session, f"http://media.test:{port}/p.png", limit=1000)
            assert picture == PICTURE and names.asked == ["media.test"]
            assert await media.fetch(session, f"http://mixed.test:{port}/p.png", limit=1000) is None
        async with media.public_session() as session:  # the system's resolver
            assert await media.fetch(session, f"http://localhost:{port}/p.png", limit=1000) is None
        assert host.hits == ["/p.png"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("mixed.test resolves to 10.0.0.1, which is not public" in m for m in messages)
    assert any("localhost resolves to" in m for m in messages)


async def test_each_redirect_is_checked_like_the_first(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "bridge.media")
    allow = (ipaddress.ip_network("127.0.0.1/32"),)
    async with (
        media_host("127.0.0.1") as outside,
        media_host("127.0.0.2") as inside,
        media.public_session(allow) as session,
    ):

        async def fetch(path: str) -> bytes | None:
            return await media.fetch(session, f"{outside.url}{path}", limit=1000)

        assert await fetch("/to?url=/p.png") == PICTURE  # a redirect is followed...
        assert await fetch(f"/to?url={inside.url}/secret") is None  # ...only where allowed
        assert await fetch("/to?url=http://169.254.169.254/latest/meta-data/") is None
        assert await fetch("/to?url=file:///etc/passwd") is None
        assert await fetch("/hops/5") == PICTURE
        assert await fetch("/hops/6") is None
        assert inside.hits == []
    messages = [r.getMessage() for r in caplog.records]
    assert "media not fetched, refused: 127.0.0.2 is not a public address" in messages
    assert "media not fetched, refused: 169.254.169.254 is not a public address" in messages
    assert "media not fetched: file scheme (only http and https)" in messages
    assert "media not fetched: more than 5 redirects" in messages


async def test_the_body_is_read_whole_up_to_the_limit() -> None:
    async with media_host() as host, media.public_session(LOOPBACK) as session:
        for path, expected in (
            ("/big/100000", b"x" * 100000),  # many chunks
            ("/big/100001", None),  # longer than it may be, by its length
            ("/big/100001?chunked=1", None),  # or by what arrives
            ("/gzip", None),  # not what was asked for: its size is not known
        ):
            got = await media.fetch(session, f"{host.url}{path}", limit=100000)
            assert got == expected, path


async def test_a_fetch_has_one_deadline() -> None:
    async with media_host() as host, media.public_session(LOOPBACK) as session:
        start = time.monotonic()
        assert await media.fetch(session, f"{host.url}/slow", limit=1000, timeout=0.3) is None
        assert time.monotonic() - start < 2


async def test_a_session_that_does_not_check_addresses_fetches_nothing() -> None:
    async with media_host() as host, aiohttp.ClientSession() as session:
        assert await media.fetch(session, f"{host.url}/p.png", limit=1000) is None
        assert host.hits == []
