"""The bot API's contract: answers, error codes and their precedence, idempotency, events."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import ALICE, API_TOKEN, CHANNEL, Stage

pytestmark = pytest.mark.both_databases

TEXT = {"type": "text", "payload": {"text": "hello"}}


def error(body: object) -> str:
    assert isinstance(body, dict), body
    return str(body["error"]["code"])


async def test_users_round_trip(stage: Stage) -> None:
    api = stage.api
    user = await api.create_user("Erin", pictureUrl="https://img.example.com/e.png")
    status, body = await api.get(f"/v1/users/{user}")
    assert status == 200
    assert body == {
        "userId": user,
        "name": "Erin",
        "pictureUrl": "https://img.example.com/e.png",
        "email": None,
        "role": "end-user",
    }


async def test_agents_are_users_too(stage: Stage) -> None:
    api, slack, bot = stage.api, stage.slack, stage.bot
    assert bot is not None
    conv, parent = await stage.handoff()
    await slack.click(ALICE, CHANNEL, parent, "claim")
    await bot.wait_for(lambda: len(bot.events()) == 1)
    agent_id = bot.events()[0]["payload"]["userId"]
    status, body = await api.get(f"/v1/users/{agent_id}")
    assert status == 200 and body["role"] == "agent" and body["name"] == "Alice"
    assert (await api.conversation(conv))["agentId"] == agent_id


async def test_conversation_answer_shape(stage: Stage) -> None:
    api = stage.api
    user = await api.create_user()
    conv = await api.start(user, title="Help")
    thread = await stage.parent_ts(conv)
    body = await api.conversation(conv)
    assert body["conversationId"] == conv and body["userId"] == user
    assert body["status"] == "waiting" and body["agentId"] is None and body["title"] == "Help"
    assert body["slack"]["channel"] == CHANNEL and body["slack"]["threadTs"] == thread
    assert body["slack"]["permalink"].startswith("https://")
    assert body["createdAt"].endswith("Z") and body["stoppedAt"] is None


async def test_errors_have_codes(stage: Stage) -> None:
    api = stage.api
    user = await api.create_user()
    conv = await api.start(user)
    other = await api.create_user("Someone else")

    api.token = "wrong"
    status, body = await api.post("/v1/users", {"name": "x"})
    assert (status, error(body)) == (401, "unauthorized")
    status, body = await api.get("/v1/nothing-here")
    assert (status, error(body)) == (401, "unauthorized")
    api.token = API_TOKEN

    cases = [
        ("POST", "/v1/users", b"{not json", 400, "bad_json"),
        ("POST", "/v1/users", b"[1, 2]", 422, "invalid"),
        ("POST", "/v1/users", b'{"name": ""}', 422, "invalid"),
        ("POST", "/v1/users", b'{"name": "a", "extra": 1}', 422, "invalid"),
        ("GET", "/v1/users/usr_nobody", None, 404, "not_found"),
        ("GET", "/v1/conversations/conv_nobody", None, 404, "not_found"),
        ("GET", "/v1/nothing-here", None, 404, "not_found"),
        ("POST", "/v1/conversations/conv_nobody/messages", b'{"type": "text"}', 404, "not_found"),
        ("POST", "/v1/conversations/conv_nobody/stop", b"{}", 404, "not_found"),
        (
            "POST",
            "/v1/conversations",
            b'{"userId": "usr_nobody", "messageHistory": []}',
            422,
            "invalid",
        ),
        ("POST", "/v1/conversations", f'{{"userId": "{user}"}}'.encode(), 422, "invalid"),
        (
            "POST",
            f"/v1/conversations/{conv}/messages",
            b'{"type": "video", "payload": {"videoUrl": "javascript:alert(1)"}}',
            422,
            "invalid",
        ),
        (
            "POST",
            f"/v1/conversations/{conv}/messages",
            f'{{"type": "text", "payload": {{"text": "x"}}, "userId": "{other}"}}'.encode(),
            422,
            "invalid",
        ),
    ]
    for method, path, raw, want_status, want_code in cases:
        status, body = await api.call(method, path, raw=raw)
        assert (status, error(body)) == (want_status, want_code), (method, path, raw, body)


async def test_invalid_names_the_field(stage: Stage) -> None:
    api = stage.api
    user = await api.create_user()
    conv = await api.start(user)
    checks = {
        "messageHistory": ("/v1/conversations", {"userId": user}),
        "userId": ("/v1/conversations", {"userId": "usr_nobody", "messageHistory": []}),
        "messageHistory[0].payload.text": (
            "/v1/conversations",
            {
                "userId": user,
                "messageHistory": [
                    {"source": {"type": "bot"}, "type": "text", "payload": {"text": 5}}
                ],
            },
        ),
        "payload.imageUrl": (
            f"/v1/conversations/{conv}/messages",
            {"type": "image", "payload": {"imageUrl": "file:///etc/passwd"}},
        ),
        "type": (f"/v1/conversations/{conv}/messages", {"type": "sticker", "payload": {}}),
    }
    for field, (path, body) in checks.items():
        status, answer = await api.post(path, body)
        assert status == 422, answer
        assert answer["error"]["message"].startswith(f"{field}:"), answer


async def test_too_large_wins_over_bad_json_and_not_found(make_stage) -> None:  # type: ignore[no-untyped-def]
    stage = await make_stage(BRIDGE_MAX_BODY="2048")
    junk = b"x" * 4096
    status, body = await stage.api.call("POST", "/v1/conversations/conv_nobody/messages", raw=junk)
    assert (status, error(body)) == (413, "too_large")
    status, body = await stage.api.call("POST", "/v1/users", raw=junk)
    assert (status, error(body)) == (413, "too_large")


async def test_not_found_wins_over_invalid_and_stopped(stage: Stage) -> None:
    api = stage.api
    conv = await api.start(await api.create_user())
    await api.post(f"/v1/conversations/{conv}/stop", {})
    status, body = await api.post(f"/v1/conversations/{conv}/messages", {"type": "nope"})
    assert (status, error(body)) == (422, "invalid")  # 422 comes before 409
    status, body = await api.post(f"/v1/conversations/{conv}/messages", TEXT)
    assert (status, error(body)) == (409, "conversation_stopped")


async def test_invalid_wins_over_a_key_conflict(stage: Stage) -> None:
    api = stage.api
    user, other = await api.create_user(), await api.create_user("Someone else")
    conv = await api.start(user)
    path, key = f"/v1/conversations/{conv}/messages", {"Idempotency-Key": "m-1"}
    assert (await api.post(path, TEXT, headers=key))[0] == 202
    status, body = await api.post(path, {**TEXT, "userId": other}, headers=key)
    assert (status, error(body)) == (422, "invalid")  # 422 comes before 409
    status, body = await api.post("/v1/conversations/conv_nobody/messages", TEXT, headers=key)
    assert (status, error(body)) == (404, "not_found")


async def test_idempotent_posts(stage: Stage) -> None:
    api, slack = stage.api, stage.slack
    key = {"Idempotency-Key": "create-erin-1"}
    first = await api.post("/v1/users", {"name": "Erin"}, headers=key)
    again = await api.post("/v1/users", {"name": "Erin"}, headers=key)
    assert first[0] == 201 and again == first
    status, body = await api.post("/v1/users", {"name": "Someone"}, headers=key)
    assert (status, error(body)) == (409, "idempotency_conflict")
    # The same key on another path is another key.
    user = first[1]["userId"]
    start = {"userId": user, "messageHistory": []}
    a = await api.post("/v1/conversations", start, headers=key)
    b = await api.post("/v1/conversations", {"messageHistory": [], "userId": user}, headers=key)
    assert a[0] == 201 and a == b
    conv = a[1]["conversationId"]
    parent = await stage.parent_ts(conv)

    sends = await asyncio.gather(
        *(api.post(f"/v1/conversations/{conv}/messages", TEXT, headers=key) for _ in range(5))
    )
    assert {s for s, _ in sends} == {202}
    assert len({b["messageId"] for _, b in sends}) == 1
    await slack.wait_for(lambda: len(slack.thread(CHANNEL, parent)) >= 1)
    await asyncio.sleep(0.2)
    assert len(slack.thread(CHANNEL, parent)) == 1
    assert len(slack.messages(CHANNEL)) == 2  # one parent, one reply: nothing doubled


async def test_only_success_is_remembered(stage: Stage) -> None:
    api = stage.api
    key = {"Idempotency-Key": "k"}
    status, _ = await api.post("/v1/conversations", {"userId": "usr_nobody"}, headers=key)
    assert status == 422
    user = await api.create_user()
    status, _ = await api.post(
        "/v1/conversations", {"userId": user, "messageHistory": []}, headers=key
    )
    assert status == 201


async def test_bad_idempotency_key(stage: Stage) -> None:
    for bad in ("", "x" * 256, "tab\there", "caf\u00e9"):
        status, body = await stage.api.post(
            "/v1/users", {"name": "Erin"}, headers={"Idempotency-Key": bad}
        )
        assert status == 422 and "Idempotency-Key" in body["error"]["message"], bad


async def test_events_long_poll_serves_what_the_webhook_gets(stage: Stage) -> None:
    api, slack, bot = stage.api, stage.slack, stage.bot
    assert bot is not None
    status, first = await api.get("/v1/events")
    assert status == 200 and first["events"] == [] and isinstance(first["cursor"], str)

    _, parent = await stage.handoff()

    async def reply_soon() -> None:
        await asyncio.sleep(0.3)
        await slack.user_says(ALICE, CHANNEL, "hello there", thread_ts=parent)

    started = time.monotonic()
    task = asyncio.create_task(reply_soon())
    status, page = await api.get(f"/v1/events?after={first['cursor']}&wait=10")
    await task
    assert status == 200 and 0.2 < time.monotonic() - started < 5
    events = page["events"]
    status, rest = await api.get(f"/v1/events?after={page['cursor']}&wait=1")
    events += rest["events"]
    assert [e["type"] for e in events] == ["hitlAssigned", "message"]
    await bot.wait_for(lambda: len(bot.events()) == 2)
    assert events == bot.events()

    # Nothing new: an empty page and the same cursor, after waiting as long as asked.
    started = time.monotonic()
    status, empty = await api.get(f"/v1/events?after={rest['cursor']}&wait=0.3")
    assert empty == {"events": [], "cursor": rest["cursor"]}
    assert time.monotonic() - started >= 0.25
    status, everything = await api.get("/v1/events")
    assert everything["events"] == events


async def test_events_bad_parameters(stage: Stage) -> None:
    for query, field in [("after=999999", "after"), ("after=abc", "after"), ("wait=soon", "wait")]:
        status, body = await stage.api.get(f"/v1/events?{query}")
        assert status == 422 and body["error"]["message"].startswith(field), body
    status, body = await stage.api.get("/v1/events?wait=-5")
    assert status == 200
