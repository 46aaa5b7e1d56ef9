#!/usr/bin/env python3
"""A minimal bot that hands its end user over to a human in Slack through hitl-bridge.

The end user is this console (or a script of lines). The bot answers trivially until the end
user says "human"; then it creates the user, starts a handoff with the conversation so far,
relays every line to the Slack thread and prints every event the bridge sends back, until
an agent resolves the thread (``hitlStopped``) and the bot takes over again.

    BRIDGE_URL=http://127.0.0.1:3000 BRIDGE_API_TOKEN=... python examples/minimal_bot.py
    ... python examples/minimal_bot.py --script             # a built-in end user
    ... python examples/minimal_bot.py --script lines.txt   # the end user's lines from a file

Events come by webhook when ``BOT_WEBHOOK_PORT`` and ``BRIDGE_WEBHOOK_SECRET`` are set (the
bridge's ``BRIDGE_WEBHOOK_URL`` must then point at ``http://THIS_HOST:PORT/webhook``), else
through the ``GET /v1/events`` long-poll. See examples/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from bridge.client import BridgeClient, BridgeError, WebhookVerificationError, verify_webhook

SCRIPT = ["hello", "I want a refund for order 42", "human please", "are you there?"]


class Bot:
    def __init__(self, client: BridgeClient) -> None:
        self.client = client
        self.history: list[tuple[str, str]] = []  # (source "user" or "bot", text) so far
        self.user_id: str | None = None
        self.conversation_id: str | None = None  # set while a human has the conversation

    async def hear(self, text: str) -> None:
        """One line from the end user."""
        if self.conversation_id:  # a human has it: relay
            try:
                await self.client.send_text(self.conversation_id, text, user_id=self.user_id)
                return
            except BridgeError as exc:  # resolved just now, the event is on its way
                if exc.code != "conversation_stopped":
                    raise
                self.back_to_bot()
        self.history.append(("user", text))
        if not re.search(r"\bhuman\b", text, re.IGNORECASE):
            self.say('I am a very simple bot. Say "human" to talk to a person.')
            return
        self.say("Let me get a human for you.")
        if self.user_id is None:
            self.user_id = await self.client.create_user("Console user")
        user = {"type": "user", "userId": self.user_id}
        history = [
            {
                "source": user if who == "user" else {"type": "bot"},
                "type": "text",
                "payload": {"text": said},
            }
            for who, said in self.history
        ]
        self.conversation_id = await self.client.start_hitl(
            self.user_id, title=text[:80], message_history=history
        )
        print(f"[bridge] handoff {self.conversation_id} started: waiting for an agent")

    def say(self, text: str) -> None:
        print(f"bot > {text}")
        self.history.append(("bot", text))

    def back_to_bot(self) -> None:
        self.conversation_id, self.history = None, []
        self.say("You are back with the bot.")

    async def on_event(self, event: dict[str, Any]) -> None:
        kind, payload = event["type"], event["payload"]
        print(f"[event] {kind} {payload}")
        if payload.get("conversationId") != self.conversation_id:
            return  # another bot process's conversation, or an old one
        if kind == "hitlAssigned":
            print(f"bot > {payload['agent']['name']} is here to help you.")
        elif kind == "message":
            print(f"{payload['agent']['name']} > {payload['payload'].get('text', payload)}")
        elif kind == "hitlStopped":
            self.back_to_bot()


async def webhook_receiver(bot: Bot, port: int, secret: str) -> web.AppRunner:
    async def receive(request: web.Request) -> web.Response:
        try:
            event = verify_webhook(await request.read(), request.headers, secret)
        except WebhookVerificationError:
            return web.Response(status=401)
        await bot.on_event(event)  # a real bot drops repeats by event["id"]
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/webhook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, os.environ.get("BOT_WEBHOOK_HOST", "127.0.0.1"), port).start()
    return runner


def end_user_lines(script: list[str] | None) -> asyncio.Queue[str | None]:
    """The end user's lines, then None: from the script, or from stdin (a thread reads it)."""
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    if script is not None:
        for line in script:
            lines.put_nowait(line)
        lines.put_nowait(None)
        return lines
    loop = asyncio.get_running_loop()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\n"))
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, daemon=True).start()
    return lines


async def run(url: str, token: str, script: list[str] | None, pause: float) -> None:
    async with BridgeClient(url, token) as client:
        bot = Bot(client)
        secret, port = os.environ.get("BRIDGE_WEBHOOK_SECRET"), os.environ.get("BOT_WEBHOOK_PORT")
        if secret and port:
            runner: web.AppRunner | None = await webhook_receiver(bot, int(port), secret)
            poller = None
        else:
            runner = None
            await client.skip_to_latest()  # only what happens from now on

            async def poll() -> None:
                async for event in client.events():
                    await bot.on_event(event)

            poller = asyncio.create_task(poll())
        lines = end_user_lines(script)
        while (line := await lines.get()) is not None:
            if script is not None:
                await asyncio.sleep(pause)
            if script is not None or not sys.stdin.isatty():
                print(f"end user > {line}")
            await bot.hear(line)
        while bot.conversation_id:  # the end user is done talking: wait for the agent to close
            await asyncio.sleep(0.2)
        if poller is not None:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
        if runner is not None:
            await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", nargs="?", const="", help="end-user lines (file, or built in)")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between script lines")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    script = None if args.script is None else SCRIPT
    if args.script:
        script = [line for line in Path(args.script).read_text().splitlines() if line.strip()]
    url, token = os.environ.get("BRIDGE_URL"), os.environ.get("BRIDGE_API_TOKEN")
    if not url or not token:
        print("minimal_bot: set BRIDGE_URL and BRIDGE_API_TOKEN", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(url, token, script, args.pause))
    return 0


if __name__ == "__main__":
    sys.exit(main())
