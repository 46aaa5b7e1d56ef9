"""Slack's rules, as a real workspace applies them: what it takes, what it refuses for good,
what means "done already", its rate tiers, and its 3-second answer."""

from __future__ import annotations

import time
from typing import Any

from bridge.slack.blocks import MAX_POST_TEXT, text_size
from tests.conftest import ALICE, BOB, CHANNEL, Stage, StageFactory


async def test_long_content_reaches_the_thread_in_full_and_in_order(stage: Stage) -> None:
    slack, api, bot = stage.slack, stage.api, stage.bot
    assert bot is not None
    user = await api.create_user("Erin")
    turns = [
        {
            "source": {"type": "user", "userId": user} if n % 2 else {"type": "bot"},
            "type": "text",
            "payload": {"text": f"turn {n:02} " + "words " * 82},
        }
        for n in range(30)
    ]
    conv = await api.start(user, history=turns, description="why: " + "d" * 9990)
    parent = await stage.parent_ts(conv)
    await api.say(conv, "".join(f"<{n:05}>" for n in range(5571)), user_id=user)  # 39,000
    bloc = [{"type": "text", "payload": {"text": f"item {n:02} " + "i" * 900}} for n in range(50)]
    status, _ = await api.post(
        f"/v1/conversations/{conv}/messages",
        {"type": "bloc", "payload": {"items": bloc}, "userId": user},
    )
    assert status == 202
    await api.say(conv, "and one more thing", user_id=user)
    await slack.wait_for(lambda: "and one more thing" in stage.said(parent, "Erin"), 20)

    for m in [*slack.thread(CHANNEL, parent), slack.message(CHANNEL, parent)]:
        assert len(m.blocks or []) <= 50 and text_size(m.blocks or []) <= MAX_POST_TEXT
    bridge_said = stage.said(parent, None)
    assert bridge_said.count("d") >= 9990  # the whole description, in the thread
    at = [bridge_said.index(f"turn {n:02} ") for n in range(30)]
    assert at == sorted(at)
    erin = stage.said(parent, "Erin").replace("&lt;", "<").replace("&gt;", ">")
    numbers = [erin.index(f"<{n:05}>") for n in range(0, 5571, 7)]
    assert numbers == sorted(numbers)
    items = [erin.index(f"item {n:02} ") for n in range(50)]
    assert items == sorted(items) and items[0] > numbers[-1]
    assert erin.index("and one more thing") > items[-1]
    assert (await api.conversation(conv))["deadLetters"] == []

    # The conversation flows on: an agent answers, the bot hears it.
    await slack.user_says(ALICE, CHANNEL, "on it", thread_ts=parent)
    await bot.wait_for(lambda: [e["type"] for e in bot.events()] == ["hitlAssigned", "message"])


async def test_a_long_description_without_history_is_shown_whole(stage: Stage) -> None:
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin")
    words = " ".join(f"w{n:04}" for n in range(1600))  # 9,599 characters
    conv = await api.start(user, description=words)
    parent = await stage.parent_ts(conv)
    await slack.wait_for(lambda: "w1599" in stage.said(parent, None))
    assert "full description is in the thread" in str(slack.message(CHANNEL, parent).blocks)
    shown = stage.said(parent, None)
    at = [shown.index(f"w{n:04}") for n in range(0, 1600, 50)]
    assert at == sorted(at)


async def test_a_final_answer_ends_that_delivery_at_once(stage: Stage) -> None:
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin")
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    slack.fail("chat.postMessage", "restricted_action_thread_locked")
    await api.say(conv, "lost to a locked thread", user_id=user)
    await api.say(conv, "the next one", user_id=user)
    await slack.wait_for(lambda: "the next one" in stage.said(parent, "Erin"))
    dead = (await api.conversation(conv))["deadLetters"]
    assert [(d["kind"], d["attempts"]) for d in dead] == [("message", 1)]
    assert "restricted_action_thread_locked" in dead[0]["error"]
    # The agents are told what did not reach them.
    await slack.wait_for(lambda: "would not show" in stage.said(parent, None))


async def test_an_archived_channel_is_a_dead_letter_at_once(stage: Stage) -> None:
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin")
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    slack.fail("chat.postMessage", "is_archived")
    await api.say(conv, "into the void", user_id=user)
    await api.say(conv, "still here?", user_id=user)
    await slack.wait_for(lambda: "still here?" in stage.said(parent, "Erin"))
    dead = (await api.conversation(conv))["deadLetters"]
    assert [(d["kind"], d["attempts"], d["error"]) for d in dead] == [
        ("message", 1, "chat.postMessage: is_archived")
    ]


