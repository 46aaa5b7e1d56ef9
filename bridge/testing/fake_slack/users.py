"""``users.info`` and ``usergroups.users.list``: who is who in the workspace."""

from __future__ import annotations

from bridge.testing.fake_slack.errors import SlackError
from bridge.testing.fake_slack.models import JSON
from bridge.testing.fake_slack.params import opt_str
from bridge.testing.fake_slack.render import user_object
from bridge.testing.fake_slack.workspace import Handler, Workspace


def info(ws: Workspace, p: JSON) -> JSON:
    """``users.info``."""
    user = ws.users.get(opt_str(p.get("user")) or "")
    if user is None:
        raise SlackError("user_not_found")
    return {"user": user_object(ws, user)}


def usergroup_users(ws: Workspace, p: JSON) -> JSON:
    """``usergroups.users.list``."""
    group = ws.usergroups.get(opt_str(p.get("usergroup")) or "")
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group)}


METHODS: dict[str, Handler] = {
    "users.info": info,
    "usergroups.users.list": usergroup_users,
}
