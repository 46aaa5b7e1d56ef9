"""The queue as agents look at it: the App Home tab and the `/hitl` command's answers.

Pure, like the rest of the drawing; `home.AppHome` publishes the tab.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bridge.model import Action, Approval, Priority
from bridge.service import Asked, Figures, Queued
from bridge.slack import approvals
from bridge.slack.blocks import (
    ACTION_IDS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    context,
    section,
    truncate_mrkdwn,
    truncate_plain,
)
from bridge.slack.text import escape, link
from bridge.slack.thread import DEFAULT_TITLE

__all__ = [
    "ANSWER_LINES",
    "HELP",
    "HOME_APPROVALS",
    "HOME_MINE",
    "HOME_WAITING",
    "MAX_MESSAGE_TEXT",
    "MAX_VIEW_BLOCKS",
    "approval_line",
    "duration",
    "figures_text",
    "home_view",
    "line",
    "mine_answer",
    "queue_answer",
    "waiting_answer",
]

HELP = (
    "*`/hitl`* — the open queue, oldest first\n"
    "*`/hitl mine`* — the conversations you have\n"
    "*`/hitl stats`* — today's handoffs and how fast they were answered\n"
    "*`/hitl help`* — this help\n"
    "Claim, answer and resolve in each conversation's thread."
)
_PRIORITY = {Priority.URGENT: ":red_circle: ", Priority.HIGH: ":large_orange_circle: "}
MAX_VIEW_BLOCKS = 100  # a Home tab's limit
MAX_MESSAGE_TEXT = 40_000  # Slack truncates a message's text past this
# How many conversations each list shows: the Home tab stays far within its blocks, a
# `/hitl` answer readable (each line is at most about 1,500 characters, see `line`).
HOME_WAITING = 30
HOME_MINE = 10
HOME_APPROVALS = 10
ANSWER_LINES = 20
_NAME_CHARS = 100


def duration(seconds: float) -> str:
    """`45s`, `12m`, `3h 5m`, `2d 4h`: how long, at a glance."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours = seconds // 60, seconds // 3600
    if hours == 0:
        return f"{minutes}m"
    if hours < 24:
        return f"{hours}h {minutes % 60}m"
    return f"{hours // 24}d {hours % 24}h"


def line(item: Queued, now: datetime) -> str:
    """One conversation: priority, title (a link to its thread), who, how long; within a
    section's limit. The title and name are cut before they are escaped (which can make them
    five times longer), so no cut lands inside an entity or the link."""
    conv = item.conversation
    name = truncate_plain(" ".join((conv.title or "").split()) or DEFAULT_TITLE, MAX_HEADER_TEXT)
    title = link(conv.permalink, name) if conv.permalink else escape(name)
    who = escape(truncate_plain(item.user.name, _NAME_CHARS)) if item.user else None
    since = conv.waiting_since or conv.created_at
    prefix = _PRIORITY.get(conv.priority, "") if conv.priority else ""
    text = f"{prefix}*{title}* · {who or '_unknown end user_'} · "
    return truncate_mrkdwn(text + duration((now - since).total_seconds()), MAX_SECTION_TEXT)


def approval_line(approval: Approval, now: datetime) -> str:
    """One approval request waiting for a decision: its title (a link to its message, once
    posted), how long it has waited and how long it has left; within a section's limit."""
    title = " ".join((approval.title or "").split()) or approvals.DEFAULT_TITLE
    name = truncate_plain(title, MAX_HEADER_TEXT)
    shown = link(approval.permalink, name) if approval.permalink else escape(name)
    waited = duration((now - approval.created_at).total_seconds())
    left = duration((approval.expires_at - now).total_seconds())
    text = f":memo: *{shown}* · asked {waited} ago · expires in {left}"
    return truncate_mrkdwn(text, MAX_SECTION_TEXT)