async def test_a_reaction_whose_answer_was_lost_is_not_retried_forever(stage: Stage) -> None:
    slack, api, bot = stage.slack, stage.api, stage.bot
    assert bot is not None
    conv, parent = await stage.handoff()
    user = (await api.conversation(conv))["userId"]
    slack.fail("reactions.add", "internal_error", status=500, applied=True)
    first = await slack.user_says(ALICE, CHANNEL, "first", thread_ts=parent)
    await slack.wait_for(lambda: "white_check_mark" in slack.message(CHANNEL, first).reactions)
    # The retry met `already_reacted`: done, so what follows in the conversation flows.
    await api.say(conv, "thanks", user_id=user)
    second = await slack.user_says(ALICE, CHANNEL, "second", thread_ts=parent)
    await slack.wait_for(lambda: "white_check_mark" in slack.message(CHANNEL, second).reactions)
    await slack.wait_for(lambda: "thanks" in stage.said(parent, "Erin End-User"))
    assert (await api.conversation(conv))["deadLetters"] == []
    assert len(slack.calls_of("reactions.add")) == 3


async def test_receipts_throttled_to_their_tier_never_hold_posts_back(
    make_stage: StageFactory,
) -> None:
    stage = await make_stage(BRIDGE_SLACK_TIERS="1")
    slack, api, bot = stage.slack, stage.api, stage.bot
    assert bot is not None
    conv, parent = await stage.handoff()
    user = (await api.conversation(conv))["userId"]
    slack.fail("reactions.add", "ratelimited", status=429, headers={"Retry-After": "30"})
    reply = await slack.user_says(ALICE, CHANNEL, "hello", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    started = time.monotonic()
    for n in range(3):
        await api.say(conv, f"end user says {n}", user_id=user)
    await slack.wait_for(lambda: "end user says 2" in stage.said(parent, "Erin End-User"))
    assert time.monotonic() - started < 15  # not behind the receipt's 30 s
    assert slack.message(CHANNEL, reply).reactions == {}  # still waiting out the 429
    assert len(slack.calls_of("reactions.add")) == 1


async def test_slack_is_answered_before_anyone_is_looked_up(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_AGENT_USERGROUP="S0AGENTS")
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    slack.add_usergroup("S0AGENTS", [ALICE])
    _, parent = await stage.handoff()
    # Slack cannot tell who Alice is, nor who the agents are, for a while.
    slack.fail("users.info", "ratelimited", status=429, headers={"Retry-After": "1"})
    slack.fail("usergroups.users.list", "internal_error", status=500)
    started = time.monotonic()
    await slack.user_says(ALICE, CHANNEL, "I'm here", thread_ts=parent)
    # Answered well within Slack's 3 seconds, though nobody could be looked up yet.
    assert slack.delivered[-1][0] == 200 and time.monotonic() - started < 2.5
    await bot.wait_for(lambda: len(bot.events("message")) == 1, timeout=10)
    assigned, message = bot.events()
    # Never guessed at: Alice by her name, and an agent.
    assert assigned["payload"]["agent"]["name"] == "Alice"
    assert message["payload"]["payload"] == {"text": "I'm here"}


async def test_a_button_is_acknowledged_before_its_agent_is_looked_up(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    slack.fail("users.info", "internal_error", status=500, times=2)
    await slack.click(ALICE, CHANNEL, parent, "claim")
    await bot.wait_for(lambda: len(bot.events("hitlAssigned")) == 1, timeout=10)
    agent: dict[str, Any] = bot.events()[0]["payload"]["agent"]
    assert agent["name"] == "Alice" and agent["slackUserId"] == ALICE


async def test_every_method_keeps_to_its_tier(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_SLACK_TIERS="12")  # Slack's tiers, twelve times faster
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    slack.enforce_tiers(scale=12)
    _, parent = await stage.handoff()
    replies = [
        await slack.user_says(ALICE, CHANNEL, f"reply {n}", thread_ts=parent) for n in range(80)
    ]
    await slack.wait_for(
        lambda: all(slack.message(CHANNEL, ts).reactions for ts in replies), timeout=20
    )
    assert sum(slack.ratelimited_by_method.values()) == 0  # kept within, never fought


async def test_lost_answers_to_updates_and_ephemerals_repeat_nothing(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    conv, parent = await stage.handoff()
    # Slack applies both, and both answers are lost on their way back.
    slack.fail("chat.update", "internal_error", status=500, applied=True)
    slack.fail("chat.postEphemeral", "internal_error", status=500, applied=True)
    await slack.click(ALICE, CHANNEL, parent, "claim")
    await bot.wait_for(lambda: len(bot.events("hitlAssigned")) == 1)
    await slack.click(BOB, CHANNEL, parent, "claim", value=conv)  # told who has it
    await stage.wait_buttons(parent, ["release", "resolve"])
    await slack.wait_for(lambda: len(slack.calls_of("chat.postEphemeral")) == 1)
    # And the conversation flows on: a reply is relayed and gets its receipt.
    reply = await slack.user_says(ALICE, CHANNEL, "on it", thread_ts=parent)
    await slack.wait_for(lambda: "white_check_mark" in slack.message(CHANNEL, reply).reactions)
    assert len(slack.ephemerals) == 1  # once, not again
    assert (await stage.api.conversation(conv))["deadLetters"] == []
