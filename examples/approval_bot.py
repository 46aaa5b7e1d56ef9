#!/usr/bin/env python3
"""An LLM bot that lets a human in Slack approve what it is about to say, through hitl-bridge.

The bot drafts an answer (a stand-in function plays the model). A draft that promises
something (money, a refund, a guarantee) is not sent: the bot asks for approval
(``POST /v1/approvals``), waits for that request's ``approvalDecided`` event, and only then
answers: with the draft as approved, with the text as an agent edited it, or, when the
draft was rejected or nobody decided in time, with a fallback that promises nothing.

    BRIDGE_URL=http://127.0.0.1:3000 BRIDGE_API_TOKEN=... python examples/approval_bot.py
    ... python examples/approval_bot.py Can I get a refund for order 42?
    ... python examples/approval_bot.py --conversation conv_... Can I get a refund?

Without a question on the command line, every line typed is one. With ``--conversation``
the requests go in that handoff's Slack thread; without it, to the channel (``--queue``
picks a ``BRIDGE_QUEUES`` one). See examples/README.md and docs/approvals.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bridge.client import BridgeClient, BridgeError

log = logging.getLogger("approval_bot")

Event = dict[str, Any]

# What the end user is told when the draft was rejected or nobody decided in time.
FALLBACK = "I can't confirm that here, sorry. Our support team can: support@example.com."


# --- stand-ins: the model and the bot's policy ----------------------------------------------


def draft_reply(question: str) -> str:
    """STAND-IN FOR THE MODEL CALL. A real bot asks its LLM here; these canned answers let
    the example run with no model and no network."""
    if re.search(r"refund|money back", question, re.IGNORECASE):
        return "I have refunded $40 to your card; you will see it within 3 days."
    return "Thanks for your message! Is there anything else I can help with?"


def needs_approval(draft: str) -> bool:
    """The bot's policy: which drafts a human must see first (here, money and promises)."""
    return re.search(r"\$\d|refund|guarantee|promise", draft, re.IGNORECASE) is not None


# --- waiting for a decision ------------------------------------------------------------------


async def decision(
    client: BridgeClient,
    approval_id: str,
    *,
    seen: set[str] | None = None,
    other: Callable[[Event], Awaitable[None]] | None = None,
) -> Event:
    """Wait for the ``approvalDecided`` event of ``approval_id``; its payload.

    ``payload["status"]`` is ``approved``, ``edited``, ``rejected`` or ``expired``;
    ``payload["message"]`` is what to send, there only when approved or edited.

    Events are read from where ``client.cursor`` stands, so a decision that came before
    this call is not missed (move the cursor, if at all, before asking). An event whose id
    is in ``seen`` is a repeat and is dropped; each new id is added to it. Every other event
    goes to ``other`` (the rest of the bot), or is ignored. One reader per client at a time.
    """
    seen = set() if seen is None else seen
    async with contextlib.aclosing(client.events()) as events:
        async for event in events:
            if event["id"] in seen:
                continue
            seen.add(event["id"])
            payload: Event = event["payload"]
            if event["type"] == "approvalDecided" and payload["approvalId"] == approval_id:
                return payload
            if other is not None:
                await other(event)
    raise RuntimeError("the events ended")  # client.events() never does


# --- the bot ------------------------------------------------------------------------------


