"""Modals in the fake Slack: views.open with a trigger_id, a person submitting or closing the
view, and what Slack does with the app's answer; raw over HTTP, and through Bolt over HTTP
and Socket Mode."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bridge.testing.fake_slack import (
    MAX_VIEW_STACK,
    SUBMIT_TIMEOUT,
    TRIGGER_TTL,
    ClientRefused,
    FakeSlack,
)
from tests.testing.fake_slack.conftest import (
    AGENT,
    CHANNEL,
    Receiver,
    assert_signed,
    bolt_over_http,
    button,
    refusal,
    section,
)

JSON = dict[str, Any]


class Clock:
    """A clock for ``FakeSlack.clock`` that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class App(Receiver):
    """The app's endpoint: answers each request with the next of ``answers`` (status, JSON or
    text body; an empty 200 once they run out), calling ``during`` first."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[int, JSON | str | None]] = []
        self.during: Callable[[], None] = lambda: None

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        self.during()
        status, body = self.answers.pop(0) if self.answers else (200, None)
        if isinstance(body, dict):
            return web.json_response(body, status=status)
        return web.Response(status=status, text=body)


@pytest.fixture
def clock(fake: FakeSlack) -> Clock:
    fake.clock = clock = Clock()
    return clock


@pytest.fixture
async def app(fake: FakeSlack) -> AsyncIterator[App]:
    endpoint = App()
    await endpoint.start()
    fake.events_url = endpoint.url
    yield endpoint
    await endpoint.stop()


def text_input(block_id: str, action_id: str, **element: Any) -> JSON:
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": block_id.capitalize()},
        "element": {"type": "plain_text_input", "action_id": action_id, **element},
    }


def modal(**extra: Any) -> JSON:
    """The Edit modal of an approval: a reply to correct, and an optional note."""
    note = text_input("note", "note_text")
    note["optional"] = True
    return {
        "type": "modal",
        "callback_id": "edit_reply",
        "private_metadata": "conv-1",
        "title": {"type": "plain_text", "text": "Edit the reply"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section("The bot wanted to say *hi*."),
            text_input("reply", "text", multiline=True, min_length=2, max_length=40),
            note,
        ],
        **extra,
    }


async def trigger(fake: FakeSlack, user: str = AGENT) -> str:
    """A trigger_id from a person running a slash command."""
    await fake.slash_command(user, CHANNEL, "/handoff")
    return str(fake.delivered[-1][1]["trigger_id"])


async def opened(client: AsyncWebClient, fake: FakeSlack, user: str = AGENT, **extra: Any) -> str:
    """Open the modal for ``user``; its view id."""
    answer = await client.views_open(trigger_id=await trigger(fake, user), view=modal(**extra))
    return str(answer["view"]["id"])


def payload_of(body: bytes) -> JSON:
    parsed: JSON = json.loads(parse_qs(body.decode())["payload"][0])
    return parsed


# ---------------------------------------------------------------------- views.open


async def test_views_open_answers_the_view_as_slack_keeps_it(
    client: AsyncWebClient, fake: FakeSlack, app: App
) -> None:
    posted = await client.chat_postMessage(
        channel=CHANNEL,
        text="Approve?",
        blocks=[{"type": "actions", "elements": [button("Edit", action_id="edit")]}],
    )
    await fake.flush()
    await fake.click(AGENT, CHANNEL, posted["ts"], "edit")
    clicked = payload_of(app.requests[-1][1])
    answer = await client.views_open(trigger_id=clicked["trigger_id"], view=modal())
    view = answer["view"]
    assert answer["ok"] is True
    assert view["id"].startswith("V")
    assert (view["team_id"], view["app_id"], view["bot_id"]) == ("T0FAKE", "A0FAKE", "BBRIDGE")
    assert (view["type"], view["callback_id"], view["private_metadata"]) == (
        "modal",
        "edit_reply",
        "conv-1",
    )
    assert view["title"] == {"type": "plain_text", "text": "Edit the reply"}
    assert view["submit"]["text"] == "Send"
    assert view["state"] == {"values": {}}
    assert view["hash"]
    assert (view["root_view_id"], view["previous_view_id"]) == (view["id"], None)
    assert (view["notify_on_close"], view["clear_on_close"], view["external_id"]) == (
        False,
        False,
        "",
    )
    # Slack gives a block_id to a block sent without one; the others keep theirs.
    assert [b["block_id"] for b in view["blocks"]][1:] == ["reply", "note"]
    assert view["blocks"][0]["block_id"]
    assert view["blocks"][1]["element"]["max_length"] == 40
    # The modal is the clicker's, and the call was recorded as made.
    assert fake.open_views(AGENT) == [view]
    assert fake.open_views("UOTHER") == []
    assert fake.calls_of("views.open")[0]["trigger_id"] == clicked["trigger_id"]


async def test_views_open_takes_the_view_as_a_json_string(
    client: AsyncWebClient, fake: FakeSlack, app: App
) -> None:
    # A form-encoded call carries the view as a JSON string (the method's page asks for
    # one); slack_sdk sends JSON instead. The trigger is the slash command's person's.
    bare = {
        "type": "input",
        "label": {"type": "plain_text", "text": "Why?"},
        "element": {"type": "plain_text_input"},
    }
    form = {"trigger_id": await trigger(fake, "UOTHER"), "view": json.dumps(modal(blocks=[bare]))}
    answer = await client.api_call("views.open", data=form)
    (view,) = fake.open_views("UOTHER")
    assert view["id"] == answer["view"]["id"]
    assert fake.open_views(AGENT) == []
    # Slack names an input sent without ids; the person types into it by that name.
    block_id, action_id = view["blocks"][0]["block_id"], view["blocks"][0]["element"]["action_id"]
    assert block_id and action_id
    await fake.submit_view("UOTHER", view["id"], {block_id: "Because"})
    state = payload_of(app.requests[-1][1])["view"]["state"]["values"]
    assert state == {block_id: {action_id: {"type": "plain_text_input", "value": "Because"}}}


async def test_trigger_ids_open_one_view_within_their_time(
    client: AsyncWebClient, fake: FakeSlack, app: App, clock: Clock
) -> None:
    async def error(trigger_id: str | None) -> str:
        return str((await refusal(client.views_open(trigger_id=trigger_id, view=modal())))["error"])

    assert await error("123.456.abcdef") == "invalid_trigger_id"  # never issued
    missing = await refusal(client.views_open(view=modal()))
    assert missing["error"] == "invalid_arguments"
    assert missing["response_metadata"]["messages"] == [
        "[ERROR] missing required field: trigger_id"
    ]

    first, second, third = [await trigger(fake) for _ in range(3)]
    await client.views_open(trigger_id=first, view=modal())
    assert await error(first) == "exchanged_trigger_id"  # spent
    clock.now += TRIGGER_TTL - 0.01
    await client.views_open(trigger_id=second, view=modal())  # just in time
    clock.now += 0.02
    assert await error(third) == "expired_trigger_id"
    assert len(fake.calls_of("views.open")) == 6


async def test_modal_views_are_validated(
    client: AsyncWebClient, fake: FakeSlack, app: App, clock: Clock
) -> None:
    def blocks(*items: JSON) -> JSON:
        return modal(blocks=list(items))

    reply = text_input("reply", "text")
    cases: list[tuple[Any, str]] = [
        ("[]", "must be an object [json-pointer:/view]"),
        (modal(type="home"), "must be modal [json-pointer:/view/type]"),
        (modal(title=None), "missing required field: title [json-pointer:/view]"),
        (modal(title={"type": "plain_text", "text": "x" * 25}), "[json-pointer:/view/title/text]"),
        (modal(title={"type": "mrkdwn", "text": "*x*"}), "must be a plain_text object"),
        (modal(submit={"type": "plain_text", "text": "x" * 25}), "/view/submit/text"),
        (modal(close={"type": "plain_text", "text": "x" * 25}), "/view/close/text"),
        (
            modal(submit=None),
            "must define submit to use input block [json-pointer:/view/blocks/1/input]",
        ),
        (modal(callback_id="x" * 256), "less than 256 characters [json-pointer:/view/callback_id]"),
        (modal(private_metadata="x" * 3001), "[json-pointer:/view/private_metadata]"),
        (modal(notify_on_close="yes"), "must be a boolean [json-pointer:/view/notify_on_close]"),
        (blocks(*[{"type": "divider"}] * 101), "no more than 100 items allowed"),
        (blocks(), "views must contain between 1 and 100 blocks"),
        (blocks({**reply, "label": {"type": "plain_text", "text": "x" * 2001}}), "/0/label/text"),
        (blocks({**reply, "label": {"type": "mrkdwn", "text": "x"}}), "/view/blocks/0/label"),
        (blocks({**reply, "element": None}), "missing required field: element"),
        (
            blocks({**reply, "optional": "no"}),
            "must be a boolean [json-pointer:/view/blocks/0/optional]",
        ),
        (
            blocks(text_input("r", "t", max_length=3001)),
            "between 1 and 3000 [json-pointer:/view/blocks/0/element/max_length]",
        ),
        (blocks(text_input("r", "t", max_length=0)), "/element/max_length"),
        (blocks(text_input("r", "t", min_length=-1)), "between 0 and 3000"),
        (blocks(text_input("r", "t", min_length=5, max_length=4)), "/element/min_length"),
        (blocks(text_input("r", "t", multiline="yes")), "/element/multiline"),
        (blocks(text_input("r", "t", initial_value=7)), "/element/initial_value"),
        (blocks(text_input("r", "x" * 256)), "[json-pointer:/view/blocks/0/element/action_id]"),
        (blocks(text_input("x" * 256, "t")), "invalid block_id"),
        (blocks(reply, reply), "duplicate block_id"),
        (blocks({**reply, "element": {"type": "pigeon_input"}}), "unsupported type"),
        (
            blocks(text_input("r", "t", placeholder={"type": "plain_text", "text": "x" * 151})),
            "/element/placeholder/text",
        ),
    ]
    # A refused view leaves the trigger unspent: one serves every case, then the good view.
    trigger_id = await trigger(fake)
    for view, expected in cases:
        body = await refusal(client.views_open(trigger_id=trigger_id, view=view))
        assert body["error"] == "invalid_arguments", view
        messages = body["response_metadata"]["messages"]
        assert any(expected in m for m in messages), (expected, messages)
        assert fake.open_views(AGENT) == []
    # Every limit is inclusive.
    edge = modal(
        title={"type": "plain_text", "text": "x" * 24},
        submit={"type": "plain_text", "text": "x" * 24},
        callback_id="c" * 255,
        private_metadata="m" * 3000,
        blocks=[
            {
                **text_input("r" * 255, "a" * 255, max_length=3000, min_length=3000),
                "label": {"type": "plain_text", "text": "x" * 2000},
            },
            *[{"type": "divider"}] * 99,
        ],
    )
    await client.views_open(trigger_id=trigger_id, view=edge)
    assert len(fake.open_views(AGENT)[0]["blocks"]) == 100


async def test_external_ids_are_unique(client: AsyncWebClient, fake: FakeSlack, app: App) -> None:
    await opened(client, fake, external_id="approval-1")
    again = await refusal(
        client.views_open(trigger_id=await trigger(fake), view=modal(external_id="approval-1"))
    )
    assert again["error"] == "duplicate_external_id"
    assert fake.open_views(AGENT)[0]["external_id"] == "approval-1"


# ---------------------------------------------------------------------- submitting


async def test_submission_is_delivered_as_slack_delivers_it(
    client: AsyncWebClient, fake: FakeSlack, app: App
) -> None:
    view_id = await opened(client, fake)
    (kept,) = fake.open_views(AGENT)
    result = await fake.submit_view(AGENT, view_id, {"reply": "Hello,\nthere"})

    headers, body = app.requests[-1]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert_signed(fake, headers, body)
    payload = payload_of(body)
    assert payload["type"] == "view_submission"
    assert payload["team"] == {"id": "T0FAKE", "domain": "fake"}
    assert payload["user"] == {
        "id": AGENT,
        "username": "alice",
        "name": "alice",
        "team_id": "T0FAKE",
    }
    assert (payload["api_app_id"], payload["response_urls"]) == ("A0FAKE", [])
    assert payload["token"]
    view = payload["view"]
    assert (view["id"], view["callback_id"], view["private_metadata"]) == (
        view_id,
        "edit_reply",
        "conv-1",
    )
    # The view as Slack keeps it (hash, root_view_id...), with the state typed.
    assert {k: v for k, v in view.items() if k != "state"} == {
        k: v for k, v in kept.items() if k != "state"
    }
    # An optional input left empty is there, with value null.
    assert view["state"] == {
        "values": {
            "reply": {"text": {"type": "plain_text_input", "value": "Hello,\nthere"}},
            "note": {"note_text": {"type": "plain_text_input", "value": None}},
        }
    }
    # An empty 200 closes the view.
    assert (result.status, result.action, result.closed, result.errors, result.failure) == (
        200,
        None,
        True,
        {},
        None,
    )
    assert result.payload == payload
    assert fake.open_views(AGENT) == []
    assert fake.submissions == [result]
    # The submission's own trigger_id opens a view too.
    await client.views_open(trigger_id=payload["trigger_id"], view=modal())
    assert len(fake.open_views(AGENT)) == 1


async def test_errors_keep_the_view_open_with_what_was_typed(
    client: AsyncWebClient, fake: FakeSlack, app: App
) -> None:
    view_id = await opened(client, fake)
    app.answers = [
        (200, {"response_action": "errors", "errors": {"reply": "Be polite"}}),
        (200, {}),
    ]
    refused = await fake.submit_view(AGENT, view_id, {"reply": "darn", "note": "sorry"})
    assert (refused.action, refused.errors, refused.closed) == (
        "errors",
        {"reply": "Be polite"},
        False,
    )
    (shown,) = fake.open_views(AGENT)
    assert shown["id"] == view_id
    assert shown["state"]["values"]["reply"]["text"]["value"] == "darn"

    # The second try changes the reply only: the note keeps what was typed. {} closes.
    accepted = await fake.submit_view(AGENT, view_id, {"reply": "Sorry!"})
    state = payload_of(app.requests[-1][1])["view"]["state"]["values"]
    assert (state["reply"]["text"]["value"], state["note"]["note_text"]["value"]) == (
        "Sorry!",
        "sorry",
    )
    assert (accepted.action, accepted.closed) == (None, True)
    assert fake.open_views(AGENT) == []


async def test_the_client_refuses_what_slack_would_not_send(
    client: AsyncWebClient, fake: FakeSlack, app: App
) -> None:
    view_id = await opened(client, fake)
    sent = len(app.requests)
    cases: list[tuple[JSON, str]] = [
        ({}, "'reply' is required"),
        ({"reply": ""}, "'reply' is required"),
        ({"reply": None}, "'reply' is required"),
        ({"reply": "x"}, "at least 2 characters"),
        ({"reply": "x" * 41}, "at most 40 characters"),
        ({"reply": "ok", "note": "two\nlines"}, "single line"),
        ({"reply": "ok", "pigeon": "coo"}, "no input block pigeon"),
    ]
    for values, expected in cases:
        with pytest.raises(ClientRefused, match=expected):
            await fake.submit_view(AGENT, view_id, values)
    with pytest.raises(ClientRefused, match="they see view"):
        await fake.submit_view(AGENT, "V0NOTTHIS", {"reply": "ok"})
    with pytest.raises(ClientRefused, match="they see no modal"):
        await fake.submit_view("UOTHER", view_id, {"reply": "ok"})
    assert len(app.requests) == sent  # nothing went to the app
    assert fake.open_views(AGENT)[0]["id"] == view_id

    # A pre-filled input left alone is submitted as filled; a view without submit cannot be.
    prefilled = modal()
    prefilled["blocks"][1]["element"]["initial_value"] = "As drafted"
    view_id = await opened(client, fake, blocks=prefilled["blocks"])
    await fake.submit_view(AGENT, view_id, {})
    assert payload_of(app.requests[-1][1])["view"]["state"]["values"]["reply"]["text"]["value"] == (
        "As drafted"
    )
    info = await opened(client, fake, submit=None, blocks=[section("Nothing to fill in")])
    with pytest.raises(ClientRefused, match="no submit button"):
        await fake.submit_view(AGENT, info, {})


async def test_update_push_and_clear(client: AsyncWebClient, fake: FakeSlack, app: App) -> None:
    root = await opened(client, fake)
    confirm = modal(
        callback_id="confirm",
        title={"type": "plain_text", "text": "Sure?"},
        blocks=[text_input("reply", "text", multiline=True)],
    )
    # update: the same view (id, root) with new content; the reply typed stays in its input.
    app.answers = [(200, {"response_action": "update", "view": confirm})]
    updated = await fake.submit_view(AGENT, root, {"reply": "Kept"})
    assert (updated.action, updated.closed, updated.failure) == ("update", False, None)
    (view,) = fake.open_views(AGENT)
    assert (view["id"], view["callback_id"], view["title"]["text"]) == (root, "confirm", "Sure?")
    assert view["state"]["values"] == {
        "reply": {"text": {"type": "plain_text_input", "value": "Kept"}}
    }

    # push: a view on top, up to MAX_VIEW_STACK; closing the top one shows the one below.
    app.answers = [(200, {"response_action": "push", "view": confirm})] * (MAX_VIEW_STACK - 1)
    for _ in range(MAX_VIEW_STACK - 1):
        pushed = await fake.submit_view(AGENT, fake.open_views(AGENT)[-1]["id"], {"reply": "Yes"})
        assert (pushed.action, pushed.closed, pushed.failure) == ("push", False, None)
    stack = fake.open_views(AGENT)
    assert [v["root_view_id"] for v in stack] == [root] * MAX_VIEW_STACK
    assert [v["previous_view_id"] for v in stack] == [None, stack[0]["id"], stack[1]["id"]]
    app.answers = [(200, {"response_action": "push", "view": confirm})]
    over = await fake.submit_view(AGENT, stack[-1]["id"], {"reply": "Yes"})
    assert over.failure is not None and "push_limit_reached" in over.failure
    assert len(fake.open_views(AGENT)) == MAX_VIEW_STACK
    closed = await fake.submit_view(AGENT, stack[-1]["id"], {"reply": "Yes"})  # an empty 200
    assert closed.closed is True
    assert [v["id"] for v in fake.open_views(AGENT)] == [v["id"] for v in stack[:2]]

    # An update Slack refuses leaves the view as it was; clear closes the whole modal.
    too_long = {**confirm, "title": {"type": "plain_text", "text": "x" * 25}}
    app.answers = [(200, {"response_action": "update", "view": too_long})]
    refused = await fake.submit_view(AGENT, stack[1]["id"], {"reply": "Yes"})
    assert refused.failure is not None
    assert "invalid_arguments" in refused.failure
    assert "[json-pointer:/view/title/text]" in refused.failure
    assert fake.open_views(AGENT)[-1]["title"]["text"] == "Sure?"
    app.answers = [(200, {"response_action": "clear"})]
    cleared = await fake.submit_view(AGENT, stack[1]["id"], {"reply": "Yes"})
    assert (cleared.action, cleared.closed) == ("clear", True)
    assert fake.open_views(AGENT) == []


async def test_failed_late_or_strange_answers_keep_the_view(
    client: AsyncWebClient, fake: FakeSlack, app: App, clock: Clock
) -> None:
    view_id = await opened(client, fake)

    async def failure(status: int, body: JSON | str | None) -> str:
        app.answers = [(status, body)]
        result = await fake.submit_view(AGENT, view_id, {"reply": "Hello"})
        assert (result.closed, result.errors) == (False, {})
        assert [v["id"] for v in fake.open_views(AGENT)] == [view_id]
        assert result.failure is not None
        return result.failure

    assert "HTTP 500" in await failure(500, None)
    assert "HTTP 404" in await failure(404, {})
    assert "not JSON" in await failure(200, "ok")
    assert "pigeon" in await failure(200, {"response_action": "pigeon"})
    strange = {"response_action": "errors", "errors": {"nope": "?"}}
    assert "not input blocks" in await failure(200, strange)
    assert "without an errors object" in await failure(200, {"response_action": "errors"})

    # The app answers, but later than Slack waits: the person saw an error meanwhile.
    def slow() -> None:
        clock.now += SUBMIT_TIMEOUT + 0.5

    app.during = slow
    assert "after 3.5 s" in await failure(200, None)
    app.during = lambda: None
    # An answer just in time is followed.
    app.during = lambda: setattr(clock, "now", clock.now + SUBMIT_TIMEOUT)
    app.answers = [(200, None)]
    assert (await fake.submit_view(AGENT, view_id, {"reply": "Hello"})).closed is True

    view_id = await opened(client, fake)
    fake.events_url = "http://127.0.0.1:9/slack/events"  # nobody there
    assert "did not answer" in await failure(0, None)
    assert [s.status for s in fake.submissions][-1] == 0


async def test_other_inputs_take_their_state_value(
    client: AsyncWebClient, fake: FakeSlack, app: App
) -> None:
    option = {"text": {"type": "plain_text", "text": "Refund"}, "value": "refund"}
    select = {
        "type": "input",
        "block_id": "reason",
        "label": {"type": "plain_text", "text": "Reason"},
        "element": {"type": "static_select", "action_id": "pick", "options": [option]},
    }
    view_id = await opened(client, fake, blocks=[select])
    with pytest.raises(ClientRefused, match="'reason' is required"):
        await fake.submit_view(AGENT, view_id, {})
    with pytest.raises(ClientRefused, match="takes its state value"):
        await fake.submit_view(AGENT, view_id, {"reason": "refund"})
    await fake.submit_view(AGENT, view_id, {"reason": {"selected_option": option}})
    state = payload_of(app.requests[-1][1])["view"]["state"]["values"]
    assert state == {"reason": {"pick": {"type": "static_select", "selected_option": option}}}


# ---------------------------------------------------------------------- closing


async def test_view_closed_only_when_the_view_asked(
    client: AsyncWebClient, fake: FakeSlack, app: App
) -> None:
    quiet = await opened(client, fake)
    sent = len(app.requests)
    assert await fake.close_view(AGENT, quiet) is None
    assert len(app.requests) == sent
    assert fake.open_views(AGENT) == []

    told = await opened(client, fake, notify_on_close=True)
    assert await fake.close_view(AGENT, told) == 200
    headers, body = app.requests[-1]
    assert_signed(fake, headers, body)
    closed = payload_of(body)
    assert (closed["type"], closed["is_cleared"], closed["view"]["id"]) == (
        "view_closed",
        False,
        told,
    )
    assert closed["user"]["id"] == AGENT
    assert "trigger_id" not in closed
    with pytest.raises(ClientRefused):
        await fake.close_view(AGENT, told)  # gone already


async def test_closing_a_pushed_view(client: AsyncWebClient, fake: FakeSlack, app: App) -> None:
    root = await opened(client, fake)
    top = {**modal(), "notify_on_close": True}
    app.answers = [(200, {"response_action": "push", "view": top})]
    await fake.submit_view(AGENT, root, {"reply": "Hi"})
    pushed = fake.open_views(AGENT)[-1]["id"]
    with pytest.raises(ClientRefused, match="they see view"):
        await fake.close_view(AGENT, root)  # under the pushed one
    # Closing the top view goes back to the one below...
    assert await fake.close_view(AGENT, pushed) == 200
    assert [v["id"] for v in fake.open_views(AGENT)] == [root]
    # ...unless it clears the modal on close.
    app.answers = [(200, {"response_action": "push", "view": {**top, "clear_on_close": True}})]
    await fake.submit_view(AGENT, root, {"reply": "Hi"})
    assert await fake.close_view(AGENT, fake.open_views(AGENT)[-1]["id"]) == 200
    assert payload_of(app.requests[-1][1])["is_cleared"] is True
    assert fake.open_views(AGENT) == []


# ---------------------------------------------------------------------- through Bolt


@dataclass
class Seen:
    """What the Bolt app's listeners received, over which transport."""

    transport: str
    submitted: list[JSON] = field(default_factory=list)
    closed: list[JSON] = field(default_factory=list)
    opened: list[JSON] = field(default_factory=list)


