"""Migrations bring an older database forward, rows queued before the upgrade included."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from bridge.events import React, Receipt, from_json
from bridge.store.migrations import MIGRATIONS
from bridge.store.sqlite import SqliteStore


def at_version(path: Path, version: int) -> None:
    with closing(sqlite3.connect(path)) as db:
        for number, script in enumerate(MIGRATIONS[:version], start=1):
            db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")


async def test_reactions_queued_before_3_say_what_they_mean(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    at_version(path, 2)
    with closing(sqlite3.connect(path)) as db, db:
        for n, name in enumerate(["lock", "warning", "white_check_mark", "thumbsup"]):
            payload = {"channel": "C1", "ts": f"{n}.000001", "name": name}
            db.execute(
                "INSERT INTO outbox (target, conversation_id, kind, payload, next_at, created_at)"
                " VALUES ('slack-aside', ?, 'react', ?, 0, 0)",
                (f"conv_{n}", json.dumps(payload)),
            )
        db.execute(
            "INSERT INTO outbox (target, conversation_id, kind, payload, next_at, created_at)"
            " VALUES ('slack', 'conv_9', 'message', ?, 0, 0)",
            (json.dumps({"channel": "C1", "messageId": "msg_1", "name": "kept"}),),
        )

    store = await SqliteStore.open(path)
    await store.close()
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT kind, payload FROM outbox ORDER BY id").fetchall()
    reactions = [from_json(kind, json.loads(payload)) for kind, payload in rows[:4]]
    assert reactions == [
        React(ts="0.000001", receipt=Receipt.INTERNAL),
        React(ts="1.000001", receipt=Receipt.UNDELIVERED),
        React(ts="2.000001", receipt=Receipt.TAKEN),
        React(ts="3.000001", receipt=Receipt.TAKEN),  # whatever emoji the receipt was then
    ]
    assert json.loads(rows[4][1])["name"] == "kept"  # other kinds are left alone
