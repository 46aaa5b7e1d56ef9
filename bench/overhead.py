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

import asyncio
from collections.abc import Callable

from slack_sdk.web.async_client import AsyncWebClient

from bench.bare import post_args
from bench.contestants import Contestants, handoffs
from bench.control import CHANNEL, Fakes, parents
from bench.harness import Benchmark
from bench.load import Target
from bench.marks import marker
from bench.summary import Goal, added, ratio
from bridge.client import BridgeClient


def text(mark: str) -> str:
    return f"{mark} hello, is anyone there? I would like to talk to a person about my order."


class PostTarget:
    """The bot's POSTs to `/v1/conversations/{id}/messages`, made with `bridge.client`: the
    bridge's, or with `client` the bare forwarder's. Both contestants are sent the same
    requests by the same client, so whatever it costs the load generator, it costs both."""

    def __init__(self, bot: BridgeClient, client: AsyncWebClient | None = None) -> None:
        self.bot = bot
        self.client = client
        self.conversations: list[tuple[str, str]] = []  # (conversation id, userId)

    async def open(self, conversations: int) -> None:
        if self.client is None:
            made = await handoffs(self.bot, conversations)
            self.conversations = [(conv, user) for conv, user, _ in made]
        else:
            # No storage in the forwarder: the conversation id is the thread ts, and the end
            # user's name rides in `userId`.
            threads = await parents(self.client, conversations)
            self.conversations = [(ts, f"Bench User {j:03d}") for j, ts in enumerate(threads)]

    async def send(self, conversation: int, text: str) -> None:
        conv, user = self.conversations[conversation]
        await self.bot.send_text(conv, text, user_id=user)


class DirectTarget:
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


async def prepare(target: Target, fakes: Fakes, tag: str, n: int, m: int) -> None:
    """Create the conversations, then one message in each, before the clock: connections,
    caches and code paths are warm."""
    await target.open(m)
    await asyncio.gather(*(target.send(j, text(marker(tag + "w", j, 0))) for j in range(m)))
    await fakes.wait_slack(tag + "w", m, timeout=60)


def others(c: Contestants) -> dict[str, Callable[[], Target]]:
    # Built as the bridge builds its own: one session for every call.
    client = AsyncWebClient(
        token=c.fakes.bot_token, base_url=c.fakes.slack_api_url, session=c.session
    )
    return {
        "bare": lambda: PostTarget(c.bot(c.bare_url), client),
        "direct": lambda: DirectTarget(client),
    }


BENCHMARK: Benchmark[Target] = Benchmark(
    prog="python -m bench.overhead",
    description="Slack-bound overhead: the bridge against a bare forwarder and direct calls.",
    title="Slack-bound throughput",
    unit="message",
    webhook=False,
    text=text,
    prepare=prepare,
    bridge=lambda c, url: PostTarget(c.bot(url)),
    others=others,
    goals=(
        Goal("to Slack: bridge/bare, wall clock", ratio("bridge/bare", "wall"), 1.3),
        Goal("to Slack: p99 added at 100 messages/s, ms", added("100", "p99_ms"), 5, strict=True),
    ),
)


if __name__ == "__main__":
    BENCHMARK.main()
