"""An operator backs up the database of a bridge that keeps working meanwhile."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from tests.conftest import Stage, environ
from tests.test_cli import base_env, run


async def test_a_live_bridge_is_backed_up_whole_and_a_backup_is_never_overwritten(
    stage: Stage, tmp_path: Path
) -> None:
    api = stage.api
    user = await api.create_user()
    conv = await api.start(user)
    busy = True

    async def keep_talking() -> int:
        said = 0
        while busy:
            await api.say(conv, f"still here {said}", user_id=user)
            said += 1
        return said

    talking = asyncio.create_task(keep_talking())
    # Where the database is, and nothing else: a copy needs no Slack token.
    database = environ(stage.slack, stage.bot, tmp_path / "bridge.db")["BRIDGE_DATABASE_URL"]
    env = base_env() | {"BRIDGE_DATABASE_URL": database}
    copy = tmp_path / "copies" / "monday.db"
    copy.parent.mkdir()
    code, out = await run("backup", str(copy), env=env, cwd=tmp_path)
    busy = False
    said = await talking
    assert code == 0, out
    assert said > 0  # the bridge took messages while the copy was made

    assert sorted(p.name for p in copy.parent.iterdir()) == ["monday.db"]  # one whole file
    with closing(sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        found = db.execute("SELECT id FROM conversations WHERE id = ?", (conv,)).fetchall()
        assert found == [(conv,)]

    code, out = await run("backup", str(copy), env=env, cwd=tmp_path)
    assert code == 1
    assert out.strip() == f"hitl-bridge: {copy} exists already: give a new file name"
    nowhere = tmp_path / "no-such-folder"
    code, out = await run("backup", str(nowhere / "b.db"), env=env, cwd=tmp_path)
    assert code == 1
    assert out.strip() == f"hitl-bridge: {nowhere} is not a folder: make it first"
    code, out = await run("backup", str(copy), env=env | {"BRIDGE_DATABASE_URL": "x"}, cwd=tmp_path)
    assert code == 2 and out.startswith("hitl-bridge: BRIDGE_DATABASE_URL: must be a SQLite URL")
    postgres = {"BRIDGE_DATABASE_URL": "postgresql://u:pw@db.example.com/bridge"}
    code, out = await run("backup", str(copy), env=env | postgres, cwd=tmp_path)
    assert code == 2 and "back PostgreSQL up with pg_dump" in out
