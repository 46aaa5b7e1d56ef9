"""The listeners: Slack's payloads, as Slack sends them, to what the service keeps; and which
listener Bolt's matchers pick for each."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bridge.model import Decision
from bridge.service import Figures, Listed
from bridge.slack import listeners
from bridge.slack.listeners import (
    Decided,
    Received,
    approval_click,
    button_press,
    deletion,
    edit,
    event_id,
    hitl_query,
    home_opener,
    reply,
    submission,
)

CHANNEL, ALICE, BRIDGE = "C0CHAN", "U0ALICE", "U0BRIDGE"
PARENT, TS = "1700000000.000100", "1700000100.000200"

# --- payloads as Slack sends them -----------------------------------------------------------

REPLY: dict[str, Any] = {
    "type": "message",
    "user": ALICE,
    "text": "On it, <@U0BOB> &amp; I",
    "blocks": [{"type": "rich_text", "block_id": "x1", "elements": []}],
    "ts": TS,
    "thread_ts": PARENT,
    "parent_user_id": BRIDGE,
    "client_msg_id": "5f1c7f1e-6a8b-4b61-9d7f-1a2b3c4d5e6f",
    "team": "T0FAKE",
    "channel": CHANNEL,
    "event_ts": TS,
    "channel_type": "channel",
}
FILE_SHARE = REPLY | {
    "subtype": "file_share",
    "text": "",
    "files": [
        {
            "id": "F0FILE",
            "name": "shot.png",
            "mimetype": "image/png",
            "url_private": "https://files.slack.com/files-pri/T0FAKE-F0FILE/shot.png",
        },
        "not a file",
    ],
    "upload": False,
}
EDITED: dict[str, Any] = {
    "type": "message",
    "subtype": "message_changed",
    "message": {
        "type": "message",
        "user": ALICE,
        "text": "On it, fixed",
        "edited": {"user": ALICE, "ts": "1700000200.000000"},
        "ts": TS,
        "thread_ts": PARENT,
        "parent_user_id": BRIDGE,
    },
    "previous_message": {
        "type": "message",
        "user": ALICE,
        "text": "On it",
        "ts": TS,
        "thread_ts": PARENT,
        "parent_user_id": BRIDGE,
    },
    "channel": CHANNEL,
    "hidden": True,
    "ts": "1700000200.000300",
    "event_ts": "1700000200.000300",
    "channel_type": "channel",
}
DELETED: dict[str, Any] = {
    "type": "message",
    "subtype": "message_deleted",
    "hidden": True,
    "deleted_ts": TS,
    "channel": CHANNEL,
    "previous_message": EDITED["previous_message"],
    "event_ts": "1700000300.000400",
    "ts": "1700000300.000400",
    "channel_type": "channel",
}
CLICK: dict[str, Any] = {
    "type": "block_actions",
    "user": {"id": ALICE, "username": "alice", "name": "alice", "team_id": "T0FAKE"},
    "api_app_id": "A0FAKE",
    "token": "legacy-verification-token",
    "container": {
        "type": "message",
        "message_ts": PARENT,
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    },
    "trigger_id": "123.456.abc",
    "team": {"id": "T0FAKE", "domain": "fake"},
    "channel": {"id": CHANNEL, "name": "handoffs"},
    "response_url": "https://hooks.slack.com/actions/T0FAKE/1/abc",
    "actions": [
        {
            "action_id": "claim",
            "block_id": "hitl_actions",
            "text": {"type": "plain_text", "text": "Claim", "emoji": True},
            "value": "conv_abc",
            "style": "primary",
            "type": "button",
            "action_ts": "1700000400.000500",
        }
    ],
}
HOME_OPENED: dict[str, Any] = {
    "type": "app_home_opened",
    "user": ALICE,
    "channel": "D0HOME",
    "tab": "home",
    "event_ts": "1700000500.000600",
}
COMMAND: dict[str, str] = {
    "token": "legacy-verification-token",
    "team_id": "T0FAKE",
    "team_domain": "fake",
    "channel_id": CHANNEL,
    "channel_name": "handoffs",
    "user_id": ALICE,
    "user_name": "alice",
    "command": "/hitl",
    "text": "",
    "api_app_id": "A0FAKE",
    "is_enterprise_install": "false",
    "response_url": "https://hooks.slack.com/commands/T0FAKE/1/abc",
    "trigger_id": "123.456.def",
}


def envelope(event: dict[str, Any], event_id: str = "Ev0ONE") -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": "T0FAKE",
        "api_app_id": "A0FAKE",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000000,
        "authorizations": [
            {"team_id": "T0FAKE", "user_id": BRIDGE, "is_bot": True, "is_enterprise_install": False}
        ],
    }


# --- the translations -----------------------------------------------------------------------


def test_a_reply_in_a_thread() -> None:
    assert reply(REPLY) == Received(
        "reply",
        {
            "channel": CHANNEL,
            "thread_ts": PARENT,
            "ts": TS,
            "user": ALICE,
            "text": "On it, <@U0BOB> &amp; I",  # read as a person would later, by the intake
            "files": [],
        },
        thread=(CHANNEL, PARENT),
    )


def test_a_reply_with_files_keeps_only_file_objects() -> None:
    received = reply(FILE_SHARE)
    assert received is not None
    assert received.payload["text"] == ""
    assert [f["id"] for f in received.payload["files"]] == ["F0FILE"]
    broadcast = reply(REPLY | {"subtype": "thread_broadcast"})
    assert broadcast is not None and broadcast.kind == "reply"


@pytest.mark.parametrize(
    "event",
    [
        {k: v for k, v in REPLY.items() if k != "thread_ts"},  # top-level chatter
        REPLY | {"thread_ts": TS},  # the parent itself
        REPLY | {"bot_id": "B0OTHER", "app_id": "A0OTHER"},  # another app's bot
        REPLY | {"subtype": "bot_message", "bot_id": "B0LEGACY"},  # a legacy bot
        REPLY | {"subtype": "channel_join"},
        REPLY | {"user": ""},
        REPLY | {"channel": 5},
    ],
)
def test_not_an_agents_reply(event: dict[str, Any]) -> None:
    assert reply(event) is None


def test_an_edit() -> None:
    assert edit(EDITED) == Received(
        "change",
        {"channel": CHANNEL, "ts": TS, "user": ALICE, "text": "On it, fixed"},
        thread=(CHANNEL, PARENT),
    )


def test_an_unfurl_or_a_top_level_edit_is_no_edit() -> None:
    unfurled = EDITED | {"message": EDITED["previous_message"] | {"attachments": [{"id": 1}]}}
    assert edit(unfurled) is None
    top_level = {k: v for k, v in EDITED["message"].items() if k != "thread_ts"}
    assert edit(EDITED | {"message": top_level}) is None
    assert edit(EDITED | {"message": "not an object"}) is None


def test_a_deletion() -> None:
    assert deletion(DELETED) == Received(
        "change",
        {"channel": CHANNEL, "ts": TS, "user": ALICE, "text": None},
        thread=(CHANNEL, PARENT),
    )
    assert deletion({k: v for k, v in DELETED.items() if k != "previous_message"}) is None


def test_a_button_press() -> None:
    action = CLICK["actions"][0]
    assert button_press(CLICK, action) == Received(
        "action", {"action": "claim", "user": ALICE}, conversation_id="conv_abc"
    )
    assert button_press(CLICK, {k: v for k, v in action.items() if k != "value"}) is None
    assert button_press(CLICK, action | {"action_id": "approve"}) is None
    assert button_press(CLICK | {"user": None}, action) is None


def test_event_id_home_opener_and_hitl_query() -> None:
    assert event_id(envelope(REPLY)) == "Ev0ONE"
    assert event_id({"event_id": 5}) is None
    assert home_opener(HOME_OPENED) == ALICE
    assert home_opener({k: v for k, v in HOME_OPENED.items() if k != "tab"}) == ALICE
    assert home_opener(HOME_OPENED | {"tab": "messages"}) is None
    assert hitl_query(COMMAND) == ("waiting", ALICE)
    assert hitl_query(COMMAND | {"text": "  MINE "}) == ("mine", ALICE)
    assert hitl_query(COMMAND | {"text": "stats"}) == ("stats", ALICE)
    assert hitl_query(COMMAND | {"text": "what"}) == ("help", ALICE)


def test_an_approval_button_press() -> None:
    for action_id, decision in [
        ("approval_approve", Decision.APPROVE),
        ("approval_edit", Decision.EDIT),
        ("approval_reject", Decision.REJECT),
    ]:
        action = CLICK["actions"][0] | {"action_id": action_id, "value": "apv_1"}
        assert approval_click(CLICK, action) == Decided("apv_1", ALICE, decision)
    action = CLICK["actions"][0] | {"action_id": "approval_approve"}
    assert approval_click(CLICK | {"user": {}}, action) is None
    assert approval_click(CLICK, action | {"value": ""}) is None
    assert approval_click(CLICK, CLICK["actions"][0]) is None  # Claim is no decision


def form(callback_id: str, block_id: str, action_id: str, value: str | None) -> dict[str, Any]:
    """A submitted view as Slack sends it (an input left empty comes as null)."""
    typed = {block_id: {action_id: {"type": "plain_text_input", "value": value}}}
    return {
        "id": "V0FORM",
        "type": "modal",
        "callback_id": callback_id,
        "private_metadata": "apv_1",
        "state": {"values": typed},
    }


def test_a_submitted_form() -> None:
    body = {"type": "view_submission", "user": {"id": ALICE}}
    edit = form("approval_edit", "approval_text", "text", "New\ntext ")
    assert submission(body, edit) == Decided("apv_1", ALICE, Decision.EDIT, text="New\ntext ")
    blank = form("approval_edit", "approval_text", "text", " \n ")
    assert isinstance(submission(body, blank), str)  # sent back, saying why
    reject = form("approval_reject", "approval_reason", "reason", " Never promise dates ")
    expected = Decided("apv_1", ALICE, Decision.REJECT, comment="Never promise dates")
    assert submission(body, reject) == expected
    reject = form("approval_reject", "approval_reason", "reason", None)
    assert submission(body, reject) == Decided("apv_1", ALICE, Decision.REJECT)
    assert submission(body, reject | {"callback_id": "other"}) is None
    assert submission(body, reject | {"private_metadata": ""}) is None
    assert submission({"user": None}, reject) is None


# --- which listener Bolt picks ----------------------------------------------------------------


@dataclass
class FakeAgents:
    kept: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    async def intake(self, kind: str, payload: dict[str, Any], **where: Any) -> bool:
        self.kept.append((kind, payload, where))
        return True


class FakeOverview:
    async def queue(self, *args: Any, **kwargs: Any) -> Listed:
        return Listed([], 0)

    async def figures(self, since: Any) -> Figures:
        return Figures(0, None, None)


@dataclass
class FakeApprovals:
    kept: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def intake(self, approval_id: str, payload: dict[str, Any]) -> bool:
        self.kept.append((approval_id, payload))
        return True


@dataclass
class FakeService:
    """What the listeners call on the service, recorded."""

    agents: FakeAgents = field(default_factory=FakeAgents)
    overview: FakeOverview = field(default_factory=FakeOverview)
    approvals: FakeApprovals = field(default_factory=FakeApprovals)

    @property
    def kept(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        return self.agents.kept


@dataclass
class FakeIntake:
    """The intake's side of a reply: handled at once when `ready`, else kept."""

    ready: bool = False
    at_once: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)

    async def reply_at_once(self, payload: dict[str, Any], event_id: str | None) -> bool:
        if self.ready:
            self.at_once.append((payload, event_id))
        return self.ready


