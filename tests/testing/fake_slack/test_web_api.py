"""The Web API's door: tokens, unknown methods, how arguments are read, and auth.test."""

from __future__ import annotations

import json

from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack
from tests.testing.fake_slack.conftest import CHANNEL, slack_error


async def test_auth_test_names_the_bot(client: AsyncWebClient, fake: FakeSlack) -> None:
    resp = await client.auth_test()
    assert resp["user_id"] == "UBRIDGE"
    assert resp["bot_id"] == "BBRIDGE"
    assert resp["team_id"] == "T0FAKE"
    assert resp["app_id"] == "A0FAKE"
    assert resp["is_enterprise_install"] is False
    assert fake.calls == [("auth.test", {})]


async def test_tokens(fake: FakeSlack) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=fake.api_url)
    err = await slack_error(wrong.auth_test())
    assert err.response["error"] == "invalid_auth"
    anonymous = AsyncWebClient(base_url=fake.api_url)
    err = await slack_error(anonymous.auth_test())
    assert err.response["error"] == "not_authed"


async def test_unknown_method(client: AsyncWebClient, fake: FakeSlack) -> None:
    err = await slack_error(client.api_call("pigeons.send", json={"n": 1}))
    assert err.response["error"] == "unknown_method"
    assert fake.calls[-1] == ("pigeons.send", {"n": 1})


async def test_form_and_query_params_are_merged(client: AsyncWebClient, fake: FakeSlack) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "form"}}]
    meta = {"event_type": "t", "event_payload": {"k": "v"}}
    await client.api_call(
        "chat.postMessage",
        data={"channel": CHANNEL, "blocks": json.dumps(blocks), "metadata": json.dumps(meta)},
        params={"text": "from query"},
    )
    (msg,) = fake.messages(CHANNEL)
    assert (msg.text, msg.blocks, msg.metadata) == ("from query", blocks, meta)
    method, params = fake.calls[-1]
    assert method == "chat.postMessage"
    assert params["blocks"] == blocks
