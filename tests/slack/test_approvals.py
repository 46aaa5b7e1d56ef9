"""Approvals as people live them: the bot asks before it speaks, agents decide in Slack."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from bridge.testing.fake_slack import FakeSlack
from tests.conftest import ALICE, BOB, CHANNEL, Stage, StageFactory

pytestmark = pytest.mark.both_databases

DRAFT = {"type": "text", "payload": {"text": "Your refund of $42 is on its way."}}
APPROVE, EDIT, REJECT = "approval_approve", "approval_edit", "approval_reject"


async def ask(stage: Stage, draft: dict[str, Any] | None = None, **fields: Any) -> str:
    """A request, as the bot makes it: `POST /v1/approvals`."""
    status, body = await stage.api.post("/v1/approvals", {"draft": draft or DRAFT, **fields})
    assert status == 201, body
    return str(body["approvalId"])


async def approval(stage: Stage, approval_id: str) -> dict[str, Any]:
    """The request as the bot reads it: `GET /v1/approvals/{id}`."""
    status, body = await stage.api.get(f"/v1/approvals/{approval_id}")
    assert status == 200, body
    assert isinstance(body, dict)
    return body


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


def top(slack: FakeSlack, channel: str = CHANNEL) -> list[str]:
    """The messages at the channel's top level (not in a thread)."""
    return [m.ts for m in slack.messages(channel) if not m.is_reply]


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


