"""Slack's Web API as the bridge calls it: one home for what Slack's method pages say.

Every call has a timeout (slack_sdk applies none of its own to a session it is given), every
method but `chat.postMessage` is kept within its rate tier (posts are paced per channel by
`Pacer`), and every answer is sorted into one of three classes:

- **done**: the call did what was asked, or it had been done already (`already_reacted`
  after a reaction whose answer was lost, `no_reaction`, `message_not_found` on a delete);
- **final**: no retry can change it (a `Refused`, dead-lettered at once): the request, the
  channel, the thread or the message will not take it;
- **worth a retry** (a `Retry`): Slack's own trouble, a timeout, a lost connection, or an
  answer it does not document as final. A 429 pauses that method (or that channel, for
  posts) for `Retry-After` and puts the row off without counting an attempt.

Sources: each method's "Errors" table on api.slack.com/methods/<method>; the tiers from the
same pages; `msg_blocks_too_long` from slackapi/bolt-js#2509 and #2867.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bridge.outbox import Defer, Fail, Retry
from bridge.slack.pacing import PacingFor

log = logging.getLogger(__name__)

# Answers that are final whatever the method: the request itself, or where it goes.
FINAL = frozenset(
    {
        # the channel
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "channel_is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "restricted_action_non_threadable_channel",
        "restricted_action_thread_locked",
        "team_access_not_granted",
        "ekm_access_denied",
        "access_denied",
        "no_permission",
        # the request
        "invalid_arguments",
        "invalid_arg_name",
        "invalid_array_arg",
        "invalid_charset",
        "invalid_form_data",
        "invalid_post_type",
        "missing_post_type",
        "invalid_json",
        "json_not_object",
        "no_text",
        "msg_too_long",
        "msg_blocks_too_long",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "metadata_must_be_sent_from_app",
        "too_many_attachments",
        "invalid_name",
        # the thread, message or user
        "thread_not_found",
        "cannot_reply_to_message",
        "message_not_found",
        "user_not_found",
        "user_not_in_channel",
    }
)

# Per method: answers that mean "already so" (done), and final answers beyond `FINAL`.
DONE: dict[str, frozenset[str]] = {
    "reactions.add": frozenset({"already_reacted"}),
    "reactions.remove": frozenset({"no_reaction"}),
    "chat.delete": frozenset({"message_not_found"}),
}
FINAL_FOR: dict[str, frozenset[str]] = {
    "chat.update": frozenset(
        {"cant_update_message", "edit_window_closed", "is_inactive", "update_failed"}
    ),
    "chat.delete": frozenset({"cant_delete_message", "compliance_exports_prevent_deletion"}),
    "reactions.add": frozenset(
        {"thread_locked", "too_many_emoji", "too_many_reactions", "not_reactable", "bad_timestamp"}
    ),
    "files.getUploadURLExternal": frozenset(
        {"file_type_not_allowed", "file_uploads_disabled", "file_uploads_except_images_disabled"}
    ),
    "files.completeUploadExternal": frozenset(
        {
            "file_type_not_allowed",
            "file_uploads_disabled",
            "file_uploads_except_images_disabled",
            "posting_to_channel_denied",
            "storage_limit_reached",
            "file_not_found",
        }
    ),
    "files.info": frozenset({"file_not_found", "file_deleted"}),
    # A trigger_id is good once, for 3 s: no retry brings it back.
    "views.open": frozenset(
        {"invalid_trigger_id", "exchanged_trigger_id", "expired_trigger_id", "view_too_large"}
    ),
}
# Slack's own trouble: the call may or may not have taken effect.
UNSURE = frozenset({"internal_error", "fatal_error", "request_timeout", "service_unavailable"})

# Calls a minute, per workspace and app (Tier 2: 20, Tier 3: 50, Tier 4: 100), from each
# method's page. `chat.postMessage` has its own per-channel limit (see `Pacer`).
TIERS: dict[str, int] = {
    "usergroups.users.list": 20,
    "reactions.remove": 20,
    "chat.update": 50,
    "chat.delete": 50,
    "chat.getPermalink": 50,
    "reactions.add": 50,
    "conversations.replies": 50,
    "conversations.history": 50,
    "users.info": 100,
    "views.publish": 100,
    "views.open": 100,
    "chat.postEphemeral": 100,
    "files.info": 100,
    "files.getUploadURLExternal": 100,
    "files.completeUploadExternal": 100,
}
# Calls that may go at once after a quiet spell ("occasional bursts" are tolerated).
TIER_BURST_SHARE = 5  # a fifth of the minute's budget

POST = "chat.postMessage"
# A call waits this long at most for its method's budget; longer, and the row is put off.
INLINE_WAIT = 2.0
TIMEOUT = 10.0


class Refused(Fail):
    """Slack refused a call for good; `error` is its error code."""

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"{method}: {error}")
        self.method = method
        self.error = error


@dataclass(frozen=True, slots=True)
class Answer:
    """A call that went through (or had been done already): Slack's answer."""

    data: dict[str, Any]