class ApprovalBot:
    """Answers the end user; asks a human first when a draft needs it.

    ``say`` sends a text to the end user on the bot's own channel (the bridge never talks
    to the end user). Inside a handoff (``conversation_id``), the request goes in its Slack
    thread, and what the end user was told is posted there too, as a notice from the bot.
    ``other`` gets the events that are not the awaited decision.
    """

    def __init__(
        self,
        client: BridgeClient,
        say: Callable[[str], Awaitable[None]],
        *,
        queue: str | None = None,
        expires_in: float | None = None,
        other: Callable[[Event], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.say = say
        self.queue = queue
        self.expires_in = expires_in  # None: the bridge's BRIDGE_APPROVAL_TIMEOUT
        self.other = other
        self.seen: set[str] = set()  # ids of the events handled: repeats are dropped
        self.waiting_on: str | None = None  # the approval request being waited for

    async def answer(
        self, question: str, *, conversation_id: str | None = None, user_id: str | None = None
    ) -> str:
        """Answer one question of the end user's; what they were told."""
        text = draft = draft_reply(question)
        if needs_approval(draft):
            text = await self.approved(question, draft, conversation_id, user_id)
        await self.tell(text, conversation_id)
        return text

    async def approved(
        self, question: str, draft: str, conversation_id: str | None, user_id: str | None
    ) -> str:
        """Ask a human about ``draft`` and wait: the text that may be said."""
        approval_id = await self.client.request_approval(
            {"type": "text", "payload": {"text": draft}},
            title="The bot's answer needs a human's approval",
            context=f"The end user asked: {question}"[:3000],
            conversation_id=conversation_id,
            user_id=user_id,
            queue=None if conversation_id else self.queue,
            expires_in=self.expires_in,
            idempotency_key=f"ask-{uuid.uuid4()}",  # send the same key again on a retry
        )
        log.info("asked for approval %s: waiting for Approve, Edit or Reject", approval_id)
        self.waiting_on = approval_id
        try:
            verdict = await decision(self.client, approval_id, seen=self.seen, other=self.other)
        except asyncio.CancelledError:  # the end user left, the bot stops: withdraw it
            with contextlib.suppress(BridgeError):  # approval_decided: too late to withdraw
                await self.client.cancel_approval(approval_id)
            raise
        finally:
            self.waiting_on = None
        status = verdict["status"]
        if status in ("approved", "edited"):
            by = verdict["agent"]["name"]
            log.info("%s %s by %s", approval_id, status, by)
            return str(verdict["message"]["payload"]["text"])  # a text draft stays text
        # rejected (the reason, if any, is for the bot's team, not the end user) or expired
        log.info("%s %s: %s", approval_id, status, verdict.get("comment") or "no reason given")
        return FALLBACK

    async def tell(self, text: str, conversation_id: str | None) -> None:
        await self.say(text)
        if conversation_id is None:
            return
        try:  # the thread shows what the end user was told, and when
            await self.client.send_text(conversation_id, text)
        except BridgeError as exc:
            if exc.code != "conversation_stopped":  # resolved meanwhile: nothing to show
                raise


# --- from the command line ------------------------------------------------------------------


async def questions(given: str) -> AsyncIterator[str]:
    """The question on the command line, or each line of standard input."""
    if given:
        yield given
        return
    while line := await asyncio.to_thread(sys.stdin.readline):
        if line.strip():
            yield line.strip()


async def run(
    url: str,
    token: str,
    given: str,
    conversation_id: str | None,
    queue: str | None,
    expires: float | None,
) -> None:
    async with BridgeClient(url, token) as client:
        await client.skip_to_latest()  # only what happens from now on

        async def say(text: str) -> None:
            print(f"bot > {text}")

        async def other(event: Event) -> None:
            print(f"[event] {event['type']}: for the rest of the bot")

        bot = ApprovalBot(client, say, queue=queue, expires_in=expires, other=other)
        if conversation_id is not None:
            user_id = (await client.get_conversation(conversation_id)).userId
        else:
            user_id = await client.create_user("Console user")  # shown with the requests
        async for question in questions(given):
            print(f"end user > {question}")
            await bot.answer(question, conversation_id=conversation_id, user_id=user_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("question", nargs="*", help="the end user's question (else: stdin)")
    parser.add_argument("--conversation", help="a handoff's conversationId to ask in")
    parser.add_argument("--queue", help="a BRIDGE_QUEUES name, for requests outside one")
    parser.add_argument("--expires-in", type=float, help="seconds to decide (10 to 604800)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s", stream=sys.stdout)
    url, token = os.environ.get("BRIDGE_URL"), os.environ.get("BRIDGE_API_TOKEN")
    if not url or not token:
        print("approval_bot: set BRIDGE_URL and BRIDGE_API_TOKEN", file=sys.stderr)
        return 2
    given = " ".join(args.question)
    try:
        asyncio.run(run(url, token, given, args.conversation, args.queue, args.expires_in))
    except KeyboardInterrupt:
        pass
    except BridgeError as exc:
        print(f"approval_bot: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
