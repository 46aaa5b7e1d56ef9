"""The bridge's own words to agents: ephemeral notices, thread notices, captions.

Pure. The core says what happened in the typed payloads of `bridge.events` (an ephemeral's
`Why`, a reminder's wait); the words for each live here, so the sender only decides when and
where to say them.
"""

from __future__ import annotations

from bridge.events import Ephemeral, Failure, FailureNotice, Nudge, Reminder, SlackKind, Why
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
    Why.STOPPED: ":no_entry: This conversation has ended, so your reply was *not* sent.",
    Why.NOT_ALLOWED: ":no_entry: Only the handoff agents may answer here; nothing was sent or "
    "changed.",
    Why.EDITED: ":information_source: The end user already has your original reply; the edit "
    "was not sent. Reply again if it needs correcting.",
    Why.CORRECTED: ":information_source: The end user already had your original reply, so the "
    "corrected text went out as a new message, marked as a correction.",
    Why.DELETED: ":information_source: The end user already has that reply; deleting it here "
    "does not take it back.",
}

# What a failure notice says was not shown, by the outbox kind given up on.
_WHAT: dict[str, str] = {
    SlackKind.TRANSCRIPT: "the conversation so far",
    SlackKind.POST_APPROVAL: "a request for approval",
}


def notice(text: str) -> Rendered:
    """A short bridge notice; ``text`` is mrkdwn, truncated to one section."""
    return Rendered(
        text=truncate_mrkdwn(text, MAX_FALLBACK_TEXT),
        blocks=[section(text)],
    )


def ephemeral(told: Ephemeral) -> Rendered:
    """What an agent is told, only to them, when their action or reply did not go as meant,
    with the conversation as it was then."""
    return notice(_ephemeral_text(told))


def _ephemeral_text(told: Ephemeral) -> str:
    why, state, who = told.why, told.state, told.user
    if why in EPHEMERALS:
        return EPHEMERALS[why]
    if isinstance(state, Failure):
        if why is Why.UNDELIVERED:
            return f":warning: The end user did not get your reply: {state.reason}"
        return (
            ":warning: The bridge could not handle what you just did here, so nothing was "
            f"passed on; please try again. ({state.reason})"
        )
    if why is Why.ASSIGNEE_ONLY and state.assignee:
        return f":no_entry: Only <@{state.assignee}>, who has it, may release or resolve it."
    status, assignee = Status(state.status), state.assignee
    if status is Status.ASSIGNED and assignee:
        if assignee == who:
            return "You already have this conversation."
        return f":raising_hand: <@{assignee}> has this conversation; nothing changed."
    if status is Status.WAITING:
        return (
            ":hourglass_flowing_sand: This conversation is waiting for an agent; nothing changed."
        )
    ended = {
        StopReason.RESOLVED.value: f"it was resolved by <@{state.changedBy}>",
        StopReason.BOT.value: "the bot ended it",
        StopReason.TIMEOUT.value: "nobody claimed it in time",
    }.get(state.stopReason or "", "it ended")
    return f":no_entry: This conversation has ended ({ended}); nothing changed."


def in_thread(said: Reminder | Nudge | FailureNotice, mention: str) -> Rendered:
    """The bridge's own word in a thread: a reminder that calls on `mention` (a ready mrkdwn
    mention), a nudge to the assignee, or a notice that something was given up on."""
    if isinstance(said, Reminder):
        text = f":bell: Still waiting for an agent after {_minutes(said.waited)}."
        text = f"{text} {mention}".strip()
    elif isinstance(said, Nudge):
        text = f":wave: <@{said.user}>, no reply here for {_minutes(said.idle)}: still on it?"
    else:
        what = _WHAT.get(said.what, "a message")
        text = f":warning: Slack would not show {what} here ({said.reason})."
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
