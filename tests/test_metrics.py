"""`GET /metrics`: enough for an operator to tell whether the bridge keeps up."""

from __future__ import annotations

import asyncio

import pytest

from bridge.model import AgentProfile, Decision
from tests.conftest import ALICE, CHANNEL, Stage

pytestmark = pytest.mark.both_databases


def value(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    series = f"{name}{{{want}}}" if want else name
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name}{{{want}}} not in the metrics")


async def test_metrics_tell_whether_the_bridge_keeps_up(stage: Stage) -> None:
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    slack.rate_limit(CHANNEL, retry_after=1)
    await api.say(conv, "behind a 429", user_id=user)
    await slack.user_says(ALICE, CHANNEL, "hello", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events()) == 2)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 1, timeout=10)

    async def scrape() -> str:
        async with api.session.get(api.base + "/metrics") as resp:
            assert resp.status == 200 and resp.content_type == "text/plain"
            return await resp.text()

    for _ in range(100):  # the counters move just after the deliveries are recorded
        text = await scrape()
        if 'hitl_outbox_depth{target="slack"} 0.0' in text and 'outcome="delivered"' in text:
            break
        await asyncio.sleep(0.02)
    assert value(text, "hitl_conversations", status="assigned") == 1
    assert (
        value(text, "hitl_slack_ratelimited_total", method="chat.postMessage", channel=CHANNEL) == 1
    )
    assert value(text, "hitl_deliveries_total", target="bot", outcome="delivered") == 2
    assert value(text, "hitl_deliveries_total", target="slack", outcome="deferred") >= 1
    assert value(text, "hitl_delivery_latency_seconds_count", target="slack") >= 3
    assert value(text, "hitl_time_to_first_agent_reply_seconds_count") == 1
    for target in ("slack", "bot"):
        assert value(text, "hitl_outbox_dead_letters", target=target) == 0
        assert value(text, "hitl_outbox_depth", target=target) >= 0
        assert value(text, "hitl_outbox_oldest_age_seconds", target=target) >= 0


async def test_metrics_count_approvals_by_outcome_and_time_decisions(stage: Stage) -> None:
    api = stage.api
    draft = {"type": "text", "payload": {"text": "Refund sent"}}
    asked = []
    for _ in range(3):
        status, body = await api.post("/v1/approvals", {"draft": draft})
        assert status == 201
        asked.append(body["approvalId"])
    agent = AgentProfile(ALICE, "Alice", None, None)
    approvals = stage.bridge.service.approvals
    await approvals.decide(asked[0], Decision.APPROVE, agent)
    await approvals.decide(asked[1], Decision.REJECT, agent, comment="no")
    async with api.session.get(api.base + "/metrics") as resp:
        text = await resp.text()
    assert value(text, "hitl_approvals_total", outcome="approved") == 1
    assert value(text, "hitl_approvals_total", outcome="rejected") == 1
    assert value(text, "hitl_time_to_approval_decision_seconds_count") == 2
    assert value(text, "hitl_approvals_pending") == 1
