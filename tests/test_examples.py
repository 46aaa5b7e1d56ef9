"""`examples/approval_bot.py` against the real bridge: the bot asks for approval, an agent
decides (through `service.approvals.decide`, as the Slack wing does when they click), and the
bot tells the end user the right thing, in the handoff's thread too when there is one."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bridge.client import BridgeClient
from bridge.model import AgentProfile, Decision
from tests.conftest import ALICE, API_TOKEN, CHANNEL, Stage
from tests.test_demo import clean_env

pytestmark = pytest.mark.both_databases

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "approval_bot.py"
# Alice as Slack tells of her (tests/conftest.py's workspace).
AGENT = AgentProfile(ALICE, "Alice", "https://img.example.com/alice.png", "alice@example.com")
REFUND = "Can I get a refund for order 42?"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("approval_bot", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = load()


class Approver:
    """The example's bot on the stage, with what it told the end user and what else it
    heard."""

    def __init__(self, client: BridgeClient) -> None:
        self.said: list[str] = []
        self.heard: list[dict[str, Any]] = []

        async def say(text: str) -> None:
            self.said.append(text)

        async def other(event: dict[str, Any]) -> None:
            self.heard.append(event)

        self.bot = example.ApprovalBot(client, say, other=other)
        self.client = client

    async def answer(
        self,
        question: str,
        decide: Callable[[str], Awaitable[object]],
        **where: str,
    ) -> tuple[str, str]:
        """Ask `question`, decide the request the bot makes with `decide(approval_id)`; what
        the bot answered, and the approval id."""
        task = asyncio.create_task(self.bot.answer(question, **where))
        approval_id = await self.asked(task)
        await decide(approval_id)
        async with asyncio.timeout(5):
            return await task, approval_id

    async def asked(self, task: asyncio.Task[str]) -> str:
        """The id of the request the bot waits on, once it waits."""
        async with asyncio.timeout(5):
            while self.bot.waiting_on is None:
                assert not task.done(), task.result()
                await asyncio.sleep(0.01)
        return str(self.bot.waiting_on)


@pytest.fixture
async def approver(stage: Stage) -> AsyncIterator[Approver]:
    async with BridgeClient(stage.bridge.url, API_TOKEN) as client:
        yield Approver(client)


async def assigned_to_alice(stage: Stage) -> tuple[str, str, str]:
    """A handoff Alice has claimed: its conversation id, end user and thread."""
    conv, parent = await stage.handoff()
    await stage.slack.click(ALICE, CHANNEL, parent, "claim")
    async with asyncio.timeout(5):
        while (body := await stage.api.conversation(conv))["status"] != "assigned":
            await asyncio.sleep(0.01)
    return conv, str(body["userId"]), parent


async def in_thread(stage: Stage, conv: str, parent: str) -> str:
    """The text of the last thing the bot said in the conversation, as the bridge stored it,
    once its post is in the Slack thread."""
    latest = await stage.bridge.service.store.read(lambda tx: tx.latest_messages(conv, 1))
    (notice,) = latest
    assert notice.author_id is None  # a notice from the bot, not the end user speaking

    def posted() -> bool:
        return any(
            notice.id in (m.metadata or {}).get("event_payload", {}).get("keys", "").split()
            for m in stage.slack.thread(CHANNEL, parent)
        )

    await stage.slack.wait_for(posted)
    return str(notice.content.payload.text)  # type: ignore[union-attr]


async def test_approved_in_a_handoff(stage: Stage, approver: Approver) -> None:
    """In a conversation Alice has: the bot hears `hitlAssigned` first (handed to the rest
    of the bot), then the decision, and says the draft as it was, in the thread too."""
    conv, user, parent = await assigned_to_alice(stage)
    approve = stage.bridge.service.approvals.decide

    said, approval_id = await approver.answer(
        REFUND, lambda a: approve(a, Decision.APPROVE, AGENT), conversation_id=conv, user_id=user
    )

    draft = example.draft_reply(REFUND)
    assert said == draft and approver.said == [draft]
    assert [event["type"] for event in approver.heard] == ["hitlAssigned"]
    assert await in_thread(stage, conv, parent) == draft
    request = await approver.client.get_approval(approval_id)
    assert (request.status, request.conversationId, request.userId) == ("approved", conv, user)


async def test_edited_outside_a_handoff(stage: Stage, approver: Approver) -> None:
    """No conversation: the request goes to the channel, and the end user gets the agent's
    text, not the draft."""
    user = await stage.api.create_user("Erin")
    edited = "Your refund of $40 is approved; it reaches your card within 3 days."
    decide = stage.bridge.service.approvals.decide

    said, approval_id = await approver.answer(
        REFUND, lambda a: decide(a, Decision.EDIT, AGENT, text=edited), user_id=user
    )

    assert said == edited and approver.said == [edited]
    request = await approver.client.get_approval(approval_id)
    assert (request.status, request.conversationId, request.userId) == ("edited", None, user)
    assert request.slack.channel == CHANNEL
    assert request.draft.payload.text == example.draft_reply(REFUND)  # type: ignore[union-attr]


async def test_rejected_falls_back(
    stage: Stage, approver: Approver, caplog: pytest.LogCaptureFixture
) -> None:
    """Rejected: the end user gets the fallback, never the draft; the reason is the bot's."""
    conv, user, parent = await assigned_to_alice(stage)

    async def reject(approval_id: str) -> object:
        return await stage.bridge.service.approvals.decide(
            approval_id, Decision.REJECT, AGENT, comment="We never promise dates"
        )

    with caplog.at_level(logging.INFO, logger="approval_bot"):
        said, approval_id = await approver.answer(
            REFUND, reject, conversation_id=conv, user_id=user
        )

    assert said == example.FALLBACK and approver.said == [example.FALLBACK]
    assert await in_thread(stage, conv, parent) == example.FALLBACK
    assert f"{approval_id} rejected: We never promise dates" in caplog.text
    assert (await approver.client.get_approval(approval_id)).status == "rejected"


