"""Slack's requests as Bolt hands them over: thin listeners that keep what agents did.

Each listener translates its payload (the pure functions at the end) and hands the result to
`service.agents.intake` (a decision on an approval request: `service.approvals.intake`),
which commits it; Bolt answers Slack after the listener returns
(`process_before_response=True`, see `app`), so a 200 means it is kept. Who the agent is,
and the rest that asks Slack, is worked out after the answer (`intake.Intake`). The one call
to Slack before the answer is `views.open`, which must use a click's trigger_id at once.

Listeners name what they need as arguments, Bolt's way (`event`, `body`, `ack`, ...), and
`service` and `app_home` too: `app.build_app` puts them in every request's context, and
Bolt passes a context's keys by name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from slack_bolt.async_app import AsyncAck, AsyncApp

from bridge.events import Why
from bridge.model import ApprovalStatus, Decision, Status
from bridge.outbox import Defer, Retry
from bridge.service import NotFound, Service
from bridge.slack import approvals, queue
from bridge.slack.blocks import ACTIONS
from bridge.slack.directory import Directory
from bridge.slack.home import AppHome
from bridge.slack.intake import Intake
from bridge.slack.webapi import Refused

log = logging.getLogger(__name__)

__all__ = [
    "HUMAN_SUBTYPES",
    "OPEN_TIMEOUT",
    "Decided",
    "Received",
    "approval_click",
    "button_press",
    "deletion",
    "edit",
    "event_id",
    "handle_reply",
    "hitl_query",
    "home_opener",
    "on_approval_form",
    "on_approval_view",
    "on_approve",
    "on_button",
    "on_deleted",
    "on_edited",
    "on_hitl",
    "on_home_opened",
    "on_other_message",
    "on_reply",
    "on_view_closed",
    "plain_reply",
    "register",
    "reply",
    "submission",
]

# A person's message: none, a reply also sent to the channel, or one with files. (Bolt's
# `app.message()` would take `bot_message` too, which is never an agent's reply.)
HUMAN_SUBTYPES = (None, "thread_broadcast", "file_share")

Query = Literal["waiting", "mine", "stats", "help"]
_QUERIES: dict[str, Query] = {"": "waiting", "mine": "mine", "stats": "stats"}
# Seconds `views.open` may take: a click's trigger_id is good for 3 s from Slack's sending
# it, and Slack wants its answer within the same 3 s.
OPEN_TIMEOUT = 2.0


def register(app: AsyncApp) -> None:
    """Put the listeners on `app`. Bolt runs the first that matches, so the catch-all for
    other messages comes after the ones it would shadow."""
    app.event({"type": "message", "subtype": "message_changed"})(on_edited)
    app.event({"type": "message", "subtype": "message_deleted"})(on_deleted)
    app.event({"type": "message", "subtype": HUMAN_SUBTYPES})(on_reply)
    app.event("message")(on_other_message)
    for action_id in ACTIONS:
        app.action({"type": "block_actions", "action_id": action_id})(on_button)
    app.action({"type": "block_actions", "action_id": approvals.APPROVE})(on_approve)
    for action_id in (approvals.EDIT, approvals.REJECT):
        app.action({"type": "block_actions", "action_id": action_id})(on_approval_form)
    for callback_id in approvals.VIEWS:
        app.view({"type": "view_submission", "callback_id": callback_id})(on_approval_view)
        app.view({"type": "view_closed", "callback_id": callback_id})(on_view_closed)
    app.event("app_home_opened")(on_home_opened)
    app.command("/hitl")(on_hitl)


# --- listeners ----------------------------------------------------------------------------


async def on_reply(
    event: dict[str, Any], body: dict[str, Any], service: Service, intake: Intake
) -> None:
    """A person's message, if it is a reply in a thread: handled at once when nothing about
    it needs asking Slack, else kept for the intake. Bolt has already dropped the bridge's
    own messages (`IgnoringSelfEvents`)."""
    received = reply(event)
    if received is not None:
        await handle_reply(service, intake, received, event_id(body))


async def handle_reply(
    service: Service, intake: Intake, received: Received, event_id: str | None
) -> None:
    """`on_reply`'s work, for `app.events_route` to call without Bolt too."""
    if not await intake.reply_at_once(received.payload, event_id):
        await _keep(service, received, event_id)


