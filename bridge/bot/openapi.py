"""The bot API as an OpenAPI 3.1 document, generated from the same pydantic models the routes
use (served at `GET /v1/openapi.json`)."""

from __future__ import annotations

import copy
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import models_json_schema

from bridge.bot import wire
from bridge.events import BotEvent
from bridge.model import Content

REF = "#/components/schemas/{model}"


class UserCreated(BaseModel):
    userId: str


class ConversationCreated(BaseModel):
    conversationId: str


class MessageAccepted(BaseModel):
    messageId: str


class ApprovalCreated(BaseModel):
    approvalId: str


class EventsPage(BaseModel):
    events: list[Annotated[BotEvent, Field(discriminator="type")]]
    cursor: str


class ErrorDetail(BaseModel):
    code: Literal[
        "bad_json",
        "unauthorized",
        "not_found",
        "method_not_allowed",
        "conversation_stopped",
        "approval_decided",
        "idempotency_conflict",
        "idempotency_in_progress",
        "too_large",
        "invalid",
    ]
    message: str


class Error(BaseModel):
    error: ErrorDetail


MODELS: list[type[BaseModel]] = [
    wire.CreateUser,
    wire.StartHitl,
    wire.UserOut,
    wire.ConversationOut,
    wire.RequestApproval,
    wire.ApprovalOut,
    UserCreated,
    ConversationCreated,
    MessageAccepted,
    ApprovalCreated,
    EventsPage,
    Error,
]


def _body(name: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=name)}}},
    }


def _answer(status: str, name: str, description: str) -> dict[str, Any]:
    schema = {"$ref": REF.format(model=name)}
    return {
        status: {"description": description, "content": {"application/json": {"schema": schema}}}
    }


ERRORS = {
    code: {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}},
    }
    for code, text in {
        "400": "the body is not JSON (`bad_json`)",
        "401": "a missing or wrong bearer token (`unauthorized`)",
        "404": "no such user, conversation or approval request (`not_found`)",
        "409": "`conversation_stopped`, `approval_decided`, `idempotency_conflict` or "
        "`idempotency_in_progress`",
        "413": "the body is over BRIDGE_MAX_BODY (`too_large`)",
        "422": "a field that does not fit (`invalid`); the message names it",
    }.items()
}
IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "1-255 printable ASCII characters; a repeat gets the first 2xx answer again.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


@cache
def document() -> dict[str, Any]:
    _, defs = models_json_schema([(m, "validation") for m in MODELS], ref_template=REF)
    schemas: dict[str, Any] = dict(defs["$defs"])
    content = TypeAdapter(Content).json_schema(ref_template=REF)
    schemas.update(content.pop("$defs", {}))
    schemas["Content"] = content
    # The body of sendMessage: any message type, plus `userId` when the end user speaks.
    variants = []
    for ref in content["oneOf"]:
        name = ref["$ref"].rsplit("/", 1)[1]
        variant = copy.deepcopy(schemas[name])
        variant["properties"]["userId"] = {"type": "string"}
        schemas[f"Send{name}"] = variant
        variants.append({"$ref": REF.format(model=f"Send{name}")})
    schemas["SendMessage"] = {
        "description": "A message: with `userId` the end user speaks; without, a bot notice.",
        "oneOf": variants,
    }
    errors = dict(ERRORS)
    conversation = [_id("conversationId")]
    paths = {
        "/v1/users": {"post": {
            "operationId": "createUser", "summary": "Create an end user",
            "parameters": [IDEMPOTENCY], "requestBody": _body("CreateUser"),
            "responses": {**_answer("201", "UserCreated", "created"), **errors},
        }},
        "/v1/users/{userId}": {"get": {
            "operationId": "getUser", "summary": "An end user or an agent",
            "parameters": [_id("userId")],
            "responses": {**_answer("200", "UserOut", "the user"), **errors},
        }},
        "/v1/conversations": {"post": {
            "operationId": "startHitl", "summary": "Hand a conversation to humans in Slack",
            "parameters": [IDEMPOTENCY], "requestBody": _body("StartHitl"),
            "responses": {**_answer("201", "ConversationCreated", "started"), **errors},
        }},
        "/v1/conversations/{conversationId}": {"get": {
            "operationId": "getConversation", "summary": "A conversation's state",
            "parameters": conversation,
            "responses": {**_answer("200", "ConversationOut", "the conversation"), **errors},
        }},
        "/v1/conversations/{conversationId}/messages": {"post": {
            "operationId": "sendMessage", "summary": "Say something in the thread",
            "parameters": [*conversation, IDEMPOTENCY], "requestBody": _body("SendMessage"),
            "responses": {**_answer("202", "MessageAccepted", "queued for Slack"), **errors},
        }},
        "/v1/conversations/{conversationId}/stop": {"post": {
            "operationId": "stopHitl", "summary": "End the handoff (not echoed as hitlStopped)",
            "parameters": [*conversation, IDEMPOTENCY],
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": {"type": "object", "maxProperties": 0}}}},
            "responses": {"200": {"description": "stopped (also when it already was)",
                                  "content": {"application/json": {"schema": {
                                      "type": "object", "maxProperties": 0}}}}, **errors},
        }},
        "/v1/approvals": {"post": {
            "operationId": "requestApproval",
            "summary": "Ask a human in Slack to approve, edit or reject a draft",
            "parameters": [IDEMPOTENCY], "requestBody": _body("RequestApproval"),
            "responses": {**_answer("201", "ApprovalCreated", "asked"), **errors},
        }},
        "/v1/approvals/{approvalId}": {"get": {
            "operationId": "getApproval", "summary": "An approval request and its decision",
            "parameters": [_id("approvalId")],
            "responses": {**_answer("200", "ApprovalOut", "the request"), **errors},
        }},
        "/v1/approvals/{approvalId}/cancel": {"post": {
            "operationId": "cancelApproval",
            "summary": "Withdraw a pending request (no approvalDecided follows)",
            "parameters": [_id("approvalId"), IDEMPOTENCY],
            "requestBody": {"required": False, "content": {"application/json": {
                "schema": {"type": "object", "maxProperties": 0}}}},
            "responses": {"200": {"description": "cancelled (also when it already was)",
                                  "content": {"application/json": {"schema": {
                                      "type": "object", "maxProperties": 0}}}}, **errors},
        }},
        "/v1/events": {"get": {
            "operationId": "events", "summary": "Long-poll the events the webhook gets",
            "parameters": [
                {"name": "after", "in": "query", "required": False,
                 "schema": {"type": "string"}, "description": "the previous answer's cursor"},
                {"name": "wait", "in": "query", "required": False,
                 "schema": {"type": "number", "minimum": 0, "maximum": 30}},
            ],
            "responses": {**_answer("200", "EventsPage", "up to 100 events"), **errors},
        }},
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hitl-bridge bot API",
            "version": "1",
            "description": "Hand chatbot conversations to humans in Slack. Events: "
            "`hitlAssigned` {conversationId, userId, agent}, `message` {conversationId, userId, "
            "messageId, type, payload, agent}, `hitlStopped` {conversationId, reason}, "
            "`approvalDecided` {approvalId, conversationId, status, message, comment, userId, "
            "agent}.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
