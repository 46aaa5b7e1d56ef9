"""The queue as agents look at it, drawn: App Home's blocks and `/hitl`'s answers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bridge.model import Conversation, Priority, Role, Status, User
from bridge.service import Figures, Queued
from bridge.slack import queue

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
    assert 0 < len(view["blocks"]) <= queue.MAX_VIEW_BLOCKS
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
    text = queue.line(queued(3, title=WORST, name=WORST, link=link), NOW)
    assert units(text) <= 3000
    assert_entities_whole(text)
    assert text.startswith(":red_circle: *")
    assert text.endswith(" · 3m")
    assert "…" in text
    plain = queue.line(queued(1, title="Refund & <!here>", link=link), NOW)
    assert "Refund &amp; &lt;!here&gt;" in plain
    assert ("<https://example.slack.com/archives/C0CHAN/p1|Refund" in plain) is link


def test_line_untitled() -> None:
    assert "*Handoff request*" in queue.line(queued(1, title="", link=False), NOW)


def test_home_view_stays_within_limits_however_long_the_queue() -> None:
    waiting = [queued(n, title=WORST, name=WORST) for n in range(500)]
    mine = [queued(n, title=WORST, name=WORST) for n in range(500)]
    view = queue.home_view(waiting, mine, Figures(3, 60.0, None), NOW)
    assert_valid_view(view)
    dumped = json.dumps(view, ensure_ascii=False)
    assert dumped.count('"action_id": "claim"') == queue.HOME_WAITING
    assert f"_…and {500 - queue.HOME_WAITING} more_" in dumped
    assert f"_…and {500 - queue.HOME_MINE} more_" in dumped


def test_what_was_not_read_is_counted_from_the_totals() -> None:
    """The service reads only what is drawn, and says how many there are in all."""
    waiting = [queued(n) for n in range(queue.HOME_WAITING)]
    view = json.dumps(queue.home_view(waiting, [], Figures(0, None, None), NOW, (45, 0)))
    assert "*Waiting* (45)" in view and "_\\u2026and 15 more_" in view
    answer = queue.waiting_answer(waiting[: queue.ANSWER_LINES], NOW, 45)
    assert answer.endswith("_…and 25 more_")


def test_home_view_empty() -> None:
    view = queue.home_view([], [], Figures(0, None, None), NOW)
    assert_valid_view(view)
    dumped = json.dumps(view, ensure_ascii=False)
    assert "Nobody is waiting" in dumped and "no conversation" in dumped
    assert "more_" not in dumped


def test_queue_answer_is_capped_and_says_how_many_more() -> None:
    items = [queued(n, title=WORST, name=WORST) for n in range(500)]
    answer = queue.queue_answer("Waiting", items, NOW, "nobody")
    assert units(answer) <= queue.MAX_MESSAGE_TEXT
    lines = answer.split("\n")
    assert lines[0] == "*Waiting*"
    assert len(lines) == 1 + queue.ANSWER_LINES + 1
    assert lines[-1] == f"_…and {500 - queue.ANSWER_LINES} more_"
    for line in lines:
        assert_entities_whole(line)


def test_queue_answer_short_and_empty() -> None:
    answer = queue.queue_answer("Yours", [queued(1)], NOW, "none")
    assert answer.startswith("*Yours*\n• ") and "more" not in answer
    assert queue.queue_answer("Yours", [], NOW, "none") == "*Yours*\nnone"


def test_the_answers_to_hitl() -> None:
    assert queue.waiting_answer([], NOW) == "*Waiting*\nNobody is waiting. :tada:"
    assert queue.mine_answer([], NOW) == "*Yours*\nYou have no conversation now."
    assert queue.waiting_answer([queued(1)], NOW).startswith("*Waiting*\n• ")
    assert queue.mine_answer([queued(1)], NOW).startswith("*Yours*\n• ")
    assert queue.figures_text(Figures(1, 30.0, None)) == (
        "*Today*: 1 handoff · median first reply 30s · median time to resolve —"
    )
    assert "*`/hitl mine`*" in queue.HELP


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(-5, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3660, "1h 1m"), (90000, "1d 1h")],
)
def test_duration(seconds: float, expected: str) -> None:
    assert queue.duration(seconds) == expected
