"""`python -m bench.reverse`: what the bridge costs on the way from Slack to the bot.

Signed Slack ``message`` events (agents replying in handoff threads) are POSTed to
``/slack/events``; the clock stops when the fake bot has accepted the matching webhook.
Two contestants, one run:

- ``bridge``: the real bridge (``python -m bridge serve``) with its webhook pointed at the
  fake bot. Every conversation is created, its parent posted, and claimed (one reply each,
  which also yields ``hitlAssigned``) before the clock starts, so the measured events are
  plain ``message`` events.
- ``bare``: ``bench/bare.py``'s ``/slack/events``: checks the signature, then signs and
  POSTs the reply to the same fake bot, inline, before answering Slack.

N events over M conversations (each conversation's events one after another, each POST
awaited before the next; conversations in parallel), then latency at steady rates. The
events are built and signed by the load generator exactly as the fake Slack builds them
(same envelope, same signature scheme), so the fake Slack is not in the measured path.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient

from bench.common import (
    AGENTS,
    CHANNEL,
    MARKER,
    TRIAL_TIMEOUT,
    BotApi,
    Fakes,
    Load,
    Trials,
    announce,
    contestants,
    latency_trials,
    marker,
    parents,
    parse_args,
    print_latency,
    print_throughput,
    slack_signature,
    split,
    throughputs,
    wrap_up,
    write_json,
)
from bench.diagnose import profile, trace

# The fake Slack's identities (bridge.testing.fake_slack defaults).
TEAM = "T0FAKE"
APP = "A0FAKE"
BOT_USER = "UBRIDGE"

_serials = itertools.count(1)


def text(mark: str) -> str:
    return f"{mark} Hi! I'm looking at your order now &amp; will be back in a minute."


class Events:
    """Slack's Events API deliveries of human thread replies, signed as Slack signs them."""

    def __init__(self, session: aiohttp.ClientSession, url: str, secret: str) -> None:
        self.session = session
        self.url = url + "/slack/events"
        self.secret = secret

    def envelope(self, user: str, thread_ts: str, text: str, ts: str) -> dict[str, Any]:
        serial = next(_serials)  # event ids must never repeat: a repeat is a Slack retry
        event = {
            "type": "message",
            "text": text,
            "user": user,
            "ts": ts,
            "client_msg_id": str(uuid.uuid4()),
            "team": TEAM,
            "blocks": [
                {
                    "type": "rich_text",
                    "block_id": f"b{serial}",
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                    ],
                }
            ],
            "thread_ts": thread_ts,
            "parent_user_id": BOT_USER,
            "channel": CHANNEL,
            "event_ts": ts,
            "channel_type": "channel",
        }
        context = {"et": "message", "tid": TEAM, "aid": APP, "cid": CHANNEL}
        encoded = base64.urlsafe_b64encode(json.dumps(context).encode()).decode().rstrip("=")
        return {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "context_team_id": TEAM,
            "context_enterprise_id": None,
            "api_app_id": APP,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{serial:08d}BENCH{os.getpid()}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{encoded}",
        }

    async def deliver(self, user: str, thread_ts: str, text: str, ts: str) -> None:
        """Deliver the event of the stored message `ts`, as Slack would."""
        body = json.dumps(self.envelope(user, thread_ts, text, ts)).encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": slack_signature(self.secret, stamp, body),
        }
        async with self.session.post(self.url, data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"POST {self.url}: HTTP {resp.status}")


