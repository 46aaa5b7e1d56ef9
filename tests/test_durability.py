"""Nothing acknowledged is lost: restarts, a bot that is down, a Slack that fails, a post whose
answer never came back."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import ALICE, CHANNEL, Stage, StageFactory

pytestmark = pytest.mark.both_databases


async def test_restart_keeps_every_conversation_working(stage: Stage) -> None:
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    await slack.user_says(ALICE, CHANNEL, "before the restart", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events()) == 2)

    await stage.restart()

    await api.say(conv, "still there?", user_id=user)
    await slack.wait_for(
        lambda: any("still there?" in m.text for m in slack.thread(CHANNEL, parent))
    )
    await slack.user_says(ALICE, CHANNEL, "after the restart", thread_ts=parent)
    await slack.click(ALICE, CHANNEL, parent, "resolve")
    await bot.wait_for(lambda: len(bot.events()) == 4)
    assert [e["type"] for e in bot.events()] == [
        "hitlAssigned",
        "message",
        "message",
        "hitlStopped",
    ]
    assert len(bot.events("hitlAssigned")) == 1  # the same agent, still assigned after restart
    _, page = await api.get("/v1/events")
    assert [e["id"] for e in page["events"]] == [e["id"] for e in bot.events()]


async def test_bot_down_for_a_while_gets_everything_in_order(stage: Stage) -> None:
    slack, bot = stage.slack, stage.bot
    assert bot is not None
    _, parent = await stage.handoff()
    bot.down = True
    for n in range(5):
        await slack.user_says(ALICE, CHANNEL, f"reply {n}", thread_ts=parent)
    await asyncio.sleep(0.5)
    assert bot.events() == []
    bot.fail_next(2, status=500)
    bot.down = False
    await bot.wait_for(lambda: len(bot.events()) == 6, timeout=10)
    texts = [e["payload"]["payload"]["text"] for e in bot.events("message")]
    assert texts == [f"reply {n}" for n in range(5)]


async def test_slack_failures_are_retried_in_order(stage: Stage) -> None:
    slack, api = stage.slack, stage.api
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    slack.fail("chat.postMessage", "internal_error", times=2, status=500)
    slack.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "1"})
    for n in range(4):
        await api.say(conv, f"message {n}", user_id=user)

    def shown() -> list[str]:  # after the 429, queued messages may be combined in one post
        return "\n".join(m.text for m in slack.thread(CHANNEL, parent)).splitlines()

    await slack.wait_for(lambda: len(shown()) == 4, timeout=10)
    assert shown() == [f"message {n}" for n in range(4)]


async def test_a_post_whose_answer_was_lost_is_not_posted_twice(stage: Stage) -> None:
    slack, api = stage.slack, stage.api
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    # Slack takes the post but the answer is an error: the bridge cannot know it landed.
    slack.fail("chat.postMessage", "internal_error", status=500, applied=True)
    await api.say(conv, "exactly once", user_id=user)
    await api.say(conv, "and then this", user_id=user)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 2, timeout=10)
    await asyncio.sleep(0.3)
    assert [m.text for m in slack.thread(CHANNEL, parent)] == ["exactly once", "and then this"]
    assert slack.calls_of("conversations.replies"), "the thread was checked before re-posting"


async def test_permanent_slack_refusal_does_not_block_the_rest(make_stage: StageFactory) -> None:
    stage = await make_stage()
    slack, api = stage.slack, stage.api
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    slack.fail("chat.postMessage", "invalid_blocks")
    await api.say(conv, "refused", user_id=user)
    await api.say(conv, "accepted", user_id=user)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 2, timeout=10)
    # The notice is queued when the refusal comes: before "accepted" is, if the bridge was
    # that quick, else after it. Either way both show.
    texts = [m.text for m in slack.thread(CHANNEL, parent)]
    assert "accepted" in texts and any("invalid_blocks" in text for text in texts), texts


async def test_an_image_slack_cannot_fetch_is_shown_as_a_link(stage: Stage) -> None:
    slack, api = stage.slack, stage.api
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    slack.fail("chat.postMessage", "invalid_blocks")
    image = {"imageUrl": "https://img.example.com/gone.png", "title": "screenshot"}
    status, _ = await api.post(
        f"/v1/conversations/{conv}/messages", {"type": "image", "payload": image, "userId": user}
    )
    assert status == 202
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 1, timeout=10)
    blocks = slack.thread(CHANNEL, parent)[0].blocks or []
    assert all(b["type"] != "image" for b in blocks)
    assert "<https://img.example.com/gone.png|screenshot>" in str(blocks)


async def test_events_the_bot_never_takes_become_dead_letters(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_DELIVERY_MAX_ATTEMPTS="3")
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    conv, parent = await stage.handoff()
    bot.down = True
    await slack.user_says(ALICE, CHANNEL, "you will not get this", thread_ts=parent)

    async def dead() -> list[dict[str, object]]:
        return list((await api.conversation(conv))["deadLetters"])

    for _ in range(200):
        if len(await dead()) == 2:
            break
        await asyncio.sleep(0.05)
    letters = await dead()
    assert [d["kind"] for d in letters] == ["hitlAssigned", "message"]
    assert all(d["target"] == "bot" and d["attempts"] == 3 for d in letters)
    assert "503" in str(letters[0]["error"])
    _, page = await api.get("/v1/events")
    assert [e["id"] for e in page["events"]] == [d["id"] for d in letters]  # still readable

    bot.down = False
    await slack.click(ALICE, CHANNEL, parent, "resolve")
    await bot.wait_for(lambda: len(bot.events()) == 1)
    assert bot.events()[0]["type"] == "hitlStopped"


async def test_a_message_slack_refuses_is_flagged_in_the_thread(stage: Stage) -> None:
    slack, api = stage.slack, stage.api
    user = await api.create_user()
    conv = await api.start(user)
    parent = await stage.parent_ts(conv)
    slack.fail("chat.postMessage", "msg_too_long")
    message_id = await api.say(conv, "too long, says Slack", user_id=user)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) == 1, timeout=10)
    notice = slack.thread(CHANNEL, parent)[0]
    assert ":warning:" in notice.text and "msg_too_long" in notice.text
    letters = (await api.conversation(conv))["deadLetters"]
    assert [(d["target"], d["kind"], d["id"]) for d in letters] == [
        ("slack", "message", message_id)
    ]
