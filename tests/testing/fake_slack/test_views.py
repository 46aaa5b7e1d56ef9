"""views.publish: App Home tabs, validated as Slack validates views."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import FakeSlack
from tests.testing.fake_slack.conftest import AGENT, button, refusal, section

pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")


async def test_views_publish_keeps_the_home_tab(client: AsyncWebClient, fake: FakeSlack) -> None:
    view = {"type": "home", "blocks": [{"type": "divider"}]}
    await client.views_publish(user_id=AGENT, view=view)
    assert fake.home_views[AGENT]["type"] == "home"


def home(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "home", "blocks": blocks}


async def test_home_views_are_validated(client: AsyncWebClient, fake: FakeSlack) -> None:
    await client.views_publish(user_id=AGENT, view=home([{"type": "divider"}] * 100))
    assert len(fake.home_views[AGENT]["blocks"]) == 100
    cases: list[tuple[Any, str]] = [
        (home([{"type": "divider"}] * 101), "no more than 100 items allowed"),
        (home([]), "views must contain between 1 and 100 blocks"),
        (home([section("x" * 3001)]), "[json-pointer:/view/blocks/0/text/text]"),
        (home([{"type": "actions", "elements": [button("x" * 76)]}]), "/view/blocks/0/elements"),
        (home([{"type": "pigeon"}]), "unsupported type: pigeon"),
        ({"type": "modal", "blocks": [{"type": "divider"}]}, "must be home"),
        ({"type": "pigeon", "blocks": [{"type": "divider"}]}, "type must be either"),
        ({"blocks": [{"type": "divider"}]}, "missing required field: type"),
        ({"type": "home"}, "missing required field: blocks"),
    ]
    for view, expected in cases:
        body = await refusal(client.views_publish(user_id=AGENT, view=view))
        assert body["error"] == "invalid_arguments", view
        messages = body["response_metadata"]["messages"]
        assert any(expected in m for m in messages), (view, messages)
        assert all(m.startswith("[ERROR] ") for m in messages)
    huge = home([section("x" * 3000)] * 90)
    assert (await refusal(client.views_publish(user_id=AGENT, view=huge)))["error"] == (
        "view_too_large"
    )
    assert len(fake.home_views[AGENT]["blocks"]) == 100  # the last good one stays