def approvals_app(fake: FakeSlack, seen: Seen) -> AsyncApp:
    """An app as the product will be: Edit opens a modal, its submission is checked."""
    app = AsyncApp(
        client=AsyncWebClient(token=fake.bot_token, base_url=fake.api_url),
        signing_secret=fake.signing_secret,
    )

    @app.action("edit")
    async def on_edit(ack: AsyncAck, body: JSON, client: AsyncWebClient) -> None:
        await ack()
        metadata = body["actions"][0]["value"]
        answer = await client.views_open(
            trigger_id=body["trigger_id"],
            view=modal(private_metadata=metadata, notify_on_close=True),
        )
        seen.opened.append(answer["view"])

    @app.view("edit_reply")
    async def on_submit(ack: AsyncAck, view: JSON) -> None:
        reply = view["state"]["values"]["reply"]["text"]["value"]
        if "darn" in reply:
            await ack(response_action="errors", errors={"reply": "Please keep it polite"})
            return
        await ack()
        seen.submitted.append(view)

    @app.view_closed("edit_reply")
    async def on_close(ack: AsyncAck, view: JSON) -> None:
        await ack()
        seen.closed.append(view)

    return app


@pytest.fixture(params=["http", "socket_mode"])
async def bolt(request: pytest.FixtureRequest, fake: FakeSlack) -> AsyncIterator[Seen]:
    seen = Seen(request.param)
    app = approvals_app(fake, seen)
    if request.param == "socket_mode":
        handler = AsyncSocketModeHandler(app, fake.app_token)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        try:
            await fake.wait_socket()
            yield seen
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
        return

    async with bolt_over_http(fake, app):
        yield seen