async def test_nothing_to_approve_asks_nobody(stage: Stage, approver: Approver) -> None:
    said = await approver.bot.answer("hello")
    assert said == approver.said[0] == example.draft_reply("hello")
    store = stage.bridge.service.store
    assert await store.read(lambda tx: tx.pending_approvals(10)) == []


async def test_a_bot_that_stops_waiting_withdraws_its_request(
    stage: Stage, approver: Approver
) -> None:
    task = asyncio.create_task(approver.bot.answer(REFUND))
    approval_id = await approver.asked(task)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await approver.client.get_approval(approval_id)).status == "cancelled"
    assert approver.said == []


class Scripted:
    """A client whose long-poll yields these events, then waits for ever."""

    def __init__(self, *events: dict[str, Any]) -> None:
        self.script = list(events)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        for event in self.script:
            yield event
        await asyncio.Event().wait()


def event(event_id: str, kind: str, **payload: Any) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "createdAt": "2026-12-05T10:00:00Z", "payload": payload}


async def test_decision_drops_repeats_and_hands_on_the_rest() -> None:
    assigned = event("evt_1", "hitlAssigned", conversationId="conv_1")
    elsewhere = event("evt_2", "approvalDecided", approvalId="apv_other", status="expired")
    ours = event("evt_3", "approvalDecided", approvalId="apv_1", status="approved")
    later = event("evt_4", "approvalDecided", approvalId="apv_2", status="rejected")
    heard: list[str] = []

    async def other(e: dict[str, Any]) -> None:
        heard.append(e["id"])

    seen: set[str] = set()
    client: Any = Scripted(assigned, elsewhere, assigned, ours)
    async with asyncio.timeout(2):
        assert await example.decision(client, "apv_1", seen=seen, other=other) == ours["payload"]
    assert heard == ["evt_1", "evt_2"]  # the repeat of evt_1 was dropped
    # A page read again after the decision: what was handled is not handled twice.
    client = Scripted(ours, later)
    async with asyncio.timeout(2):
        assert await example.decision(client, "apv_2", seen=seen, other=other) == later["payload"]
    assert heard == ["evt_1", "evt_2"]


async def test_from_the_command_line(stage: Stage) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        *REFUND.split(),
        env=clean_env(BRIDGE_URL=stage.bridge.url, BRIDGE_API_TOKEN=API_TOKEN),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(10):
            while not (found := re.search(r"asked for approval (apv_\w+)", "\n".join(lines))):
                line = await proc.stdout.readline()
                assert line, "\n".join(lines)
                lines.append(line.decode().rstrip("\n"))
            edited = "Your refund is approved."
            decide = stage.bridge.service.approvals.decide
            await decide(found.group(1), Decision.EDIT, AGENT, text=edited)
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines += out.decode().splitlines()
    assert proc.returncode == 0, "\n".join(lines) + err.decode()
    assert f"end user > {REFUND}" in lines and f"bot > {edited}" in lines, lines
