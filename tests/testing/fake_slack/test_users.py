"""users.info and usergroups.users.list."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack
from tests.testing.fake_slack.conftest import AGENT, slack_error


async def test_users_info(client: AsyncWebClient) -> None:
    user = (await client.users_info(user=AGENT))["user"]
    assert (user["id"], user["name"], user["is_bot"], user["deleted"]) == (
        AGENT,
        "alice",
        False,
        False,
    )
    profile = user["profile"]
    assert profile["display_name"] == "Alice"
    assert profile["real_name"] == "Alice Liddell"
    assert profile["email"] == "alice@example.com"
    assert profile["image_512"] == "https://img.example/alice.png"
    assert profile["image_original"] == "https://img.example/alice.png"
    bob = (await client.users_info(user="UOTHER"))["user"]["profile"]
    assert "email" not in bob
    assert "image_original" not in bob
    assert bob["image_192"].startswith("https://")
    err = await slack_error(client.users_info(user="UNOBODY"))
    assert err.response["error"] == "user_not_found"


async def test_usergroups_users_list(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.add_usergroup("S0AGENTS", [AGENT])
    assert (await client.usergroups_users_list(usergroup="S0AGENTS"))["users"] == [AGENT]
