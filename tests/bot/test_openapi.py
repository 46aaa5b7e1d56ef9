"""The OpenAPI document is generated from the models, and real answers fit it."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from tests.conftest import ALICE, CHANNEL, Stage


def check(document: dict[str, Any], model: str, answer: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{model}", "components": document["components"]}
    errors = list(Draft202012Validator(schema).iter_errors(answer))
    assert not errors, (model, answer, [e.message for e in errors])


async def test_real_answers_fit_the_document(stage: Stage) -> None:
    api, slack, bot = stage.api, stage.slack, stage.bot
    assert bot is not None
    status, doc = await api.get("/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    operations = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert operations == {
        "createUser", "getUser", "startHitl", "getConversation", "sendMessage", "stopHitl",
        "requestApproval", "getApproval", "cancelApproval", "events",
    }  # fmt: skip
    Draft202012Validator.check_schema(doc["components"]["schemas"]["StartHitl"])

    request = {"name": "Erin", "email": "erin@example.com"}
    check(doc, "CreateUser", request)
    status, created = await api.post("/v1/users", request)
    check(doc, "UserCreated", created)
    status, user = await api.get(f"/v1/users/{created['userId']}")
    check(doc, "UserOut", user)
    start = {"userId": user["userId"], "messageHistory": [], "title": "Help"}
    check(doc, "StartHitl", start)
    status, started = await api.post("/v1/conversations", start)
    check(doc, "ConversationCreated", started)
    conv = started["conversationId"]
    message = {"type": "text", "payload": {"text": "hi"}, "userId": user["userId"]}
    check(doc, "SendMessage", message)
    status, accepted = await api.post(f"/v1/conversations/{conv}/messages", message)
    check(doc, "MessageAccepted", accepted)
    parent = await stage.parent_ts(conv)
    await slack.user_says(ALICE, CHANNEL, "hello", thread_ts=parent)
    await bot.wait_for(lambda: len(bot.events()) == 2)
    status, page = await api.get("/v1/events")
    check(doc, "EventsPage", page)
    status, body = await api.get(f"/v1/conversations/{conv}")
    check(doc, "ConversationOut", body)
    for path in ("/v1/users/nobody", "/v1/conversations/nobody"):
        status, error = await api.get(path)
        check(doc, "Error", error)
    status, error = await api.post("/v1/users", {"name": ""})
    check(doc, "Error", error)

    ask = {"draft": {"type": "text", "payload": {"text": "Refund sent"}}, "conversationId": conv}
    check(doc, "RequestApproval", ask)
    status, asked = await api.post("/v1/approvals", ask)
    check(doc, "ApprovalCreated", asked)
    status, approval = await api.get(f"/v1/approvals/{asked['approvalId']}")
    check(doc, "ApprovalOut", approval)
    status, error = await api.post(f"/v1/approvals/{asked['approvalId']}/cancel", {"x": 1})
    check(doc, "Error", error)
