"""Secrets rotate without downtime: several API tokens, several webhook keys."""

from __future__ import annotations

import base64

from bridge.testing.fake_bot import FakeBot
from tests.conftest import ALICE, CHANNEL, StageFactory

NEW_KEY = "whsec_" + base64.b64encode(b"a brand new webhook key!").decode()


async def test_every_listed_token_works(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_API_TOKEN="old-token, new-token")
    api = stage.api
    for token in ("old-token", "new-token"):
        api.token = token
        status, _ = await api.post("/v1/users", {"name": "Erin"})
        assert status == 201
    for token in ("old-token,new-token", "", "new"):
        api.token = token
        status, _ = await api.post("/v1/users", {"name": "Erin"})
        assert status == 401


async def test_webhooks_are_signed_with_every_key(make_stage: StageFactory, bot: FakeBot) -> None:
    stage = await make_stage(BRIDGE_WEBHOOK_SECRET=f"{NEW_KEY},{bot.secret}")
    _, parent = await stage.handoff()
    await stage.slack.click(ALICE, CHANNEL, parent, "claim")
    await bot.wait_for(lambda: len(bot.events()) == 1)  # the old key still verifies
    assert bot.rejected == 0
    signatures = bot.received_headers[0]["webhook-signature"].split()
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