async def test_bolt_opens_checks_and_takes_a_modal(
    fake: FakeSlack, client: AsyncWebClient, bolt: Seen
) -> None:
    edit = button("Edit", action_id="edit", value="conv-7")
    posted = await client.chat_postMessage(
        channel=CHANNEL, text="Approve?", blocks=[{"type": "actions", "elements": [edit]}]
    )
    await fake.flush()
    assert await fake.click(AGENT, CHANNEL, posted["ts"], "edit") == 200
    await fake.wait_for(lambda: len(fake.open_views(AGENT)) == 1)  # opened after the ack
    view_id = fake.open_views(AGENT)[0]["id"]

    refused = await fake.submit_view(AGENT, view_id, {"reply": "darn it"})
    assert (refused.status, refused.errors, refused.closed) == (
        200,
        {"reply": "Please keep it polite"},
        False,
    )
    # Over a socket, the answer came as the ack's payload; over HTTP, as the response body.
    acked = [a.get("payload") for a in fake.socket_acks]
    assert ({"response_action": "errors", "errors": refused.errors} in acked) == (
        bolt.transport == "socket_mode"
    )
    accepted = await fake.submit_view(AGENT, view_id, {"reply": "Happy to help"})
    assert (accepted.status, accepted.closed, accepted.failure) == (200, True, None)
    await fake.wait_for(lambda: len(bolt.submitted) == 1)
    (view,) = bolt.submitted
    assert (view["id"], view["private_metadata"]) == (view_id, "conv-7")
    assert view["state"]["values"]["reply"]["text"]["value"] == "Happy to help"

    await fake.click(AGENT, CHANNEL, posted["ts"], "edit")
    await fake.wait_for(lambda: len(bolt.opened) == 2)
    assert await fake.close_view(AGENT, bolt.opened[1]["id"]) == 200
    await fake.wait_for(lambda: len(bolt.closed) == 1)
    assert bolt.closed[0]["id"] == bolt.opened[1]["id"]
    assert fake.open_views(AGENT) == []
