"""The bridge's own words to agents: ephemeral notices, thread notices, captions.

Pure. The service names what happened by a code (an ephemeral's `why`, an outbox row's
`kind`); the wording for each code lives here, keyed by the same strings, so the sender only
decides when and where to say it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.model import Status, StopReason, User
from bridge.slack.blocks import MAX_FALLBACK_TEXT, Rendered, section, truncate_mrkdwn
from bridge.slack.text import escape

__all__ = [
    "EPHEMERALS",
    "ephemeral",
    "in_thread",
    "lost_thread",
    "notice",
    "upload_caption",
]

# What an agent is told, ephemerally, when the reason alone says it all.
EPHEMERALS = {
    "stopped": ":no_entry: This conversation has ended, so your reply was *not* sent.",
    "not_allowed": ":no_entry: Only the handoff agents may answer here; nothing was sent or "
    "changed.",
    "edited": ":information_source: The end user already has your original reply; the edit "
    "was not sent. Reply again if it needs correcting.",
    "corrected": ":information_source: The end user already had your original reply, so the "
    "corrected text went out as a new message, marked as a correction.",
    "deleted": ":information_source: The end user already has that reply; deleting it here "
    "does not take it back.",
}


def notice(text: str) -> Rendered:
    """A short bridge notice; ``text`` is mrkdwn, truncated to one section."""
    return Rendered(
        text=truncate_mrkdwn(text, MAX_FALLBACK_TEXT),
        blocks=[section(text)],
    )


def ephemeral(why: str, state: Mapping[str, Any], who: str) -> Rendered:
    """What agent ``who`` is told, only to them, when their action or reply did not go as
    meant: ``why`` is the service's code, ``state`` the conversation as it was then."""
    return notice(_ephemeral_text(why, state, who))


def _ephemeral_text(why: str, state: Mapping[str, Any], who: str) -> str:
    if why in EPHEMERALS:
        return EPHEMERALS[why]
    if why == "undelivered":
        return f":warning: The end user did not get your reply: {state.get('reason')}"
    if why == "unhandled":
        return (
            ":warning: The bridge could not handle what you just did here, so nothing was "
            f"passed on; please try again. ({state.get('reason')})"
        )
    if why == "assignee_only" and state.get("assignee"):
        return f":no_entry: Only <@{state['assignee']}>, who has it, may release or resolve it."
    status, assignee = Status(state["status"]), state.get("assignee")
    if status is Status.ASSIGNED and assignee:
        if assignee == who:
            return "You already have this conversation."
        return f":raising_hand: <@{assignee}> has this conversation; nothing changed."
    if status is Status.WAITING:
        return (
            ":hourglass_flowing_sand: This conversation is waiting for an agent; nothing changed."
        )
    ended = {
        StopReason.RESOLVED.value: f"it was resolved by <@{state.get('changedBy')}>",
        StopReason.BOT.value: "the bot ended it",
        StopReason.TIMEOUT.value: "nobody claimed it in time",
    }.get(state.get("stopReason") or "", "it ended")
    return f":no_entry: This conversation has ended ({ended}); nothing changed."


def in_thread(kind: str, payload: Mapping[str, Any], mention: str) -> Rendered:
    """The bridge's own word in a thread, for an outbox row of ``kind``: a ``reminder`` that
    calls on ``mention`` (a ready mrkdwn mention), a ``nudge`` to the assignee, or a
    ``failure_notice``."""
    if kind == "reminder":
        text = f":bell: Still waiting for an agent after {_minutes(payload['waited'])}."
        text = f"{text} {mention}".strip()
    elif kind == "nudge":
        text = (
            f":wave: <@{payload['user']}>, no reply here for {_minutes(payload['idle'])}: "
            "still on it?"
        )
    else:
        what = "the conversation so far" if payload["what"] == "transcript" else "a message"
        text = f":warning: Slack would not show {what} here ({payload['reason']})."
    return notice(text)


def lost_thread(error: str) -> Rendered:
    """The first word in a thread opened anew because Slack lost the old one (``error``)."""
    return notice(f":link: The thread of this conversation was lost ({error}); it continues here.")


def upload_caption(user: User | None) -> str:
    """Who a file uploaded into a thread comes from: the end user, else the bot."""
    return f"*{escape(user.name)}*" if user else "_From the bot_"


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
