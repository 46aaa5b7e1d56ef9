"""An approval request drawn: one post whatever it holds, its buttons, its modals, its
notices; and the Home tab's list of requests waiting."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.views import View

from bridge.events import Why
from bridge.model import (
    Approval,
    ApprovalStatus,
    Content,
    Role,
    User,
    content_from_json,
)
from bridge.service import ApprovalView, Asked, Figures
from bridge.slack import approvals, queue
from bridge.testing.fake_slack.views import check_view
from tests.slack.checks import all_text, assert_within_limits
from tests.slack.test_queue import assert_valid_view, queued

NOW = datetime(2026, 11, 23, 22, 21, 4, tzinfo=UTC)
WORST = "&<>\U0001f600|" * 400  # escapes to far more than a section takes
ERIN = User("user_1", Role.END_USER, "Erin", None, "erin@example.com")
ALICE = User("user_2", Role.AGENT, "Alice", None, None, slack_user_id="U0ALICE")


def text(body: str) -> Content:
    return content_from_json({"type": "text", "payload": {"text": body}})


def request(
    draft: Content | None = None,
    status: ApprovalStatus = ApprovalStatus.PENDING,
    **fields: Any,
) -> Approval:
    return Approval(
        id="apv_1",
        status=status,
        draft=draft or text("Your refund is on its way."),
        message=fields.pop("message", None),
        comment=fields.pop("comment", None),
        decider_id="user_2"
        if status in (ApprovalStatus.APPROVED, ApprovalStatus.REJECTED)
        else None,
        conversation_id=None,
        user_id="user_1",
        title=fields.pop("title", "Refund answer"),
        context=fields.pop("context", "Erin asked where her refund is"),
        channel="C0CHAN",
        thread_ts=None,
        ts=fields.pop("ts", None),
        permalink=fields.pop("permalink", None),
        created_at=NOW - timedelta(minutes=5),
        expires_at=NOW + timedelta(minutes=55),
        decided_at=None if status is ApprovalStatus.PENDING else NOW,
    )


def seen(approval: Approval, user: User | None = ERIN) -> ApprovalView:
    decider = ALICE if approval.status not in (ApprovalStatus.PENDING,) else None
    return ApprovalView(approval, user, decider, None)


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_pending_shows_everything_and_three_buttons() -> None:
    drawn = approvals.request(seen(request()))
    assert_within_limits(drawn)
    shown = all_text(drawn)
    for part in ("Refund answer", "Erin asked where", "Erin", "erin@example.com", "From the bot"):
        assert part in shown
    assert "Your refund is on its way." in shown and "Waiting for a decision" in shown
    assert action_ids(drawn.blocks) == ["approval_approve", "approval_edit", "approval_reject"]
    values = [e["value"] for b in drawn.blocks if b["type"] == "actions" for e in b["elements"]]
    assert values == ["apv_1"] * 3
    assert drawn.text == "Approval request: Refund answer — waiting for a decision"


def test_edit_is_offered_for_text_a_modal_can_hold_only() -> None:
    image = content_from_json(
        {"type": "image", "payload": {"imageUrl": "https://img.example.com/a.png"}}
    )
    assert approvals.editable(text("x" * 3000))
    for draft in (text("x" * 3001), image):
        assert not approvals.editable(draft)
        drawn = approvals.request(seen(request(draft)))
        assert action_ids(drawn.blocks) == ["approval_approve", "approval_reject"]
    drawn = approvals.request(seen(request(image)))
    assert any(b["type"] == "image" for b in drawn.blocks)  # as the end user would see it
    drawn = approvals.request(seen(request(image)), images=False)
    assert all(b["type"] != "image" for b in drawn.blocks)
    assert "https://img.example.com/a.png" in all_text(drawn)


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (ApprovalStatus.APPROVED, "*Approved* by <@U0ALICE>"),
        (ApprovalStatus.EDITED, "*Edited* by <@U0ALICE>"),
        (ApprovalStatus.REJECTED, "*Rejected* by <@U0ALICE>"),
        (ApprovalStatus.EXPIRED, "*Expired*: nobody decided in time"),
        (ApprovalStatus.CANCELLED, "*Cancelled* by the bot"),
    ],
)
def test_settled_shows_the_outcome_and_no_buttons(status: ApprovalStatus, words: str) -> None:
    extra: dict[str, Any] = {}
    if status is ApprovalStatus.EDITED:
        extra["message"] = text("It left today.")
    if status is ApprovalStatus.REJECTED:
        extra["comment"] = "Never promise dates"
    drawn = approvals.request(seen(request(status=status, **extra)))
    assert_within_limits(drawn)
    shown = all_text(drawn)
    assert words in shown and "<!date^" in shown and action_ids(drawn.blocks) == []
    assert "Your refund is on its way." in shown
    if status is ApprovalStatus.EDITED:
        assert "It left today." in shown
    if status is ApprovalStatus.REJECTED:
        assert "*Reason:* Never promise dates" in shown


def test_decided_by_someone_slack_does_not_know() -> None:
    nobody = dataclasses.replace(ALICE, slack_user_id=None, name="<Ghost>")
    approval = request(status=ApprovalStatus.APPROVED)
    drawn = approvals.request(ApprovalView(approval, None, nobody, None))
    assert "*Approved* by &lt;Ghost&gt;" in all_text(drawn)


@pytest.mark.parametrize("status", list(ApprovalStatus))
@pytest.mark.parametrize("kind", ["text", "bloc", "worst"])
def test_one_post_whatever_it_holds(status: ApprovalStatus, kind: str) -> None:
    """Title, context, names, the draft, the edited text and the reason at their longest,
    in the worst characters: one post Slack takes, the draft cut saying so."""
    if kind == "text":
        draft = text("word " * 8000)
    elif kind == "bloc":
        image = {"type": "image", "payload": {"imageUrl": "https://img.example.com/a.png"}}
        line = {"type": "text", "payload": {"text": "a line " * 100}}
        draft = content_from_json({"type": "bloc", "payload": {"items": [image, line] * 25}})
    else:
        draft = text((WORST * 20)[:40_000])
    approval = request(
        draft,
        status,
        title=WORST[:200],
        context=WORST[:3000],
        message=text(WORST[:3000]),
        comment=WORST[:3000],
    )
    if status is not ApprovalStatus.EDITED:
        approval = dataclasses.replace(approval, message=None)
    user = User("user_1", Role.END_USER, WORST, None, WORST[:200] + "@example.com")
    drawn = approvals.request(ApprovalView(approval, user, ALICE, None))
    assert_within_limits(drawn)
    assert "too long to show whole" in all_text(drawn)
    assert (action_ids(drawn.blocks) != []) is (status is ApprovalStatus.PENDING)


def assert_modal(view: dict[str, Any]) -> None:
    """A modal Slack opens: as slack_sdk's model checks it, and as the fake Slack holds a
    modal to Slack's rules."""
    View(**view).validate_json()
    check_view(view, modal=True)


