"""What the bot asks (through `/v1` or Botpress's routes), and what it may read."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from bridge.events import PostMessage, PostParent, Transcript, UpdateParent
from bridge.model import (
    Content,
    Conversation,
    HistoryItem,
    Origin,
    Priority,
    Role,
    Status,
    StopReason,
    User,
    new_id,
)
from bridge.service.core import Core
from bridge.service.errors import Invalid, Stopped
from bridge.service.work import Idem, Work
from bridge.store import DeadLetter, Event

log = logging.getLogger("bridge.service")


class BotCommands:
    def __init__(self, core: Core) -> None:
        self._core = core

    async def create_user(
        self, name: str, picture_url: str | None, email: str | None, idem: Idem | None = None
    ) -> str:
        user = User(new_id("usr"), Role.END_USER, name, picture_url, email)

        def create(w: Work) -> None:
            w.tx.insert_user(user, w.now())
            w.remember(idem, user.id)

        await self._core.write(create)
        return user.id

    async def start_hitl(
        self,
        user_id: str | None,
        *,
        title: str | None,
        description: str | None,
        history: Sequence[HistoryItem],
        session: dict[str, Any] | None,
        origin: Origin = Origin.NATIVE,
        idem: Idem | None = None,
    ) -> str:
        """Open a handoff. `user_id` is None only when the protocol does not say who the end
        user is yet (Botpress hitl-api): the first message from them names them."""
        now = self._core.clock()
        queue = session.get("queue") if session else None
        conv = Conversation(
            id=new_id("conv"),
            user_id=user_id,
            status=Status.WAITING,
            channel=self._core.policy.channel_for(queue if isinstance(queue, str) else None),
            thread_ts=None,
            permalink=None,
            title=title,
            description=description,
            agent_id=None,
            changed_by=None,
            stop_reason=None,
            created_at=now,
            waiting_since=now,
            stopped_at=None,
            origin=origin,
            priority=_priority(session.get("priority") if session else None),
        )

        def start(w: Work) -> None:
            if user_id is not None:
                w.end_user(user_id)
            w.tx.insert_conversation(conv, history, session)
            w.to_slack(conv, PostParent())
            if history or description:  # what the parent cannot hold goes in the thread
                w.to_slack(conv, Transcript())
            w.remember(idem, conv.id)

        await self._core.write(start)
        log.info("handoff started", extra={"conversation": conv.id})
        return conv.id

    async def send_message(
        self,
        conversation_id: str,
        content: Content,
        user_id: str | None,
        idem: Idem | None = None,
    ) -> str:
        """The end user (with `user_id`) or the bot (without) says something in the thread."""
        message_id = new_id("msg")

        def send(w: Work) -> None:
            conv = w.conversation(conversation_id)
            if user_id is not None and conv.user_id is None:
                w.end_user(user_id)  # now we know who it is: show them
                conv = dataclasses.replace(conv, user_id=user_id)
                w.tx.update_conversation(conv)
                w.to_slack(conv, UpdateParent())
            if user_id is not None and user_id != conv.user_id:
                raise Invalid("userId", "is not this conversation's end user")
            if conv.status is Status.STOPPED:
                raise Stopped()
            w.tx.insert_message(message_id, conv.id, user_id, content, w.now())
            w.to_slack(conv, PostMessage(messageId=message_id))
            w.remember(idem, message_id)

        await self._core.write(send)
        return message_id

    async def stop(self, conversation_id: str, idem: Idem | None = None) -> None:
        """stopHitl: the bot ends the handoff. Not echoed back as `hitlStopped`."""

        def stop(w: Work) -> None:
            conv = w.conversation(conversation_id)
            if conv.status is not Status.STOPPED:
                w.stop(conv, StopReason.BOT, by=None)
            w.remember(idem, None)

        await self._core.write(stop)

    # --- what the bot may read -----------------------------------------------------------

    async def user(self, user_id: str) -> User | None:
        return await self._core.read(lambda tx: tx.user(user_id))

    async def conversation(self, conversation_id: str) -> Conversation | None:
        return await self._core.read(lambda tx: tx.conversation(conversation_id))

    async def dead_letters(self, conversation_id: str) -> list[DeadLetter]:
        return await self._core.read(lambda tx: tx.dead_letters(conversation_id))

    async def recall(self, scope: str, key: str) -> tuple[str, Any] | None:
        """What an `Idempotency-Key` answered, with its request's fingerprint."""
        return await self._core.read(lambda tx: tx.recall_key(scope, key))

    async def events_after(self, seq: int, limit: int) -> tuple[list[Event], int]:
        """Events after `seq`, and the highest seq ever issued (to tell unknown cursors)."""
        return await self._core.read(lambda tx: (tx.events_after(seq, limit), tx.last_event_seq()))


def _priority(value: Any) -> Priority | None:
    if value is None:
        return None
    try:
        return Priority(str(value).lower())
    except ValueError:
        raise Invalid("hitlSession.priority", "must be low, normal, high or urgent") from None
