"""An operator moves a bridge from SQLite to PostgreSQL: `hitl-bridge copy-db`."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bridge.copydb import TABLES, CopyError, copy_db
from bridge.events import Target
from bridge.model import AgentProfile, Decision, TextMessage, TextPayload
from bridge.service import Idem, Policy, Service
from bridge.slack.pacing import SharedPacer
from bridge.store.sqlite import SqliteStore
from bridge.testing.fake_slack import FakeSlack
from tests.conftest import CHANNEL, StageFactory
from tests.test_cli import base_env, run

ALICE = AgentProfile("U0ALICE", "Alice", None, "alice@example.com")


def text(words: str) -> TextMessage:
    return TextMessage(type="text", payload=TextPayload(text=words))


async def every_kind_of_row(path: Path) -> str:
    """A bridge database with rows in every table; a conversation's id."""
    store = await SqliteStore.open(path)
    service = Service(store, Policy(channel_for=lambda q: CHANNEL, webhooks=True))
    user = await service.bot.create_user("Erin", None, "erin@example.com")
    conv = await service.bot.start_hitl(
        user, title="Refund", description="Kettle", history=[], session={"queue": "vip"},
        idem=Idem("POST /v1/conversations", "k1", "f"),
    )  # fmt: skip
    await service.deliveries.posted([f"parent:{conv}"], conv, CHANNEL, "1.000001", parent=True)
    await service.bot.send_message(conv, text("Hello?"), user)
    await service.agents.reply(
        event_id="Ev1", channel=CHANNEL, thread_ts="1.000001", ts="2.000001",
        agent=ALICE, content=text("Hi Erin"),
    )  # fmt: skip
    await service.agents.reply(  # an internal note: its event id is kept
        event_id="Ev2", channel=CHANNEL, thread_ts="1.000001", ts="3.000001",
        agent=ALICE, content=text("note: refunds are mine"),
    )  # fmt: skip
    approval = await service.approvals.request(text("Refund sent"), conversation_id=conv)
    await service.approvals.decide(approval, Decision.EDIT, ALICE, text="Refund sent today")
    await service.approvals.request(text("Pending one"), title="Waiting")
    await service.secret("links")
    await SharedPacer(store, "posts", 1, 3).pause(CHANNEL, 30)  # Slack's budget for a channel
    now = time.time()
    (taken,) = await store.write(lambda tx: tx.take_due(Target.SLACK, now + 1, 1, now + 60))
    await store.write(lambda tx: tx.mark_failed(taken.id, "refused for good"))  # a dead letter
    await store.write(lambda tx: tx.take_due(Target.BOT, now + 1, 1, now + 60))  # one leased
    await store.close()
    return conv


def rows_of(table: str, sqlite: sqlite3.Connection, pg: Any) -> tuple[list[Any], list[Any]]:
    columns = [d[0] for d in sqlite.execute(f"SELECT * FROM {table} LIMIT 0").description]
    order = ", ".join(columns)
    ours = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
            for r in sqlite.execute(f"SELECT {order} FROM {table} ORDER BY {order}")]  # fmt: skip
    theirs = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r)
              for r in pg.execute(f"SELECT {order} FROM {table} ORDER BY {order}")]  # fmt: skip
    return ours, theirs


async def test_every_row_goes_over_and_the_bridge_carries_on_from_there(
    tmp_path: Path, postgres_url: str, make_stage: StageFactory, slack: FakeSlack
) -> None:
    path = tmp_path / "bridge.db"
    conv = await every_kind_of_row(path)
    copied = copy_db(f"sqlite:///{path}", postgres_url)
    assert set(copied) == set(TABLES) and all(copied[t] > 0 for t in TABLES), copied

    with closing(sqlite3.connect(path)) as sqlite, psycopg.connect(postgres_url) as pg:
        for table in TABLES:
            ours, theirs = rows_of(table, sqlite, pg)
            assert ours == theirs, table
        last = sqlite.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        (after,) = pg.execute("SELECT nextval(pg_get_serial_sequence('events', 'seq'))").fetchone()
        assert after == last[0] + 1  # the events' numbering goes on, cursors stay good

    # Started on PostgreSQL, the bridge knows what it knew. It also takes up what was left
    # to do, in a thread this fake Slack never had: a post there would move the conversation
    # to a new thread, a receipt fail for good (a dead letter of its own), either before the
    # reading below on a loaded machine. Slack holds them until the reading is done.
    for method in ("chat.postMessage", "chat.update", "reactions.add"):
        slack.hang(method, CHANNEL)
    stage = await make_stage(BRIDGE_DATABASE_URL=postgres_url)
    body = await stage.api.conversation(conv)
    assert body["status"] == "assigned" and body["slack"]["threadTs"] == "1.000001"
    assert [d["error"] for d in body["deadLetters"]] == ["refused for good"]
    status, page = await stage.api.get("/v1/events")
    assert status == 200
    kinds = [e["type"] for e in page["events"]]
    assert kinds == ["hitlAssigned", "message", "approvalDecided"]
    assert json.dumps(page["events"][-1]["payload"]["message"]) == json.dumps(
        {"type": "text", "payload": {"text": "Refund sent today"}}
    )
    slack.heal()

    with pytest.raises(CopyError, match="not empty"):
        copy_db(f"sqlite:///{path}", postgres_url)


async def test_the_command_says_what_it_copied_and_what_it_refuses(
    tmp_path: Path, postgres_url: str
) -> None:
    path = tmp_path / "bridge.db"
    await every_kind_of_row(path)
    env = base_env()
    code, out = await run("copy-db", f"sqlite:///{path}", postgres_url, env=env, cwd=tmp_path)
    assert code == 0 and out.startswith("copied ") and "1 conversations" in out
    code, out = await run("copy-db", f"sqlite:///{path}", postgres_url, env=env, cwd=tmp_path)
    assert (code, out.strip()) == (
        1, "hitl-bridge: the target database is not empty (users has rows)"
    )  # fmt: skip
    code, out = await run("copy-db", postgres_url, f"sqlite:///{path}", env=env, cwd=tmp_path)
    assert code == 1 and "FROM_URL must be a SQLite URL" in out
    secret = "postgresql://someone:secret-pw@127.0.0.1:1/nothing"
    code, out = await run("copy-db", f"sqlite:///{path}", secret, env=env, cwd=tmp_path)
    assert code == 1 and "could not copy" in out and "secret-pw" not in out