@pytest.mark.parametrize("draw", [approvals.edit_modal, approvals.reject_modal])
def test_each_modal_is_one_slack_takes_however_long_its_request(
    draw: Callable[[Approval], dict[str, Any]],
) -> None:
    assert_modal(draw(request(text("Hi"))))
    assert_modal(draw(request(text(WORST[:3000]), title=WORST, context=WORST[:3000])))


def test_edit_modal_holds_the_draft_and_names_the_request() -> None:
    draft = "Line one\nline <two> & three"
    view = approvals.edit_modal(request(text(draft)))
    assert_modal(view)
    assert view["callback_id"] == "approval_edit" and view["private_metadata"] == "apv_1"
    [field] = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["block_id"] == "approval_text" and field["element"]["action_id"] == "text"
    assert field["element"]["initial_value"] == draft  # as typed: an input is not mrkdwn
    assert field["element"]["multiline"] is True and field["element"]["max_length"] == 3000
    assert "optional" not in field
    with pytest.raises(ValueError, match="text draft"):
        approvals.edit_modal(request(text("x" * 3001)))


def test_reject_modal_asks_for_an_optional_reason() -> None:
    view = approvals.reject_modal(request())
    assert_modal(view)
    assert view["callback_id"] == "approval_reject" and view["private_metadata"] == "apv_1"
    [field] = [b for b in view["blocks"] if b["type"] == "input"]
    assert field["block_id"] == "approval_reason" and field["optional"] is True
    assert field["element"]["multiline"] is True


def test_reminder_calls_on_the_agents_and_links_the_request() -> None:
    approval = request(permalink="https://example.slack.com/archives/C0CHAN/p1")
    drawn = approvals.reminder(approval, 14 * 60, "<!here>")
    assert_within_limits(drawn)
    shown = all_text(drawn)
    assert "<https://example.slack.com/archives/C0CHAN/p1|Refund answer>" in shown
    assert "14 minutes left" in shown and shown.rstrip().endswith("<!here>")
    drawn = approvals.reminder(request(title=WORST), 20, "")
    assert_within_limits(drawn)
    assert "less than a minute left." in all_text(drawn)


@pytest.mark.parametrize(
    ("status", "user", "expected"),
    [
        (ApprovalStatus.APPROVED, "U0BOB", "Already approved by <@U0ALICE>; nothing changed."),
        (ApprovalStatus.REJECTED, "U0BOB", "Already rejected by <@U0ALICE>; nothing changed."),
        (ApprovalStatus.APPROVED, "U0ALICE", "You already approved this request"),
        (ApprovalStatus.EXPIRED, "U0BOB", "expired before anyone decided"),
        (ApprovalStatus.CANCELLED, "U0BOB", "The bot withdrew this request"),
    ],
)
def test_a_stale_decision_is_told_the_state(
    status: ApprovalStatus, user: str, expected: str
) -> None:
    drawn = approvals.notice(Why.STALE, seen(request(status=status)), user)
    assert_within_limits(drawn)
    assert expected in drawn.text


def test_one_who_may_not_decide_is_told_so() -> None:
    drawn = approvals.notice(Why.NOT_ALLOWED, seen(request()), "U0BOB")
    assert "Only members of the agents' group" in drawn.text


def test_home_lists_the_requests_waiting_within_limits() -> None:
    waiting = [queued(n, title=WORST, name=WORST) for n in range(queue.HOME_WAITING + 5)]
    mine = [queued(n, title=WORST, name=WORST) for n in range(queue.HOME_MINE + 5)]
    asked = [request(title=WORST, permalink=f"https://example.slack.com/p{n}") for n in range(15)]
    figures = Figures(3, 60.0, 600.0)
    view = queue.home_view(waiting, mine, figures, NOW, (100, 100), Asked(asked, 99))
    assert_valid_view(view)
    shown = json.dumps(view)
    assert "Approvals waiting* (99)" in shown and "and 89 more" in shown
    line = queue.approval_line(request(), NOW)
    assert line == ":memo: *Refund answer* · asked 5m ago · expires in 55m"
    # None waiting: no list at all.
    assert "Approvals" not in json.dumps(queue.home_view([], [], figures, NOW, None, Asked([], 0)))
