"""Slack's rate limits: per method by tier, chat.postMessage's pacing, one-off 429s."""

from __future__ import annotations

import asyncio

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import TIERS, FakeSlack
from tests.testing.fake_slack.conftest import AGENT, CHANNEL, refusal, slack_error

pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")


async def test_rate_limit_one_channel(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.add_channel("C0SECOND", "second")
    fake.rate_limit(CHANNEL, 3)
    await client.chat_postMessage(channel="C0SECOND", text="not limited")
    err = await slack_error(client.chat_postMessage(channel=CHANNEL, text="x"))
    assert (err.response.status_code, err.response.headers["Retry-After"]) == (429, "3")
    await client.chat_postMessage(channel=CHANNEL, text="x")


async def test_rate_limits_are_off_by_default(client: AsyncWebClient, fake: FakeSlack) -> None:
    for _ in range(120):
        await client.users_info(user=AGENT)
    assert not fake.ratelimited_by_method


async def test_limit_method_answers_429_with_retry_after(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    fake.limit_method("users.info", 6, burst=2)
    await client.users_info(user=AGENT)
    await client.users_info(user=AGENT)
    body = await refusal(client.users_info(user=AGENT))
    assert (body["status"], body["error"], body["retry_after"]) == (429, "ratelimited", "10")
    assert fake.ratelimited_by_method == {"users.info": 1}
    fake.limit_method("users.info", None)
    await client.users_info(user=AGENT)


async def test_a_429_on_one_method_leaves_the_others_alone(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="p")
    fake.limit_method("reactions.add", 1, burst=1)
    await client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="eyes")
    body = await refusal(client.reactions_add(channel=CHANNEL, timestamp=posted["ts"], name="ok"))
    assert (body["status"], body["retry_after"]) == (429, "60")
    await client.reactions_remove(channel=CHANNEL, timestamp=posted["ts"], name="eyes")
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="edited")
    await client.chat_postMessage(channel=CHANNEL, text="posted")
    await client.users_info(user=AGENT)
    assert fake.ratelimited_by_method == {"reactions.add": 1}
    assert fake.message(CHANNEL, posted["ts"]).reactions == {}  # the refused call did nothing


async def test_enforce_tiers_follows_the_method_pages(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    assert TIERS["usergroups.users.list"] == 20
    assert TIERS["reactions.remove"] == 20  # its page says Tier 2
    assert all(TIERS[m] == 50 for m in ("chat.update", "reactions.add", "conversations.replies"))
    assert all(TIERS[m] == 100 for m in ("users.info", "views.publish", "chat.postEphemeral"))
    assert "chat.postMessage" not in TIERS and "auth.test" not in TIERS
    fake.add_usergroup("S0AGENTS", [AGENT])
    fake.enforce_tiers()
    for _ in range(20):
        await client.usergroups_users_list(usergroup="S0AGENTS")
    body = await refusal(client.usergroups_users_list(usergroup="S0AGENTS"))
    assert (body["status"], body["error"]) == (429, "ratelimited")
    assert body["retry_after"] in ("1", "2", "3")  # one call every 3 s
    for _ in range(30):  # a Tier 4 method is untouched by Tier 2's exhaustion
        await client.users_info(user=AGENT)
    assert fake.ratelimited_by_method == {"usergroups.users.list": 1}


async def test_enforce_tiers_scale_speeds_the_clock(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    fake.add_usergroup("S0AGENTS", [AGENT])
    fake.enforce_tiers(scale=6)  # Tier 2: 20 calls at once, then 2 a second
    passed = 0
    while passed <= 40:
        try:
            await client.usergroups_users_list(usergroup="S0AGENTS")
        except SlackApiError as exc:
            assert exc.response.headers["Retry-After"] == "1"
            break
        passed += 1
    assert 20 <= passed < 40
    await asyncio.sleep(0.6)  # a call's worth back
    await client.usergroups_users_list(usergroup="S0AGENTS")


async def test_a_client_that_honours_retry_after_gets_through(fake: FakeSlack) -> None:
    patient = AsyncWebClient(
        token=fake.bot_token,
        base_url=fake.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
    )
    fake.limit_method("users.info", 1, burst=1, scale=60)  # one a second
    await patient.users_info(user=AGENT)
    await patient.users_info(user=AGENT)  # refused, slept Retry-After (1 s), retried
    assert fake.ratelimited_by_method["users.info"] == 1
    assert len(fake.calls_of("users.info")) == 3


async def test_post_pacing_counts_per_method_too(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.limit_posts(rate=1, burst=1)
    await client.chat_postMessage(channel=CHANNEL, text="one")
    body = await refusal(client.chat_postMessage(channel=CHANNEL, text="two"))
    assert (body["status"], body["retry_after"]) == (429, "1")
    assert (fake.ratelimited, fake.ratelimited_by_method["chat.postMessage"]) == (1, 1)