class ReplyTarget:
    """Agents replying in `m` threads; the threads come from `open_threads`.

    Every reply is first stored in the fake Slack (before the clock: the bridge later
    reacts to it, and a reaction needs the message), then delivered by the load generator.
    """

    def __init__(
        self,
        name: str,
        events: Events,
        fakes: Fakes,
        open_threads: Callable[[int], Awaitable[list[str]]],
    ) -> None:
        self.name = name
        self.events = events
        self.fakes = fakes
        self.open_threads = open_threads
        self.threads: list[str] = []
        self.ts_of: dict[str, str] = {}

    async def open(self, conversations: int) -> None:
        self.threads = await self.open_threads(conversations)

    async def store(self, tag: str, counts: list[int]) -> None:
        """Store the replies `marker(tag, j, i)`, i < counts[j], in the fake Slack."""
        marks = [marker(tag, j, i) for j, count in enumerate(counts) for i in range(count)]
        items = [
            {
                "user": _agent(int(mark.split("-")[2])),
                "channel": CHANNEL,
                "thread_ts": self.threads[int(mark.split("-")[2])],
                "text": text(mark),
            }
            for mark in marks
        ]
        stored = await self.fakes.store_messages(items)
        self.ts_of.update(zip(marks, stored, strict=True))

    async def send(self, conversation: int, text: str) -> None:
        found = MARKER.search(text)
        assert found is not None
        ts = self.ts_of[found.group(0)]
        await self.events.deliver(_agent(conversation), self.threads[conversation], text, ts)


def _agent(conversation: int) -> str:
    return AGENTS[conversation % len(AGENTS)]


async def prepare(target: ReplyTarget, fakes: Fakes, tag: str, n: int, m: int) -> None:
    """Create the conversations, store every reply of the trial in the fake Slack, and send
    one reply in each conversation before the clock: for the bridge that is the claim
    (`hitlAssigned`, then the `message`)."""
    await target.open(m)
    await target.store(tag + "c", [1] * m)
    await target.store(tag, split(n, m))
    await asyncio.gather(*(target.send(j, text(marker(tag + "c", j, 0))) for j in range(m)))
    await fakes.wait_bot(tag + "c", m, timeout=60)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": announce(), "args": vars(args)}
    async with contestants(webhook=True) as c:
        makers = _makers(c.session, c.fakes, c.bridge_url, c.bare_url)
        load: Load[ReplyTarget] = Load(
            lambda target, tag, n: prepare(target, c.fakes, tag, n, args.conversations),
            lambda tag, n: c.fakes.wait_bot(tag, n, timeout=TRIAL_TIMEOUT),
            text,
            args.events,
            args.conversations,
            "event",
        )
        results["throughput"] = await throughputs(args, c, makers, load, "ev/s")
        _print_throughput(results["throughput"], args)
        results["latency"] = await latency_trials(args, c, makers, load)
        print_latency(results["latency"], args, "events")
        if args.profile:
            bridge = makers["bridge"]()
            results["profile"] = await profile(load, bridge, c.bridge.pid, Path(args.profile))
        if args.trace:
            results["trace"] = await trace(
                load,
                c.session,
                c.fakes,
                c.work,
                lambda url: _makers(c.session, c.fakes, url, url)["bridge"](),
                webhook=True,
            )
        results |= await wrap_up(c)
    return results


Makers = dict[str, Callable[[], ReplyTarget]]


def _bridge_threads(api: BotApi) -> Callable[[int], Awaitable[list[str]]]:
    async def open_threads(m: int) -> list[str]:
        return [ts for _, _, ts in await api.conversations(m)]

    return open_threads


def _makers(session: aiohttp.ClientSession, fakes: Fakes, bridge_url: str, bare_url: str) -> Makers:
    client = AsyncWebClient(token=fakes.bot_token, base_url=fakes.slack_api_url)
    secret = fakes.signing_secret
    return {
        "bridge": lambda: ReplyTarget(
            "bridge",
            Events(session, bridge_url, secret),
            fakes,
            _bridge_threads(BotApi(session, bridge_url)),
        ),
        # The bare forwarder stores nothing: its threads are parents posted straight to Slack.
        "bare": lambda: ReplyTarget(
            "bare", Events(session, bare_url, secret), fakes, lambda m: parents(client, m)
        ),
    }


def _print_throughput(res: Trials, args: argparse.Namespace) -> None:
    heading = (
        f"Slack -> bot throughput: {args.events} events over {args.conversations}"
        f" conversations (median of {args.runs} runs)"
    )
    med = print_throughput(res, args.events, heading, "events/s", "event")
    print(f"\nbridge/bare = {med['bridge'] / med['bare']:.2f}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(
        "python -m bench.reverse",
        "Slack -> bot: the bridge against a bare signed forwarder.",
        "events",
        argv,
    )
    results = asyncio.run(run(args))
    write_json(args.json, results)


if __name__ == "__main__":
    main()