@dataclass
class FakeHome:
    opened_by: list[str] = field(default_factory=list)

    async def opened(self, user: str) -> None:
        self.opened_by.append(user)


async def _authorize(**kwargs: Any) -> AuthorizeResult:
    return AuthorizeResult(
        enterprise_id=None,
        team_id="T0FAKE",
        bot_token="xoxb-test",
        bot_id="B0BRIDGE",
        bot_user_id=BRIDGE,
    )


@pytest.fixture
def bolt() -> tuple[AsyncApp, FakeService, FakeHome]:
    """A Bolt app with the listeners, as `app.build_app` sets it up, Slack left out."""
    service, home, intake = FakeService(), FakeHome(), FakeIntake()
    app = AsyncApp(
        client=AsyncWebClient(),
        authorize=_authorize,
        request_verification_enabled=False,
        process_before_response=True,
    )

    async def provide(context: AsyncBoltContext, next: Any) -> None:
        context["service"], context["app_home"] = service, home
        context["intake"] = intake
        await next()

    app.middleware(provide)
    listeners.register(app)
    return app, service, home


async def dispatch(app: AsyncApp, body: dict[str, Any], *, form: bool = False) -> BoltResponse:
    if form:
        raw = urlencode(body if "command" in body else {"payload": json.dumps(body)})
        content_type = "application/x-www-form-urlencoded"
    else:
        raw, content_type = json.dumps(body), "application/json"
    return await app.async_dispatch(
        AsyncBoltRequest(body=raw, headers={"content-type": [content_type]})
    )


