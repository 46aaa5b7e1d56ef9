"""``views.publish``: App Home tabs, validated as Slack validates views."""

from __future__ import annotations

import json

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.views import View

from bridge.testing.fake_slack.blocks import block_errors, invalid_arguments, sdk_reason
from bridge.testing.fake_slack.errors import SlackError
from bridge.testing.fake_slack.models import JSON
from bridge.testing.fake_slack.params import opt_str
from bridge.testing.fake_slack.workspace import Handler, Workspace

MAX_VIEW_BLOCKS = 100  # a Home tab or a modal
MAX_VIEW_SIZE = 250_000  # view_too_large past 250 kB


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


def check_view(raw: object) -> JSON:
    """A view as Slack validates it: ``invalid_arguments`` with its reasons."""
    if not isinstance(raw, dict):
        raise invalid_arguments(["must be an object [json-pointer:/view]"])
    if len(json.dumps(raw)) > MAX_VIEW_SIZE:
        raise SlackError("view_too_large")
    blocks = raw.get("blocks")
    if not isinstance(blocks, list):
        raise invalid_arguments(["missing required field: blocks [json-pointer:/view]"])
    errors = block_errors(blocks, "/view/blocks", MAX_VIEW_BLOCKS)
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


METHODS: dict[str, Handler] = {"views.publish": publish}
