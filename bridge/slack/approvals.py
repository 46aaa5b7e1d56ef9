"""An approval request in Slack: the message agents decide on, the Edit and Reject modals,
and the bridge's words about a request (its reminder, the notices of a decision that changed
nothing).

Pure, built of `blocks`' pieces like the rest of the drawing. The request is rewritten in
place once settled (`chat.update`), so it is always one post: whatever the bot's draft, its
title and context, or an agent's edit and reason, it stays within Block Kit's limits and the
block text Slack takes a post; only the draft is cut to make room, and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from bridge.events import Why
from bridge.model import (
    Approval,
    ApprovalStatus,
    BlocMessage,
    Content,
    Decision,
    ImageMessage,
    TextMessage,
    User,
)
from bridge.service import ApprovalView
from bridge.slack.blocks import (
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_POST_TEXT,
    MAX_SECTION_TEXT,
    Rendered,
    context,
    local_date,
    outside_text,
    pack,
    person_name,
    plain,
    section,
    text_size,
    truncate_mrkdwn,
    truncate_plain,
    user_mention,
)
from bridge.slack.text import escape, link
from bridge.slack.thread import as_sent

__all__ = [
    "ACTIONS",
    "APPROVE",
    "DEFAULT_TITLE",
    "EDIT",
    "EDIT_VIEW",
    "MAX_INPUT",
    "REASON_BLOCK",
    "REASON_INPUT",
    "REJECT",
    "REJECT_VIEW",
    "TEXT_BLOCK",
    "TEXT_INPUT",
    "VIEWS",
    "edit_modal",
    "editable",
    "has_image",
    "notice",
    "reject_modal",
    "reminder",
    "request",
]

# The buttons' action_ids and the modals' callback_ids: posted requests and open modals
# carry them, so they cannot change.
APPROVE: Final = "approval_approve"
EDIT: Final = "approval_edit"
REJECT: Final = "approval_reject"
ACTIONS: Final[dict[str, Decision]] = {
    APPROVE: Decision.APPROVE,
    EDIT: Decision.EDIT,
    REJECT: Decision.REJECT,
}
EDIT_VIEW: Final = "approval_edit"
REJECT_VIEW: Final = "approval_reject"
VIEWS: Final[dict[str, Decision]] = {EDIT_VIEW: Decision.EDIT, REJECT_VIEW: Decision.REJECT}
# The modals' inputs (block_id, and the action_id of the element in it).
TEXT_BLOCK: Final = "approval_text"
TEXT_INPUT: Final = "text"
REASON_BLOCK: Final = "approval_reason"
REASON_INPUT: Final = "reason"
ACTIONS_BLOCK_ID = "approval_actions"
# A plain_text_input holds at most 3,000 characters (`max_length`'s ceiling), so only a
# text draft that long at most can be edited whole in a modal; a longer one gets no Edit
# (cutting it in the form would send the cut text as the edit).
MAX_INPUT = 3000

DEFAULT_TITLE = "Approval request"
_LINE = 600  # the lines about the request (end user, who asked, status) at most
# What a cut draft says, at most this long, and the least room worth showing a cut draft in.
_CUT_ROOM = 200
_VIEW_TITLE = 24  # a modal's title, submit and close labels

_OUTCOMES = {
    ApprovalStatus.APPROVED: ("approved", ":white_check_mark: *Approved*"),
    ApprovalStatus.EDITED: ("edited", ":pencil2: *Edited*"),
    ApprovalStatus.REJECTED: ("rejected", ":no_entry_sign: *Rejected*"),
}


def editable(draft: Content) -> bool:
    """Whether Edit is offered: a text draft a modal's input can hold whole."""
    return isinstance(draft, TextMessage) and len(draft.payload.text) <= MAX_INPUT


def has_image(content: Content) -> bool:
    """Whether drawing `content` shows a picture (which Slack must be able to fetch)."""
    items = content.payload.items if isinstance(content, BlocMessage) else [content]
    return any(isinstance(item, ImageMessage) for item in items)


def _title(approval: Approval) -> str:
    return " ".join((approval.title or "").split()) or DEFAULT_TITLE


def _person(user: User | None) -> str:
    """Who decided, as a mention when Slack knows them."""
    if user is None:
        return "an agent"
    return user_mention(user.slack_user_id) if user.slack_user_id else person_name(user)


# --- the request ----------------------------------------------------------------------------


