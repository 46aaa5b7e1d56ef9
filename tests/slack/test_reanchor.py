"""A lost thread: the conversation moves to a new one, and the bot never notices."""

from __future__ import annotations

import pytest

from tests.conftest import ALICE, CHANNEL, StageFactory

pytestmark = pytest.mark.both_databases


async def test_a_lost_thread_is_replaced_with_a_recap(make_stage: StageFactory) -> None:
    stage = await make_stage()
    slack, bot, api = stage.slack, stage.bot, stage.api
    assert bot is not None
    user = await api.create_user("Erin")
    conv = await api.start(user, title="Lost thread")
    old = await stage.parent_ts(conv)
    await api.say(conv, "first words", user_id=user)
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, old)) == 1)
    slack.fail("chat.postMessage", "thread_not_found")  # Slack says the thread is gone
    await api.say(conv, "are you there?", user_id=user)
    await slack.wait_for(lambda: any("are you there?" in m.text for m in slack.messages(CHANNEL)))
    parent = (await api.conversation(conv))["slack"]["threadTs"]
    assert parent != old and "Lost thread" in str(slack.message(CHANNEL, parent).blocks)
    thread = " ".join(m.text + str(m.blocks) for m in slack.thread(CHANNEL, parent))
    assert "was lost" in thread and "first words" in thread and "are you there?" in thread
    await slack.user_says(ALICE, CHANNEL, "here I am", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events("message")) == 1)
    assert bot.events("message")[0]["payload"]["conversationId"] == conv


async def test_a_deleted_parent_gets_a_new_thread(make_stage: StageFactory) -> None:
    stage = await make_stage()
    slack, api = stage.slack, stage.api
    user = await api.create_user("Erin")
    conv = await api.start(user, title="Deleted")
    old = await stage.parent_ts(conv)
    await slack.delete(CHANNEL, old)
    await api.say(conv, "hello?", user_id=user)
    await slack.wait_for(lambda: any("hello?" in m.text for m in slack.messages(CHANNEL)))
    assert (await api.conversation(conv))["slack"]["threadTs"] != old


async def test_an_archived_queue_channel_sends_threads_home(make_stage: StageFactory) -> None:
    stage = await make_stage(BRIDGE_QUEUES="vip=C0VIP")
    slack, api = stage.slack, stage.api
    slack.add_channel("C0VIP", "vip")
    user = await api.create_user()
    conv = await api.start(user, hitlSession={"queue": "vip"})
    await stage.parent_ts(conv)
    slack.channels["C0VIP"].archived = True
    await api.say(conv, "still need help", user_id=user)
    await slack.wait_for(lambda: any("still need help" in m.text for m in slack.messages(CHANNEL)))
    body = await api.conversation(conv)
    assert body["slack"]["channel"] == CHANNEL and body["deadLetters"] == []
