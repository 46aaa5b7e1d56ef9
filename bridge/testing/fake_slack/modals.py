"""Modals: ``views.open`` with a trigger_id; what a person's Slack client lets them submit
(``state.values``); and what Slack does with the app's answer to a submission
(``response_action``) or with a person closing a view. ``people`` plays the person."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Mapping

from bridge.testing.fake_slack.blocks import invalid_arguments
from bridge.testing.fake_slack.errors import ClientRefused, SlackError
from bridge.testing.fake_slack.models import JSON, Submission
from bridge.testing.fake_slack.params import opt_str
from bridge.testing.fake_slack.render import block_id
from bridge.testing.fake_slack.views import check_view
from bridge.testing.fake_slack.workspace import Handler, Workspace

# Slack's time limits (seconds), measured on the workspace's clock.
TRIGGER_TTL = 3.0  # a trigger_id opens a view up to 3 s after Slack sent it
SUBMIT_TIMEOUT = 3.0  # the app answers a view_submission within 3 s, or the person sees an error
MAX_VIEW_STACK = 3  # views one modal holds at once (a push past it fails)

# What a person typed into one input block: the text of a plain_text_input (None or "": left
# empty), or another element's state value as Slack sends it ({"selected_option": ...}).
Typed = str | JSON | None

_NOT_INTERACTIVE = ("image", "plain_text", "mrkdwn")


def open_view(ws: Workspace, p: JSON) -> JSON:
    """``views.open``: a modal for the person whose interaction gave the trigger_id."""
    view = check_view(p.get("view"), modal=True)
    external_id = view.get("external_id")
    if external_id and external_id in ws.external_ids:
        raise SlackError("duplicate_external_id")
    # The trigger is checked last, so a refused view does not spend it.
    user = _exchange(ws, opt_str(p.get("trigger_id") or p.get("interactivity_pointer")))
    if external_id:
        ws.external_ids.add(external_id)
    stored = stored_view(ws, view)
    ws.modals[user] = [stored]  # a new modal takes the place of any the person had open
    return {"view": stored}


def _exchange(ws: Workspace, trigger_id: str | None) -> str:
    """Spend a trigger_id: the person whose interaction it came from."""
    if not trigger_id:
        raise invalid_arguments(["missing required field: trigger_id"])
    trigger = ws.triggers.get(trigger_id)
    if trigger is None:
        raise SlackError("invalid_trigger_id")
    if trigger.used:
        raise SlackError("exchanged_trigger_id")
    if ws.clock() - trigger.issued > TRIGGER_TTL:
        raise SlackError("expired_trigger_id")
    trigger.used = True
    return trigger.user


def stored_view(
    ws: Workspace,
    view: JSON,
    *,
    view_id: str | None = None,
    root_view_id: str | None = None,
    previous_view_id: str | None = None,
) -> JSON:
    """A modal view as Slack keeps and answers it: ids, hash and an empty state added."""
    view_id = view_id or f"V{ws.new_id():08d}"
    return {
        "id": view_id,
        "team_id": ws.team_id,
        "type": "modal",
        "blocks": [_with_ids(view_id, i, block) for i, block in enumerate(view["blocks"])],
        "private_metadata": view.get("private_metadata") or "",
        "callback_id": view.get("callback_id") or "",
        "state": {"values": {}},
        "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
        "title": view["title"],
        "clear_on_close": view.get("clear_on_close") is True,
        "notify_on_close": view.get("notify_on_close") is True,
        "close": view.get("close"),
        "submit": view.get("submit"),
        "previous_view_id": previous_view_id,
        "root_view_id": root_view_id or view_id,
        "app_id": ws.app_id,
        "external_id": view.get("external_id") or "",
        "app_installed_team_id": ws.team_id,
        "bot_id": ws.bot_id,
    }


def _with_ids(view_id: str, index: int, raw: JSON) -> JSON:
    """A block with the ids Slack gives what comes without: its block_id, and its
    interactive elements' action_ids (short and random in Slack; stable here)."""
    block = copy.deepcopy(raw)
    block.setdefault("block_id", block_id(view_id, index))
    elements = [block.get("element"), block.get("accessory")]
    if block["type"] == "actions":
        elements += block.get("elements") or []
    for j, element in enumerate(elements):
        if isinstance(element, dict) and element.get("type") not in _NOT_INTERACTIVE:
            element.setdefault("action_id", block_id(f"{view_id}/{index}", j))
    return block


