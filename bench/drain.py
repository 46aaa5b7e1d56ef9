"""Rate-limited drain: a backlog in one channel, against a fake Slack that enforces 1 post/s.

    python -m bench.drain [--messages 20]

Prints how long the backlog took against the ideal the limit allows ((N - 1) / rate after the
first post), how many 429s Slack answered, and the same with combining turned on (fewer
posts, so it catches up sooner).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bridge.client import BridgeClient
from bridge.config import load_settings
from bridge.server import Bridge
from bridge.testing.fake_slack import FakeSlack

CHANNEL = "C0DRAIN"
RATE = 1.0
TOKEN = "bench-api-token-0123456789"


async def drain(messages: int, combine: bool) -> tuple[float, int, int]:
    """(seconds from the first backlog post to the last message shown, 429s, posts)."""
    async with FakeSlack(echo_events=False) as slack:
        slack.add_channel(CHANNEL, "drain")
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                "SLACK_BOT_TOKEN": slack.bot_token,
                "SLACK_SIGNING_SECRET": slack.signing_secret,
                "SLACK_API_URL": slack.api_url,
                "BRIDGE_CHANNEL": CHANNEL,
                "BRIDGE_API_TOKEN": TOKEN,
                "BRIDGE_DATABASE_URL": f"sqlite:///{Path(tmp) / 'b.db'}",
                "BRIDGE_SLACK_RATE": str(RATE),
                "BRIDGE_SLACK_BURST": "1",
                "BRIDGE_SLACK_COMBINE": str(combine).lower(),
            }
            bridge = Bridge(load_settings(env, env_file=None), port=0)
            await bridge.start()
            try:
                async with BridgeClient(bridge.url, TOKEN) as bot:
                    user = await bot.create_user("Erin")
                    conv = await bot.start_hitl(user)
                    while (await bot.get_conversation(conv)).slack.threadTs is None:
                        await asyncio.sleep(0.01)
                    await asyncio.sleep(1 / RATE)  # the parent's slot has passed: start even
                    slack.limit_posts(rate=RATE, burst=2)
                    started = time.monotonic()
                    for n in range(messages):
                        await bot.send_text(conv, f"backlog {n}", user_id=user)
                last = f"backlog {messages - 1}"
                while not any(last in m.text for m in slack.messages(CHANNEL)):
                    await asyncio.sleep(0.01)
                took = time.monotonic() - started
                posts = sum(1 for m in slack.messages(CHANNEL) if "backlog" in m.text)
                return took, slack.ratelimited, posts
            finally:
                await bridge.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    ideal = (args.messages - 1) / RATE
    print(f"backlog of {args.messages} messages in one channel, Slack enforcing {RATE:g}/s")
    print(f"{'combine':<8} {'seconds':>8} {'ideal':>7} {'ratio':>6} {'429s':>5} {'posts':>6}")
    for combine in (False, True):
        took, limited, posts = await drain(args.messages, combine)
        print(
            f"{'on' if combine else 'off':<8} {took:8.2f} {ideal:7.2f} {took / ideal:6.2f}"
            f" {limited:5d} {posts:6d}"
        )


if __name__ == "__main__":
    asyncio.run(main())
