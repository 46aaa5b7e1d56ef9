"""The Web API's door, ``/api/{method}``: the arguments read as Slack reads them, the token
checked, injected faults and rate limits played, then the method run and answered in
Slack's shapes (errors are HTTP 200 ``{"ok": false, ...}``, rate limits HTTP 429)."""

from __future__ import annotations

import contextlib
import json
import logging

from aiohttp import web

from bridge.testing.fake_slack import (
    chat,
    conversations,
    files,
    modals,
    reactions,
    socket_mode,
    users,
    views,
)
from bridge.testing.fake_slack.errors import SlackError
from bridge.testing.fake_slack.faults import Faults
from bridge.testing.fake_slack.models import JSON
from bridge.testing.fake_slack.params import opt_str
from bridge.testing.fake_slack.ratelimits import RateLimits
from bridge.testing.fake_slack.workspace import Handler, Workspace

log = logging.getLogger(__name__)

# The scopes the bridge's manifest asks for; Slack reports granted scopes in this header.
SCOPES = (
    "chat:write,chat:write.customize,channels:history,groups:history,users:read,"
    "users:read.email,files:read,files:write,reactions:write,commands"
)

# Methods called with the app-level token (``xapp-``) instead of the bot token.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})


def auth_test(ws: Workspace, p: JSON) -> JSON:
    """``auth.test``: who the bot token belongs to."""
    return {
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": "Fake Team",
        "user": ws.bot_name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
        "app_id": ws.app_id,
    }


# Every method the fake serves.
METHODS: dict[str, Handler] = {
    "auth.test": auth_test,
    **socket_mode.METHODS,
    **chat.METHODS,
    **users.METHODS,
    **conversations.METHODS,
    **reactions.METHODS,
    **views.METHODS,
    **modals.METHODS,
    **files.METHODS,
}


class WebApi:
    """Answers Web API calls from the workspace's state, faults and rate limits first."""

    def __init__(self, ws: Workspace, faults: Faults, limits: RateLimits) -> None:
        self._ws = ws
        self._faults = faults
        self._limits = limits

    async def handle(self, request: web.Request) -> web.Response:
        """One call of ``request.match_info["method"]``."""
        ws = self._ws
        method = request.match_info["method"]
        params, header_token = await _read_params(request)
        token = header_token or params.pop("token", None)
        params.pop("token", None)
        ws.calls.append((method, params))
        handler = METHODS.get(method)
        if handler is None:
            return answer({"ok": False, "error": "unknown_method"})
        if not token:
            return answer({"ok": False, "error": "not_authed"})
        expected = ws.app_token if method in APP_TOKEN_METHODS else ws.bot_token
        if token != expected:
            return answer({"ok": False, "error": "invalid_auth"})
        channel = ws.resolve_channel_id(opt_str(params.get("channel")))
        if self._faults.is_hung(method, channel):
            await self._faults.healed()  # no answer until then (the caller's timeout ends it)
            return answer({"ok": False, "error": "request_timeout"}, 504)
        fault = self._faults.next(method)
        if fault is None:
            fault = self._limits.check(method, channel)
        if fault is not None and not fault.applied:
            return answer({"ok": False, "error": fault.error}, fault.status, fault.headers)
        try:
            result = handler(ws, params)
        except SlackError as err:
            # Said in the test's captured log: a refusal is often why a test waits in vain.
            log.info("fake Slack refused %s: %s %s", method, err.code, err.extra or "")
            return answer({"ok": False, "error": err.code, **err.extra})
        if fault is not None:
            return answer({"ok": False, "error": fault.error}, fault.status, fault.headers)
        return answer({"ok": True, **result})


def answer(body: JSON, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A Web API answer, with the scope headers Slack adds to every one."""
    all_headers = {"X-OAuth-Scopes": SCOPES, "X-Accepted-OAuth-Scopes": "", **(headers or {})}
    return web.json_response(body, status=status, headers=all_headers)


async def _read_params(request: web.Request) -> tuple[JSON, str | None]:
    """The call's arguments (query, then JSON or form body) and its bearer token, if any."""
    params: JSON = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    for key in ("blocks", "metadata", "attachments", "view"):
        value = params.get(key)
        if isinstance(value, str) and value:
            # Forms carry JSON-valued arguments as strings; an unparsable one stays a
            # string so the method answers with its own format error.
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    auth = request.headers.get("Authorization", "")
    header_token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else None
    return params, header_token or None