def _status(seen: ApprovalView) -> tuple[str, str]:
    """(the status line in mrkdwn, the same in a few words for the fallback)."""
    a = seen.approval
    when = f" · {local_date(a.decided_at)}" if a.decided_at else ""
    if a.status is ApprovalStatus.PENDING:
        expires = local_date(a.expires_at)
        return f":hourglass_flowing_sand: *Waiting for a decision* · expires {expires}", (
            "waiting for a decision"
        )
    if a.status in _OUTCOMES:
        words, line = _OUTCOMES[a.status]
        return f"{line} by {_person(seen.decider)}{when}", words
    if a.status is ApprovalStatus.EXPIRED:
        return f":alarm_clock: *Expired*: nobody decided in time{when}", "expired"
    return f":heavy_multiplication_x: *Cancelled* by the bot{when}", "cancelled"


def _about(seen: ApprovalView) -> list[dict[str, Any]]:
    """The context the bot gave, and the end user concerned."""
    a, user = seen.approval, seen.user
    blocks: list[dict[str, Any]] = []
    if a.context and a.context.strip():
        blocks.append(section(outside_text(a.context), "approval_context"))
    who: list[str] = []
    if user is not None:
        who.append(f":bust_in_silhouette: *{person_name(user)}*")
        if user.email:
            who.append(f":email: {link('mailto:' + user.email, user.email)}")
    who.append(f":robot_face: Asked by the bot {local_date(a.created_at)}")
    blocks.append(context(who, "approval_who", _LINE))
    return blocks


def _settled(seen: ApprovalView) -> list[dict[str, Any]]:
    """What a decision added: the edited text as the bot sends it, the reason for a
    rejection."""
    a = seen.approval
    blocks: list[dict[str, Any]] = []
    if a.status is ApprovalStatus.EDITED and a.message is not None:
        blocks.append(context(["*Edited: the bot sends this instead*"], "approval_edited"))
        blocks += _renamed(as_sent(a.message), "approval_edited")
    if a.status is ApprovalStatus.REJECTED and a.comment and a.comment.strip():
        reason = pack([f"*Reason:* {outside_text(a.comment)}"])
        blocks += [section(chunk, f"approval_reason_{n}") for n, chunk in enumerate(reason)]
    return blocks


def _renamed(blocks: Sequence[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """Blocks drawn for a message of their own, with block_ids unique in this one."""
    return [
        {**b, "block_id": f"{prefix}_{n}"} if "block_id" in b else b for n, b in enumerate(blocks)
    ]


def _fitted(
    blocks: Sequence[dict[str, Any]], room: int, most: int
) -> tuple[list[dict[str, Any]], bool]:
    """The draft's blocks within `room` units of text and `most` blocks, and whether that is
    all of it: a section that does not fit whole is cut to the room left."""
    kept: list[dict[str, Any]] = []
    size = 0
    for block in blocks:
        taken = text_size([block])
        if len(kept) < most and size + taken <= room:
            kept.append(block)
            size += taken
            continue
        left = min(room - size, MAX_SECTION_TEXT)
        if block["type"] == "section" and left >= _CUT_ROOM and len(kept) < most:
            kept.append(section(truncate_mrkdwn(block["text"]["text"], left)))
        return kept, False
    return kept, True


def _actions(a: Approval) -> dict[str, Any]:
    def button(label: str, action_id: str, style: str | None = None) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "text": plain(label, MAX_BUTTON_TEXT),
            "value": a.id,
        }
        if style is not None:
            element["style"] = style
        return element

    buttons = [button("Approve", APPROVE, "primary")]
    if editable(a.draft):
        buttons.append(button("Edit", EDIT))
    buttons.append(button("Reject", REJECT, "danger"))
    return {"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": buttons}


def request(seen: ApprovalView, *, images: bool = True) -> Rendered:
    """The request as it stands: title, context, end user, the draft as the end user would
    be shown it, who asked and the status; Approve, Edit (a text draft a modal can hold) and
    Reject while it is pending; once settled, the outcome, who decided and when, the edited
    text or the reason, and no buttons. Always one post: a draft too long for it is cut,
    saying so. ``images=False`` shows pictures as links (Slack could not fetch one)."""
    a = seen.approval
    title = _title(a)
    status_line, status_words = _status(seen)
    head = [
        {"type": "header", "block_id": "approval_header", "text": plain(title, MAX_HEADER_TEXT)}
    ]
    head += _about(seen)
    tail = _settled(seen)
    tail.append(section(status_line, "approval_status", _LINE))
    if a.status is ApprovalStatus.PENDING:
        tail.append(_actions(a))
    label = context(["*Draft*, as the end user would see it"], "approval_draft")
    used = [*head, label, *tail]
    room = MAX_POST_TEXT - text_size(used) - _CUT_ROOM
    draft, whole = _fitted(as_sent(a.draft, images=images), room, MAX_BLOCKS - len(used) - 1)
    if not whole:
        draft.append(
            context(
                ["_The draft is too long to show whole here; the bot has it all._"], "approval_cut"
            )
        )
    text = f"Approval request: {escape(truncate_plain(title, MAX_HEADER_TEXT))} — {status_words}"
    return Rendered(
        text=truncate_mrkdwn(text, MAX_FALLBACK_TEXT), blocks=[*head, label, *draft, *tail]
    )


# --- the modals -----------------------------------------------------------------------------


def _modal(
    callback_id: str, approval: Approval, title: str, submit: str, blocks: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": approval.id,  # which request the submission decides
        "title": plain(title, _VIEW_TITLE),
        "submit": plain(submit, _VIEW_TITLE),
        "close": plain("Cancel", _VIEW_TITLE),
        "blocks": blocks,
    }


def _input(
    block_id: str, action_id: str, label: str, *, optional: bool = False, initial: str = ""
) -> dict[str, Any]:
    """A multi-line text input, as long as a modal's input may hold."""
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": action_id,
        "multiline": True,
        "max_length": MAX_INPUT,
    }
    if initial:
        element["initial_value"] = initial
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label, 2000),
        "element": element,
    }
    if optional:
        block["optional"] = True
    return block


