import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from bridge.model import (
    Conversation,
    HistoryItem,
    Role,
    Status,
    StopReason,
    User,
    content_from_json,
)
from bridge.slack import blocks
from bridge.slack.blocks import (
    ACTION_CLAIM,
    ACTION_RELEASE,
    ACTION_RESOLVE,
    Rendered,
    message,
    notice,
    parent,
    transcript,
)

NOW = datetime(2026, 11, 23, 22, 21, 4, tzinfo=UTC)
END_USER = User("user_1", Role.END_USER, "Jane <!channel> Doe", None, "jane@example.com")
AGENT = User("user_2", Role.AGENT, "Bob", None, None, slack_user_id="U0AGENT")
CONV = Conversation(
    id="conv_abc",
    user_id="user_1",
    status=Status.WAITING,
    channel="C0CHAN",
    thread_ts=None,
    permalink=None,
    title="Refund <!here> please",
    description="Customer wants a refund for order #42 & more",
    agent_id=None,
    changed_by=None,
    stop_reason=None,
    created_at=NOW,
    waiting_since=NOW,
    stopped_at=None,
)
ATTACKS = ["<!channel>", "<!here>", "<@U123>", "<https://evil.example|click>"]
LIVE_TOKEN = re.compile(r"<[^<>]*>")