def classify(method: str, error: str) -> str:
    """`done`, `final`, `unsure` (retry; it may have taken effect) or `retry`."""
    if error in DONE.get(method, ()):
        return "done"
    if error in FINAL or error in FINAL_FOR.get(method, ()):
        return "final"
    return "unsure" if error in UNSURE else "retry"


class WebApi:
    """Calls Slack's Web API through slack_sdk, within time and tier."""

    def __init__(
        self,
        client: AsyncWebClient,
        pacing: PacingFor,
        *,
        rate: float,
        burst: int,
        timeout: float = TIMEOUT,
        tiers: float = 1.0,
        on_ratelimited: Callable[[str, str], None] | None = None,
    ) -> None:
        """`pacing` makes the budgets: `chat.postMessage`'s per channel (`rate` posts a
        second, bursts of `burst`), each other method's within its tier, scaled by `tiers`
        (0: none, only Slack's 429s slow them). `on_ratelimited(method, channel)` counts
        Slack's 429s."""
        self.client = client
        self.posts = pacing(POST, rate, burst)
        self._timeout = timeout
        self._on_ratelimited = on_ratelimited
        self._tiers = {
            method: pacing(method, tiers * per_minute / 60, max(per_minute // TIER_BURST_SHARE, 1))
            for method, per_minute in TIERS.items()
        }

    async def call(self, method: str, *, timeout: float | None = None, **args: Any) -> Answer:
        """Call `method` (Slack's name, `chat.update`) with `args` (None values left out).

        Raises `Refused` for a final answer, `Retry` for one worth a retry, and `Defer` when
        the method's budget is spent for longer than a call should wait.
        """
        await self._within_tier(method)
        args = {k: v for k, v in args.items() if v is not None}
        try:
            async with asyncio.timeout(timeout or self._timeout):
                if method == POST and self.client.session is not None:
                    status, headers, data = await self._post_json(method, args)
                else:
                    response = await getattr(self.client, method.replace(".", "_"))(**args)
                    return Answer(dict(response.data) if isinstance(response.data, dict) else {})
        except SlackApiError as exc:
            # slack_sdk hands over its own response, or aiohttp's when the body was not JSON.
            response = exc.response
            status = int(getattr(response, "status_code", getattr(response, "status", 0)) or 0)
            headers, data = getattr(response, "headers", {}), getattr(response, "data", None)
        except TimeoutError:
            raise Retry(f"{method}: no answer within {timeout or self._timeout:.0f} s") from None
        except aiohttp.ClientError as exc:
            raise Retry(f"{method}: {type(exc).__name__} {exc}".strip()) from None
        if status == 200 and isinstance(data, dict) and data.get("ok"):
            return Answer(data)
        return await self._refusal(method, args, status, headers, data)

    async def _post_json(self, method: str, args: dict[str, Any]) -> tuple[int, Any, Any]:
        """`method` as one JSON POST on slack_sdk's session, without slack_sdk: the same
        request it would make, on the bridge's busiest call, for 7% less CPU and 14% more
        messages a second (bench/RESULTS.md). Its status, headers and JSON (None if none)."""
        assert self.client.session is not None
        headers = {
            "Authorization": f"Bearer {self.client.token}",
            "Content-Type": "application/json;charset=utf-8",
        }
        async with self.client.session.post(
            self.client.base_url + method, data=json.dumps(args).encode(), headers=headers
        ) as response:
            body = await response.read()
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        return response.status, response.headers, data

    async def _within_tier(self, method: str) -> None:
        pacer = self._tiers.get(method)
        if pacer is None:
            return
        while (wait := await pacer.take("")) > 0:
            if wait > INLINE_WAIT:
                raise Defer(f"{method}: within its rate tier", after=wait)
            await asyncio.sleep(wait)

    async def _refusal(
        self, method: str, args: dict[str, Any], status: int, headers: Any, data: Any
    ) -> Answer:
        """Slack's answer to a call that did not simply go through, sorted."""
        error = str((data.get("error") if isinstance(data, dict) else None) or f"HTTP {status}")
        channel = str(args.get("channel") or args.get("channel_id") or "")
        if status == 429:
            after = retry_after(headers)
            if method == POST:
                await self.posts.pause(channel, after)
            elif method in self._tiers:
                await self._tiers[method].pause("", after)
            if self._on_ratelimited is not None:
                self._on_ratelimited(method, channel)
            raise Defer(f"{method}: rate limited", after=after)
        kind = classify(method, error)
        if kind == "done":
            return Answer({})
        if kind == "final":
            raise Refused(method, error)
        # Slack's own trouble, or an answer that was not Slack's: the call may have gone in.
        unsure = kind == "unsure" or status >= 500 or not isinstance(data, dict)
        raise Retry(f"{method}: {error}", maybe_sent=unsure)


def retry_after(headers: Any) -> float:
    """Slack's `Retry-After`, in seconds, kept within 1 s and an hour (1 when absent or
    unreadable): a 0 would hammer Slack, an `inf` put a row off for ever."""
    try:
        seconds = float(headers.get("Retry-After", "1") or 1)
    except (TypeError, ValueError):
        return 1.0
    return min(max(seconds, 1.0), 3600.0) if math.isfinite(seconds) else 1.0
