"""What one client may ask without credentials: a budget per address, theirs alone."""

from __future__ import annotations

import aiohttp
import pytest

from bridge import throttle
from bridge.connections import Limits
from bridge.throttle import PerClient
from tests.conftest import StageFactory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate_per_key() -> None:
    clock = Clock()
    budget = PerClient(rate=2, burst=3, clock=clock)
    assert [budget.take("a") for _ in range(3)] == [0, 0, 0]
    assert budget.take("a") == 0.5  # refused: nothing spent
    assert budget.take("a") == 0.5
    assert budget.take("b") == 0  # another key has its own
    clock.now += 0.5
    assert budget.take("a") == 0
    assert budget.take("a") == 0.5
    clock.now += 10  # a quiet spell refills the burst, no more
    assert [budget.take("a") for _ in range(4)] == [0, 0, 0, 0.5]


def test_idle_keys_are_forgotten_once_there_are_many() -> None:
    clock = Clock()
    budget = PerClient(rate=1, burst=1, clock=clock)
    for i in range(throttle.TIDY_AT):
        budget.take(f"10.0.{i // 256}.{i % 256}")
    assert len(budget) == throttle.TIDY_AT
    clock.now += 1.5  # every budget is full again
    budget.take("192.0.2.1")
    assert len(budget) == 1


async def status_of(url: str, source: str, times: int) -> list[int]:
    """The statuses of `times` GETs of `url` from the address `source`."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        statuses = []
        for _ in range(times):
            async with http.get(url) as resp:
                statuses.append(resp.status)
                if resp.status == 429:
                    assert resp.headers["Retry-After"] == "1"
                    body = await resp.json()
                    assert body["error"]["code"] == "rate_limited"
        return statuses


async def test_a_client_asking_flat_out_is_told_to_wait_and_no_one_else_is(
    make_stage: StageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    stage = await make_stage(limits=Limits(anonymous_rate=2, anonymous_burst=5))
    url = stage.bridge.url
    assert (await status_of(url + "/metrics", "127.0.0.1", 8)).count(429) >= 2
    assert await status_of(url + "/healthz", "127.0.0.2", 3) == [200] * 3  # another client
    assert await status_of(url + "/healthz", "127.0.0.1", 3) == [200] * 3  # another route
    # Files count too: a bad link is refused, or the client told to wait, never fetched.
    assert set(await status_of(url + "/files/forged", "127.0.0.1", 3)) <= {403, 429}
    # The doors that ask for credentials are never throttled.
    for _ in range(10):
        status, _ = await stage.api.post("/v1/users", {"name": "Erin"})
        assert status == 201
    assert [r.name for r in caplog.records].count(throttle.__name__) == 1  # not one a request
