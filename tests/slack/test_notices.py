"""The bridge's own words to agents, for each code the service names."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bridge.events import Ephemeral, FailureNotice, Nudge, Reminder, from_json
from bridge.model import Role, User
from bridge.slack.notices import (
    EPHEMERALS,
    ephemeral,
    in_thread,
    lost_thread,
    notice,
    upload_caption,
)
from tests.slack.checks import assert_within_limits


def told(why: str, state: dict[str, Any]) -> Ephemeral:
    """The notice as the core queues it for agent U0ME (read back as the sender does)."""
    notice = from_json("ephemeral", {"channel": "C0", "user": "U0ME", "why": why, "state": state})
    assert isinstance(notice, Ephemeral)
    return notice


def test_notice() -> None:
    rendered = notice("Claimed by <@U1> already")
    assert rendered.text == "Claimed by <@U1> already"
    assert rendered.blocks == [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "Claimed by <@U1> already", "verbatim": True},
        }
    ]
    assert_within_limits(notice("x" * 10000))
    long = notice("<@U1> " + "&amp;" * 3000)
    assert_within_limits(long)
    assert re.fullmatch(r"<@U1> (&amp;)+…", long.blocks[0]["text"]["text"])


# --- ephemeral notices ----------------------------------------------------------------------


@pytest.mark.parametrize("why", sorted(EPHEMERALS))
def test_ephemeral_said_by_its_reason_alone(why: str) -> None:
    standing = {"status": "waiting", "assignee": None, "changedBy": None, "stopReason": None}
    rendered = ephemeral(told(why, standing))
    assert rendered.text == EPHEMERALS[why]
    assert_within_limits(rendered)


@pytest.mark.parametrize(
    ("why", "state", "expected"),
    [
        (
            "undelivered",
            {"reason": "it timed out"},
            ":warning: The end user did not get your reply: it timed out",
        ),
        (
            "unhandled",
            {"reason": "boom"},
            ":warning: The bridge could not handle what you just did here, so nothing was "
            "passed on; please try again. (boom)",
        ),
        (
            "assignee_only",
            {"assignee": "U0A", "status": "assigned"},
            ":no_entry: Only <@U0A>, who has it, may release or resolve it.",
        ),
        (
            "stale",
            {"status": "assigned", "assignee": "U0ME"},
            "You already have this conversation.",
        ),
        (
            "stale",
            {"status": "assigned", "assignee": "U0A"},
            ":raising_hand: <@U0A> has this conversation; nothing changed.",
        ),
        (
            "stale",
            {"status": "waiting"},
            ":hourglass_flowing_sand: This conversation is waiting for an agent; nothing changed.",
        ),
        (
            "stale",
            {"status": "stopped", "stopReason": "resolved", "changedBy": "U0X"},
            ":no_entry: This conversation has ended (it was resolved by <@U0X>); nothing changed.",
        ),
        (
            "stale",
            {"status": "stopped", "stopReason": "bot"},
            ":no_entry: This conversation has ended (the bot ended it); nothing changed.",
        ),
        (
            "stale",
            {"status": "stopped", "stopReason": "timeout"},
            ":no_entry: This conversation has ended (nobody claimed it in time); nothing changed.",
        ),
        (
            "stale",
            {"status": "stopped"},
            ":no_entry: This conversation has ended (it ended); nothing changed.",
        ),
    ],
)
def test_ephemeral_says_the_state(why: str, state: dict[str, Any], expected: str) -> None:
    rendered = ephemeral(told(why, state))
    assert rendered.text == expected
    assert rendered.blocks[0]["text"]["text"] == expected


# --- in the thread --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "payload", "mention", "expected"),
    [
        (
            "reminder",
            {"waited": 600},
            "<!here>",
            ":bell: Still waiting for an agent after 10 minutes. <!here>",
        ),
        ("reminder", {"waited": 20}, "", ":bell: Still waiting for an agent after 1 minute."),
        (
            "nudge",
            {"user": "U0B", "idle": 125},
            "<!here>",
            ":wave: <@U0B>, no reply here for 2 minutes: still on it?",
        ),
        (
            "failure_notice",
            {"what": "transcript", "reason": "msg_too_long"},
            "",
            ":warning: Slack would not show the conversation so far here (msg_too_long).",
        ),
        (
            "failure_notice",
            {"what": "message", "reason": "is_archived"},
            "",
            ":warning: Slack would not show a message here (is_archived).",
        ),
    ],
)
def test_in_thread(kind: str, payload: dict[str, Any], mention: str, expected: str) -> None:
    said = from_json(kind, {"channel": "C0", **payload})
    assert isinstance(said, Reminder | Nudge | FailureNotice)
    rendered = in_thread(said, mention)
    assert rendered.text == expected
    assert_within_limits(rendered)


def test_lost_thread() -> None:
    assert lost_thread("thread_not_found").text == (
        ":link: The thread of this conversation was lost (thread_not_found); it continues here."
    )


def test_upload_caption() -> None:
    assert upload_caption(User("u", Role.END_USER, "Erin <!here>", None, None)) == (
        "*Erin &lt;!here&gt;*"
    )
    assert upload_caption(None) == "_From the bot_"
