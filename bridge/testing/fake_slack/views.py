"""``views.publish``: App Home tabs; and views as Slack validates them, Home tabs and
modals alike (``modals`` opens the latter)."""

from __future__ import annotations

import json

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.views import View

from bridge.testing.fake_slack.blocks import (
    block_errors,
    invalid_arguments,
    sdk_reason,
    text_errors,
)
from bridge.testing.fake_slack.errors import SlackError
from bridge.testing.fake_slack.models import JSON
from bridge.testing.fake_slack.params import opt_str
from bridge.testing.fake_slack.workspace import Handler, Workspace

MAX_VIEW_BLOCKS = 100  # a Home tab or a modal
MAX_VIEW_SIZE = 250_000  # view_too_large past 250 kB
# A modal's own limits (its page, "Modal views"): title, submit and close are plain_text.
MAX_VIEW_TITLE = 24
MAX_VIEW_BUTTON = 24  # submit and close
MAX_CALLBACK_ID = 255
MAX_PRIVATE_METADATA = 3000
MAX_EXTERNAL_ID = 255


def publish(ws: Workspace, p: JSON) -> JSON:
    """``views.publish``: a Home tab (the only kind an app can publish)."""
    user = opt_str(p.get("user_id"))
    view = p.get("view")
    if user is None or user not in ws.users:
        raise SlackError("user_not_found")
    view = check_view(view)
    if view.get("type") != "home":
        raise invalid_arguments(["must be home [json-pointer:/view/type]"])
    stored = {"id": f"V{ws.new_id():08d}", "team_id": ws.team_id, **view}
    ws.home_views[user] = stored
    return {"view": stored}


def check_view(raw: object, *, modal: bool = False) -> JSON:
    """A view as Slack validates it: ``invalid_arguments`` with its reasons. ``modal``: it
    must be a modal, and is held to a modal's rules."""
    if not isinstance(raw, dict):
        raise invalid_arguments(["must be an object [json-pointer:/view]"])
    if len(json.dumps(raw)) > MAX_VIEW_SIZE:
        raise SlackError("view_too_large")
    blocks = raw.get("blocks")
    if not isinstance(blocks, list):
        raise invalid_arguments(["missing required field: blocks [json-pointer:/view]"])
    errors = block_errors(blocks, "/view/blocks", MAX_VIEW_BLOCKS)
    if modal:
        errors += _modal_errors(raw, blocks)
    if not errors:  # the view's own fields (type, title, 1 to 100 blocks...)
        try:
            View(**raw).validate_json()
        except SlackObjectFormationError as exc:
            errors.append(f"{exc} [json-pointer:/view]")
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            errors.append(f"{sdk_reason(exc)} [json-pointer:/view]")
    if errors:
        raise invalid_arguments(errors)
    return dict(raw)


def _modal_errors(raw: JSON, blocks: list[object]) -> list[str]:
    """What a modal needs beyond any view, in Slack's words (slack_sdk's View says some of
    it in others, and checks neither that there is a title nor that inputs have a submit)."""
    errors: list[str] = []
    if raw.get("type") != "modal":
        errors.append("must be modal [json-pointer:/view/type]")
    if raw.get("title") is None:
        errors.append("missing required field: title [json-pointer:/view]")
    else:
        errors += text_errors(raw["title"], "/view/title", MAX_VIEW_TITLE, plain=True)
    for key in ("submit", "close"):
        if raw.get(key) is not None:
            errors += text_errors(raw[key], f"/view/{key}", MAX_VIEW_BUTTON, plain=True)
    strings = {
        "callback_id": MAX_CALLBACK_ID,
        "private_metadata": MAX_PRIVATE_METADATA,
        "external_id": MAX_EXTERNAL_ID,
    }
    for key, most in strings.items():
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            errors.append(f"must be a string [json-pointer:/view/{key}]")
        elif value is not None and len(value) > most:
            errors.append(f"must be less than {most + 1} characters [json-pointer:/view/{key}]")
    for key in ("clear_on_close", "notify_on_close"):
        if key in raw and not isinstance(raw[key], bool):
            errors.append(f"must be a boolean [json-pointer:/view/{key}]")
    inputs = [i for i, b in enumerate(blocks) if isinstance(b, dict) and b.get("type") == "input"]
    if inputs and raw.get("submit") is None:
        # Slack's own words (slackapi/node-slack-sdk#875), pointer included.
        at = f"/view/blocks/{inputs[0]}/input"
        errors.append(f"must define submit to use input block [json-pointer:{at}]")
    return errors


METHODS: dict[str, Handler] = {"views.publish": publish}
