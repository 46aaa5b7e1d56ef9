"""What Slack says before the bridge serves: whose token this is (`auth.test`), whether the
app is in each of its channels (`conversations.info`), and, in Socket Mode, whether the
app-level token opens a connection (`apps.connections.open`).

Three outcomes: Slack vouches for it all (the app's `Identity`); Slack refuses something for
good (`Refused`: a token, or a channel the app is not in, one line each naming the setting
and the fix); or Slack cannot answer now (`Unreachable`: no connection, no answer in time,
its own trouble), which `serve` waits out and `check` reports.

It calls through the bridge's own `AsyncWebClient`, not `WebApi.call`: that one files an
answer it does not know, such as `invalid_auth`, under "worth a retry", where start-up must
tell a refused token from a Slack that is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bridge.slack.webapi import UNSURE

log = logging.getLogger(__name__)

T = TypeVar("T")

# Answers that mean "not now" rather than "no".
NOT_NOW = UNSURE | {"ratelimited"}
# What to do about a token Slack refuses, by its answer.
TOKEN_FIXES = {
    "invalid_auth": "it is not a valid token for this workspace; copy it again from the app's "
    "settings",
    "not_authed": "no token reached Slack",
    "account_inactive": "the app's bot user or its workspace has been deactivated",
    "token_revoked": "it has been revoked; reinstall the app and use the new token",
    "token_expired": "it has expired (token rotation is on); turn rotation off or renew it",
    "not_allowed_token_type": "it is the wrong kind of token",
    "missing_scope": "it lacks a scope (an app-level token needs connections:write)",
}
# Waits between attempts while Slack cannot be reached (seconds).
FIRST_WAIT = 1.0
LONGEST_WAIT = 60.0


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel the bridge posts in, and the setting that names it (for the messages)."""

    id: str
    setting: str  # BRIDGE_CHANNEL or BRIDGE_QUEUES
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the token belongs to, as `auth.test` says; `notes` are what could not be checked."""

    name: str  # the bot user's name: what `/invite @name` takes
    team_id: str
    app_id: str
    notes: list[str]


class Refused(Exception):
    """Slack refused something for good; `problems` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Unreachable(Exception):
    """Slack cannot answer now; `after` is how long it asked to be left alone, if it did."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


def channels(home: str, queues: Mapping[str, str]) -> list[Channel]:
    """Every channel the bridge posts in, once each, named by the setting that brings it."""
    found = {home: Channel(home, "BRIDGE_CHANNEL")}
    for queue, channel in queues.items():
        found.setdefault(channel, Channel(channel, "BRIDGE_QUEUES", queue))
    return list(found.values())


async def verify(
    client: AsyncWebClient,
    posts_in: list[Channel],
    *,
    app_token: str | None,
    timeout: float,
) -> Identity:
    """Ask Slack about the token, the channels and the app token; raise `Refused` with every
    problem found, or `Unreachable` at the first call Slack cannot answer."""
    auth, error = await _call(client, "auth.test", timeout)
    if error is not None:
        raise Refused([_refused_token("SLACK_BOT_TOKEN", error, client.base_url)])
    name = str(auth.get("user") or "your-app")
    problems: list[str] = []
    notes: list[str] = []
    for channel in posts_in:
        problem, note = await _membership(client, channel, name, timeout)
        problems += [problem] if problem else []
        notes += [note] if note else []
    if app_token is not None:
        _, error = await _call(client, "apps.connections.open", timeout, app_token=app_token)
        if error is not None:
            problems.append(_refused_token("SLACK_APP_TOKEN", error, client.base_url))
    if problems:
        raise Refused(problems)
    return Identity(name, str(auth.get("team_id") or ""), str(auth.get("app_id") or ""), notes)


async def until_answered(ask: Callable[[], Awaitable[T]]) -> T:
    """`ask()` again, waiting longer each time (up to a minute), for as long as Slack cannot
    be reached; each failed attempt is logged."""
    wait = FIRST_WAIT
    failed = False
    while True:
        try:
            answer = await ask()
        except Unreachable as exc:
            pause = max(wait, exc.after or 0.0)
            log.warning(
                "Slack unreachable (%s); not serving yet (/healthz answers 503), "
                "trying again in %g s",
                exc,
                pause,
            )
            failed = True
            await asyncio.sleep(pause)
            wait = min(wait * 2, LONGEST_WAIT)
            continue
        if failed:
            log.info("Slack answers again")
        return answer


async def _membership(
    client: AsyncWebClient, channel: Channel, app: str, timeout: float
) -> tuple[str | None, str | None]:
    """A problem with the channel (or None), and a note on what could not be checked."""
    answer, error = await _call(client, "conversations.info", timeout, channel=channel.id)
    queue = f", queue {channel.queue}" if channel.queue else ""
    label = f"{channel.id} (queue {channel.queue})" if channel.queue else channel.id
    invite = f"type /invite @{app} in it"
    if error == "missing_scope":
        needed = answer.get("needed") or "channels:read, groups:read"
        return None, (
            f"{channel.setting}: cannot check that the app is in {label}: "
            f"the app lacks the {needed} scope"
        )
    if error == "channel_not_found":
        return (
            f"{channel.setting}: the app can see no channel {label}: check the id; "
            f"if the channel is private, {invite}"
        ), None
    if error is not None:
        return f"{channel.setting}: Slack refused to describe {label} ({error})", None
    info = answer.get("channel") or {}
    where = f"#{info.get('name') or channel.id} ({channel.id}{queue})"
    if info.get("is_archived"):
        return f"{channel.setting}: {where} is archived: unarchive it or choose another", None
    if not info.get("is_member"):
        return f"{channel.setting}: the app is not a member of {where}: {invite}", None
    return None, None


def _refused_token(setting: str, error: str, api_url: str) -> str:
    if error.startswith("HTTP "):
        return f"SLACK_API_URL: {api_url} answered {error}: is it Slack's Web API?"
    fix = TOKEN_FIXES.get(error, "check the token")
    return f"{setting}: Slack refused the token ({error}): {fix}"


async def _call(
    client: AsyncWebClient, method: str, timeout: float, **args: Any
) -> tuple[dict[str, Any], str | None]:
    """Slack's answer and its error code (None when it said ok); `Unreachable` when it
    could not answer."""
    try:
        async with asyncio.timeout(timeout):
            response = await getattr(client, method.replace(".", "_"))(**args)
    except SlackApiError as exc:
        return _refusal(method, exc)
    except TimeoutError:
        raise Unreachable(f"{method}: no answer within {timeout:g} s") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise Unreachable(f"{method}: {exc or type(exc).__name__}") from None
    return _data(response.data), None


def _refusal(method: str, exc: SlackApiError) -> tuple[dict[str, Any], str]:
    status = int(exc.response.status_code)
    data = _data(exc.response.data)
    error = str(data.get("error") or f"HTTP {status}")
    if status == 429 or status >= 500 or error in NOT_NOW:
        raise Unreachable(f"{method}: {error}", after=_retry_after(exc)) from None
    return data, error


def _data(data: Any) -> dict[str, Any]:
    # A server that is not Slack may answer with a page of text, not JSON.
    return dict(data) if isinstance(data, dict) else {}


def _retry_after(exc: SlackApiError) -> float | None:
    try:
        return float(exc.response.headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return None