async def on_edited(event: dict[str, Any], body: dict[str, Any], service: Service) -> None:
    """A message edited: it matters only if it was relayed, which the intake tells."""
    await _keep(service, edit(event), event_id(body))


async def on_deleted(event: dict[str, Any], body: dict[str, Any], service: Service) -> None:
    """A message deleted: as an edit, it matters only if it was relayed."""
    await _keep(service, deletion(event), event_id(body))


async def on_other_message() -> None:
    """Any other message (a join, a topic, a legacy bot...): acknowledged and left alone.
    Without a listener Bolt answers 404, which Socket Mode leaves unacknowledged and
    Slack sends again."""


async def on_button(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], service: Service
) -> None:
    """Claim, Release or Resolve pressed, in a thread's parent or in App Home."""
    await _keep(service, button_press(body, action))
    await ack()


async def on_approve(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], service: Service
) -> None:
    """Approve pressed on an approval request: kept, then handled after the answer (who
    they are, whether they may decide) as a button on a handoff is."""
    clicked = approval_click(body, action)
    if clicked is not None:
        await _keep_decision(service, clicked)
    await ack()


async def on_approval_form(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    service: Service,
    directory: Directory,
    intake: Intake,
) -> None:
    """Edit or Reject pressed: its form opens at once (`views.open`, with the click's
    trigger_id, good for 3 s), holding the draft's text for Edit. Nothing that asks Slack
    comes before it; whether the clicker is an agent is taken from what is known already.
    A request that is settled, or a clicker known not to be an agent, gets no form: the
    click is kept as a decision that only has them told why."""
    clicked = approval_click(body, action)
    if clicked is None:
        await ack()
        return
    try:
        seen = await service.approvals.get(clicked.approval_id)
    except NotFound:
        await ack()
        return
    approval = seen.approval
    pending = approval.status is ApprovalStatus.PENDING
    if not pending or directory.member(clicked.user) is False:
        await _keep_decision(service, clicked, notice=True)
    elif clicked.decision is Decision.REJECT or approvals.editable(approval.draft):
        form = (
            approvals.edit_modal(approval)
            if clicked.decision is Decision.EDIT
            else approvals.reject_modal(approval)
        )
        try:
            await intake.api.call(
                "views.open",
                trigger_id=body.get("trigger_id"),
                view=form,
                timeout=OPEN_TIMEOUT,
            )
        except (Refused, Retry, Defer) as exc:
            log.warning("could not open the %s form: %s", clicked.decision.value, exc)
            await service.approvals.tell(approval.id, clicked.user, Why.UNHANDLED)
    await ack()


async def on_approval_view(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], service: Service
) -> None:
    """An Edit or Reject form submitted: the decision is kept, then the answer closes the
    form (an empty one). An edit with no text in it is sent back, saying so."""
    decided = submission(body, view)
    if isinstance(decided, str):
        await ack(response_action="errors", errors={approvals.TEXT_BLOCK: decided})
        return
    if decided is not None:
        await _keep_decision(service, decided)
    await ack()


async def on_view_closed(ack: AsyncAck) -> None:
    """A form closed without submitting: nothing to do (Slack tells only if a view asks,
    and ours do not; acknowledged all the same, or Slack sends it again)."""
    await ack()


async def on_home_opened(event: dict[str, Any], app_home: AppHome) -> None:
    """An agent opened the App Home tab: it is published once Slack has its answer."""
    user = home_opener(event)
    if user is not None:
        await app_home.opened(user)


