"""What agents did in Slack, handled after Slack has had its answer.

The listeners keep each reply, edit and button press as it arrived (`service.agents.intake`) and
answer Slack at once: Slack wants its answer within 3 seconds, and telling who someone is
(`users.info`, the agents' user group, the names of people mentioned, a Slack Connect file)
may take longer. This sender then handles them in order per conversation, asking Slack what
it needs; when Slack cannot tell right now, the row is retried, never guessed at.
"""

from __future__ import annotations

import logging
from typing import Any

from bridge.events import Target
from bridge.model import (
    MAX_TEXT,
    Action,
    AgentProfile,
    ApprovalStatus,
    Content,
    Decision,
    TextMessage,
    TextPayload,
)
from bridge.outbox import Fail
from bridge.service import NotFound, Service
from bridge.slack.directory import Directory
from bridge.slack.files import FileLinks
from bridge.slack.text import mentioned_users, to_plain
from bridge.slack.webapi import Refused, WebApi
from bridge.store import OutboxRow

log = logging.getLogger(__name__)


class Intake:
    """The outbox sender for target `slack-in`."""

    def __init__(
        self, service: Service, api: WebApi, directory: Directory, files: FileLinks
    ) -> None:
        self._service = service
        self._api = api
        self._directory = directory
        self._files = files

    @property
    def api(self) -> WebApi:
        """The Web API it asks Slack with (the listeners open modals with it too)."""
        return self._api

    async def hold(self, row: OutboxRow) -> float:
        return 0.0

    async def delivered(self, row: OutboxRow) -> None:
        """Handling it was the whole job."""

    async def failed(self, row: OutboxRow, reason: Fail) -> None:
        """Given up on (Slack never told who the agent is, say): the agent hears that what
        they did was not passed on, rather than nothing at all."""
        user = row.payload.get("user")
        if row.kind == "decision" and row.conversation_id == row.payload.get("approvalId"):
            # A request outside a conversation has no thread of its own to be told in.
            log.warning("an approval decision could not be handled: %s", reason)
        elif isinstance(user, str):
            await self._service.agents.warn(row.conversation_id, user, str(reason))

    async def send(self, row: OutboxRow) -> None:
        once = f"{Target.SLACK_IN}:{row.id}"  # handled once, even if the row is taken again
        p = row.payload
        if row.kind == "reply":
            await self._reply(p, once)
        elif row.kind == "change":
            await self._change(p, once)
        elif row.kind == "action":
            user = str(p["user"])
            outcome = await self._service.agents.act(
                Action(p["action"]),
                row.conversation_id,
                await self._directory.profile(user),
                allowed=await self._directory.is_agent(user),
                event_id=once,
            )
            if outcome.ignored:
                log.info("button changed nothing: %s", outcome.ignored)
        elif row.kind == "decision":
            await self._decision(p)
        else:
            raise Fail(f"unknown intake kind {row.kind!r}")

    async def _decision(self, p: dict[str, Any]) -> None:
        """An agent's decision on an approval request: Approve, or a submitted Edit or
        Reject form. A click on Edit or Reject that opened no form (`notice`: the request
        was settled, or they may not decide) decides nothing: it only has them told why."""
        user, approval_id = str(p["user"]), str(p["approvalId"])
        allowed = await self._directory.is_agent(user)
        if p.get("notice") and allowed:
            try:
                seen = await self._service.approvals.get(approval_id)
            except NotFound:
                return
            if seen.approval.status is ApprovalStatus.PENDING:
                return  # nothing to tell (they have become an agent since the click)
        text, comment = p.get("text"), p.get("comment")
        verdict = await self._service.approvals.decide(
            approval_id,
            Decision(p["decision"]),
            await self._directory.profile(user),
            allowed=allowed,
            text=text if isinstance(text, str) else None,
            comment=comment if isinstance(comment, str) else None,
        )
        if verdict.ignored:
            log.info("decision changed nothing: %s", verdict.ignored)

    async def reply_at_once(self, p: dict[str, Any], event_id: str | None) -> bool:
        """Handle a reply as it arrives, before Slack has its answer, when nothing about it
        needs asking Slack: who wrote it and whom it mentions are known, and it shares no
        file. False when it must be kept for later (`service.agents.intake`) instead. It
        is kept all the same if earlier ones of its conversation are still waiting there,
        so that none is overtaken."""
        raw, user = str(p.get("text") or ""), str(p["user"])
        author = self._directory.known(user)
        mentioned = [self._directory.known(u) for u in mentioned_users(raw)]
        if p.get("files") or author is None or None in mentioned:
            return False
        names = {who.slack_user_id: who.name for who, _ in filter(None, mentioned)}
        text = to_plain(raw, names).strip()[:MAX_TEXT]
        if text:  # else nothing to relay, as `_reply` would find
            await self._relay(p, event_id, *author, _text(text), keep=True)
        return True

    async def _reply(self, p: dict[str, Any], once: str) -> None:
        user = str(p["user"])
        text = await self._plain(str(p.get("text") or ""))
        content = await self._content(text, p.get("files") or [])
        if content is None:
            return
        profile, allowed = await self._directory.profile(user), await self._directory.is_agent(user)
        await self._relay(p, once, profile, allowed, content, keep=False)

    async def _relay(
        self,
        p: dict[str, Any],
        event_id: str | None,
        agent: AgentProfile,
        allowed: bool,
        content: Content,
        *,
        keep: bool,
    ) -> None:
        outcome = await self._service.agents.reply(
            event_id=event_id,
            channel=str(p["channel"]),
            thread_ts=str(p["thread_ts"]),
            ts=str(p["ts"]),
            agent=agent,
            content=content,
            allowed=allowed,
            keep=("reply", p) if keep else None,
        )
        if outcome.ignored:
            log.debug("reply not relayed: %s", outcome.ignored)

    async def _change(self, p: dict[str, Any], once: str) -> None:
        raw = p.get("text")  # None: deleted
        text = await self._plain(raw) if isinstance(raw, str) else None
        outcome = await self._service.agents.changed(
            event_id=once,
            channel=str(p["channel"]),
            ts=str(p["ts"]),
            slack_user_id=str(p["user"]),
            text=text or None,
        )
        if outcome.ignored:
            log.debug("edit not relayed: %s", outcome.ignored)

    async def _plain(self, raw: str) -> str:
        """Slack's markup as a person reads it, mentions by name."""
        names = await self._directory.names(mentioned_users(raw))
        return to_plain(raw, names).strip()[:MAX_TEXT]

    async def _content(self, text: str, shared: list[Any]) -> Content | None:
        if not shared:
            return _text(text) if text else None
        files = [await self._file(f) for f in shared if isinstance(f, dict)]
        missing = sum(1 for f in files if f is None)
        if missing:
            # Never drop what the agent shared silently: the bot hears that a file is missing.
            what = "a file" if missing == 1 else f"{missing} files"
            text = f"{text}\n[{what} shared in Slack could not be passed on]".strip()
        return self._files.content(text, [f for f in files if f is not None])

    async def _file(self, file: dict[str, Any]) -> dict[str, Any] | None:
        """A shared file with its private URL; a Slack Connect file (shared from another
        organisation) comes without one, and `files.info` tells it."""
        if file.get("url_private_download") or file.get("url_private"):
            return file
        if not isinstance(file.get("id"), str):
            return None
        try:
            answer = await self._api.call("files.info", file=file["id"])
        except Refused as exc:
            log.warning("a shared file cannot be read (%s)", exc.error)
            return None
        found = answer.data.get("file")
        return found if isinstance(found, dict) else None


def _text(text: str) -> Content:
    return TextMessage(type="text", payload=TextPayload(text=text))
