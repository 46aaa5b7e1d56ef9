"""Block Kit pieces: lengths as Slack counts them, cuts that break nothing, action ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.model import Action, Role, User
from bridge.slack.blocks import (
    ACTION_IDS,
    ACTIONS,
    button,
    call_on,
    local_date,
    outside_text,
    pack,
    person_name,
    text_size,
    truncate_mrkdwn,
    truncate_plain,
    units,
    user_mention,
)

# --- action ids ---------------------------------------------------------------------------


def test_each_action_has_one_action_id_and_reads_back() -> None:
    # Buttons already posted in Slack carry these: they must never change.
    assert ACTION_IDS == {
        Action.CLAIM: "claim",
        Action.RELEASE: "release",
        Action.RESOLVE: "resolve",
    }
    assert {ACTIONS[action_id] for action_id in ACTION_IDS.values()} == set(Action)


def test_button_carries_its_action_id_and_value() -> None:
    assert button("Claim", Action.CLAIM, "conv_1", "primary") == {
        "type": "button",
        "action_id": "claim",
        "text": {"type": "plain_text", "text": "Claim", "emoji": True},
        "value": "conv_1",
        "style": "primary",
    }
    assert "style" not in button("Release", Action.RELEASE, "conv_1")


# --- lengths and cutting ------------------------------------------------------------------


def test_units_count_utf16() -> None:
    assert units("abc") == 3
    assert units("é\U0001f600") == 3


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("a &amp; b", 7, "a …"),  # never half an entity
        ("see <https://x.io|x> now", 12, "see …"),  # never half a link
        ("\U0001f600" * 4, 6, "\U0001f600\U0001f600…"),  # never half a surrogate pair
    ],
)
def test_truncate_mrkdwn(text: str, limit: int, expected: str) -> None:
    assert truncate_mrkdwn(text, limit) == expected
    assert units(truncate_mrkdwn(text, limit)) <= limit


def test_truncate_plain() -> None:
    assert truncate_plain("abcdef", 4) == "abc…"
    assert truncate_plain("abc", 3) == "abc"


def test_pack_joins_lines_and_splits_long_ones() -> None:
    assert pack(["a", "b"], 10) == ["a\nb"]
    assert pack(["aaaa", "bbbb"], 6) == ["aaaa", "bbbb"]
    assert all(units(chunk) <= 10 for chunk in pack(["word " * 20], 10))


# --- outside text, people, dates ------------------------------------------------------------


def test_outside_text_is_inert_and_links_bare_urls() -> None:
    assert outside_text("<!here> & see https://x.io/a.") == (
        "&lt;!here&gt; &amp; see <https://x.io/a>."
    )


def test_people_and_mentions() -> None:
    assert person_name(User("u", Role.END_USER, "A <b>" + "x" * 200, None, None)).startswith(
        "A &lt;b&gt;x"
    )
    assert user_mention("U0AGENT") == "<@U0AGENT>"
    assert user_mention("<!channel>") == "&lt;!channel&gt;"
    assert call_on("here") == "<!here>"
    assert call_on("channel") == "<!channel>"
    assert call_on("S0GROUP") == "<!subteam^S0GROUP>"
    assert call_on(None) == call_on("") == ""


def test_local_date_falls_back_to_iso() -> None:
    moment = datetime(2026, 11, 23, 22, 21, 4, tzinfo=UTC)
    assert local_date(moment) == (
        f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|2026-11-23T22:21:04Z>"
    )


# --- text size ----------------------------------------------------------------------------


def test_text_size_counts_every_text_however_deep() -> None:
    plain = {"type": "plain_text", "text": "abc"}  # 3
    found: list[dict[str, Any]] = [
        {"type": "header", "text": plain},  # 3
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "\U0001f600é"},  # 3 UTF-16 units
            "fields": [plain, plain],  # 6
            "accessory": {"type": "button", "text": plain, "value": "not text " * 10},  # 3
        },
        {
            "type": "context",
            "elements": [plain, {"type": "image", "image_url": "u", "alt_text": "a"}],
        },
        {"type": "image", "image_url": "https://x", "alt_text": "alt", "title": plain},  # 3
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": plain,  # 3
                    "confirm": {"title": plain, "text": plain, "confirm": plain, "deny": plain},
                }
            ],
        },
        {"type": "divider"},
    ]
    assert text_size(found) == 3 + 3 + 6 + 3 + 3 + 3 + 3 + 12
    assert text_size([]) == 0