async def on_hitl(ack: AsyncAck, command: dict[str, Any], service: Service) -> None:
    """`/hitl [mine|stats|help]`, answered in the ack, so only whoever asked sees it."""
    query, user = hitl_query(command)
    await ack(text=await _answer(service, query, user))


async def _keep(service: Service, received: Received | None, event_id: str | None = None) -> None:
    if received is not None:
        await service.agents.intake(
            received.kind,
            received.payload,
            event_id=event_id,
            thread=received.thread,
            conversation_id=received.conversation_id,
        )


async def _keep_decision(service: Service, decided: Decided, *, notice: bool = False) -> None:
    payload: dict[str, Any] = {
        "approvalId": decided.approval_id,
        "decision": decided.decision.value,
        "user": decided.user,
    }
    if decided.text is not None:
        payload["text"] = decided.text
    if decided.comment is not None:
        payload["comment"] = decided.comment
    if notice:
        payload["notice"] = True
    if not await service.approvals.intake(decided.approval_id, payload):
        log.info("a decision on an approval request the bridge does not know")


async def _answer(service: Service, query: Query, user: str) -> str:
    now = datetime.now(UTC)
    if query == "waiting":
        listed = await service.overview.queue(Status.WAITING, limit=queue.ANSWER_LINES)
        return queue.waiting_answer(listed.items, now, listed.total)
    if query == "mine":
        listed = await service.overview.queue(
            Status.ASSIGNED, slack_user_id=user, limit=queue.ANSWER_LINES
        )
        return queue.mine_answer(listed.items, now, listed.total)
    if query == "stats":
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return queue.figures_text(await service.overview.figures(today))
    return queue.HELP


# --- payloads to what the service keeps -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Received:
    """What an agent did, as `service.agents.intake` keeps it: a `kind` the intake handles, its
    payload, and the conversation it concerns, named by its thread or by its id."""

    kind: Literal["reply", "change", "action"]
    payload: dict[str, Any]
    thread: tuple[str, str] | None = None
    conversation_id: str | None = None


def event_id(body: Mapping[str, Any]) -> str | None:
    """The envelope's event id, which makes Slack's retries of an event kept once."""
    found = body.get("event_id")
    return found if isinstance(found, str) else None


def plain_reply(envelope: Mapping[str, Any]) -> Received | None:
    """The reply an Events API envelope carries, if it carries one: what `on_reply` would
    be given, told without Bolt."""
    if envelope.get("type") != "event_callback":
        return None
    event = _object(envelope.get("event"))
    return reply(event) if event.get("type") == "message" else None


def reply(event: Mapping[str, Any]) -> Received | None:
    """A person's message, if it is a reply in a thread from a human (not another bot, not
    top-level chatter)."""
    thread_ts, ts = event.get("thread_ts"), event.get("ts")
    channel, user = event.get("channel"), event.get("user")
    if (
        event.get("subtype") not in HUMAN_SUBTYPES
        or event.get("bot_id")
        or not _all_named(thread_ts, ts, channel, user)
        or thread_ts == ts
    ):
        return None
    text, files = event.get("text"), event.get("files")
    payload = {
        "channel": channel,
        "thread_ts": thread_ts,
        "ts": ts,
        "user": user,
        "text": text if isinstance(text, str) else "",
        "files": [f for f in files if isinstance(f, dict)] if isinstance(files, list) else [],
    }
    return Received("reply", payload, thread=(str(channel), str(thread_ts)))


def edit(event: Mapping[str, Any]) -> Received | None:
    """A `message_changed` event, if its text changed (not an unfurl or a reaction) in a
    thread reply."""
    message, before = _object(event.get("message")), _object(event.get("previous_message"))
    if message.get("text") == before.get("text"):
        return None
    text = str(message.get("text") or "")
    return _change(event.get("channel"), message, message.get("ts"), text)


