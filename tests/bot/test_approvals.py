"""The approvals API's contract: asking, reading, cancelling; error codes and their
precedence; idempotency; `approvalDecided` in order with the conversation's events.

How agents decide in Slack is `tests/slack/test_approvals.py`'s; here a decision is the
core's (`service.approvals.decide`), as the Slack wing makes it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bridge.model import AgentProfile, Decision
from tests.bot.test_api import error
from tests.conftest import API_TOKEN, CHANNEL, Stage, StageFactory
from tests.slack.test_approvals import DRAFT, approval, ask

pytestmark = pytest.mark.both_databases

# Alice as Slack tells of her (tests/conftest.py's workspace).
ALICE = AgentProfile("U0ALICE", "Alice", "https://img.example.com/alice.png", "alice@example.com")


async def test_a_request_reads_back_pending_with_its_clock(stage: Stage) -> None:
    user = await stage.api.create_user("Erin")
    approval_id = await ask(stage, title="Refund", context="Erin asked for her money", userId=user)
    body = await approval(stage, approval_id)
    created = datetime.fromisoformat(body.pop("createdAt"))
    expires = datetime.fromisoformat(body.pop("expiresAt"))
    assert expires - created == timedelta(seconds=3600)  # BRIDGE_APPROVAL_TIMEOUT's default
    slack = body.pop("slack")
    assert slack["channel"] == CHANNEL
    assert body == {
        "approvalId": approval_id,
        "status": "pending",
        "draft": DRAFT,
        "message": None,
        "comment": None,
        "agent": None,
        "conversationId": None,
        "userId": user,
        "title": "Refund",
        "decidedAt": None,
    }


async def test_expires_in_and_the_queue_are_the_request_s_own(
    make_stage: StageFactory,
) -> None:
    stage = await make_stage(BRIDGE_QUEUES="billing=C0BILLING", BRIDGE_APPROVAL_TIMEOUT="60")
    stage.slack.add_channel("C0BILLING", "billing")
    approval_id = await ask(stage, queue="billing", expiresIn=90)
    body = await approval(stage, approval_id)
    created, expires = (datetime.fromisoformat(body[k]) for k in ("createdAt", "expiresAt"))
    assert expires - created == timedelta(seconds=90)
    assert body["slack"]["channel"] == "C0BILLING"
    other = await approval(stage, await ask(stage))
    created, expires = (datetime.fromisoformat(other[k]) for k in ("createdAt", "expiresAt"))
    assert (expires - created, other["slack"]["channel"]) == (timedelta(seconds=60), CHANNEL)


async def test_errors_have_codes_in_their_order(stage: Stage) -> None:
    api = stage.api
    user = await api.create_user()
    conv = await api.start(user)
    await api.post(f"/v1/conversations/{conv}/stop", {})

    api.token = "wrong"
    status, body = await api.post("/v1/approvals", {"draft": DRAFT})
    assert (status, error(body)) == (401, "unauthorized")
    api.token = API_TOKEN

    draft = '{"type": "text", "payload": {"text": "x"}}'
    cases = [
        (b"{not json", 400, "bad_json"),
        (b"[1]", 422, "invalid"),
        (b"{}", 422, "invalid"),  # no draft
        # An unknown conversation is told first, before what else is wrong.
        (b'{"conversationId": "conv_nobody", "draft": 5}', 404, "not_found"),
        (b'{"draft": {"type": "sticker", "payload": {}}}', 422, "invalid"),
        (f'{{"draft": {draft}, "expiresIn": 5}}'.encode(), 422, "invalid"),
        (f'{{"draft": {draft}, "expiresIn": 604801}}'.encode(), 422, "invalid"),
        (f'{{"draft": {draft}, "expiresIn": "60"}}'.encode(), 422, "invalid"),
        (f'{{"draft": {draft}, "title": "{"t" * 201}"}}'.encode(), 422, "invalid"),
        (f'{{"draft": {draft}, "context": "{"c" * 3001}"}}'.encode(), 422, "invalid"),
        (f'{{"draft": {draft}, "userId": "usr_nobody"}}'.encode(), 422, "invalid"),
        (f'{{"draft": {draft}, "extra": 1}}'.encode(), 422, "invalid"),
        (f'{{"draft": {draft}, "conversationId": "{conv}"}}'.encode(), 409, "conversation_stopped"),
    ]
    for raw, want_status, want_code in cases:
        status, body = await api.call("POST", "/v1/approvals", raw=raw)
        assert (status, error(body)) == (want_status, want_code), (raw, body)
    for method, path in (("GET", "/v1/approvals/apv_nobody"), ("POST", "/v1/approvals/x/cancel")):
        status, body = await api.call(method, path, raw=b"{}" if method == "POST" else None)
        assert (status, error(body)) == (404, "not_found"), path


async def test_invalid_names_the_field(stage: Stage) -> None:
    checks = {
        "draft": {},
        "draft.payload.text": {"draft": {"type": "text", "payload": {"text": 5}}},
        "draft.type": {"draft": {"type": "sticker", "payload": {}}},
        "expiresIn": {"draft": DRAFT, "expiresIn": 9.5},
        "title": {"draft": DRAFT, "title": "a\x00b"},
        "userId": {"draft": DRAFT, "userId": "usr_nobody"},
    }
    for field, body in checks.items():
        status, answer = await stage.api.post("/v1/approvals", body)
        assert status == 422, (field, answer)
        assert answer["error"]["message"].startswith(f"{field}:"), (field, answer)


async def test_a_repeated_post_asks_once(stage: Stage) -> None:
    api = stage.api
    key = {"Idempotency-Key": "ask-1"}
    first = await api.post("/v1/approvals", {"draft": DRAFT}, headers=key)
    again = await api.post("/v1/approvals", {"draft": DRAFT}, headers=key)
    assert first[0] == again[0] == 201 and first[1] == again[1]
    status, body = await api.post("/v1/approvals", {"draft": DRAFT, "title": "x"}, headers=key)
    assert (status, error(body)) == (409, "idempotency_conflict")
    assert await stage.bridge.service.store.read(lambda tx: tx.count_pending_approvals()) == 1


async def test_cancel_withdraws_quietly_and_only_a_pending_request(stage: Stage) -> None:
    api, bot = stage.api, stage.bot
    assert bot is not None
    approval_id = await ask(stage)
    for _ in range(2):  # cancelling a cancelled request is fine
        status, body = await api.post(f"/v1/approvals/{approval_id}/cancel")
        assert (status, body) == (200, {})
    body = await approval(stage, approval_id)
    assert body["status"] == "cancelled" and body["decidedAt"] is not None
    status, body = await api.post(f"/v1/approvals/{approval_id}/cancel", {"why": "x"})
    assert (status, error(body)) == (422, "invalid")

    decided = await ask(stage)
    await stage.bridge.service.approvals.decide(decided, Decision.APPROVE, ALICE)
    status, body = await api.post(f"/v1/approvals/{decided}/cancel", {})
    assert (status, error(body)) == (409, "approval_decided")
    await bot.wait_for(lambda: len(bot.events()) == 1)
    assert bot.events()[0]["payload"]["approvalId"] == decided  # none for the cancelled one


async def test_a_decision_reaches_the_bot_in_order_with_its_conversation(stage: Stage) -> None:
    """An approval asked in a conversation's thread is decided after an agent claimed it:
    the bot hears `hitlAssigned`, then `approvalDecided`, on the webhook and the long-poll
    alike, and reads the decision back."""
    api, bot = stage.api, stage.bot
    assert bot is not None
    conv, parent = await stage.handoff()
    await stage.slack.click("U0ALICE", CHANNEL, parent, "claim")
    await bot.wait_for(lambda: len(bot.events()) == 1)  # the claim is taken (after the ack)
    approval_id = await ask(stage, conversationId=conv)
    edited = "Your refund of $40 left today."
    service = stage.bridge.service.approvals
    verdict = await service.decide(approval_id, Decision.EDIT, ALICE, text=edited)
    assert verdict.status is not None and verdict.status.value == "edited"
    await bot.wait_for(lambda: len(bot.events()) == 2)
    assigned, decided = bot.events()
    assert assigned["type"] == "hitlAssigned" and decided["type"] == "approvalDecided"
    message = {"type": "text", "payload": {"text": edited}}
    payload = decided["payload"]
    assert payload == {
        "approvalId": approval_id,
        "conversationId": conv,
        "status": "edited",
        "message": message,
        "userId": assigned["payload"]["userId"],
        "agent": assigned["payload"]["agent"],
    }  # no comment: none was given
    _, page = await api.get("/v1/events")
    assert [e["id"] for e in page["events"]] == [assigned["id"], decided["id"]]
    body = await approval(stage, approval_id)
    assert (body["status"], body["message"], body["agent"]) == ("edited", message, payload["agent"])

    # A second decision changes nothing: the first won.
    late = await service.decide(approval_id, Decision.REJECT, ALICE, comment="no")
    assert late.status is None and late.ignored is not None


async def test_a_rejection_outside_a_conversation_says_why_and_sends_no_message(
    stage: Stage,
) -> None:
    bot = stage.bot
    assert bot is not None
    approval_id = await ask(stage)
    await stage.bridge.service.approvals.decide(
        approval_id, Decision.REJECT, ALICE, comment="Too generous"
    )
    await bot.wait_for(lambda: len(bot.events()) == 1)
    payload = bot.events()[0]["payload"]
    assert payload["conversationId"] is None and payload["comment"] == "Too generous"
    assert payload["status"] == "rejected" and "message" not in payload


async def test_a_restart_in_the_middle_keeps_the_request_and_its_clock(stage: Stage) -> None:
    bot = stage.bot
    assert bot is not None
    approval_id = await ask(stage, expiresIn=300)
    before = await approval(stage, approval_id)
    await stage.restart()
    after = await approval(stage, approval_id)
    kept = ("status", "createdAt", "expiresAt", "draft")
    assert [after[k] for k in kept] == [before[k] for k in kept]  # pending, the same clock
    await stage.bridge.service.approvals.decide(approval_id, Decision.APPROVE, ALICE)
    await bot.wait_for(lambda: len(bot.events()) == 1)
    assert bot.events()[0]["payload"]["status"] == "approved"
