"""Pacing posts per channel: the schedule itself, and a backlog that does not hold others up."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bridge.slack.pacing import Pacer, Pacing, SharedPacer
from bridge.store import Store
from bridge.store.postgres import PgStore
from bridge.store.sqlite import SqliteStore
from tests.conftest import CHANNEL, StageFactory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


MakePacer = Callable[[float, int, Clock], Pacing]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def make_pacer(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakePacer]:
    """A pacer in memory, and the same budgets kept in each database (`SharedPacer`), which
    must keep them as the memory does."""
    if request.param == "memory":
        yield lambda rate, burst, clock: Pacer(rate, burst, clock)
        return
    store: Store
    if request.param == "sqlite":
        store = await SqliteStore.open(tmp_path / "b.db")
    else:
        store = await PgStore.open(request.getfixturevalue("postgres_url"))
    yield lambda rate, burst, clock: SharedPacer(store, "posts", rate, burst, clock)
    await store.close()


async def test_burst_then_the_rate(make_pacer: MakePacer) -> None:
    clock = Clock()
    pacer = make_pacer(2, 3, clock)
    assert [await pacer.reserve("C1") for _ in range(5)] == [0, 0, 0, 0.5, 1.0]
    assert await pacer.reserve("C2") == 0  # another channel has its own bucket
    clock.now += 10  # a quiet spell refills the burst
    assert [await pacer.reserve("C1") for _ in range(4)] == [0, 0, 0, 0.5]


async def test_take_books_only_what_may_go_now(make_pacer: MakePacer) -> None:
    clock = Clock()
    pacer = make_pacer(2, 3, clock)
    assert [await pacer.take("") for _ in range(5)] == [0, 0, 0, 0.5, 0.5]
    clock.now += 0.5
    assert [await pacer.take("") for _ in range(2)] == [0, 0.5]


async def test_retry_after_pauses_one_channel_and_empties_its_bucket(
    make_pacer: MakePacer,
) -> None:
    clock = Clock()
    pacer = make_pacer(1, 5, clock)
    await pacer.pause("C1", 30)
    assert await pacer.paused("C1") == 30 and await pacer.paused("C2") == 0
    assert await pacer.take("C1") == 30
    assert await pacer.reserve("C1") == 30
    assert await pacer.reserve("C1") == 31  # no burst after a pause
    assert await pacer.reserve("C2") == 0


async def test_rate_zero_only_waits_out_pauses(make_pacer: MakePacer) -> None:
    clock = Clock()
    pacer = make_pacer(0, 5, clock)
    assert all([await pacer.reserve("C1") == 0 for _ in range(100)])
    await pacer.pause("C1", 2)
    assert await pacer.reserve("C1") == pytest.approx(2)


async def test_instances_on_one_database_spend_one_budget(
    make_pacer: MakePacer, request: pytest.FixtureRequest
) -> None:
    if "memory" in request.node.name:
        pytest.skip("a budget in memory is one instance's own")
    clock = Clock()
    one, two = make_pacer(1, 2, clock), make_pacer(1, 2, clock)
    assert [await one.reserve("C1"), await two.reserve("C1"), await one.reserve("C1")] == [0, 0, 1]
    await two.pause("C1", 10)  # Slack's 429, met by one of them
    assert await one.paused("C1") == 10


async def test_a_backlog_in_one_channel_does_not_delay_another(make_stage: StageFactory) -> None:
    stage = await make_stage(
        BRIDGE_SLACK_RATE="10",
        BRIDGE_SLACK_BURST="1",
        BRIDGE_SLACK_COMBINE="false",
        BRIDGE_QUEUES="other=C0OTHER",
    )
    slack, api = stage.slack, stage.api
    slack.add_channel("C0OTHER", "other")
    user = await api.create_user()
    busy = [await api.start(user) for _ in range(3)]
    for conv in busy:
        await stage.parent_ts(conv)

    def backlog() -> int:
        return len([m for m in slack.messages(CHANNEL) if m.text.startswith("backlog")])

    started = time.monotonic()
    for conv in busy:
        for n in range(4):
            await api.say(conv, f"backlog {n}", user_id=user)
    quiet = await api.start(user, hitlSession={"queue": "other"})
    await stage.parent_ts(quiet)
    quiet_after = time.monotonic() - started
    await slack.wait_for(lambda: backlog() == 12, timeout=15)
    drained_after = time.monotonic() - started
    # 12 posts at 10 a second take over a second; the other channel did not wait for them.
    assert drained_after >= 1.0
    assert quiet_after < drained_after / 2


async def test_retry_after_holds_back_only_that_channel(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_QUEUES="other=C0OTHER")
    slack, api = stage.slack, stage.api
    slack.add_channel("C0OTHER", "other")
    user = await api.create_user()
    limited = await api.start(user)
    parent = await stage.parent_ts(limited)
    slack.rate_limit(CHANNEL, retry_after=2)
    started = time.monotonic()
    await api.say(limited, "after the pause", user_id=user)
    other = await api.start(user, hitlSession={"queue": "other"})
    await stage.parent_ts(other)
    assert time.monotonic() - started < 1.0
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 1, timeout=10)
    assert time.monotonic() - started >= 1.9


async def test_messages_queued_behind_the_limit_go_out_combined(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_SLACK_RATE="2", BRIDGE_SLACK_BURST="1")
    slack, api = stage.slack, stage.api
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    for n in range(8):
        await api.say(conv, f"part {n}", user_id=user)
    await slack.wait_for(
        lambda: "part 7" in " ".join(m.text for m in slack.thread(CHANNEL, parent)), timeout=10
    )
    posts = slack.thread(CHANNEL, parent)
    assert len(posts) < 8  # the backlog caught up in fewer posts
    text = "\n".join(m.text for m in posts)
    assert [line for line in text.splitlines()] == [f"part {n}" for n in range(8)]
    assert all(m.username for m in posts)
    combined = next(m for m in posts if "\n" in m.text)
    assert any(b["type"] == "divider" for b in combined.blocks or [])


async def test_combining_can_be_turned_off(make_stage: StageFactory) -> None:
    stage = await make_stage(
        BRIDGE_SLACK_RATE="10", BRIDGE_SLACK_BURST="1", BRIDGE_SLACK_COMBINE="false"
    )
    slack, api = stage.slack, stage.api
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    for n in range(5):
        await api.say(conv, f"part {n}", user_id=user)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 5, timeout=10)
    assert [m.text for m in slack.thread(CHANNEL, parent)] == [f"part {n}" for n in range(5)]


async def test_paced_posts_stay_within_slacks_limit(make_stage: StageFactory) -> None:
    stage = await make_stage(
        BRIDGE_SLACK_RATE="5", BRIDGE_SLACK_BURST="1", BRIDGE_SLACK_COMBINE="false"
    )
    slack, api = stage.slack, stage.api
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    slack.limit_posts(rate=5, burst=2)  # Slack tolerates short bursts; jitter stays inside
    started = time.monotonic()
    for n in range(8):
        await api.say(conv, f"paced {n}", user_id=user)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 8, timeout=10)
    assert slack.ratelimited == 0  # respected, not fought
    assert 1.2 <= time.monotonic() - started < 3


async def test_without_pacing_slack_429s_are_waited_out(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_SLACK_RATE="0", BRIDGE_SLACK_COMBINE="false")
    slack, api = stage.slack, stage.api
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    slack.limit_posts(rate=4, burst=2)
    for n in range(5):
        await api.say(conv, f"unpaced {n}", user_id=user)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 5, timeout=15)
    assert slack.ratelimited >= 1
    assert [m.text for m in slack.thread(CHANNEL, parent)] == [f"unpaced {n}" for n in range(5)]
