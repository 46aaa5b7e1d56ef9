"""The stories, on PostgreSQL (work in progress for #16): the real bridge, started with
`BRIDGE_DATABASE_URL=postgresql://...`, between the fake Slack and the fake bot."""

from __future__ import annotations

import io

import psycopg
import pytest

from bridge import startup
from tests.conftest import ALICE, CHANNEL, StageFactory


async def test_an_agent_claims_replies_and_resolves_on_postgresql(
    make_stage: StageFactory, postgres_url: str
) -> None:
    stage = await make_stage(BRIDGE_DATABASE_URL=postgres_url)
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    conv, parent = await stage.handoff()
    await api.say(conv, "Is anybody there?", (await api.conversation(conv))["userId"])
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) >= 1)
    await slack.click(ALICE, CHANNEL, parent, "claim")
    await slack.user_says(ALICE, CHANNEL, "Hi, I'm Alice", thread_ts=parent)
    await stage.wait_buttons(parent, ["release", "resolve"])
    await slack.click(ALICE, CHANNEL, parent, "resolve")
    await bot.wait_for(lambda: len(bot.events()) == 3)
    assert [e["type"] for e in bot.events()] == ["hitlAssigned", "message", "hitlStopped"]
    assert (await api.conversation(conv))["status"] == "stopped"

    # And after a restart, on the same database.
    await stage.restart()
    assert (await api.conversation(conv))["status"] == "stopped"
    status, page = await api.get("/v1/events")
    assert status == 200 and len(page["events"]) == 3


async def test_a_bad_postgresql_url_stops_the_start_with_one_line(
    make_stage: StageFactory,
) -> None:
    unreachable = "postgresql://someone:secret-pw@127.0.0.1:1/nothing"
    try:
        await make_stage(BRIDGE_DATABASE_URL=unreachable)
    except Exception as exc:
        message = str(exc)
    else:
        raise AssertionError("the bridge started on an unreachable database")
    assert "BRIDGE_DATABASE_URL: PostgreSQL at 127.0.0.1:1/nothing" in message
    assert "secret-pw" not in message


def test_check_asks_postgresql_and_changes_nothing(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    assert startup._report_postgres(postgres_url, out) == 0
    assert "database: PostgreSQL at 127.0.0.1:" in out.getvalue()
    with psycopg.connect(postgres_url) as conn:  # nothing was created
        assert conn.execute("SELECT to_regclass('schema_version')").fetchone() == (None,)
    unreachable = "postgresql://someone:secret-pw@127.0.0.1:1/nothing"
    assert startup._report_postgres(unreachable, out) == startup.ENVIRONMENT
    said = capsys.readouterr().err
    assert "BRIDGE_DATABASE_URL: PostgreSQL at 127.0.0.1:1/nothing" in said
    assert "secret-pw" not in said
