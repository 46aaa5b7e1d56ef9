"""The parent and what the bridge posts in a thread: within every Block Kit limit, inert,
whole."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.model import (
    Action,
    Conversation,
    HistoryItem,
    Priority,
    Role,
    Status,
    StopReason,
    User,
    content_from_json,
)
from bridge.slack.blocks import ACTION_IDS, Rendered
from bridge.slack.text import escape
from bridge.slack.thread import combined, description_rest, message, parent, transcript
from tests.slack.checks import all_text, assert_within_limits, units

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
    assert [b["action_id"] for b in buttons] == [ACTION_IDS[Action.CLAIM]]
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
    assert [b["action_id"] for b in actions_of(rendered)] == [ACTION_IDS[Action.CLAIM]]


def test_parent_assigned_has_release_and_resolve() -> None:
    conv = replace(CONV, status=Status.ASSIGNED, agent_id="user_2", changed_by="U0AGENT")
    rendered = parent(conv, END_USER, AGENT)
    assert_within_limits(rendered)
    buttons = actions_of(rendered)
    assert [b["action_id"] for b in buttons] == [
        ACTION_IDS[Action.RELEASE],
        ACTION_IDS[Action.RESOLVE],
    ]
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
    assert "full description is in the thread" in all_text(rendered)


WORST_NAME = "&<>\U0001f600" * 2000


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.WAITING, None),
        (Status.ASSIGNED, None),
        (Status.STOPPED, StopReason.RESOLVED),
    ],
)
def test_parent_fits_one_post_whatever_it_holds(status: Status, reason: StopReason | None) -> None:
    """Rewritten by chat.update, the parent cannot be split: everything at its worst fits."""
    conv = replace(
        CONV,
        status=status,
        stop_reason=reason,
        stopped_at=NOW if reason else None,
        priority=Priority.URGENT,
        title="&" * 500,
        description="&<>\U0001f600 " * 8000,
        changed_by="&" * 3000,
    )
    user = replace(END_USER, name=WORST_NAME, email="&" * 3000 + "@example.com")
    assignee = replace(AGENT, name=WORST_NAME, slack_user_id=None)
    rendered = parent(conv, user, assignee, mention="<!subteam^S1>" + "&" * 5000)
    assert_within_limits(rendered)
    assert "full description is in the thread" in all_text(rendered)
    assert description_rest(conv)


def test_parent_shows_a_short_description_whole() -> None:
    conv = replace(CONV, description="x " * 3000)
    rendered = parent(conv, END_USER, None)
    assert_within_limits(rendered)
    assert "full description" not in all_text(rendered)
    assert description_rest(conv) == []
    assert description_rest(replace(CONV, description=None)) == []


@pytest.mark.parametrize(
    "description",
    [
        " ".join(f"d{n}" for n in range(3000))[:10_000],  # the bot API's longest
        "&" * 10_000,  # 50,000 escaped: cut between entities
        "\U0001f600" * 10_000,  # 20,000 units: cut between surrogate pairs
        "see <!channel> & https://ok.example/x?a=1&b=2 " * 220,
    ],
)
def test_long_description_is_cut_in_the_parent_and_whole_in_the_thread(description: str) -> None:
    conv = replace(CONV, description=description)
    rendered = parent(conv, END_USER, None)
    assert_within_limits(rendered)
    assert_no_tokens_but(rendered, set())
    shown = [b["text"]["text"] for b in rendered.blocks[1:] if b.get("block_id") is None]
    (cut,) = [b for b in rendered.blocks if b.get("block_id") == "hitl_description_cut"]
    assert cut["elements"][0]["text"] == "_… (the full description is in the thread)_"
    assert rendered.blocks.index(cut) == len(shown) + 1  # right after what is shown
    rest = description_rest(conv)
    assert rest
    for number, part in enumerate(rest, start=1):
        assert_within_limits(part)
        assert_no_tokens_but(part, set())
        if len(rest) > 1:
            assert part.text == f"Description, part {number} of {len(rest)}"
        if number > 1:
            mark = part.blocks[0]["elements"][0]["text"]
            assert mark == f"_Description, continued ({number}/{len(rest)})_"
    whole = sections(rest)
    assert whole[0].startswith("*Description*\n")
    whole[0] = whole[0].removeprefix("*Description*\n")
    expected = description_rest_source(description)
    assert re.sub(r"\s", "", "".join(whole)) == re.sub(r"\s", "", expected)
    # What the parent shows is the description's beginning.
    assert re.sub(r"\s", "", expected).startswith(re.sub(r"\s", "", "".join(shown)))


def description_rest_source(description: str) -> str:
    """The description as mrkdwn: escaped, its one bare URL made a link."""
    url = "https://ok.example/x?a=1&amp;b=2"
    return escape(description).replace(url, f"<{url}>")


# --- message ------------------------------------------------------------------------------


def one(content: Any, *, from_bot: bool = False, images: bool = True) -> Rendered:
    """The single post a short message makes."""
    (rendered,) = message(content, from_bot=from_bot, images=images)
    assert_within_limits(rendered)
    return rendered


def parts_of(content: Any, *, from_bot: bool) -> list[Rendered]:
    """The posts of a long message, each checked, each marked as the part it is."""
    parts = message(content, from_bot=from_bot)
    assert len(parts) > 1
    for number, part in enumerate(parts, start=1):
        assert_within_limits(part)
        mark = part.blocks[0]
        assert mark["type"] == "context"
        where = f"({number}/{len(parts)})" if number == 1 else f"continued ({number}/{len(parts)})"
        expected = f":robot_face: From the bot · _{where}_" if from_bot else f"_{where}_"
        assert mark["elements"][0]["text"] == expected
        assert part.text.startswith(f"{where} ")
        assert not any(b["type"] == "context" for b in part.blocks[1:])
    return parts


def sections(parts: list[Rendered]) -> list[str]:
    return [b["text"]["text"] for part in parts for b in part.blocks if b["type"] == "section"]


@pytest.mark.parametrize("attack", ATTACKS)
def test_message_text_is_inert(attack: str) -> None:
    rendered = one(text(f"hey {attack} look"))
    assert_no_tokens_but(rendered, set())
    assert "|click>" not in all_text(rendered)


def test_message_text_simple() -> None:
    rendered = one(text("Hello & welcome"))
    assert rendered.text == "Hello &amp; welcome"
    assert rendered.blocks == [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "Hello &amp; welcome", "verbatim": True},
        }
    ]


def test_message_links_bare_urls() -> None:
    rendered = one(text("see https://ok.example/a?b=1&c=2. thanks"))
    assert rendered.blocks[0]["text"]["text"] == ("see <https://ok.example/a?b=1&amp;c=2>. thanks")


def test_message_from_bot_marker() -> None:
    rendered = one(text("hi"), from_bot=True)
    first = rendered.blocks[0]
    assert first["type"] == "context"
    assert first["elements"][0]["text"] == ":robot_face: From the bot"
    assert rendered.blocks[1]["text"]["text"] == "hi"
    assert not any(b["type"] == "context" for b in one(text("hi")).blocks)


@pytest.mark.parametrize("from_bot", [False, True])
def test_message_long_text_arrives_whole_in_order(from_bot: bool) -> None:
    body = " ".join(f"w{n}" for n in range(10_000))[:39_000]  # numbered words: order shows
    parts = parts_of(text(body), from_bot=from_bot)
    assert " ".join(sections(parts)).split() == body.split()
    assert parts[0].text.startswith("(1/")
    for part in parts:  # each part's fallback shows its own text
        assert sections([part])[0][:100] in part.text


def test_message_split_never_cuts_entities() -> None:
    body = "&" * 40000  # escapes to 200,000 characters
    parts = parts_of(text(body), from_bot=False)
    for section in sections(parts):
        assert re.fullmatch(r"(&amp;)+", section)
    assert "".join(sections(parts)) == escape(body)


def test_message_escaping_at_the_boundaries() -> None:
    body = "a&<b> " * 6600  # 39,600 characters, 112,200 escaped, cut at every kind of place
    parts = parts_of(text(body), from_bot=True)
    assert " ".join(sections(parts)).split() == escape(body).split()
    for part in parts:
        assert_no_tokens_but(part, set())
    for section in sections(parts):
        assert re.fullmatch(r"([^&<>]|&amp;|&lt;|&gt;)*", section)


def test_message_astral_characters_count_double() -> None:
    body = "\U0001f600" * 20000
    parts = parts_of(text(body), from_bot=False)
    assert "".join(sections(parts)) == body
    assert all(units(section) <= 3000 for section in sections(parts))


def test_message_astral_characters_between_words() -> None:
    body = ("\U0001f600x " * 13000).strip()  # emoji and spaces across every boundary
    parts = parts_of(text(body), from_bot=True)
    assert " ".join(sections(parts)).split() == body.split()


def test_message_long_link_is_not_cut() -> None:
    body = "x" * 2990 + " https://ok.example/" + "p" * 50 + " tail"
    rendered = one(text(body))
    for block in rendered.blocks:
        section = block["text"]["text"]
        assert section.count("<") == section.count(">")


def test_message_whitespace_text() -> None:
    one(text("   "))


def test_message_image() -> None:
    content = content_from_json(
        {"type": "image", "payload": {"imageUrl": "https://ok.example/i.png", "title": "A <b>"}}
    )
    rendered = one(content)
    assert rendered.blocks == [
        {
            "type": "image",
            "image_url": "https://ok.example/i.png",
            "alt_text": "A <b>",
            "title": {"type": "plain_text", "text": "A <b>", "emoji": True},
        }
    ]
    assert rendered.text == "[image] A &lt;b&gt;"
    untitled = one(
        content_from_json({"type": "image", "payload": {"imageUrl": "https://ok.example/i"}})
    )
    assert untitled.blocks[0]["alt_text"] == "image"
    assert "title" not in untitled.blocks[0]
    assert untitled.text == "[image]"


def test_message_image_as_link() -> None:
    content = content_from_json({"type": "image", "payload": {"imageUrl": "https://ok.example/i"}})
    rendered = one(content, images=False)
    assert rendered.blocks[0]["text"]["text"] == ":frame_with_picture: <https://ok.example/i|image>"


@pytest.mark.parametrize(
    ("kind", "emoji"),
    [("audio", ":sound:"), ("video", ":film_frames:"), ("file", ":page_facing_up:")],
)
def test_message_media(kind: str, emoji: str) -> None:
    url = "https://ok.example/m"
    titled = one(
        content_from_json({"type": kind, "payload": {f"{kind}Url": url, "title": "<!here>|x"}})
    )
    assert titled.blocks[0]["text"]["text"] == f"{emoji} <{url}|&lt;!here&gt;\u2223x>"
    assert titled.text == f"[{kind}] &lt;!here&gt;|x"
    untitled = one(content_from_json({"type": kind, "payload": {f"{kind}Url": url}}))
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
    rendered = one(content, from_bot=True)
    assert [b["type"] for b in rendered.blocks] == ["context", "section", "image", "section"]
    assert rendered.text == "first\n[image]\n[file]"


def bloc(items: list[dict[str, Any]]) -> Any:
    return content_from_json({"type": "bloc", "payload": {"items": items}})


def test_message_bloc_of_50_images_from_bot_keeps_every_picture() -> None:
    images = [
        {"type": "image", "payload": {"imageUrl": f"https://ok.example/{n}", "title": f"t{n}"}}
        for n in range(50)
    ]
    parts = parts_of(bloc(images), from_bot=True)
    shown = [b["image_url"] for part in parts for b in part.blocks if b["type"] == "image"]
    assert shown == [f"https://ok.example/{n}" for n in range(50)]


def test_message_bloc_of_50_long_texts_and_images_arrives_whole() -> None:
    items: list[dict[str, Any]] = []
    for n in range(50):
        if n % 5 == 4:
            title = f"picture {n} " + "&<" * 1500  # a title longer than an image block takes
            items.append(
                {
                    "type": "image",
                    "payload": {"imageUrl": f"https://ok.example/{n}", "title": title},
                }
            )
        else:
            items.append({"type": "text", "payload": {"text": f"item{n} " + "<!channel> " * 300}})
    parts = parts_of(bloc(items), from_bot=True)
    seen: list[str] = []
    for part in parts:
        assert_no_tokens_but(part, set())
        for block in part.blocks:
            if block["type"] == "section":
                seen += re.findall(r"item\d+", block["text"]["text"])
            elif block["type"] == "image":
                seen.append(block["image_url"])
    expected = [f"https://ok.example/{n}" if n % 5 == 4 else f"item{n}" for n in range(50)]
    assert seen == expected
    words = " ".join(sections(parts)).split()
    assert words.count("&lt;!channel&gt;") == 40 * 300


def test_message_bloc_of_50_huge_texts_arrives_whole() -> None:
    item = {"type": "text", "payload": {"text": "<!channel> " * 3600}}
    parts = parts_of(bloc([item] * 50), from_bot=True)
    assert " ".join(sections(parts)).split() == ["&lt;!channel&gt;"] * 3600 * 50


def test_message_bloc_of_50_short_items_keeps_one_block_each() -> None:
    item = {"type": "text", "payload": {"text": "short"}}
    rendered = one(bloc([item] * 49), from_bot=True)
    assert len(rendered.blocks) == 50
    rendered = one(bloc([item] * 50), from_bot=True)  # packed: one post still
    assert all_text(rendered).count("short") == 100  # fallback + blocks


_PIECES = st.sampled_from(
    ["word ", "&", "<", ">", "&amp;", "\n", "   ", "\U0001f600", "é", "a" * 700, "&" * 900]
)


@settings(max_examples=25, deadline=None)
@given(st.lists(_PIECES, min_size=1, max_size=120).map("".join), st.booleans())
def test_message_property_every_part_fits_and_nothing_is_lost(body: str, from_bot: bool) -> None:
    parts = message(text(body), from_bot=from_bot)
    for part in parts:
        assert_within_limits(part)
    if len(parts) > 1:
        parts_of(text(body), from_bot=from_bot)  # marked as parts
    joined = "".join(sections(parts))
    if body.strip():
        assert re.sub(r"\s", "", joined) == re.sub(r"\s", "", escape(body))


# --- combined -----------------------------------------------------------------------------


def test_combined_in_order_with_dividers() -> None:
    rendered, count = combined([text("one"), text("two & three"), text("four")])
    assert count == 3
    assert_within_limits(rendered)
    assert [b["type"] for b in rendered.blocks] == [
        "section",
        "divider",
        "section",
        "divider",
        "section",
    ]
    assert sections([rendered]) == ["one", "two &amp; three", "four"]
    assert rendered.text == "one\ntwo &amp; three\nfour"


def test_combined_stops_at_the_block_limit() -> None:
    rendered, count = combined([text(f"m{n}") for n in range(40)])
    assert count == 25  # 25 sections and 24 dividers
    assert_within_limits(rendered)
    assert sections([rendered]) == [f"m{n}" for n in range(25)]


def test_combined_stops_at_the_text_limit() -> None:
    rendered, count = combined([text(f"{n}" + "x" * 2900) for n in range(5)])
    assert count == 3  # a fourth would make 11,600 characters of block text
    assert_within_limits(rendered)


def test_combined_stops_before_a_message_that_needs_several_posts() -> None:
    rendered, count = combined([text("short"), text("x " * 20000), text("after")])
    assert count == 1
    assert sections([rendered]) == ["short"]


def test_combined_needs_a_first_that_fits() -> None:
    with pytest.raises(ValueError):
        combined([text("x " * 20000)])


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


def test_transcript_30_turns_of_500_characters() -> None:
    """15,000 characters: more than Slack takes in one post, though far from 50 blocks."""
    items = [
        history(
            "user" if n % 2 else "bot",
            {"type": "text", "payload": {"text": f"turn{n} " + "x" * 494}},
        )
        for n in range(30)
    ]
    rendered = transcript(items, END_USER)
    assert len(rendered) == 2
    for number, part in enumerate(rendered, start=1):
        assert_within_limits(part)
        assert part.text == f"Conversation so far (30 messages), part {number} of 2"
    assert rendered[0].blocks[0]["text"]["text"].startswith("*Conversation so far*\n")
    assert rendered[1].blocks[0] == {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": "_Conversation so far, continued (2/2)_",
                "verbatim": True,
            }
        ],
        "block_id": "hitl_part",
    }
    turns = re.findall(r"turn\d+", "\n".join(sections(rendered)))
    assert turns == [f"turn{n}" for n in range(30)]


def test_transcript_one_huge_text() -> None:
    items = [history("user", {"type": "text", "payload": {"text": "y" * 40000}})]
    rendered = transcript(items, END_USER)
    for part in rendered:
        assert_within_limits(part)
    total = sum(section.count("y") for section in sections(rendered))
    assert total == 40000