async def test_messages_reach_the_listener_for_their_subtype(
    bolt: tuple[AsyncApp, FakeService, FakeHome],
) -> None:
    app, service, _ = bolt
    for event in (REPLY, FILE_SHARE, REPLY | {"subtype": "thread_broadcast"}, EDITED, DELETED):
        assert (await dispatch(app, envelope(event))).status == 200
    assert [(kind, where) for kind, _, where in service.kept] == [
        ("reply", {"event_id": "Ev0ONE", "thread": (CHANNEL, PARENT), "conversation_id": None})
    ] * 3 + [
        ("change", {"event_id": "Ev0ONE", "thread": (CHANNEL, PARENT), "conversation_id": None})
    ] * 2
    assert [payload["text"] for _, payload, _ in service.kept[3:]] == ["On it, fixed", None]


@pytest.mark.parametrize(
    "event",
    [
        REPLY | {"subtype": "bot_message", "bot_id": "B0LEGACY"},
        REPLY | {"subtype": "channel_join", "text": "<@U0ALICE> has joined the channel"},
        REPLY | {"subtype": "message_replied"},
        REPLY | {"bot_id": "B0OTHER"},
        REPLY | {"user": BRIDGE, "bot_id": "B0BRIDGE"},  # the bridge's own: Bolt drops it
    ],
)
async def test_other_messages_are_acknowledged_and_not_kept(
    bolt: tuple[AsyncApp, FakeService, FakeHome], event: dict[str, Any]
) -> None:
    app, service, _ = bolt
    assert (await dispatch(app, envelope(event))).status == 200
    assert service.kept == []


