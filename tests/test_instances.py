"""Several instances on one PostgreSQL database, between one fake Slack and one fake bot:
each answers every route, and together they keep the guarantees one instance keeps."""

from __future__ import annotations

import asyncio
import time

import pytest

from bridge.slack import home
from bridge.store import postgres
from bridge.testing.fake_slack import FakeSlack
from tests.conftest import ALICE, CHANNEL, Stage, StageFactory


async def instances(make_stage: StageFactory, url: str, n: int = 2, **extra: str) -> list[Stage]:
    """`n` bridges on the database at `url`; Slack sends its events to the first."""
    stages = [await make_stage(BRIDGE_DATABASE_URL=url, **extra) for _ in range(n)]
    talk_to(stages[0])
    return stages


def talk_to(stage: Stage) -> None:
    """From now on Slack sends its events and actions to this instance."""
    stage.slack.events_url = stage.bridge.url + "/slack/events"


async def test_a_long_poll_on_one_instance_answers_when_another_makes_the_event(
    make_stage: StageFactory, postgres_url: str
) -> None:
    a, b = await instances(make_stage, postgres_url)
    slack = a.slack
    _, parent = await a.handoff()
    _, page = await b.api.get("/v1/events")
    cursor = page["cursor"]
    waits = []
    for n in range(4):
        poll = asyncio.create_task(b.api.get(f"/v1/events?after={cursor}&wait=10"))
        await asyncio.sleep(0.2)  # B is waiting
        said = time.monotonic()
        await slack.user_says(ALICE, CHANNEL, f"reply {n}", thread_ts=parent)  # heard by A
        status, page = await poll
        waits.append(time.monotonic() - said)
        assert status == 200 and page["events"], page
        cursor = page["cursor"]
    # Woken by A's commit, not by its own look once a second (which would make these
    # spread between 0 and 1 s).
    assert max(waits) < 0.4, waits


