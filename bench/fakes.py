"""`python -m bench.fakes`: the fake Slack and the fake bot in a process of their own.

Prints one JSON line with their URLs, then serves until SIGTERM. Both fakes are the project's
own (`bridge.testing`), subclassed only to note *when* each benchmark message arrives:

- the fake Slack, when it stores a message whose text carries a marker
  (``bench-<tag>-<conversation>-<index>``);
- the fake bot, when it accepts a webhook whose payload text carries one.

A small control API on its own port lets the load generator wait for them:
``GET /slack/wait?tag=T&count=N&timeout=S`` and ``GET /bot/wait?...`` answer
``{"times": {marker: monotonic seconds}}`` once `count` markers of tag `T` arrived (or the
timeout passed); ``POST /slack/store`` stores people's messages without delivering events
and answers the body of each one's event (the load generator delivers them itself);
``GET /stats`` counts calls. Echo events are off: the fake Slack does not send the bridge's
own posts back to it (see RESULTS.md).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections import Counter, defaultdict
from typing import Any

from aiohttp import web

from bench.control import AGENTS, CHANNEL
from bench.marks import MARKER
from bench.procs import HOST
from bridge.testing.fake_bot import FakeBot
from bridge.testing.fake_slack import FakeSlack, Message


class Marks:
    """First arrival time of every marker, per tag, and waiters for a count of them."""

    def __init__(self) -> None:
        self.times: dict[str, dict[str, float]] = defaultdict(dict)
        self._waiters: list[tuple[str, int, asyncio.Future[None]]] = []

    def note(self, text: str, at: float) -> None:
        for found in MARKER.finditer(text):
            tag = found.group(1)
            seen = self.times[tag]
            if found.group(0) in seen:
                continue
            seen[found.group(0)] = at
            for waiter in self._waiters:
                if waiter[0] == tag and len(seen) >= waiter[1] and not waiter[2].done():
                    waiter[2].set_result(None)

    async def wait(self, tag: str, count: int, timeout: float) -> dict[str, float]:
        if len(self.times[tag]) < count:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiter = (tag, count, done)
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(done, timeout)
            except TimeoutError:
                pass
            finally:
                self._waiters.remove(waiter)
        return dict(self.times[tag])


class TimedSlack(FakeSlack):
    def __init__(self, marks: Marks) -> None:
        super().__init__(echo_events=False)
        self.marks = marks

    def _store(self, msg: Message) -> None:
        super()._store(msg)
        self.marks.note(msg.text, time.monotonic())


class TimedBot(FakeBot):
    def __init__(self, marks: Marks) -> None:
        super().__init__()
        self.marks = marks
        self.dropped = 0  # webhooks trimmed from `received`, still counted by /stats

    async def _handle(self, request: web.Request) -> web.Response:
        before = len(self.received)
        resp = await super()._handle(request)
        # Nothing awaits between the parent's append and its return: the last one is ours.
        if len(self.received) > before:
            event = self.received[-1]
            payload = event.get("payload") or {}
            text = (payload.get("payload") or {}).get("text") or ""
            self.marks.note(str(text), time.monotonic())
        # Keep memory flat over long runs: the fake's own lists are not needed here.
        if len(self.received) > 10_000:
            self.dropped += 5_000
            del self.received[:5_000]
            del self.received_headers[:5_000]
        return resp


async def main() -> None:
    slack_marks, bot_marks = Marks(), Marks()
    slack = TimedSlack(slack_marks)
    bot = TimedBot(bot_marks)
    await slack.start()
    await bot.start()
    slack.add_channel(CHANNEL, "handoffs")
    for i, agent in enumerate(AGENTS):
        slack.add_user(
            agent,
            f"agent{i}",
            display_name=f"Agent {i}",
            real_name=f"Agent Number {i}",
            email=f"agent{i}@example.com",
            image=f"https://img.example.com/agent{i}.png",
        )

    async def wait(marks: Marks, request: web.Request) -> web.Response:
        q = request.query
        timeout = min(float(q.get("timeout", "60")), 600.0)
        times = await marks.wait(q["tag"], int(q["count"]), timeout)
        return web.json_response({"times": times})

    async def store(request: web.Request) -> web.Response:
        # No events_url is ever set on this fake, so user_says only stores the message.
        events = []
        for m in (await request.json())["messages"]:
            ts = await slack.user_says(m["user"], m["channel"], m["text"], thread_ts=m["thread_ts"])
            event = slack.message_event(slack.message(m["channel"], ts))
            events.append(json.dumps(slack.envelope(event)))
        return web.json_response({"events": events})

    dropped_calls: Counter[str] = Counter()  # Web API calls trimmed from `slack.calls`

    async def stats(request: web.Request) -> web.Response:
        counts = Counter(name for name, _ in slack.calls) + dropped_calls
        received = len(bot.received) + bot.dropped
        body: dict[str, Any] = {"slack_calls": counts, "bot_received": received}
        body["bot_rejected"] = bot.rejected
        return web.json_response(body)

    control = web.Application()
    control.router.add_get("/slack/wait", lambda r: wait(slack_marks, r))
    control.router.add_get("/bot/wait", lambda r: wait(bot_marks, r))
    control.router.add_post("/slack/store", store)
    control.router.add_get("/stats", stats)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0)
    await site.start()
    port = runner.addresses[0][1]

    # The fake keeps every Web API call for assertions; a benchmark only needs the counts.
    async def trim_calls() -> None:
        while True:
            await asyncio.sleep(5)
            if len(slack.calls) > 50_000:
                dropped_calls.update(name for name, _ in slack.calls[:25_000])
                del slack.calls[:25_000]

    trimmer = asyncio.create_task(trim_calls())

    info = {
        "slack_api_url": slack.api_url,
        "bot_url": bot.url,
        "bot_secret": bot.secret,
        "bot_token": slack.bot_token,
        "signing_secret": slack.signing_secret,
        "control_url": f"http://{HOST}:{port}",
    }
    print(json.dumps(info), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    trimmer.cancel()
    await runner.cleanup()
    await bot.stop()
    await slack.stop()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