async def test_our_buttons_are_kept_and_acknowledged(
    bolt: tuple[AsyncApp, FakeService, FakeHome],
) -> None:
    app, service, _ = bolt
    for action_id in ("claim", "release", "resolve"):
        action = CLICK["actions"][0] | {"action_id": action_id}
        assert (await dispatch(app, CLICK | {"actions": [action]}, form=True)).status == 200
    assert [(p["action"], w["conversation_id"]) for _, p, w in service.kept] == [
        ("claim", "conv_abc"),
        ("release", "conv_abc"),
        ("resolve", "conv_abc"),
    ]
    # Another app's button matches nothing: Bolt's 404 (`events_route` makes it a 200).
    other = CLICK | {"actions": [CLICK["actions"][0] | {"action_id": "approve"}]}
    assert (await dispatch(app, other, form=True)).status == 404


async def test_app_home_and_hitl(bolt: tuple[AsyncApp, FakeService, FakeHome]) -> None:
    app, service, home = bolt
    assert (await dispatch(app, envelope(HOME_OPENED))).status == 200
    assert (await dispatch(app, envelope(HOME_OPENED | {"tab": "messages"}))).status == 200
    assert home.opened_by == [ALICE]
    answer = await dispatch(app, COMMAND | {"text": "help"}, form=True)
    assert answer.status == 200 and "/hitl mine" in answer.body
    answer = await dispatch(app, COMMAND, form=True)
    assert "Nobody is waiting" in answer.body
    assert service.kept == []


async def test_approval_decisions_are_kept_and_forms_closed(
    bolt: tuple[AsyncApp, FakeService, FakeHome],
) -> None:
    app, service, _ = bolt
    approve = CLICK["actions"][0] | {"action_id": "approval_approve", "value": "apv_1"}
    assert (await dispatch(app, CLICK | {"actions": [approve]}, form=True)).status == 200
    body = {"type": "view_submission", "user": {"id": ALICE}, "api_app_id": "A0FAKE"}
    body |= {"team": {"id": "T0FAKE"}}
    reject = form("approval_reject", "approval_reason", "reason", "No")
    answer = await dispatch(app, body | {"view": reject}, form=True)
    assert (answer.status, answer.body) == (200, "")  # an empty answer closes the form
    assert service.approvals.kept == [
        ("apv_1", {"approvalId": "apv_1", "decision": "approve", "user": ALICE}),
        ("apv_1", {"approvalId": "apv_1", "decision": "reject", "user": ALICE, "comment": "No"}),
    ]
    blank = form("approval_edit", "approval_text", "text", None)
    answer = await dispatch(app, body | {"view": blank}, form=True)
    assert answer.status == 200 and json.loads(answer.body)["response_action"] == "errors"
    closed = body | {"type": "view_closed", "view": reject, "is_cleared": False}
    assert (await dispatch(app, closed, form=True)).status == 200
    assert len(service.approvals.kept) == 2
