"""`python -m bench.bare serve`: the bare forwarders the bridge is measured against.

The least a relay can do, inline in the request, with no storage, no ordering, no retries:

- ``POST /v1/conversations/{thread_ts}/messages`` (the bot API's shape; the conversation id
  *is* the Slack thread ts, since nothing is stored): one ``chat.postMessage`` in that thread,
  then 202. The post is the very one the bridge makes (same Block Kit rendering, metadata,
  ``username``), so the fake Slack does the same work for both.
- ``POST /slack/events``: check Slack's signature, sign the agent's reply as a Standard
  Webhooks ``message`` event and POST it to the bot, then 200.

Configured by the bridge's own variables (``SLACK_BOT_TOKEN``, ``SLACK_API_URL``,
``SLACK_SIGNING_SECRET``, ``BRIDGE_CHANNEL``, ``BRIDGE_API_TOKEN``, ``BRIDGE_PORT``,
``BRIDGE_WEBHOOK_URL``, ``BRIDGE_WEBHOOK_SECRET``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from standardwebhooks.webhooks import Webhook

from bridge import logs, loop
from bridge.model import TextMessage, TextPayload
from bridge.slack import thread


def post_args(channel: str, thread_ts: str, text: str, username: str, key: str) -> dict[str, Any]:
    """The arguments of the bridge's `chat.postMessage` for an end user's text message."""
    (rendered,) = thread.message(
        TextMessage(type="text", payload=TextPayload(text=text)), from_bot=False
    )
    return {
        "channel": channel,
        "thread_ts": thread_ts,
        "text": rendered.text,
        "blocks": rendered.blocks,
        "metadata": {"event_type": "hitl_bridge_post", "event_payload": {"key": key}},
        "unfurl_links": False,
        "unfurl_media": False,
        "username": username[:80],
    }


def build(env: dict[str, str], session: aiohttp.ClientSession) -> web.Application:
    # Built the way the bridge builds its client (server.py): one session for every call.
    client = AsyncWebClient(
        token=env["SLACK_BOT_TOKEN"], base_url=env["SLACK_API_URL"], session=session
    )
    channel = env["BRIDGE_CHANNEL"]
    bearer = f"Bearer {env['BRIDGE_API_TOKEN']}"
    verifier = SignatureVerifier(env["SLACK_SIGNING_SECRET"])
    webhook_url = env.get("BRIDGE_WEBHOOK_URL")
    signer = Webhook(env["BRIDGE_WEBHOOK_SECRET"]) if webhook_url else None

    async def message(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != bearer:
            return web.json_response({"error": {"code": "unauthorized"}}, status=401)
        body = await request.json()
        message_id = f"msg_{uuid.uuid4().hex}"
        thread_ts = request.match_info["thread_ts"]
        text = str(body["payload"]["text"])
        username = str(body.get("userId") or "someone")
        await client.chat_postMessage(**post_args(channel, thread_ts, text, username, message_id))
        return web.json_response({"messageId": message_id}, status=202)

    async def slack_event(request: web.Request) -> web.Response:
        raw = await request.read()
        if not verifier.is_valid_request(raw, dict(request.headers)):
            return web.Response(status=401)
        envelope = json.loads(raw)
        if envelope.get("type") == "url_verification":
            return web.json_response({"challenge": envelope.get("challenge")})
        event = envelope.get("event") or {}
        if signer is None or webhook_url is None or event.get("bot_id") or not event.get("user"):
            return web.Response(status=200)
        event_id = f"evt_{uuid.uuid4().hex}"
        out = {
            "id": event_id,
            "type": "message",
            "createdAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "payload": {
                "conversationId": event.get("thread_ts"),
                "userId": event["user"],
                "messageId": f"msg_{uuid.uuid4().hex}",
                "type": "text",
                "payload": {"text": event.get("text") or ""},
                "agent": {"slackUserId": event["user"]},
            },
        }
        data = json.dumps(out, separators=(",", ":"))
        sent_at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signer.sign(event_id, sent_at, data),
        }
        async with session.post(webhook_url, data=data.encode(), headers=headers) as resp:
            await resp.read()
        return web.Response(status=200)

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.add_routes(
        [
            web.post("/v1/conversations/{thread_ts}/messages", message),
            web.post("/slack/events", slack_event),
            web.get("/healthz", health),
        ]
    )
    return app


async def serve() -> None:
    env = dict(os.environ)
    async with aiohttp.ClientSession() as session:
        runner = web.AppRunner(build(env, session), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, env.get("BRIDGE_HOST", "127.0.0.1"), int(env["BRIDGE_PORT"]))
        await site.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        sys.exit("usage: python -m bench.bare serve")
    # Logging set up as the bridge's is, which also spares slack_sdk formatting a debug line
    # for every call (bridge/logs.py): that saving is not the bridge's to claim.
    logs.setup("INFO")
    loop.run(serve())  # on the loop the bridge runs on
