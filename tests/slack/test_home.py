"""The queue as agents see it: App Home and `/hitl`."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bridge.model import Conversation, Priority, Role, Status, User
from bridge.service import Figures, Queued
from bridge.slack import home
from tests.conftest import ALICE, BOB, CHANNEL, StageFactory


async def test_app_home_shows_the_queue_and_keeps_up(make_stage: StageFactory) -> None:
    stage = await make_stage()
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin")
    first = await api.start(user, title="Oldest")
    second = await api.start(user, title="Newer", hitlSession={"priority": "urgent"})
    await stage.parent_ts(first)
    await stage.parent_ts(second)
    assert await slack.send_event({"type": "app_home_opened", "user": ALICE, "tab": "home"}) == 200
    await slack.wait_for(lambda: ALICE in slack.home_views, timeout=10)  # published after the ack
    view = json.dumps(slack.home_views[ALICE])
    assert view.index("Oldest") < view.index("Newer") and "Erin" in view
    assert '"action_id": "claim"' in view and ":red_circle:" in view
    assert "Today" in view and "2 handoffs" in view

    # Claiming from Home claims the conversation, and the tab catches up by itself.
    home_claim = await slack.click(ALICE, CHANNEL, await stage.parent_ts(first), "claim", first)
    assert home_claim == 200
    await slack.wait_for(lambda: "Yours* (1)" in json.dumps(slack.home_views[ALICE]), timeout=10)
    assert (await api.conversation(first))["status"] == "assigned"


async def test_a_rate_limited_home_tab_catches_up_with_one_publish(
    make_stage: StageFactory,
) -> None:
    stage = await make_stage()
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin")
    await stage.parent_ts(await api.start(user, title="First"))
    slack.fail("views.publish", "ratelimited", status=429, headers={"Retry-After": "1"})
    assert await slack.send_event({"type": "app_home_opened", "user": ALICE, "tab": "home"}) == 200
    await slack.wait_for(lambda: len(slack.calls_of("views.publish")) == 1)
    for title in ("Second", "Third"):  # changes while Slack has said to wait
        await stage.parent_ts(await api.start(user, title=title))
    await slack.wait_for(lambda: ALICE in slack.home_views, timeout=10)
    await asyncio.sleep(0.5)
    # One publish once the pause is over, of the view as it is by then: the latest wins.
    assert len(slack.calls_of("views.publish")) == 2
    assert "Third" in json.dumps(slack.home_views[ALICE])


async def test_slash_command_answers_only_the_asker(make_stage: StageFactory) -> None:
    stage = await make_stage()
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin")
    conv = await api.start(user, title="Refund")
    parent = await stage.parent_ts(conv)
    assert await slack.slash_command(BOB, CHANNEL, "/hitl") == 200
    assert "Refund" in slack.ephemerals[-1].text and "Erin" in slack.ephemerals[-1].text
    assert slack.ephemerals[-1].user == BOB
    await slack.user_says(ALICE, CHANNEL, "on it", thread_ts=parent)
    await stage.wait_buttons(parent, ["release", "resolve"])
    await slack.slash_command(ALICE, CHANNEL, "/hitl", "mine")
    assert "Yours" in slack.ephemerals[-1].text and "Refund" in slack.ephemerals[-1].text
    await slack.slash_command(BOB, CHANNEL, "/hitl", "mine")
    assert "no conversation" in slack.ephemerals[-1].text
    await slack.slash_command(BOB, CHANNEL, "/hitl", "stats")
    assert (
        "1 handoff" in slack.ephemerals[-1].text
        and "median first reply" in slack.ephemerals[-1].text
    )
    await slack.slash_command(BOB, CHANNEL, "/hitl", "what")
    assert "/hitl mine" in slack.ephemerals[-1].text
    assert len(slack.messages(CHANNEL)) == 2  # nothing was posted for everyone to see


# --- the pure drawing ---------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 22, 21, 4, tzinfo=UTC)
WORST = "&<>\U0001f600|" * 400  # escapes to far more than a section takes


def queued(n: int, *, title: str | None = None, name: str = "Erin", link: bool = True) -> Queued:
    conv = Conversation(
        id=f"conv_{n}",
        user_id="user_1",
        status=Status.WAITING,
        channel="C0CHAN",
        thread_ts="1.2",
        permalink=f"https://example.slack.com/archives/C0CHAN/p{n}" if link else None,
        title=title if title is not None else f"Title {n}",
        description=None,
        agent_id=None,
        changed_by=None,
        stop_reason=None,
        created_at=NOW - timedelta(minutes=n),
        waiting_since=NOW - timedelta(minutes=n),
        stopped_at=None,
        priority=Priority.URGENT if n % 3 == 0 else None,
    )
    return Queued(conv, User("user_1", Role.END_USER, name, None, None))


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def texts(value: Any) -> list[str]:
    """Every text string in a view, however deep."""
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k == "text" and isinstance(v, str)]
        return found + [t for v in value.values() for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def assert_valid_view(view: dict[str, Any]) -> None:
    assert 0 < len(view["blocks"]) <= home.MAX_VIEW_BLOCKS
    View(**view).validate_json()
    for block in view["blocks"]:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()
    for text in texts(view):
        assert 0 < units(text) <= 3000
        assert_entities_whole(text)


def assert_entities_whole(text: str) -> None:
    """Every `&` starts an entity, and every `<` is closed: no cut landed inside either."""
    assert re.fullmatch(r"([^&]|&amp;|&lt;|&gt;)*", text), text[-50:]
    assert text.count("<") == text.count(">"), text[-50:]


@pytest.mark.parametrize("link", [True, False])
def test_line_cuts_long_titles_and_names_before_escaping(link: bool) -> None:
    text = home.line(queued(3, title=WORST, name=WORST, link=link), NOW)
    assert units(text) <= 3000
    assert_entities_whole(text)
    assert text.startswith(":red_circle: *")
    assert text.endswith(" · 3m")
    assert "…" in text
    plain = home.line(queued(1, title="Refund & <!here>", link=link), NOW)
    assert "Refund &amp; &lt;!here&gt;" in plain
    assert ("<https://example.slack.com/archives/C0CHAN/p1|Refund" in plain) is link


def test_line_untitled() -> None:
    assert "*Handoff request*" in home.line(queued(1, title="", link=False), NOW)


def test_home_view_stays_within_limits_however_long_the_queue() -> None:
    waiting = [queued(n, title=WORST, name=WORST) for n in range(500)]
    mine = [queued(n, title=WORST, name=WORST) for n in range(500)]
    view = home.home_view(waiting, mine, Figures(3, 60.0, None), NOW)
    assert_valid_view(view)
    dumped = json.dumps(view, ensure_ascii=False)
    assert dumped.count('"action_id": "claim"') == home.HOME_WAITING
    assert f"_…and {500 - home.HOME_WAITING} more_" in dumped
    assert f"_…and {500 - home.HOME_MINE} more_" in dumped


def test_home_view_empty() -> None:
    view = home.home_view([], [], Figures(0, None, None), NOW)
    assert_valid_view(view)
    dumped = json.dumps(view, ensure_ascii=False)
    assert "Nobody is waiting" in dumped and "no conversation" in dumped
    assert "more_" not in dumped


def test_queue_answer_is_capped_and_says_how_many_more() -> None:
    items = [queued(n, title=WORST, name=WORST) for n in range(500)]
    answer = home.queue_answer("Waiting", items, NOW, "nobody")
    assert units(answer) <= home.MAX_MESSAGE_TEXT
    lines = answer.split("\n")
    assert lines[0] == "*Waiting*"
    assert len(lines) == 1 + home.ANSWER_LINES + 1
    assert lines[-1] == f"_…and {500 - home.ANSWER_LINES} more_"
    for line in lines:
        assert_entities_whole(line)


def test_queue_answer_short_and_empty() -> None:
    answer = home.queue_answer("Yours", [queued(1)], NOW, "none")
    assert answer.startswith("*Yours*\n• ") and "more" not in answer
    assert home.queue_answer("Yours", [], NOW, "none") == "*Yours*\nnone"