TEXT_LIMITS = {"header": blocks.MAX_HEADER_TEXT, "section": blocks.MAX_SECTION_TEXT}


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def text_objects(block: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, text object) for every text object in a block."""
    kind = block["type"]
    if "text" in block:
        yield kind, block["text"]
    for field in block.get("fields", []):
        yield "field", field
    if kind == "context":
        for element in block["elements"]:
            if element["type"] in ("mrkdwn", "plain_text"):
                yield "context", element
    if kind == "actions":
        for element in block["elements"]:
            yield "button", element["text"]
    if kind == "image" and "title" in block:
        yield "image_title", block["title"]


LIMITS = {
    "header": 150,
    "section": 3000,
    "field": 2000,
    "context": 3000,
    "button": 75,
    "image_title": 2000,
}


def assert_within_limits(rendered: Rendered) -> None:
    assert 0 < len(rendered.blocks) <= 50
    assert units(rendered.text) <= 4000
    ids = [b["block_id"] for b in rendered.blocks if "block_id" in b]
    assert len(ids) == len(set(ids))
    for block in rendered.blocks:
        if block["type"] == "context":
            assert 0 < len(block["elements"]) <= 10
        if block["type"] == "image":
            assert 0 < units(block["alt_text"]) <= 2000
            assert len(block["image_url"]) <= 3000
        for where, obj in text_objects(block):
            assert obj["type"] in ("mrkdwn", "plain_text")
            assert obj["text"].strip(), (where, obj)
            assert units(obj["text"]) <= LIMITS[where], (where, units(obj["text"]))
    json.dumps(rendered.blocks)  # serialisable as is


def all_text(rendered: Rendered, *, mrkdwn_only: bool = False) -> str:
    parts = [rendered.text]
    for block in rendered.blocks:
        parts.extend(
            obj["text"]
            for _, obj in text_objects(block)
            if obj["type"] == "mrkdwn" or not mrkdwn_only
        )
    return "\n".join(parts)


def assert_no_tokens_but(rendered: Rendered, allowed: set[str]) -> None:
    """No live mrkdwn token except those allowed, dates, and links showing their own URL."""
    for token in LIVE_TOKEN.findall(all_text(rendered, mrkdwn_only=True)):
        honest_link = token.startswith("<http") and "|" not in token
        bridge_made = token.startswith(("<!date^", "<mailto:", "<https://ok."))
        assert token in allowed or honest_link or bridge_made, token


def actions_of(rendered: Rendered) -> list[dict[str, Any]]:
    found = [b for b in rendered.blocks if b["type"] == "actions"]
    assert len(found) <= 1
    if not found:
        return []
    assert found[0]["block_id"] == "hitl_actions"
    return list(found[0]["elements"])


def status_text(rendered: Rendered) -> str:
    (status,) = [b for b in rendered.blocks if b.get("block_id") == "hitl_status"]
    return str(status["text"]["text"])


def text(value: str) -> Any:
    return content_from_json({"type": "text", "payload": {"text": value}})


# --- parent -------------------------------------------------------------------------------


def test_parent_waiting_has_claim_only() -> None:
    rendered = parent(CONV, END_USER, None)
    assert_within_limits(rendered)
    buttons = actions_of(rendered)
    assert [b["action_id"] for b in buttons] == [ACTION_CLAIM]
    assert buttons[0]["text"]["text"] == "Claim"
    assert buttons[0]["value"] == "conv_abc"
    assert buttons[0]["style"] == "primary"
    assert status_text(rendered) == ":hourglass_flowing_sand: *Waiting for an agent*"
    assert rendered.text.startswith("Handoff: Refund")
    assert "waiting" in rendered.text


def test_parent_shows_title_description_and_user() -> None:
    rendered = parent(CONV, END_USER, None)
    header = rendered.blocks[0]
    assert header["type"] == "header"
    assert header["text"] == {"type": "plain_text", "text": "Refund <!here> please", "emoji": True}
    body = all_text(rendered)
    assert "Customer wants a refund for order #42 &amp; more" in body
    assert "Jane &lt;!channel&gt; Doe" in body
    assert "<mailto:jane@example.com|jane@example.com>" in body
    assert_no_tokens_but(rendered, set())


def test_parent_defaults() -> None:
    conv = replace(CONV, title=None, description=None)
    user = replace(END_USER, email=None)
    rendered = parent(conv, user, None)
    assert rendered.blocks[0]["text"]["text"] == "Handoff request"
    assert "mailto" not in all_text(rendered)
    assert "email" not in all_text(rendered).lower()
    assert len(rendered.blocks) == 4  # header, user, status, actions


def test_parent_unknown_user() -> None:
    rendered = parent(CONV, None, None)
    assert_within_limits(rendered)
    assert "not known yet" in all_text(rendered)


def test_parent_waiting_after_release() -> None:
    rendered = parent(replace(CONV, changed_by="U0REL"), END_USER, None)
    assert status_text(rendered) == (
        ":hourglass_flowing_sand: *Waiting for an agent* · released by <@U0REL>"
    )
    assert [b["action_id"] for b in actions_of(rendered)] == [ACTION_CLAIM]


def test_parent_assigned_has_release_and_resolve() -> None:
    conv = replace(CONV, status=Status.ASSIGNED, agent_id="user_2", changed_by="U0AGENT")
    rendered = parent(conv, END_USER, AGENT)
    assert_within_limits(rendered)
    buttons = actions_of(rendered)
    assert [b["action_id"] for b in buttons] == [ACTION_RELEASE, ACTION_RESOLVE]
    assert [b["text"]["text"] for b in buttons] == ["Release", "Resolve"]
    assert all(b["value"] == "conv_abc" for b in buttons)
    assert buttons[1]["style"] == "primary"
    assert "style" not in buttons[0]
    assert status_text(rendered) == ":raising_hand: *Assigned to <@U0AGENT>*"


@pytest.mark.parametrize(
    ("reason", "changed_by", "expected"),
    [
        (StopReason.RESOLVED, "U0AGENT", ":white_check_mark: *Resolved by <@U0AGENT>*"),
        (StopReason.BOT, None, ":robot_face: *Ended by the bot*"),
        (StopReason.TIMEOUT, None, ":alarm_clock: *Closed: nobody claimed it in time*"),
    ],
)
def test_parent_stopped_has_no_actions(
    reason: StopReason, changed_by: str | None, expected: str
) -> None:
    conv = replace(
        CONV, status=Status.STOPPED, stop_reason=reason, changed_by=changed_by, stopped_at=NOW
    )
    rendered = parent(conv, END_USER, AGENT if reason is StopReason.RESOLVED else None)
    assert_within_limits(rendered)
    assert actions_of(rendered) == []
    assert status_text(rendered).startswith(expected)
    assert "2026-11-23T22:21:04Z" in status_text(rendered)  # the stop time's fallback


def test_parent_rejects_odd_changed_by() -> None:
    rendered = parent(replace(CONV, changed_by="<!channel>"), END_USER, None)
    assert "<!channel>" not in all_text(rendered)


def test_parent_huge_inputs_fit() -> None:
    conv = replace(CONV, title="T" * 1000, description="&<>" * 30000)
    user = replace(END_USER, name="N" * 5000, email="e" * 3000 + "@example.com")
    rendered = parent(conv, user, None)
    assert_within_limits(rendered)
    assert rendered.blocks[0]["text"]["text"].endswith("…")
    assert actions_of(rendered)  # the buttons survive truncation


# --- message ------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ATTACKS)
def test_message_text_is_inert(attack: str) -> None:
    rendered = message(text(f"hey {attack} look"), from_bot=False)
    assert_within_limits(rendered)
    assert_no_tokens_but(rendered, set())
    assert "|click>" not in all_text(rendered)


def test_message_text_simple() -> None:
    rendered = message(text("Hello & welcome"), from_bot=False)
    assert rendered.text == "Hello &amp; welcome"
    assert rendered.blocks == [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "Hello &amp; welcome", "verbatim": True},
        }
    ]


def test_message_links_bare_urls() -> None:
    rendered = message(text("see https://ok.example/a?b=1&c=2. thanks"), from_bot=False)
    assert rendered.blocks[0]["text"]["text"] == ("see <https://ok.example/a?b=1&amp;c=2>. thanks")


def test_message_from_bot_marker() -> None:
    rendered = message(text("hi"), from_bot=True)
    first = rendered.blocks[0]
    assert first["type"] == "context"
    assert first["elements"][0]["text"] == ":robot_face: From the bot"
    assert rendered.blocks[1]["text"]["text"] == "hi"
    assert not any(b["type"] == "context" for b in message(text("hi"), from_bot=False).blocks)


def test_message_long_text_is_split_not_lost() -> None:
    body = ("word " * 8000).strip()  # 39,999 characters
    rendered = message(text(body), from_bot=True)
    assert_within_limits(rendered)
    sections = [b["text"]["text"] for b in rendered.blocks if b["type"] == "section"]
    assert len(sections) > 10
    assert " ".join(sections).split() == body.split()
    assert rendered.text.endswith("…")


def test_message_split_never_cuts_entities() -> None:
    body = "&" * 40000  # escapes to 200,000 characters: more than 50 sections can hold
    rendered = message(text(body), from_bot=False)
    assert_within_limits(rendered)
    sections = [b["text"]["text"] for b in rendered.blocks]
    for section in sections[:-1]:
        assert re.fullmatch(r"(&amp;)+", section)
    assert "truncated" in sections[-1]
    assert re.fullmatch(r"(&amp;)+…", rendered.text)


def test_message_astral_characters_count_double() -> None:
    rendered = message(text("\U0001f600" * 20000), from_bot=False)
    assert_within_limits(rendered)


def test_message_long_link_is_not_cut() -> None:
    body = "x" * 2990 + " https://ok.example/" + "p" * 50 + " tail"
    rendered = message(text(body), from_bot=False)
    assert_within_limits(rendered)
    for block in rendered.blocks:
        section = block["text"]["text"]
        assert section.count("<") == section.count(">")


def test_message_whitespace_text() -> None:
    rendered = message(text("   "), from_bot=False)
    assert_within_limits(rendered)


def test_message_image() -> None:
    content = content_from_json(
        {"type": "image", "payload": {"imageUrl": "https://ok.example/i.png", "title": "A <b>"}}
    )
    rendered = message(content, from_bot=False)
    assert rendered.blocks == [
        {
            "type": "image",
            "image_url": "https://ok.example/i.png",
            "alt_text": "A <b>",
            "title": {"type": "plain_text", "text": "A <b>", "emoji": True},
        }
    ]
    assert rendered.text == "[image] A &lt;b&gt;"
    untitled = message(
        content_from_json({"type": "image", "payload": {"imageUrl": "https://ok.example/i"}}),
        from_bot=False,
    )
    assert untitled.blocks[0]["alt_text"] == "image"
    assert "title" not in untitled.blocks[0]
    assert untitled.text == "[image]"


def test_message_image_as_link() -> None:
    content = content_from_json({"type": "image", "payload": {"imageUrl": "https://ok.example/i"}})
    rendered = message(content, from_bot=False, images=False)
    assert rendered.blocks[0]["text"]["text"] == ":frame_with_picture: <https://ok.example/i|image>"


@pytest.mark.parametrize(
    ("kind", "emoji"),
    [("audio", ":sound:"), ("video", ":film_frames:"), ("file", ":page_facing_up:")],
)
def test_message_media(kind: str, emoji: str) -> None:
    url = "https://ok.example/m"
    titled = message(
        content_from_json({"type": kind, "payload": {f"{kind}Url": url, "title": "<!here>|x"}}),
        from_bot=False,
    )
    assert titled.blocks[0]["text"]["text"] == f"{emoji} <{url}|&lt;!here&gt;\u2223x>"
    assert titled.text == f"[{kind}] &lt;!here&gt;|x"
    untitled = message(
        content_from_json({"type": kind, "payload": {f"{kind}Url": url}}), from_bot=False
    )
    assert untitled.blocks[0]["text"]["text"] == f"{emoji} <{url}|{kind}>"


def test_message_bloc_in_order() -> None:
    content = content_from_json(
        {
            "type": "bloc",
            "payload": {
                "items": [
                    {"type": "text", "payload": {"text": "first"}},
                    {"type": "image", "payload": {"imageUrl": "https://ok.example/i"}},
                    {"type": "file", "payload": {"fileUrl": "https://ok.example/f"}},
                ]
            },
        }
    )
    rendered = message(content, from_bot=True)
    assert [b["type"] for b in rendered.blocks] == ["context", "section", "image", "section"]
    assert rendered.text == "first\n[image]\n[file]"


def bloc(items: list[dict[str, Any]]) -> Any:
    return content_from_json({"type": "bloc", "payload": {"items": items}})


def test_message_bloc_of_50_images_from_bot_fits() -> None:
    image = {"type": "image", "payload": {"imageUrl": "https://ok.example/i", "title": "t"}}
    rendered = message(bloc([image] * 50), from_bot=True)
    assert_within_limits(rendered)
    # 51 blocks would not do: the pictures fall back to links, none lost.
    assert all_text(rendered).count("https://ok.example/i") == 50


def test_message_bloc_of_50_long_texts_fits() -> None:
    item = {"type": "text", "payload": {"text": "<!channel> " * 3600}}
    rendered = message(bloc([item] * 50), from_bot=True)
    assert_within_limits(rendered)
    assert_no_tokens_but(rendered, set())


def test_message_bloc_of_50_short_items_keeps_one_block_each() -> None:
    item = {"type": "text", "payload": {"text": "short"}}
    rendered = message(bloc([item] * 49), from_bot=True)
    assert len(rendered.blocks) == 50
    rendered = message(bloc([item] * 50), from_bot=True)
    assert_within_limits(rendered)
    assert all_text(rendered).count("short") >= 100  # fallback + blocks


# --- transcript ---------------------------------------------------------------------------


def history(source: Literal["user", "bot"], content: dict[str, Any]) -> HistoryItem:
    return HistoryItem(source, content_from_json(content))


def test_transcript_empty() -> None:
    assert transcript([], END_USER) == []


def test_transcript_lines() -> None:
    items = [
        history("user", {"type": "text", "payload": {"text": "I need help <!here>"}}),
        history("bot", {"type": "text", "payload": {"text": "Sure"}}),
        history("bot", {"type": "video", "payload": {"videoUrl": "https://ok.example/v"}}),
        history(
            "user",
            {
                "type": "bloc",
                "payload": {
                    "items": [
                        {"type": "text", "payload": {"text": "look"}},
                        {"type": "image", "payload": {"imageUrl": "https://ok.example/i"}},
                    ]
                },
            },
        ),
    ]
    (rendered,) = transcript(items, END_USER)
    assert_within_limits(rendered)
    assert len(rendered.blocks) == 1
    assert rendered.blocks[0]["text"]["text"] == "\n".join(
        [
            "*Conversation so far*",
            "*Jane &lt;!channel&gt; Doe:* I need help &lt;!here&gt;",
            "*Bot:* Sure",
            "*Bot:* :film_frames: <https://ok.example/v|video>",
            "*Jane &lt;!channel&gt; Doe:* look",
            ":frame_with_picture: <https://ok.example/i|image>",
        ]
    )
    assert "Conversation so far" in rendered.text
    assert_no_tokens_but(rendered, set())


def test_transcript_500_items() -> None:
    items = [
        history(
            "user" if n % 2 else "bot",
            {"type": "text", "payload": {"text": f"message {n} " + "<!channel> " * 300}},
        )
        for n in range(500)
    ]
    rendered = transcript(items, END_USER)
    assert len(rendered) > 1
    for part in rendered:
        assert_within_limits(part)
        assert_no_tokens_but(part, set())
    assert rendered[0].blocks[0]["text"]["text"].startswith("*Conversation so far*")
    everything = "\n".join(all_text(part) for part in rendered)
    for n in range(500):
        assert f"message {n} " in everything


def test_transcript_one_huge_text() -> None:
    items = [history("user", {"type": "text", "payload": {"text": "y" * 40000}})]
    rendered = transcript(items, END_USER)
    for part in rendered:
        assert_within_limits(part)
    total = sum(b["text"]["text"].count("y") for part in rendered for b in part.blocks)
    assert total == 40000


# --- notice -------------------------------------------------------------------------------


def test_notice() -> None:
    rendered = notice("Claimed by <@U1> already")
    assert rendered.text == "Claimed by <@U1> already"
    assert rendered.blocks == [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "Claimed by <@U1> already", "verbatim": True},
        }
    ]
    assert_within_limits(notice("x" * 10000))