def deletion(event: Mapping[str, Any]) -> Received | None:
    """A `message_deleted` event, if it deleted a thread reply (its text is then None)."""
    message = _object(event.get("previous_message"))
    return _change(event.get("channel"), message, event.get("deleted_ts"), None)


def _change(
    channel: object, message: Mapping[str, Any], ts: object, text: str | None
) -> Received | None:
    user, thread_ts = message.get("user"), message.get("thread_ts")
    if not _all_named(ts, user, channel, thread_ts):
        return None
    payload = {"channel": channel, "ts": ts, "user": user, "text": text}
    return Received("change", payload, thread=(str(channel), str(thread_ts)))


def button_press(body: Mapping[str, Any], action: Mapping[str, Any]) -> Received | None:
    """A button of ours pressed: the action, who pressed it, and the conversation its
    `value` names."""
    user = _object(body.get("user")).get("id")
    value = action.get("value")
    pressed = ACTIONS.get(str(action.get("action_id")))
    if not isinstance(user, str) or not isinstance(value, str) or pressed is None:
        return None
    return Received("action", {"action": str(pressed), "user": user}, conversation_id=value)


@dataclass(frozen=True, slots=True)
class Decided:
    """An agent's decision on an approval request, as clicked or submitted: who, on which,
    and the text of an Edit or the reason for a Reject."""

    approval_id: str
    user: str
    decision: Decision
    text: str | None = None
    comment: str | None = None


def approval_click(body: Mapping[str, Any], action: Mapping[str, Any]) -> Decided | None:
    """A button of an approval request pressed: which, by whom, on the request its `value`
    names."""
    user = _object(body.get("user")).get("id")
    value = action.get("value")
    decision = approvals.ACTIONS.get(str(action.get("action_id")))
    if not _all_named(user, value) or decision is None:
        return None
    return Decided(str(value), str(user), decision)


def submission(body: Mapping[str, Any], view: Mapping[str, Any]) -> Decided | str | None:
    """A submitted Edit or Reject form as a decision on the request its `private_metadata`
    names; for an Edit left with nothing but blanks, what to tell the person instead."""
    user = _object(body.get("user")).get("id")
    approval_id = view.get("private_metadata")
    decision = approvals.VIEWS.get(str(view.get("callback_id")))
    if not _all_named(user, approval_id) or decision is None:
        return None
    values = _object(_object(view.get("state")).get("values"))
    if decision is Decision.EDIT:
        text = _typed(values, approvals.TEXT_BLOCK, approvals.TEXT_INPUT)
        if not text.strip():
            return "Type the message to send, or close this and Approve or Reject."
        return Decided(str(approval_id), str(user), decision, text=text)
    reason = _typed(values, approvals.REASON_BLOCK, approvals.REASON_INPUT).strip()
    return Decided(str(approval_id), str(user), decision, comment=reason or None)


def _typed(values: Mapping[str, Any], block_id: str, action_id: str) -> str:
    """What was typed into a form's text input (Slack sends an empty one as null), no longer
    than the input takes."""
    typed = _object(_object(values.get(block_id)).get(action_id)).get("value")
    return typed[: approvals.MAX_INPUT] if isinstance(typed, str) else ""


def home_opener(event: Mapping[str, Any]) -> str | None:
    """Who opened the App Home tab (None: another tab, or nobody named)."""
    user = event.get("user")
    return user if event.get("tab", "home") == "home" and isinstance(user, str) else None


def hitl_query(command: Mapping[str, Any]) -> tuple[Query, str]:
    """What `/hitl` was asked (its one word; anything else gets the help), and by whom."""
    word = str(command.get("text") or "").strip().lower()
    return _QUERIES.get(word, "help"), str(command.get("user_id"))


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _all_named(*values: object) -> bool:
    """Every value a non-empty string, as Slack names channels, users and messages."""
    return all(isinstance(v, str) and v for v in values)