async def test_edit_opens_the_draft_and_sends_the_new_text(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    approval_id = await ask(stage, title="Refund answer")
    ts = await posted(stage, approval_id)

    # The click opens the form at once, holding the draft's text.
    assert await slack.click(ALICE, CHANNEL, ts, EDIT) == 200
    [form] = slack.open_views(ALICE)
    assert form["callback_id"] == "approval_edit" and form["private_metadata"] == approval_id
    [text] = [b for b in form["blocks"] if b["type"] == "input"]
    assert text["element"]["multiline"] is True
    assert text["element"]["initial_value"] == "Your refund of $42 is on its way."

    submitted = await slack.submit_view(
        ALICE, form["id"], {"approval_text": "Your refund of $42 left today <3"}
    )
    assert submitted.status == 200 and submitted.closed and submitted.failure is None
    await bot.wait_for(lambda: len(bot.events("approvalDecided")) == 1)
    payload = bot.events("approvalDecided")[0]["payload"]
    assert payload["status"] == "edited"
    assert payload["message"] == {
        "type": "text",
        "payload": {"text": "Your refund of $42 left today <3"},
    }
    await slack.wait_for(lambda: buttons(slack, ts) == [])
    message = shown(slack, ts)
    assert "Edited" in message and f"<@{ALICE}>" in message
    assert "left today &lt;3" in message  # the final text, as the end user gets it


async def test_edit_submitted_unchanged_is_an_approval(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    ts = await posted(stage, await ask(stage))
    await slack.click(BOB, CHANNEL, ts, EDIT)
    [form] = slack.open_views(BOB)
    assert (await slack.submit_view(BOB, form["id"])).closed
    await bot.wait_for(lambda: len(bot.events("approvalDecided")) == 1)
    payload = bot.events("approvalDecided")[0]["payload"]
    assert payload["status"] == "approved" and payload["message"] == DRAFT
    await slack.wait_for(lambda: "Approved" in shown(slack, ts))


async def test_an_edit_of_nothing_but_blanks_is_sent_back(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    ts = await posted(stage, await ask(stage))
    await slack.click(ALICE, CHANNEL, ts, EDIT)
    [form] = slack.open_views(ALICE)
    submitted = await slack.submit_view(ALICE, form["id"], {"approval_text": "  \n "})
    assert not submitted.closed and "approval_text" in submitted.errors
    await asyncio.sleep(0.2)
    assert bot.events("approvalDecided") == [] and buttons(slack, ts) == [APPROVE, EDIT, REJECT]


async def test_reject_with_a_reason_and_without(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    first = await posted(stage, with_reason := await ask(stage, title="First"))
    second = await posted(stage, without := await ask(stage, title="Second"))

    await slack.click(ALICE, CHANNEL, first, REJECT)
    [form] = slack.open_views(ALICE)
    [reason] = [b for b in form["blocks"] if b["type"] == "input"]
    assert reason.get("optional") is True and reason["element"]["multiline"] is True
    reason_text = "We never promise dates. Say it is being processed."
    assert (await slack.submit_view(ALICE, form["id"], {"approval_reason": reason_text})).closed

    await slack.click(BOB, CHANNEL, second, REJECT)
    [form] = slack.open_views(BOB)
    assert (await slack.submit_view(BOB, form["id"])).closed

    await bot.wait_for(lambda: len(bot.events("approvalDecided")) == 2)
    by_id = {e["payload"]["approvalId"]: e["payload"] for e in bot.events("approvalDecided")}
    assert by_id[with_reason]["status"] == "rejected"
    assert by_id[with_reason]["comment"] == reason_text
    assert "message" not in by_id[with_reason]
    assert by_id[without]["status"] == "rejected"
    assert "comment" not in by_id[without] and "message" not in by_id[without]
    await slack.wait_for(lambda: buttons(slack, first) == [] and buttons(slack, second) == [])
    assert "Rejected" in shown(slack, first) and reason_text in shown(slack, first)
    assert "Rejected" in shown(slack, second) and f"<@{BOB}>" in shown(slack, second)


async def test_two_deciders_at_once_one_wins_the_other_is_told(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    ts = await posted(stage, await ask(stage))
    await slack.click(BOB, CHANNEL, ts, REJECT)  # Bob opens the Reject form...
    [form] = slack.open_views(BOB)
    # ... and submits it just as Alice approves.
    await asyncio.gather(
        slack.click(ALICE, CHANNEL, ts, APPROVE), slack.submit_view(BOB, form["id"])
    )
    await bot.wait_for(lambda: len(bot.events("approvalDecided")) == 1)
    payload = bot.events("approvalDecided")[0]["payload"]
    winner = payload["agent"]["slackUserId"]
    loser = BOB if winner == ALICE else ALICE
    await slack.wait_for(lambda: bool(told(slack, loser)))
    [notice] = told(slack, loser)
    words = "approved" if winner == ALICE else "rejected"
    assert f"Already {words} by <@{winner}>" in notice
    assert slack.ephemerals[-1].thread_ts == ts  # in the request's thread
    await asyncio.sleep(0.2)
    assert len(bot.events("approvalDecided")) == 1 and told(slack, winner) == []


async def test_a_stale_click_changes_nothing_and_the_clicker_is_told(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    ts = await posted(stage, await ask(stage))
    await slack.click(ALICE, CHANNEL, ts, APPROVE)
    await slack.wait_for(lambda: buttons(slack, ts) == [])
    before = shown(slack, ts)

    # The buttons are gone, but a client that has not caught up still sends them.
    for action_id in (APPROVE, EDIT, REJECT):
        assert await slack.click(BOB, CHANNEL, ts, action_id, value=approval_of(slack, ts)) == 200
    assert slack.open_views(BOB) == []  # no form for a settled request
    await slack.wait_for(lambda: len(told(slack, BOB)) == 3)
    assert all(f"Already approved by <@{ALICE}>" in t for t in told(slack, BOB))
    await slack.click(ALICE, CHANNEL, ts, REJECT, value=approval_of(slack, ts))
    await slack.wait_for(lambda: len(told(slack, ALICE)) == 1)
    assert "You already approved" in told(slack, ALICE)[0]
    await asyncio.sleep(0.2)
    assert len(bot.events("approvalDecided")) == 1 and shown(slack, ts) == before


def approval_of(slack: FakeSlack, ts: str) -> str:
    """The approval id a request's message is about (from its metadata)."""
    metadata = slack.message(CHANNEL, ts).metadata or {}
    return str(metadata["event_payload"]["keys"]).removeprefix("approval:")


async def test_only_the_agents_group_may_decide(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_AGENT_USERGROUP="S0AGENTS")
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    slack.add_usergroup("S0AGENTS", [ALICE])
    ts = await posted(stage, await ask(stage))

    await slack.click(BOB, CHANNEL, ts, APPROVE)
    await slack.wait_for(lambda: len(told(slack, BOB)) == 1)
    assert "Only members of the agents' group" in told(slack, BOB)[0]
    # Now that the bridge knows Bob is not one, Edit opens no form for him: he is told.
    await slack.click(BOB, CHANNEL, ts, EDIT)
    assert slack.open_views(BOB) == []
    await slack.wait_for(lambda: len(told(slack, BOB)) == 2)
    assert buttons(slack, ts) == [APPROVE, EDIT, REJECT]

    await slack.click(ALICE, CHANNEL, ts, APPROVE)
    await bot.wait_for(lambda: len(bot.events("approvalDecided")) == 1)
    assert bot.events("approvalDecided")[0]["payload"]["agent"]["slackUserId"] == ALICE


async def test_a_request_in_a_conversation_goes_in_its_thread_after_what_came_before(
    stage: Stage,
) -> None:
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    user = await api.create_user("Erin")
    history = [{"source": {"type": "bot"}, "type": "text", "payload": {"text": "Hello!"}}]
    conv = await api.start(user, history, title="Refund")
    parent = await stage.parent_ts(conv)
    await api.say(conv, "where is my refund?", user_id=user)
    approval_id = await ask(stage, conversationId=conv, userId=user, title="Answer Erin")
    ts = await posted(stage, approval_id)

    thread = slack.thread(CHANNEL, parent)
    assert [m.ts for m in thread][-1] == ts  # the last of the thread: after what came before
    assert "Hello!" in str(thread[0].blocks) and thread[1].text == "where is my refund?"
    assert top(slack) == [parent]  # nothing new at the channel's top level

    await slack.click(ALICE, CHANNEL, ts, APPROVE)
    await bot.wait_for(lambda: len(bot.events("approvalDecided")) == 1)
    assert bot.events("approvalDecided")[0]["payload"]["conversationId"] == conv
    await slack.wait_for(lambda: buttons(slack, ts) == [])


async def test_a_request_outside_a_conversation_goes_in_the_channel_or_its_queues(
    make_stage: StageFactory, slack: FakeSlack
) -> None:
    slack.add_channel("C0BILLING", "billing")
    stage = await make_stage(BRIDGE_QUEUES="billing=C0BILLING")
    plain = await posted(stage, await ask(stage, title="Plain"))
    queued = await posted(stage, billing := await ask(stage, title="Billing", queue="billing"))
    assert top(slack) == [plain] and top(slack, "C0BILLING") == [queued]
    assert "Billing" in shown(slack, queued, "C0BILLING")
    assert (await approval(stage, billing))["slack"]["channel"] == "C0BILLING"

    await slack.click(ALICE, "C0BILLING", queued, EDIT)
    [form] = slack.open_views(ALICE)
    await slack.submit_view(ALICE, form["id"], {"approval_text": "Edited in billing"})
    await slack.wait_for(lambda: "Edited in billing" in shown(slack, queued, "C0BILLING"))
    assert buttons(slack, queued, "C0BILLING") == []


@pytest.mark.sqlite_only(
    "ten seconds of clocks; on PostgreSQL, tests/store/test_pg_store.py fires the timers"
)
async def test_a_reminder_at_three_quarters_then_expired_at_the_end(stage: Stage) -> None:
    """On the real clock, by the server's own timers (a request lasts 10 s at the least):
    one reminder in the request's thread at 7.5 s, `expired` at 10 s."""
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    approval_id = await ask(stage, title="Soon gone", expiresIn=10)
    ts = await posted(stage, approval_id)
    asked = time.monotonic()

    await slack.wait_for(lambda: len(slack.thread(CHANNEL, ts)) == 1, timeout=9)
    reminded = time.monotonic() - asked
    [reminder] = slack.thread(CHANNEL, ts)
    assert "Still waiting for a decision" in reminder.text
    assert "Soon gone" in str(reminder.blocks) and "<!here>" in str(reminder.blocks)
    assert "less than a minute left" in str(reminder.blocks)

    await bot.wait_for(lambda: len(bot.events("approvalDecided")) == 1, timeout=5)
    expired = time.monotonic() - asked
    assert 7.0 <= reminded <= 8.5 and 9.5 <= expired <= 11, (reminded, expired)
    payload = bot.events("approvalDecided")[0]["payload"]
    assert payload == {"approvalId": approval_id, "conversationId": None, "status": "expired"}
    await slack.wait_for(lambda: buttons(slack, ts) == [])
    assert "Expired" in shown(slack, ts)
    assert (await approval(stage, approval_id))["status"] == "expired"
    assert len(slack.thread(CHANNEL, ts)) == 1  # one reminder, no more

    # A click that comes too late is told so.
    await slack.click(ALICE, CHANNEL, ts, APPROVE, value=approval_id)
    await slack.wait_for(lambda: len(told(slack, ALICE)) == 1)
    assert "expired" in told(slack, ALICE)[0]


async def test_a_form_slack_will_not_open_is_said_and_decides_nothing(stage: Stage) -> None:
    """`views.open` refused (its rate tier spent, Slack's own trouble): the clicker is told,
    only them, and may click again; the request still waits."""
    slack = stage.slack
    approval_id = await ask(stage)
    ts = await posted(stage, approval_id)
    slack.fail("views.open", "internal_error")
    assert await slack.click(ALICE, CHANNEL, ts, EDIT) == 200
    await slack.wait_for(lambda: len(told(slack, ALICE)) == 1)
    assert "could not open the form" in told(slack, ALICE)[0]
    assert slack.open_views(ALICE) == [] and buttons(slack, ts) == [APPROVE, EDIT, REJECT]
    assert (await approval(stage, approval_id))["status"] == "pending"

    assert await slack.click(ALICE, CHANNEL, ts, EDIT) == 200  # again: it opens this time
    [form] = slack.open_views(ALICE)
    assert form["callback_id"] == "approval_edit"


async def test_cancel_rewrites_the_message_and_tells_the_bot_nothing(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    approval_id = await ask(stage)
    ts = await posted(stage, approval_id)
    assert await stage.api.post(f"/v1/approvals/{approval_id}/cancel") == (200, {})
    await slack.wait_for(lambda: buttons(slack, ts) == [])
    assert "Cancelled" in shown(slack, ts)
    await slack.click(ALICE, CHANNEL, ts, APPROVE, value=approval_id)
    await slack.wait_for(lambda: len(told(slack, ALICE)) == 1)
    assert "withdrew" in told(slack, ALICE)[0]
    await asyncio.sleep(0.2)
    assert bot.events("approvalDecided") == []


async def test_a_post_whose_answer_was_lost_is_not_posted_twice(stage: Stage) -> None:
    slack = stage.slack
    # Slack takes each post, but its answer is lost: the bridge cannot know it landed.
    slack.fail("chat.postMessage", "internal_error", status=500, applied=True)
    ts = await posted(stage, await ask(stage, title="Once"))
    assert top(slack) == [ts]
    assert slack.calls_of("conversations.history"), "the channel was checked before re-posting"

    conv, parent = await stage.handoff()
    slack.fail("chat.postMessage", "internal_error", status=500, applied=True)
    ts = await posted(stage, await ask(stage, conversationId=conv, title="Once in a thread"))
    assert [m.ts for m in slack.thread(CHANNEL, parent)] == [ts]
    assert slack.calls_of("conversations.replies"), "the thread was checked before re-posting"
    await asyncio.sleep(0.3)
    assert len(top(slack)) == 2 and len(slack.thread(CHANNEL, parent)) == 1


async def test_app_home_lists_the_requests_waiting_beside_the_handoffs(
    quick_home: float, stage: Stage
) -> None:
    slack, api = stage.slack, stage.api
    await stage.parent_ts(await api.start(await api.create_user("Erin"), title="A handoff"))
    older = await ask(stage, title="Older request")
    await posted(stage, older)
    newer_ts = await posted(stage, await ask(stage, title="Newer request"))
    assert await slack.send_event({"type": "app_home_opened", "user": ALICE, "tab": "home"}) == 200
    await slack.wait_for(lambda: ALICE in slack.home_views, timeout=10)
    view = json.dumps(slack.home_views[ALICE])
    assert "Approvals waiting* (2)" in view
    assert view.index("A handoff") < view.index("Older request") < view.index("Newer request")
    permalink = (await approval(stage, older))["slack"]["permalink"]
    assert permalink and f"<{permalink}|Older request>" in view

    await slack.click(ALICE, CHANNEL, newer_ts, APPROVE)
    await slack.wait_for(
        lambda: "Approvals waiting* (1)" in json.dumps(slack.home_views[ALICE]), timeout=10
    )
    assert "Newer request" not in json.dumps(slack.home_views[ALICE])


async def test_deciding_over_socket_mode(make_stage: StageFactory, slack: FakeSlack) -> None:
    stage = await make_stage(SLACK_APP_TOKEN=slack.app_token)
    bot = stage.bot
    assert bot is not None
    slack.delivery_timeout = 3
    await slack.wait_socket()
    ts = await posted(stage, await ask(stage))
    assert await slack.click(ALICE, CHANNEL, ts, EDIT) == 200
    [form] = slack.open_views(ALICE)
    blank = await slack.submit_view(ALICE, form["id"], {"approval_text": " "})
    assert not blank.closed and "approval_text" in blank.errors
    done = await slack.submit_view(ALICE, form["id"], {"approval_text": "over the socket"})
    assert done.closed and done.failure is None
    await bot.wait_for(lambda: len(bot.events("approvalDecided")) == 1)
    payload = bot.events("approvalDecided")[0]["payload"]
    assert payload["status"] == "edited" and payload["message"]["payload"]["text"] == (
        "over the socket"
    )
    await slack.wait_for(lambda: buttons(slack, ts) == [])


async def test_a_request_slack_refuses_is_said_in_its_conversations_thread(stage: Stage) -> None:
    slack = stage.slack
    conv, parent = await stage.handoff()
    slack.fail("chat.postMessage", "msg_too_long")
    approval_id = await ask(stage, conversationId=conv)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 1)
    [notice] = slack.thread(CHANNEL, parent)
    assert "Slack would not show a request for approval here" in notice.text
    assert "msg_too_long" in notice.text
    assert (await approval(stage, approval_id))["slack"]["ts"] is None
