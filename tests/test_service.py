"""The core on its own, over a real store: what each command decides, what it queues for
whom, and whom it wakes. No Slack, no bot, no HTTP."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.events import (
    Ephemeral,
    HitlAssigned,
    MessageEvent,
    PostMessage,
    PostParent,
    SlackPayload,
    Standing,
    Target,
    Transcript,
    UpdateParent,
    Why,
    from_json,
    parse_event,
)
from bridge.model import Action, AgentProfile, HistoryItem, Status, TextMessage, TextPayload
from bridge.service import Policy, Service, Stopped
from bridge.store.sqlite import SqliteStore

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
ALICE = AgentProfile("U0ALICE", "Alice", None, "alice@example.com")
BOB = AgentProfile("U0BOB", "Bob", None, None)


def text(words: str) -> TextMessage:
    return TextMessage(type="text", payload=TextPayload(text=words))


@pytest.fixture
def service(store: SqliteStore) -> Service:
    policy = Policy(
        channel_for=lambda queue: "C0VIP" if queue == "vip" else "C0HOME", webhooks=True
    )
    return Service(store, policy, clock=lambda: NOW)


def queued(path: Path, target: Target) -> list[SlackPayload | dict[str, Any]]:
    """What waits in the outbox for `target`, oldest first: Slack's payloads typed, the
    rest as stored. Read from the file, as another process would."""
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT kind, payload FROM outbox WHERE target = ? AND state = 'pending' ORDER BY id",
            (target,),
        ).fetchall()
    slack = target in (Target.SLACK, Target.SLACK_ASIDE)
    return [from_json(kind, json.loads(p)) if slack else json.loads(p) for kind, p in rows]


def pulses(service: Service) -> dict[str, int]:
    counts = {target.value: pulse.count for target, pulse in service.outbox_pulse.items()}
    return counts | {"events": service.events_pulse.count}


async def handoff(service: Service, ts: str = "1.000001", **session: Any) -> tuple[str, str]:
    """An end user and their conversation, its parent in Slack as thread `ts`."""
    user = await service.bot.create_user("Erin", None, None)
    conv = await service.bot.start_hitl(
        user, title="Refund", description=None, history=[], session=session or None
    )
    channel = "C0VIP" if session.get("queue") == "vip" else "C0HOME"
    await service.deliveries.posted([f"parent:{conv}"], conv, channel, ts, parent=True)
    return user, conv


async def test_a_handoff_asks_slack_for_its_parent_and_transcript_in_its_queue_s_channel(
    service: Service, tmp_path: Path
) -> None:
    before = pulses(service)
    user = await service.bot.create_user("Erin", None, None)
    history = [HistoryItem("user", text("Where is my order?"))]
    conv = await service.bot.start_hitl(
        user, title="Order", description=None, history=history, session={"queue": "vip"}
    )
    assert queued(tmp_path / "b.db", Target.SLACK) == [PostParent(), Transcript()]
    woken = {k for k, n in pulses(service).items() if n != before[k]}
    assert woken == {"slack", "slack-aside"}  # one pulse for Slack's two lines, no one else
    assert (await service.bot.conversation(conv)).channel == "C0VIP"  # type: ignore[union-attr]


async def test_an_agent_s_first_reply_claims_then_relays_and_wakes_the_bot(
    service: Service, tmp_path: Path
) -> None:
    await handoff(service)
    before = pulses(service)
    outcome = await service.agents.reply(
        event_id="Ev1", channel="C0HOME", thread_ts="1.000001", ts="2.000001",
        agent=ALICE, content=text("Hello Erin"),
    )  # fmt: skip
    assert outcome.claimed and outcome.relayed
    events, _ = await service.bot.events_after(0, 10)
    assigned, message = (parse_event(e.body) for e in events)
    assert isinstance(assigned, HitlAssigned) and assigned.payload.agent.name == "Alice"
    assert isinstance(message, MessageEvent) and message.payload.payload == {"text": "Hello Erin"}
    assert message.createdAt == "2026-12-04T09:30:00Z"  # the service's clock, not the store's
    hooks = queued(tmp_path / "b.db", Target.BOT)
    assert [h["type"] for h in hooks] == ["hitlAssigned", "message"]  # type: ignore[index]
    assert queued(tmp_path / "b.db", Target.SLACK)[-1] == UpdateParent()  # now "assigned"
    woken = {k for k, n in pulses(service).items() if n != before[k]}
    assert woken == {"slack", "slack-aside", "bot", "events"}

    again = await service.agents.reply(
        event_id="Ev1", channel="C0HOME", thread_ts="1.000001", ts="2.000001",
        agent=ALICE, content=text("Hello Erin"),
    )  # fmt: skip
    assert again.ignored == "message already relayed"  # Slack's retry of the event


async def test_a_claim_that_comes_too_late_tells_only_the_clicker(
    service: Service, tmp_path: Path
) -> None:
    _, conv = await handoff(service)
    assert (await service.agents.act(Action.CLAIM, conv, ALICE)).claimed
    before = pulses(service)
    late = await service.agents.act(Action.CLAIM, conv, BOB)
    assert late.ignored == "claim does not fit a conversation that is assigned"
    told = queued(tmp_path / "b.db", Target.SLACK_ASIDE)
    assert told == [
        Ephemeral(
            user="U0BOB",
            why=Why.STALE,
            state=Standing(status="assigned", assignee="U0ALICE", changedBy="U0ALICE"),
        )
    ]
    woken = {k for k, n in pulses(service).items() if n != before[k]}
    assert woken == {"slack", "slack-aside"}  # the bot hears nothing


async def test_a_refused_command_changes_nothing_and_wakes_no_one(
    service: Service, tmp_path: Path
) -> None:
    user, conv = await handoff(service)
    await service.bot.stop(conv)
    before, rows = pulses(service), queued(tmp_path / "b.db", Target.SLACK)
    with pytest.raises(Stopped):
        await service.bot.send_message(conv, text("anyone?"), user)
    assert pulses(service) == before
    assert queued(tmp_path / "b.db", Target.SLACK) == rows
    assert PostMessage not in {type(p) for p in rows}


async def test_a_queue_reads_only_what_is_shown_but_counts_all(service: Service) -> None:
    for n in range(3):
        await handoff(service, ts=f"{n}.000001")
    _, mine = await handoff(service, ts="9.000001")
    await service.agents.act(Action.CLAIM, mine, ALICE)
    waiting = await service.overview.queue(Status.WAITING, limit=2)
    assert (len(waiting.items), waiting.total) == (2, 3)
    alice = await service.overview.queue(Status.ASSIGNED, slack_user_id="U0ALICE", limit=2)
    assert [q.conversation.id for q in alice.items] == [mine] and alice.total == 1
    nobody = await service.overview.queue(Status.ASSIGNED, slack_user_id="U0NOBODY")
    assert (nobody.items, nobody.total) == ([], 0)