def figures_text(figures: Figures) -> str:
    """Today's figures in a line: `/hitl stats`, and atop the Home tab."""

    def median(value: float | None) -> str:
        return duration(value) if value is not None else "—"

    return (
        f"*Today*: {figures.handoffs} handoff{'s' if figures.handoffs != 1 else ''} · "
        f"median first reply {median(figures.first_reply)} · "
        f"median time to resolve {median(figures.resolve)}"
    )


def _more(shown: int, total: int) -> list[str]:
    return [f"_…and {total - shown} more_"] if total > shown else []


def queue_answer(
    title: str, items: Sequence[Queued], now: datetime, empty: str, total: int | None = None
) -> str:
    """A `/hitl` answer: a heading and one line per conversation, the first `ANSWER_LINES`
    of them and how many more (of `total`, if more were not read), within a message's
    text."""
    if not items:
        return f"*{title}*\n{empty}"
    lines = [f"• {line(item, now)}" for item in items[:ANSWER_LINES]]
    total = len(items) if total is None else total
    text = "\n".join([f"*{title}*", *lines, *_more(len(lines), total)])
    return truncate_mrkdwn(text, MAX_MESSAGE_TEXT)


def waiting_answer(items: Sequence[Queued], now: datetime, total: int | None = None) -> str:
    """`/hitl`: the conversations waiting for an agent."""
    return queue_answer("Waiting", items, now, "Nobody is waiting. :tada:", total)


def mine_answer(items: Sequence[Queued], now: datetime, total: int | None = None) -> str:
    """`/hitl mine`: the asker's own conversations."""
    return queue_answer("Yours", items, now, "You have no conversation now.", total)


def home_view(
    waiting: Sequence[Queued],
    mine: Sequence[Queued],
    figures: Figures,
    now: datetime,
    totals: tuple[int, int] | None = None,
    asked: Asked | None = None,
) -> dict[str, Any]:
    """The App Home tab: the waiting queue with Claim buttons (the first `HOME_WAITING`),
    the approval requests waiting for a decision (the first `HOME_APPROVALS`, oldest first,
    each a link to where it is decided), the agent's own (the first `HOME_MINE`), today;
    within `MAX_VIEW_BLOCKS` blocks. `totals`: how many each queue holds, when not all of
    it was read."""
    waiting_total, mine_total = totals or (len(waiting), len(mine))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Handoff queue"}},
        _line_block(figures_text(figures)),
        section(f"*Waiting* ({waiting_total})"),
    ]
    for item in waiting[:HOME_WAITING]:
        block = section(line(item, now))
        block["accessory"] = {
            "type": "button",
            "action_id": ACTION_IDS[Action.CLAIM],
            "text": {"type": "plain_text", "text": "Claim"},
            "value": item.conversation.id,
        }
        blocks.append(block)
    blocks += [_line_block(more) for more in _more(HOME_WAITING, waiting_total)]
    if not waiting:
        blocks.append(_line_block("Nobody is waiting. :tada:"))
    # Shown only while some wait: a team that never uses approvals sees no empty list.
    if asked is not None and asked.total:
        blocks.append({"type": "divider"})
        blocks.append(section(f"*Approvals waiting* ({asked.total})"))
        blocks += [_line_block(approval_line(a, now)) for a in asked.items[:HOME_APPROVALS]]
        blocks += [_line_block(more) for more in _more(HOME_APPROVALS, asked.total)]
    blocks.append({"type": "divider"})
    blocks.append(section(f"*Yours* ({mine_total})"))
    blocks += [_line_block(line(item, now)) for item in mine[:HOME_MINE]]
    blocks += [_line_block(more) for more in _more(HOME_MINE, mine_total)]
    if not mine:
        blocks.append(_line_block("You have no conversation right now."))
    return {"type": "home", "blocks": blocks}


def _line_block(text: str) -> dict[str, Any]:
    """A line in small print (a `line` takes up to a section's text, so is let be)."""
    return context([text], limit=MAX_SECTION_TEXT)
