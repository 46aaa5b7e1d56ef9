"""Faults injected into the Web API: error answers, their count, lost answers."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack
from tests.testing.fake_slack.conftest import AGENT, CHANNEL, slack_error


async def test_rate_limit_fault(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "2"})
    err = await slack_error(client.chat_postMessage(channel=CHANNEL, text="x"))
    assert err.response.status_code == 429
    assert err.response.headers["Retry-After"] == "2"
    assert err.response["error"] == "ratelimited"
    assert fake.messages(CHANNEL) == []
    await client.chat_postMessage(channel=CHANNEL, text="x")  # only once
    assert len(fake.messages(CHANNEL)) == 1


async def test_server_error_fault_times(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.fail("users.info", "fatal_error", times=2, status=503)
    for _ in range(2):
        err = await slack_error(client.users_info(user=AGENT))
        assert err.response.status_code == 503
    assert (await client.users_info(user=AGENT))["user"]["id"] == AGENT


async def test_applied_fault_posts_but_errors(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=500, applied=True)
    await slack_error(client.chat_postMessage(channel=CHANNEL, text="lost answer"))
    assert [m.text for m in fake.messages(CHANNEL)] == ["lost answer"]