def edit_modal(approval: Approval) -> dict[str, Any]:
    """Edit: the draft's text in a multi-line input; submitted, it decides `edited` with the
    text (unchanged, `approved`). Only for an `editable` draft."""
    draft = approval.draft
    if not isinstance(draft, TextMessage) or not editable(draft):
        raise ValueError("only a text draft a modal's input can hold may be edited")
    about = f"*{escape(truncate_plain(_title(approval), MAX_HEADER_TEXT))}*\n" + (
        "The bot sends your text instead of its draft. Left as it is, the draft is approved."
    )
    text = _input(TEXT_BLOCK, TEXT_INPUT, "Message to the end user", initial=draft.payload.text)
    return _modal(EDIT_VIEW, approval, "Edit the draft", "Approve edited", [section(about), text])


def reject_modal(approval: Approval) -> dict[str, Any]:
    """Reject: an optional reason, which the bot hears; submitted, it decides `rejected`."""
    about = f"*{escape(truncate_plain(_title(approval), MAX_HEADER_TEXT))}*\n" + (
        "The bot will not send this draft. It hears your reason, if you give one."
    )
    reason = _input(REASON_BLOCK, REASON_INPUT, "Reason", optional=True)
    return _modal(REJECT_VIEW, approval, "Reject the draft", "Reject", [section(about), reason])


# --- the bridge's words -----------------------------------------------------------------------


def reminder(approval: Approval, left: int, mention: str) -> Rendered:
    """The one reminder, in the request's thread: how long is left, calling on `mention` (a
    ready mrkdwn mention) as a handoff's reminders do."""
    title = escape(truncate_plain(_title(approval), MAX_HEADER_TEXT))
    named = (
        link(approval.permalink, _title(approval)[:MAX_HEADER_TEXT])
        if approval.permalink
        else title
    )
    text = f":bell: Still waiting for a decision on *{named}*: {_left(left)} left. {mention}"
    return Rendered(
        text=truncate_mrkdwn(f"Still waiting for a decision on {title}", MAX_FALLBACK_TEXT),
        blocks=[section(text.strip(), "approval_reminder")],
    )


def notice(why: Why, seen: ApprovalView, user: str) -> Rendered:
    """What `user` is told, only them, when their decision changed nothing: they may not
    decide, the request was settled already (as what, by whom), or its form would not
    open."""
    text = _notice_text(why, seen, user)
    return Rendered(text=truncate_mrkdwn(text, MAX_FALLBACK_TEXT), blocks=[section(text)])


def _notice_text(why: Why, seen: ApprovalView, user: str) -> str:
    a, decider = seen.approval, seen.decider
    if why is Why.UNHANDLED:
        return ":warning: Slack could not open the form just now; nothing changed. Try again."
    if why is Why.NOT_ALLOWED:
        return (
            ":no_entry: Only members of the agents' group may decide approval requests; "
            "nothing changed."
        )
    if a.status in _OUTCOMES:
        words = _OUTCOMES[a.status][0]
        if decider is not None and decider.slack_user_id == user:
            return f"You already {words} this request; nothing changed."
        return f":raising_hand: Already {words} by {_person(decider)}; nothing changed."
    if a.status is ApprovalStatus.EXPIRED:
        return ":alarm_clock: This request expired before anyone decided; nothing changed."
    if a.status is ApprovalStatus.CANCELLED:
        return ":heavy_multiplication_x: The bot withdrew this request; nothing changed."
    return ":hourglass_flowing_sand: This request is still waiting for a decision; nothing changed."


def _left(seconds: int) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return "less than a minute"
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{round(minutes / 60)} hours"