# ---------------------------------------------------------------------- the person's client


def shown_view(ws: Workspace, user: str, view_id: str) -> JSON:
    """The view ``user`` sees, if it is ``view_id`` (ClientRefused if not: a person acts only
    on the top view of their modal)."""
    stack = ws.modals.get(user) or []
    if not stack or stack[-1]["id"] != view_id:
        seen = f"view {stack[-1]['id']}" if stack else "no modal"
        raise ClientRefused(f"{user} cannot act on view {view_id}: they see {seen}")
    return stack[-1]


def typed_state(view: JSON, typed: Mapping[str, Typed]) -> JSON:
    """The ``state.values`` the person's client sends once they typed ``typed`` (block_id ->
    what they typed into that input block; the blocks not named keep what they hold).

    ClientRefused where their client would not submit: a required input left empty, text
    shorter than ``min_length`` or longer than ``max_length``, a newline in a single-line
    input, or a block the view does not have.
    """
    if view.get("submit") is None:
        raise ClientRefused(f"view {view['id']} has no submit button")
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    unknown = sorted(set(typed) - set(inputs))
    if unknown:
        raise ClientRefused(f"view {view['id']} has no input block {', '.join(unknown)}")
    held: JSON = view["state"]["values"]
    values: JSON = {}
    for bid, block in inputs.items():
        element = block["element"]
        action_id, kind = element["action_id"], element["type"]
        if bid in typed:
            value = _typed_value(kind, typed[bid])
        elif action_id in held.get(bid, {}):
            value = held[bid][action_id]
        elif kind == "plain_text_input":
            value = {"type": kind, "value": element.get("initial_value") or None}
        else:
            value = {"type": kind}
        _check_value(block, value)
        values[bid] = {action_id: value}
    return values


def _typed_value(kind: str, typed: Typed) -> JSON:
    if isinstance(typed, dict):
        return {**typed, "type": kind}
    if kind != "plain_text_input":
        raise ClientRefused(f"a {kind} takes its state value (a dict), not text")
    return {"type": kind, "value": typed or None}  # Slack sends an empty input as null


def _check_value(block: JSON, value: JSON) -> None:
    element, where = block["element"], f"input block {block['block_id']!r}"
    filled = {k: v for k, v in value.items() if k != "type" and v not in (None, "", [])}
    if not filled:
        if block.get("optional") is not True:
            raise ClientRefused(f"{where} is required: Slack's client does not submit it empty")
        return
    text = value.get("value")
    if element["type"] != "plain_text_input" or not isinstance(text, str):
        return
    low, high = element.get("min_length"), element.get("max_length")
    if low is not None and len(text) < low:
        raise ClientRefused(f"{where} takes at least {low} characters, not {len(text)}")
    if high is not None and len(text) > high:
        raise ClientRefused(f"{where} takes at most {high} characters, not {len(text)}")
    if "\n" in text and element.get("multiline") is not True:
        raise ClientRefused(f"{where} is a single line: it takes no newline")


def close(ws: Workspace, user: str, view_id: str) -> tuple[JSON, bool]:
    """The person closes the view they see: it goes (all the modal's views go if it has
    ``clear_on_close``). Returns the view and whether the whole modal was cleared."""
    view = shown_view(ws, user, view_id)
    stack = ws.modals[user]
    cleared = view["clear_on_close"] is True
    if cleared or len(stack) == 1:
        del ws.modals[user]
    else:
        stack.pop()
    return view, cleared


# ---------------------------------------------------------------------- the app's answer


