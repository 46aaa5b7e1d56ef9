"""Approvals as people live them: the bot asks before it speaks, agents decide in Slack."""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.model import content_from_json
from bridge.testing.fake_slack import FakeSlack
from tests.conftest import ALICE, BOB, CHANNEL, Stage, StageFactory

DRAFT = {"type": "text", "payload": {"text": "Your refund of $42 is on its way."}}
APPROVE, EDIT, REJECT = "approval_approve", "approval_edit", "approval_reject"


async def ask(stage: Stage, draft: dict[str, Any] | None = None, **body: Any) -> str:
    """A request, as the bot makes it."""
    return await stage.bridge.service.approvals.request(
        content_from_json(draft or DRAFT),
        expires_in=float(body.pop("expiresIn", 3600)),
        title=body.pop("title", None),
        context=body.pop("context", None),
        conversation_id=body.pop("conversationId", None),
        user_id=body.pop("userId", None),
        queue=body.pop("queue", None),
    )


async def approval(stage: Stage, approval_id: str) -> dict[str, Any]:
    """The request as the bot reads it."""
    seen = await stage.bridge.service.approvals.get(approval_id)
    a = seen.approval
    return {
        "status": a.status.value,
        "slack": {"channel": a.channel, "ts": a.ts, "permalink": a.permalink},
    }


async def posted(stage: Stage, approval_id: str) -> str:
    """Wait until the request is posted; its ts."""
    for _ in range(500):
        ts = (await approval(stage, approval_id))["slack"]["ts"]
        if ts:
            return str(ts)
        await asyncio.sleep(0.01)
    raise AssertionError(f"approval request {approval_id} was never posted")


def shown(slack: FakeSlack, ts: str, channel: str = CHANNEL) -> str:
    return str(slack.message(channel, ts).blocks)


def buttons(slack: FakeSlack, ts: str, channel: str = CHANNEL) -> list[str]:
    return [
        str(element["action_id"])
        for block in slack.message(channel, ts).blocks or []
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def told(slack: FakeSlack, user: str) -> list[str]:
    return [e.text for e in slack.ephemerals if e.user == user]


async def test_approve_sends_the_draft_and_settles_the_message(stage: Stage) -> None:
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    user = await api.create_user("Erin", email="erin@example.com")
    approval_id = await ask(
        stage, title="Refund answer", context="Erin asked where her refund is", userId=user
    )
    ts = await posted(stage, approval_id)

    # The agents see what the bot wants to say, about whom, and three buttons.
    message = shown(slack, ts)
    for seen in ("Refund answer", "Erin asked where her refund is", "Erin", "erin@example.com"):
        assert seen in message
    assert "Your refund of $42 is on its way." in message and "From the bot" in message
    assert "<!date^" in message  # when it expires, in each reader's time zone
    assert buttons(slack, ts) == [APPROVE, EDIT, REJECT]

    assert await slack.click(ALICE, CHANNEL, ts, APPROVE) == 200
    await bot.wait_for(lambda: len(bot.events("approvalDecided")) == 1)
    [decided] = bot.events("approvalDecided")
    assert decided["payload"]["approvalId"] == approval_id
    assert decided["payload"]["status"] == "approved"
    assert decided["payload"]["message"] == DRAFT
    assert decided["payload"]["conversationId"] is None
    assert decided["payload"]["agent"]["slackUserId"] == ALICE

    await slack.wait_for(lambda: buttons(slack, ts) == [])
    message = shown(slack, ts)
    assert "Approved" in message and f"<@{ALICE}>" in message
    assert "Your refund of $42 is on its way." in message
    assert (await approval(stage, approval_id))["status"] == "approved"
