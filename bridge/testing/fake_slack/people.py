"""The people of the workspace (and other apps): what they do is stored, and reaches the app
as Slack delivers it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import urlencode

from bridge.testing.fake_slack import modals
from bridge.testing.fake_slack.delivery import Delivery
from bridge.testing.fake_slack.events import (
    block_actions_payload,
    changed_event,
    deleted_event,
    slash_command_form,
    view_closed_payload,
    view_submission_payload,
)
from bridge.testing.fake_slack.files import share, store_file
from bridge.testing.fake_slack.models import JSON, Ephemeral, Message, Submission
from bridge.testing.fake_slack.render import message_view
from bridge.testing.fake_slack.response_urls import new_response_url
from bridge.testing.fake_slack.workspace import Workspace

_FORM = "application/x-www-form-urlencoded"


class People:
    """Acts as the people of the workspace; ``FakeSlack`` documents each action."""

    def __init__(self, ws: Workspace, delivery: Delivery) -> None:
        self._ws = ws
        self._delivery = delivery

    async def user_says(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        files: list[JSON] | None = None,
        deliver: bool = True,
    ) -> str:
        """A person posts a message (a ``file_share`` if ``files``); returns its ts."""
        ws = self._ws
        ws.known_channel(channel)
        if thread_ts is not None:
            thread_ts = ws.thread_root(channel, thread_ts)
        file_objs = [store_file(ws, f, user) for f in files] if files else None
        msg = Message(
            ts=ws.next_ts(),
            channel=channel,
            user=user,
            bot_id=None,
            text=text,
            thread_ts=thread_ts,
            subtype="file_share" if file_objs else None,
            files=file_objs,
        )
        ws.store(msg)
        share(ws, msg)
        if deliver:
            await self._delivery.send_message(msg)
        return msg.ts

    async def edit(self, user: str, channel: str, ts: str, text: str) -> None:
        """A person edits a message: ``message_changed`` event."""
        ws = self._ws
        msg = ws.message(channel, ts)
        previous = message_view(ws, msg)
        msg.text = text
        msg.blocks = None  # a person's blocks are Slack's rendering of the text
        msg.edited = True
        msg.edited_ts = ws.next_ts()
        changed = message_view(ws, msg)
        changed["edited"] = {"user": user, "ts": msg.edited_ts}
        event = changed_event(channel, changed, previous, msg.edited_ts)
        if ws.channels[channel].member:
            await self._delivery.send_event(event)

    async def delete(self, channel: str, ts: str) -> None:
        """A message is deleted: ``message_deleted`` event."""
        ws = self._ws
        msg = ws.message(channel, ts)
        previous = message_view(ws, msg)
        ws.remove(msg)
        event = deleted_event(ws, channel, ts, previous)
        if ws.channels[channel].member:
            await self._delivery.send_event(event)

    async def other_bot_says(
        self, bot_id: str, channel: str, text: str, *, thread_ts: str | None = None
    ) -> str:
        """Another app posts; returns its ts."""
        ws = self._ws
        ws.known_channel(channel)
        if thread_ts is not None:
            thread_ts = ws.thread_root(channel, thread_ts)
        bot_user = ws.bot_user(bot_id)
        msg = Message(
            ts=ws.next_ts(),
            channel=channel,
            user=bot_user.id if bot_user else None,
            bot_id=bot_id,
            text=text,
            thread_ts=thread_ts,
            username=None if bot_user else f"bot-{bot_id}",
            subtype=None if bot_user else "bot_message",
        )
        ws.store(msg)
        await self._delivery.send_message(msg)
        return msg.ts

    async def click(
        self, user: str, channel: str, message_ts: str, action_id: str, value: str | None
    ) -> int:
        """A person clicks a button in a message; returns the app's HTTP status."""
        ws = self._ws
        msg = ws.message(channel, message_ts)
        response_url = new_response_url(ws, channel, user, message_ts, msg.thread_ts)
        payload = block_actions_payload(ws, user, msg, action_id, value, response_url)
        body = urlencode({"payload": json.dumps(payload)}).encode()
        status, _ = await self._delivery.deliver("interactive", payload, body, _FORM)
        return status

    async def slash_command(self, user: str, channel: str, command: str, text: str) -> int:
        """A person runs a slash command in a channel; returns the app's HTTP status."""
        ws = self._ws
        response_url = new_response_url(ws, channel, user, None, None)
        form = slash_command_form(ws, user, channel, command, text, response_url)
        body = urlencode(form).encode()
        status, answer = await self._delivery.deliver("slash_commands", dict(form), body, _FORM)
        # What the app answers right away (JSON, or plain text) is shown to the person who
        # ran the command, and to nobody else.
        try:
            reply = json.loads(answer or b"null")
        except ValueError:
            reply = {"text": answer.decode(errors="replace")}
        if isinstance(reply, dict) and (reply.get("text") or reply.get("blocks")):
            said, blocks = str(reply.get("text") or ""), reply.get("blocks")
            ws.ephemerals.append(Ephemeral(channel, user, said, blocks, None, ws.next_ts()))
        return status

    async def submit_view(
        self, user: str, view_id: str, values: Mapping[str, modals.Typed]
    ) -> Submission:
        """A person types ``values`` into the modal view they see and submits it."""
        ws = self._ws
        view = modals.shown_view(ws, user, view_id)
        submitted = {**view, "state": {"values": modals.typed_state(view, values)}}
        payload = view_submission_payload(ws, user, submitted)
        body = urlencode({"payload": json.dumps(payload)}).encode()
        started = ws.clock()
        status, answer = await self._delivery.deliver("interactive", payload, body, _FORM)
        elapsed = ws.clock() - started
        return modals.settle(ws, user, submitted, payload, status, answer, elapsed)

    async def close_view(self, user: str, view_id: str) -> int | None:
        """A person closes the modal view they see; the app's status if it was told."""
        ws = self._ws
        view, cleared = modals.close(ws, user, view_id)
        if not view["notify_on_close"]:
            return None  # Slack tells the app only of views that asked (notify_on_close)
        payload = view_closed_payload(ws, user, view, cleared)
        body = urlencode({"payload": json.dumps(payload)}).encode()
        status, _ = await self._delivery.deliver("interactive", payload, body, _FORM)
        return status
