"""`python -m bench.overhead`: what the bridge costs on the way to Slack.

N end-user text messages over M conversations (each conversation's messages one after
another, each POST awaited before the next; conversations in parallel), timed from the first
POST until the fake Slack has stored the last one, for three contestants against the same
fake Slack:

- ``bridge``: the real bridge (``python -m bridge serve``), conversations created and
  parents posted before the clock starts;
- ``bare``: ``bench/bare.py``, one inline ``chat.postMessage`` per POST, nothing stored;
- ``direct``: the same ``chat.postMessage`` calls made by the load generator itself with
  slack_sdk's ``AsyncWebClient``.

Then latency at steady rates (default 100 and 20 messages/s, 10 s each): per message, from
the POST leaving the load generator to the fake Slack storing it, for the bridge and the
bare forwarder.

The fake Slack and fake bot run in one process (``bench.fakes``), the bridge and the bare
forwarder in one each, the load generator in this one. See bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bench.bare import post_args
from bench.common import (
    API_TOKEN,
    CHANNEL,
    TRIAL_TIMEOUT,
    BotApi,
    Fakes,
    Load,
    Target,
    Trials,
    announce,
    contestants,
    expect,
    latency_trials,
    marker,
    parents,
    parse_args,
    print_latency,
    print_throughput,
    throughputs,
    wrap_up,
    write_json,
)
from bench.diagnose import profile, trace


def text(mark: str) -> str:
    return f"{mark} hello, is anyone there? I would like to talk to a person about my order."


class BridgeTarget:
    name = "bridge"

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.api = BotApi(session, url)
        self.conversations: list[tuple[str, str, str]] = []

    async def open(self, conversations: int) -> None:
        self.conversations = await self.api.conversations(conversations)

    async def send(self, conversation: int, text: str) -> None:
        conv, user, _ = self.conversations[conversation]
        body = {"type": "text", "payload": {"text": text}, "userId": user}
        await self.api.post(f"/v1/conversations/{conv}/messages", body, 202)


class BareTarget:
    name = "bare"

    def __init__(self, session: aiohttp.ClientSession, url: str, client: AsyncWebClient) -> None:
        self.session = session
        self.url = url
        self.client = client
        self.headers = {"Authorization": f"Bearer {API_TOKEN}"}
        self.threads: list[str] = []

    async def open(self, conversations: int) -> None:
        self.threads = await parents(self.client, conversations)

    async def send(self, conversation: int, text: str) -> None:
        # No storage in the forwarder: the conversation id is the thread ts, and the end
        # user's name rides in `userId`.
        user = f"Bench User {conversation:03d}"
        body = {"type": "text", "payload": {"text": text}, "userId": user}
        path = f"/v1/conversations/{self.threads[conversation]}/messages"
        async with self.session.post(self.url + path, json=body, headers=self.headers) as resp:
            await expect(resp, 202)


class DirectTarget:
    name = "direct"

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self.threads: list[str] = []
        self.count = 0

    async def open(self, conversations: int) -> None:
        self.threads = await parents(self.client, conversations)

    async def send(self, conversation: int, text: str) -> None:
        self.count += 1
        user = f"Bench User {conversation:03d}"
        key = f"msg_direct_{self.count}"
        await self.client.chat_postMessage(
            **post_args(CHANNEL, self.threads[conversation], text, user, key)
        )


async def prepare(target: Target, fakes: Fakes, tag: str, m: int) -> None:
    """Create the conversations, then one message in each, before the clock: connections,
    caches and code paths are warm."""
    await target.open(m)
    await asyncio.gather(*(target.send(j, text(marker(tag + "w", j, 0))) for j in range(m)))
    await fakes.wait_slack(tag + "w", m, timeout=60)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": announce(), "args": vars(args)}
    async with contestants(webhook=False) as c:
        # Built as the bridge builds its own: one session for every call.
        client = AsyncWebClient(
            token=c.fakes.bot_token, base_url=c.fakes.slack_api_url, session=c.session
        )
        makers: dict[str, Callable[[], Target]] = {
            "bridge": lambda: BridgeTarget(c.session, c.bridge_url),
            "bare": lambda: BareTarget(c.session, c.bare_url, client),
            "direct": lambda: DirectTarget(client),
        }
        load: Load[Target] = Load(
            lambda target, tag, _: prepare(target, c.fakes, tag, args.conversations),
            lambda tag, n: c.fakes.wait_slack(tag, n, timeout=TRIAL_TIMEOUT),
            text,
            args.messages,
            args.conversations,
            "message",
        )
        results["throughput"] = await throughputs(args, c, makers, load, "msg/s")
        _print_throughput(results["throughput"], args)
        results["latency"] = await latency_trials(args, c, makers, load)
        print_latency(results["latency"], args, "messages")
        if args.profile:
            bridge = makers["bridge"]()
            results["profile"] = await profile(load, bridge, c.bridge.pid, Path(args.profile))
        if args.trace:
            results["trace"] = await trace(
                load,
                c.session,
                c.fakes,
                c.work,
                lambda url: BridgeTarget(c.session, url),
                webhook=False,
            )
        results |= await wrap_up(c)
    return results


def _print_throughput(res: Trials, args: argparse.Namespace) -> None:
    heading = (
        f"Slack-bound throughput: {args.messages} messages over {args.conversations}"
        f" conversations (median of {args.runs} runs)"
    )
    med = print_throughput(res, args.messages, heading, "msg/s", "msg")
    print(f"\nbridge/bare   = {med['bridge'] / med['bare']:.2f}  (target <= 1.3)")
    print(f"bridge/direct = {med['bridge'] / med['direct']:.2f}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(
        "python -m bench.overhead",
        "Slack-bound overhead: the bridge against a bare forwarder and direct calls.",
        "messages",
        argv,
    )
    results = asyncio.run(run(args))
    write_json(args.json, results)


if __name__ == "__main__":
    main()
