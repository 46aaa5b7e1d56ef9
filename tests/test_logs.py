"""The logs of a whole handoff: conversation ids, no secrets ever, no message text above DEBUG."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bridge import logs
from tests.conftest import ALICE, API_TOKEN, CHANNEL, StageFactory

SECRET_TEXT = "my card number is 4111 1111 1111 1111"
AGENT_TEXT = "thanks, I see the card number"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logs.NOISY}
    stream = io.StringIO()
    logs.setup("DEBUG", "json", stream)
    yield stream
    root.handlers[:], root.level = saved
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


async def test_logs_of_a_full_run_hold_no_secret(
    make_stage: StageFactory, captured: io.StringIO
) -> None:
    stage = await make_stage()
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    user = await api.create_user("Erin", email="erin@example.com")
    conv = await api.start(user, title="Card problem")
    parent = await stage.parent_ts(conv)
    slack.fail("chat.postMessage", "internal_error", status=500)
    await api.say(conv, SECRET_TEXT, user_id=user)
    bot.fail_next(1)
    await slack.user_says(ALICE, CHANNEL, AGENT_TEXT, thread_ts=parent)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 1)
    await bot.wait_for(lambda: len(bot.events()) == 2)
    await stage.wait_buttons(parent, ["release", "resolve"])
    await slack.click(ALICE, CHANNEL, parent, "resolve")
    await bot.wait_for(lambda: len(bot.events()) == 3)
    api.token = "wrong"
    await api.get("/v1/events")
    await stage.bridge.stop()

    entries = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert any(e["level"] == "WARNING" for e in entries)  # the retries were logged
    assert any(e.get("conversation") == conv for e in entries)
    secrets = [
        slack.bot_token,
        slack.signing_secret,
        API_TOKEN,
        bot.secret,
        bot.secret.removeprefix("whsec_"),
    ]
    everything = captured.getvalue()
    for secret in secrets:
        assert secret not in everything
    above_debug = " ".join(e["message"] for e in entries if e["level"] != "DEBUG")
    for text in (SECRET_TEXT, AGENT_TEXT, "erin@example.com"):
        assert text not in above_debug