def settle(
    ws: Workspace,
    user: str,
    submitted: JSON,
    payload: JSON,
    status: int,
    answer: bytes,
    elapsed: float,
) -> Submission:
    """What Slack does with the app's answer to the submission of ``submitted`` (the view
    with the person's state): close it, show errors, update it, push a view or clear the
    modal; or, if the answer failed, came late or cannot be followed, show the person an
    error and keep the view as it was."""
    result = Submission(status, payload)
    ws.submissions.append(result)
    stack = ws.modals.get(user) or []
    at = next((i for i, v in enumerate(stack) if v["id"] == submitted["id"]), None)
    if at is None:  # the app opened another modal meanwhile (views.open replaced it)
        result.closed = True
        return result
    stack[at] = submitted  # until it closes, the view keeps what the person typed
    try:
        reply = _reply(status, answer, elapsed)
        result.action = action = reply.get("response_action")
        if action is None:  # any 2xx without a response_action closes the view
            del stack[at:]
            result.closed = True
        elif action == "clear":
            stack.clear()
            result.closed = True
        elif action == "errors":
            result.errors = _errors(submitted, reply.get("errors"))
        elif action == "update":
            new = _answered_view(reply)
            stack[at] = stored_view(
                ws,
                new,
                view_id=submitted["id"],
                root_view_id=submitted["root_view_id"],
                previous_view_id=submitted["previous_view_id"],
            )
            stack[at]["state"] = _kept_state(submitted, stack[at])
        elif action == "push":
            new = _answered_view(reply)
            if len(stack) >= MAX_VIEW_STACK:
                raise ValueError(f"push_limit_reached: a modal holds {MAX_VIEW_STACK} views")
            stack.append(
                stored_view(ws, new, root_view_id=stack[0]["id"], previous_view_id=submitted["id"])
            )
        else:
            raise ValueError(f"unknown response_action {action!r}")
    except ValueError as exc:
        result.failure = str(exc)
    if not stack:
        ws.modals.pop(user, None)
    return result


def _reply(status: int, answer: bytes, elapsed: float) -> JSON:
    """The app's answer, if Slack takes it (ValueError saying why not)."""
    if status == 0:
        raise ValueError("the app did not answer")
    if elapsed > SUBMIT_TIMEOUT:
        raise ValueError(f"the app answered after {elapsed:.1f} s (Slack waits {SUBMIT_TIMEOUT} s)")
    if not 200 <= status < 300:
        raise ValueError(f"the app answered HTTP {status}")
    if not answer.strip():
        return {}
    try:
        reply = json.loads(answer)
    except ValueError:
        raise ValueError(f"the app's answer is not JSON: {answer[:100]!r}") from None
    if not isinstance(reply, dict):
        raise ValueError(f"the app's answer is not a JSON object: {answer[:100]!r}")
    return reply


def _errors(view: JSON, errors: object) -> dict[str, str]:
    """The ``errors`` of an answer: each an input block of the view and a message for it."""
    if not isinstance(errors, dict) or not errors:
        raise ValueError("response_action errors without an errors object")
    inputs = {b["block_id"] for b in view["blocks"] if b["type"] == "input"}
    strange = sorted(str(k) for k, v in errors.items() if k not in inputs or not isinstance(v, str))
    if strange:
        raise ValueError(f"errors for {', '.join(strange)}: not input blocks of {view['id']}")
    return dict(errors)


def _answered_view(reply: JSON) -> JSON:
    """The ``view`` of an update or push answer, as Slack validates it."""
    try:
        return check_view(reply.get("view"), modal=True)
    except SlackError as err:
        reasons = err.extra.get("response_metadata", {}).get("messages", [])
        raise ValueError(" ".join([err.code, *reasons])) from None


def _kept_state(old: JSON, new: JSON) -> JSON:
    """What the person typed stays in the inputs an update keeps (same block_id and
    action_id), as Slack's "Preserving input entry" says."""
    held: JSON = old["state"]["values"]
    kept: JSON = {}
    for block in new["blocks"]:
        if block["type"] == "input":
            bid, aid = block["block_id"], block["element"]["action_id"]
            if aid in held.get(bid, {}):
                kept[bid] = {aid: held[bid][aid]}
    return {"values": kept}


METHODS: dict[str, Handler] = {"views.open": open_view}