async def test_the_app_home_is_published_once_by_whichever_instance_leads(
    make_stage: StageFactory, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An instance that does not lead looks again every half second, not every five: the
    # takeover below is the same, only sooner.
    monkeypatch.setattr(postgres, "LOOK_AGAIN", 0.5)
    monkeypatch.setattr(home, "LOOK_AGAIN", 0.5)
    a, b = await instances(make_stage, postgres_url)
    slack = a.slack

    def published() -> int:
        return len([c for c in slack.calls_of("views.publish") if c["user_id"] == ALICE])

    async def opens(count: int) -> None:
        """Alice opens her tab: published once more, not once per instance."""
        assert await slack.send_event({"type": "app_home_opened", "user": ALICE}) == 200
        await slack.wait_for(lambda: published() >= count, timeout=10)
        await asyncio.sleep(0.5)
        assert published() == count

    await opens(1)
    talk_to(b)
    await opens(2)

    # The instance that leads stops: the other takes over.
    leader, other = (a, b) if a.bridge.service.store.leads else (b, a)
    await leader.bridge.stop()
    talk_to(other)
    await opens(3)


async def test_posts_in_one_channel_spend_one_budget_across_instances(
    make_stage: StageFactory, postgres_url: str
) -> None:
    a, b = await instances(
        make_stage,
        postgres_url,
        BRIDGE_SLACK_RATE="4",
        BRIDGE_SLACK_BURST="1",
        BRIDGE_SLACK_COMBINE="false",
    )
    slack = a.slack
    (one, one_parent), (two, two_parent) = await a.handoff(), await b.handoff()
    slack.limit_posts(rate=4, burst=2)  # as Slack: a short burst is tolerated
    user_one = (await a.api.conversation(one))["userId"]
    user_two = (await b.api.conversation(two))["userId"]
    started = time.monotonic()
    for n in range(5):
        await asyncio.gather(
            a.api.say(one, f"one {n}", user_one), b.api.say(two, f"two {n}", user_two)
        )
    await slack.wait_for(
        lambda: (
            len(slack.thread(CHANNEL, one_parent)) + len(slack.thread(CHANNEL, two_parent)) == 10
        ),
        timeout=15,
    )
    # Two budgets of 4 a second would post at 8, and Slack would refuse some.
    assert slack.ratelimited == 0
    assert time.monotonic() - started >= 1.9  # 10 posts at 4 a second


async def test_a_backlog_drains_at_the_rate_whichever_instance_posts(
    make_stage: StageFactory, postgres_url: str
) -> None:
    """A post put off until its slot keeps the slot, whichever instance takes it then: the
    backlog goes out at the budget's rate, not slower for slots booked and left unused."""
    a, b = await instances(
        make_stage,
        postgres_url,
        BRIDGE_SLACK_RATE="5",
        BRIDGE_SLACK_BURST="1",
        BRIDGE_SLACK_COMBINE="false",
    )
    slack = a.slack
    handoffs = [await (a if n % 2 else b).handoff() for n in range(5)]
    await asyncio.sleep(1)  # the parents' slots are spent
    users = [(await a.api.conversation(conv))["userId"] for conv, _ in handoffs]
    started = time.monotonic()
    for n in range(3):
        for i, (conv, _) in enumerate(handoffs):
            await (a if i % 2 else b).api.say(conv, f"backlog {n}", users[i])
    await slack.wait_for(
        lambda: sum(len(slack.thread(CHANNEL, parent)) for _, parent in handoffs) == 15,
        timeout=15,
    )
    # 15 posts at 5 a second: 2.8 s after the first. Slots left unused would make it 4 s.
    assert time.monotonic() - started < 3.6


async def test_a_retry_after_one_instance_meets_holds_back_the_others(
    make_stage: StageFactory, postgres_url: str
) -> None:
    a, b = await instances(make_stage, postgres_url)
    slack = a.slack
    (one, one_parent), (two, two_parent) = await a.handoff(), await b.handoff()
    user_one = (await a.api.conversation(one))["userId"]
    user_two = (await b.api.conversation(two))["userId"]
    slack.rate_limit(CHANNEL, retry_after=2)
    posts = len(slack.calls_of("chat.postMessage"))
    await a.api.say(one, "refused, then paused", user_one)
    await slack.wait_for(lambda: len(slack.calls_of("chat.postMessage")) > posts)
    refused = time.monotonic()
    await b.api.say(two, "waits for the pause", user_two)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, two_parent)) == 1, timeout=10)
    assert time.monotonic() - refused >= 1.8
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, one_parent)) == 1, timeout=10)


async def test_one_idempotency_key_on_two_instances_at_once_starts_one_conversation(
    make_stage: StageFactory, postgres_url: str
) -> None:
    a, b = await instances(make_stage, postgres_url)
    user = await a.api.create_user()
    body = {"userId": user, "messageHistory": []}
    key = {"Idempotency-Key": "k-1"}
    answers = await asyncio.gather(
        *(s.api.post("/v1/conversations", body, headers=key) for s in (a, b, a, b, a, b))
    )
    assert {status for status, _ in answers} == {201}, answers
    assert len({body["conversationId"] for _, body in answers}) == 1


async def test_slacks_retry_to_another_instance_is_not_taken_twice(
    make_stage: StageFactory, postgres_url: str, slack: FakeSlack
) -> None:
    a, b = await instances(make_stage, postgres_url)
    assert a.bot is not None
    _, parent = await a.handoff()
    ts = await slack.user_says(ALICE, CHANNEL, "only once", thread_ts=parent, deliver=False)
    event = slack.message_event(slack.message(CHANNEL, ts))
    assert await slack.send_event(event, event_id="Ev0ONCE") == 200
    talk_to(b)  # Slack's retry, as if A's answer had been lost, lands on B
    assert await slack.send_event(event, event_id="Ev0ONCE", retry_num=1) == 200
    await a.bot.wait_for(lambda: any(e["type"] == "message" for e in a.bot.events()))
    await asyncio.sleep(0.5)
    said = [e for e in a.bot.events() if e["type"] == "message"]
    assert [e["payload"]["payload"]["text"] for e in said] == ["only once"]
