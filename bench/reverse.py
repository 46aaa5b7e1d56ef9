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
awaited before the next; conversations in parallel), then latency at steady rates. Each
event's body is built by the fake Slack when it stores the reply, before the clock; the load
generator signs it as Slack does and POSTs it, so the fake Slack is not in the measured path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bench.contestants import Contestants, handoffs
from bench.control import AGENTS, CHANNEL, Fakes, parents
from bench.harness import Benchmark
from bench.load import split
from bench.marks import MARKER, marker
from bench.summary import Goal, added, ratio

# What `BRIDGE_RECEIPT_REACTION` may be set to for no receipt reactions (bridge/config.py).
RECEIPTS_OFF = ("off", "none", "")


def text(mark: str) -> str:
    return f"{mark} Hi! I'm looking at your order now &amp; will be back in a minute."


class ReplyTarget:
    """Agents replying in `m` threads; the threads come from `open_threads`.

    Every reply is first stored in the fake Slack, which answers the body of its event (before
    the clock: the bridge later reacts to it, and a reaction needs the message); `send` signs
    that body as Slack does and POSTs it to `url`'s /slack/events. That POST is Slack's door,
    not the bot API, so it is made raw: the load generator plays Slack here, not the bot.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        fakes: Fakes,
        open_threads: Callable[[int], Awaitable[list[str]]],
    ) -> None:
        self.session = session
        self.url = url + "/slack/events"
        self.fakes = fakes
        self.verifier = SignatureVerifier(fakes.signing_secret)
        self.open_threads = open_threads
        self.threads: list[str] = []
        self.events: dict[str, bytes] = {}  # marker -> its event's body

    async def open(self, conversations: int) -> None:
        self.threads = await self.open_threads(conversations)

    async def store(self, tag: str, counts: list[int]) -> None:
        """Store the replies `marker(tag, j, i)`, i < counts[j], in the fake Slack."""
        marks = [(j, marker(tag, j, i)) for j, count in enumerate(counts) for i in range(count)]
        items = [
            {
                "user": _agent(j),
                "channel": CHANNEL,
                "thread_ts": self.threads[j],
                "text": text(mark),
            }
            for j, mark in marks
        ]
        bodies = await self.fakes.store_messages(items)
        self.events.update(zip((mark for _, mark in marks), bodies, strict=True))

    async def send(self, conversation: int, text: str) -> None:
        found = MARKER.search(text)
        assert found is not None
        body = self.events[found.group(0)]
        stamp = str(int(time.time()))
        signature = self.verifier.generate_signature(timestamp=stamp, body=body)
        assert signature is not None  # None only without a timestamp
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        }
        async with self.session.post(self.url, data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"POST {self.url}: HTTP {resp.status}")


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


def bridge(c: Contestants, url: str) -> ReplyTarget:
    bot = c.bot(url)

    async def open_threads(m: int) -> list[str]:
        return [ts for _, _, ts in await handoffs(bot, m)]

    return ReplyTarget(c.session, url, c.fakes, open_threads)


def others(c: Contestants) -> dict[str, Callable[[], ReplyTarget]]:
    # The bare forwarder stores nothing: its threads are parents posted straight to Slack.
    client = AsyncWebClient(token=c.fakes.bot_token, base_url=c.fakes.slack_api_url)
    return {
        "bare": lambda: ReplyTarget(c.session, c.bare_url, c.fakes, lambda m: parents(client, m))
    }


BENCHMARK: Benchmark[ReplyTarget] = Benchmark(
    prog="python -m bench.reverse",
    description="Slack -> bot: the bridge against a bare signed forwarder.",
    title="Slack -> bot throughput",
    unit="event",
    webhook=True,
    text=text,
    prepare=prepare,
    bridge=bridge,
    others=others,
    goals=(
        Goal(
            "to the bot, receipts off: bridge/bare, wall clock",
            ratio("bridge/bare", "wall"),
            1.5,
            settings={"BRIDGE_RECEIPT_REACTION": RECEIPTS_OFF},
        ),
        Goal("to the bot: p99 added at 100 events/s, ms", added("100", "p99_ms"), 5, strict=True),
    ),
)


if __name__ == "__main__":
    BENCHMARK.main()
