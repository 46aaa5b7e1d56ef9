"""`hitl-bridge demo`: a whole handoff, played in the terminal, with nothing to set up.

Everything runs in this one process and talks over 127.0.0.1 only: a fake Slack workspace
(:class:`~bridge.testing.fake_slack.FakeSlack`: channel ``#handoffs``, agents Alice and Bob),
the real bridge on a SQLite file in a temporary directory, and :class:`DemoBot`, a small bot
written with :mod:`bridge.client`. The bot answers a few canned lines until the end user asks
for a person; then it creates the end user and starts a handoff with the conversation so far,
relays the end user's lines to the bridge, and gets the bridge's events on a signed webhook
(or, with ``--events poll``, through the ``GET /v1/events`` long-poll).

:func:`play` directs: it types the end user's lines, has the agents write and click in the
fake Slack (Bob leaves a note the bot never sees; Alice claims, answers twice and resolves),
reads the conversation through the bot API, shows the thread as the agents see it, and
prints who says what::

    end user > I want a refund for order 42
    bot > I can't do refunds myself, but a person can: say "human" and I'll get one.
    ...
    [bot] startHitl with 6 messages of history -> conv_...
    [bridge] handoff conv_... opened in #handoffs (waiting)
    [slack] #handoffs, as the agents see it:
    ...
    agent Alice clicks [Claim] in Slack
    [bot] hitlAssigned: Alice
    ...
    agent Alice (Slack) > Hi Erin, I'm Alice. I see order 42 & I'm refunding it now.
    [bot] message from Alice
    bot > Alice: Hi Erin, I'm Alice. I see order 42 & I'm refunding it now.
    ...
    [bot] hitlStopped: resolved
    [bridge] conv_... is now stopped (at ...)

Exit status 0 when the whole story played, 1 when a step did not happen within 15 seconds.
Then the bot asks before it promises (approvals): Alice edits one of its drafts in Slack,
Bob approves the other, and the end user hears what they made of them.

The bridge's settings are the demo's own: it reads no variable of the environment and no
``.env`` (``load_settings`` given a mapping reads nothing else).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import io
import os
import re
import secrets
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal

from aiohttp import web

from bridge import logs
from bridge.client import BridgeClient, WebhookVerificationError, verify_webhook
from bridge.config import load_settings
from bridge.loop import run as run_loop
from bridge.model import HistoryItem, TextMessage, TextPayload
from bridge.server import Bridge
from bridge.testing.fake_slack import FakeSlack, Message

__all__ = ["DemoBot", "DemoError", "Story", "main", "play"]

CHANNEL = "C0HANDOFF"
CHANNEL_NAME = "handoffs"
ALICE = "U0ALICE"
BOB = "U0BOB"
STEP_TIMEOUT = 15.0
HUMAN = re.compile(r"\b(human|person|agent)\b", re.IGNORECASE)


class DemoError(Exception):
    """A step of the story did not happen in time."""


class Story:
    """Prints the story, one line per thing that happens, pausing ``pace`` between steps."""

    def __init__(self, out: IO[str], pace: float) -> None:
        self.out = out
        self.pace = pace

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    async def pause(self) -> None:
        await asyncio.sleep(self.pace)


# --- the bot --------------------------------------------------------------------------------


def _text(value: str) -> TextMessage:
    return TextMessage(type="text", payload=TextPayload(text=value))


def _describe(content: dict[str, Any]) -> str:
    """An agent's message as the end user would see it, in one line."""
    payload = content.get("payload") or {}
    kind = content.get("type")
    if kind == "text":
        return str(payload.get("text", ""))
    if kind == "bloc":
        return " / ".join(_describe(item) for item in payload.get("items", []))
    url = next((str(v) for k, v in payload.items() if k.endswith("Url")), "")
    return f"[{kind}] {payload.get('title') or url}"


class DemoBot:
    """A trivial bot that hands its end user to a human on the word "human".

    In bot mode it answers from a few canned lines and keeps the transcript; on "human" it
    creates the end user (``createUser``) and starts a handoff (``startHitl``) with the
    transcript as ``messageHistory``; from then on every end-user line is relayed to the
    bridge, agent replies are passed on, and ``hitlStopped`` puts it back in bot mode.
    """

    def __init__(
        self, client: BridgeClient, story: Story, *, name: str = "Erin", email: str | None = None
    ) -> None:
        self.client = client
        self.story = story
        self.name = name
        self.email = email
        self.mode: Literal["bot", "human"] = "bot"
        self.history: list[HistoryItem] = []
        self.user_id: str | None = None
        self.conversation_id: str | None = None
        self.agent: str | None = None
        self.events: list[dict[str, Any]] = []  # every event received, repeats dropped
        self._seen: set[str] = set()
        self.asked: dict[str, str] = {}  # approval requests waiting: id -> the draft

    # The end user's side.

    async def hear(self, text: str) -> None:
        """The end user says ``text`` to the bot."""
        self.story.line(f"end user > {text}")
        if self.mode == "human" and self.conversation_id is not None:
            await self.client.send_text(self.conversation_id, text, user_id=self.user_id)
            return
        self.history.append(HistoryItem("user", _text(text)))
        if HUMAN.search(text):
            self._reply("Let me get a human for you. One moment...")
            await self.hand_off()
        elif (promise := self.promise(text)) is not None:
            await self.ask_approval(*promise)
        else:
            self._reply(self.answer(text))

    @staticmethod
    def promise(text: str) -> tuple[str, str] | None:
        """What the bot would like to promise, which a person must approve first: a title
        for the request and the draft; None when there is nothing to promise."""
        words = text.lower()
        if "warranty" in words:
            return "Warranty promise", "Yes: your warranty is extended by two years, free."
        if "refund" in words and "still" in words:
            return "Refund promise", "Yes: the refund for order 42 is on its way."
        return None

    async def ask_approval(self, title: str, draft: str) -> None:
        """Ask the agents in Slack before saying `draft`: the end user hears it (or what
        they made of it) once `approvalDecided` comes."""
        approval_id = await self.client.request_approval(
            _text(draft),
            title=title,
            context=f"{self.name} said: {_describe(self.history[-1].content.model_dump())}",
            user_id=self.user_id,
        )
        self.asked[approval_id] = draft
        self.story.line(f"[bot] drafted {draft!r}: asks first, requestApproval -> {approval_id}")

    @staticmethod
    def answer(text: str) -> str:
        """The whole of the bot's intelligence."""
        words = text.lower()
        if "refund" in words:
            return "I can't do refunds myself, but a person can: say \"human\" and I'll get one."
        if re.search(r"\b(bye|thanks|thank you)\b", words):
            return "You're welcome, bye!"
        if re.search(r"\b(hi|hello|hey)\b", words):
            return 'Hi! I\'m the demo bot. Ask me anything, or say "human" to talk to a person.'
        return 'I only know a few things. Say "human" to talk to a person.'

    def _reply(self, text: str) -> None:
        self.story.line(f"bot > {text}")
        self.history.append(HistoryItem("bot", _text(text)))

    async def hand_off(self) -> None:
        """``createUser`` (once), then ``startHitl`` with the conversation so far."""
        if self.user_id is None:
            self.user_id = await self.client.create_user(self.name, email=self.email)
            self.story.line(f"[bot] createUser {self.name} -> {self.user_id}")
        # The title: what the end user wanted just before asking for a person.
        said = [i.content for i in self.history if i.source == "user"]
        wanted = said[-2] if len(said) > 1 else said[-1] if said else None
        title = wanted.payload.text[:80] if isinstance(wanted, TextMessage) else None
        self.conversation_id = await self.client.start_hitl(
            self.user_id,
            title=title,
            description=f"{self.name} asked for a person.",
            message_history=self.history,
        )
        self.mode = "human"
        self.story.line(
            f"[bot] startHitl with {len(self.history)} messages of history -> "
            f"{self.conversation_id}"
        )

    # The bridge's side.

    async def on_event(self, event: dict[str, Any]) -> None:
        """One event from the bridge (webhook or long-poll); repeats are dropped by id."""
        event_id = str(event.get("id"))
        if event_id in self._seen:
            return
        self._seen.add(event_id)
        self.events.append(event)
        kind, payload = event.get("type"), event.get("payload") or {}
        if kind == "approvalDecided":
            self.decided(payload)
            return
        if payload.get("conversationId") != self.conversation_id:
            self.story.line(f"[bot] {kind} for another conversation, ignored")
            return
        if kind == "hitlAssigned":
            self.agent = str(payload.get("agent", {}).get("name") or "an agent")
            self.story.line(f"[bot] hitlAssigned: {self.agent}")
            self.story.line(f"bot > You're now talking to {self.agent} from our team.")
        elif kind == "message":
            name = str((payload.get("agent") or {}).get("name") or self.agent or "agent")
            self.story.line(f"[bot] message from {name}")
            self.story.line(f"bot > {name}: {_describe(payload)}")
        elif kind == "hitlStopped":
            self.story.line(f"[bot] hitlStopped: {payload.get('reason')}")
            self.mode, self.conversation_id, self.agent = "bot", None, None
            self._reply("Glad we could help! I'm the bot again, if you need anything.")
        else:
            self.story.line(f"[bot] {kind} (not handled)")

    def decided(self, payload: dict[str, Any]) -> None:
        """An approval request was decided: say what was approved, or do without."""
        draft = self.asked.pop(str(payload.get("approvalId")), None)
        if draft is None:
            return
        status = payload.get("status")
        who = (payload.get("agent") or {}).get("name")
        self.story.line(f"[bot] approvalDecided: {status}" + (f" by {who}" if who else ""))
        if status in ("approved", "edited"):
            self._reply(_describe(payload.get("message") or {}))
        else:
            self._reply("I can't promise that myself; a person from our team will write to you.")

    def webhook_app(self, secret: str) -> web.Application:
        """A receiver for the bridge's webhooks at ``/webhook``, verifying each signature."""

        async def receive(request: web.Request) -> web.Response:
            body = await request.read()
            try:
                event = verify_webhook(body, request.headers, secret)
            except (WebhookVerificationError, ValueError) as exc:
                self.story.line(f"[bot] refused a webhook: {exc}")
                return web.Response(status=401)
            await self.on_event(event)
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/webhook", receive)
        return app

    async def poll(self) -> None:
        """Read the events through the long-poll, for ever (cancel to stop)."""
        async for event in self.client.events(wait=5):
            await self.on_event(event)


# --- what the agents see ------------------------------------------------------------------

_DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)\|([^>]*)>")
_BARE = re.compile(r"<((?:https?|mailto):[^|>]+)>")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")
_EMOJI = re.compile(r":[a-z][a-z0-9_+-]*:\s*")


def _plain(slack: FakeSlack, mrkdwn: str) -> str:
    def name(match: re.Match[str]) -> str:
        user = slack.users.get(match.group(1))
        if user is None:
            return "@" + match[1]
        return "@" + (user.display_name or user.real_name or user.name)

    text = _EMOJI.sub("", mrkdwn)
    text = _DATE.sub(r"\1", text)
    text = _MENTION.sub(name, text)
    text = _LINK.sub(r"\2", text)
    text = _BARE.sub(r"\1", text).replace("*", "")
    return html.unescape(text).strip()


def _block_lines(slack: FakeSlack, block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind in ("header", "section") and isinstance(block.get("text"), dict):
        return _plain(slack, str(block["text"].get("text", ""))).splitlines()
    if kind == "context":
        texts = [_plain(slack, str(e.get("text", ""))) for e in block.get("elements", [])]
        return [" - ".join(t for t in texts if t)]
    if kind == "actions":
        return ["  ".join(f"[{e['text']['text']}]" for e in block.get("elements", []))]
    if kind == "image":
        return [f"[image] {block.get('image_url')}"]
    return []


def _author(slack: FakeSlack, msg: Message) -> str:
    if msg.username:
        return msg.username  # an end user's message, posted under their name
    if msg.bot_id == slack.bot_id:
        return "hitl-bridge"
    user = slack.users.get(msg.user or "")
    return (user.display_name or user.real_name or user.name) if user else str(msg.user)


def _message_lines(slack: FakeSlack, msg: Message) -> list[str]:
    if msg.blocks:
        lines = [line for block in msg.blocks for line in _block_lines(slack, block)]
    else:
        lines = _plain(slack, msg.text).splitlines()
    lines = [line for line in lines if line.strip()] or ["(empty)"]
    author = _author(slack, msg)
    indent = " " * (len(author) + 2)
    return [f"{author}: {lines[0]}", *(indent + line for line in lines[1:])]


def show_thread(story: Story, slack: FakeSlack, ts: str) -> None:
    """Print the parent and its thread as the agents see them in Slack."""
    story.line(f"[slack] #{CHANNEL_NAME}, as the agents see it:")
    for line in _message_lines(slack, slack.message(CHANNEL, ts)):
        story.line(f"    | {line}")
    for reply in slack.thread(CHANNEL, ts):
        story.line("    |")
        for index, line in enumerate(_message_lines(slack, reply)):
            story.line(f"    |   {'> ' if index == 0 else '  '}{line}")


# --- the story ------------------------------------------------------------------------------


async def _until(condition: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_TIMEOUT
    while not condition():
        if loop.time() > deadline:
            raise DemoError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _buttons(slack: FakeSlack, ts: str) -> list[str]:
    return [
        str(element["action_id"])
        for block in slack.message(CHANNEL, ts).blocks or []
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


async def play(story: Story, slack: FakeSlack, bot: DemoBot) -> None:
    """The director: plays the end user and the agents, and narrates."""
    client = bot.client

    async def end_user(text: str) -> None:
        await story.pause()
        await bot.hear(text)

    async def agent_says(who: str, text: str) -> None:
        await story.pause()
        name = slack.users[who].display_name
        story.line(f"agent {name} (Slack) > {html.unescape(text)}")
        await slack.user_says(who, CHANNEL, text, thread_ts=ts)

    async def agent_clicks(who: str, action: str) -> None:
        await story.pause()
        story.line(f"agent {slack.users[who].display_name} clicks [{action.title()}] in Slack")
        await slack.click(who, CHANNEL, ts, action)

    async def relayed_to_slack(text: str) -> None:
        def there() -> bool:
            return any(
                m.username == bot.name and text in str(m.blocks) for m in slack.thread(CHANNEL, ts)
            )

        await _until(there, f"{text!r} in the Slack thread")
        story.line(f"[slack] in the thread, {bot.name} > {text}")

    async def bot_heard(count: int, what: str) -> None:
        await _until(lambda: len(bot.events) >= count, what)

    await end_user("Hi there")
    await end_user("I want a refund for order 42")
    await end_user("Can I talk to a human?")
    conversation_id = bot.conversation_id
    if conversation_id is None:
        raise DemoError("the bot did not start a handoff")

    async def posted() -> str | None:
        return (await client.get_conversation(conversation_id)).slack.threadTs

    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_TIMEOUT
    while (thread_ts := await posted()) is None:
        if loop.time() > deadline:
            raise DemoError("timed out waiting for the parent message in Slack")
        await asyncio.sleep(0.02)
    ts = thread_ts
    await _until(lambda: len(slack.thread(CHANNEL, ts)) >= 1, "the transcript in the thread")
    conv = await client.get_conversation(conversation_id)
    story.line(f"[bridge] handoff {conversation_id} opened in #{CHANNEL_NAME} ({conv.status})")
    show_thread(story, slack, ts)
    story.line()

    await end_user("Is anybody there?")
    await relayed_to_slack("Is anybody there?")
    await agent_says(BOB, "note: Alice, refunds are yours today")
    story.line("[slack] (Bob's note stays in Slack: the bot never sees it)")

    await agent_clicks(ALICE, "claim")
    await bot_heard(1, "hitlAssigned")
    await _until(lambda: _buttons(slack, ts) == ["release", "resolve"], "Release/Resolve")
    conv = await client.get_conversation(conversation_id)
    agent = await client.get_user(conv.agentId or "")
    story.line(f"[bridge] {conversation_id} is now {conv.status} to {agent.name} ({agent.userId})")

    await agent_says(ALICE, "Hi Erin, I'm Alice. I see order 42 &amp; I'm refunding it now.")
    await bot_heard(2, "Alice's reply")
    await end_user("Thank you so much!")
    await relayed_to_slack("Thank you so much!")
    await agent_says(ALICE, "Done: the refund is on its way. Anything else?")
    await bot_heard(3, "Alice's second reply")
    await end_user("No, that's all.")
    await relayed_to_slack("No, that's all.")

    await agent_clicks(ALICE, "resolve")
    await bot_heard(4, "hitlStopped")
    await _until(lambda: _buttons(slack, ts) == [], "the parent without buttons")
    conv = await client.get_conversation(conversation_id)
    story.line(f"[bridge] {conversation_id} is now {conv.status} (at {conv.stoppedAt})")
    story.line()
    show_thread(story, slack, ts)
    story.line()

    await end_user("bye")
    story.line()
    await approvals(story, slack, bot)
    story.line()
    story.line(
        f"The bot received {len(bot.events)} events: "
        + ", ".join(str(e.get("type")) for e in bot.events)
        + "."
    )


async def approvals(story: Story, slack: FakeSlack, bot: DemoBot) -> None:
    """The bot asks before it promises: Alice edits one draft, Bob approves the other."""
    client = bot.client

    async def asked(title: str) -> str:
        await story.pause()
        approval_id = next(reversed(bot.asked), None)
        if approval_id is None:
            raise DemoError(f"the bot did not ask about the {title.lower()}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT
        while (ts := (await client.get_approval(approval_id)).slack.ts) is None:
            if loop.time() > deadline:
                raise DemoError(f"timed out waiting for the {title.lower()} in Slack")
            await asyncio.sleep(0.02)
        story.line(f"[slack] #{CHANNEL_NAME}, as the agents see it:")
        for line in _message_lines(slack, slack.message(CHANNEL, ts)):
            story.line(f"    | {line}")
        return ts

    async def settled(ts: str) -> None:
        await _until(lambda: not bot.asked, "approvalDecided")
        await _until(lambda: _buttons(slack, ts) == [], "the request settled in Slack")
        story.line("[slack] the request now reads:")
        for line in _message_lines(slack, slack.message(CHANNEL, ts)):
            story.line(f"    | {line}")

    await story.pause()
    await bot.hear("Can you extend my warranty too?")
    ts = await asked("Warranty promise")
    await story.pause()
    edited = "Your warranty is extended by one year, free of charge."
    story.line(f"agent Alice clicks [Edit] in Slack, writes {edited!r} and saves")
    await slack.click(ALICE, CHANNEL, ts, "approval_edit")
    await _until(lambda: bool(slack.open_views(ALICE)), "the Edit form")
    form = slack.open_views(ALICE)[-1]
    await slack.submit_view(ALICE, str(form["id"]), {"approval_text": edited})
    await settled(ts)

    await story.pause()
    await bot.hear("And the refund is still on its way?")
    ts = await asked("Refund promise")
    await story.pause()
    story.line("agent Bob clicks [Approve] in Slack")
    await slack.click(BOB, CHANNEL, ts, "approval_approve")
    await settled(ts)


# --- running it -----------------------------------------------------------------------------


def _workspace(slack: FakeSlack) -> None:
    slack.add_channel(CHANNEL, CHANNEL_NAME)
    slack.add_user(
        ALICE,
        "alice",
        display_name="Alice",
        real_name="Alice Agent",
        email="alice@example.com",
        image="https://img.example.com/alice.png",
    )
    slack.add_user(BOB, "bob", display_name="Bob", real_name="Bob Builder")


async def run(
    *, events: Literal["webhook", "poll"] = "webhook", pace: float = 0.2, out: IO[str]
) -> None:
    """Start everything, play the story, stop everything."""
    story = Story(out, pace)
    token = secrets.token_urlsafe(24)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hitl-bridge-demo-")))
        env = {
            "BRIDGE_CHANNEL": CHANNEL,
            "BRIDGE_API_TOKEN": token,
            "BRIDGE_DATABASE_URL": f"sqlite:///{tmp / 'bridge.db'}",
            "BRIDGE_HOST": "127.0.0.1",
            "BRIDGE_SLACK_RATE": "0",
            "BRIDGE_RETRY_BASE": "0.1",
            "BRIDGE_RETRY_MAX": "1",
        }
        hook: socket.socket | None = None
        if events == "webhook":
            # The bot's port must be known before the bridge starts: bind it first.
            hook = stack.enter_context(socket.socket())
            hook.bind(("127.0.0.1", 0))
            hook.listen()
            hook.setblocking(False)
            env["BRIDGE_WEBHOOK_URL"] = f"http://127.0.0.1:{hook.getsockname()[1]}/webhook"
            env["BRIDGE_WEBHOOK_SECRET"] = secret
        async with FakeSlack() as slack:
            _workspace(slack)
            env |= {
                "SLACK_BOT_TOKEN": slack.bot_token,
                "SLACK_SIGNING_SECRET": slack.signing_secret,
                "SLACK_API_URL": slack.api_url,
            }
            # Only `env`: neither the environment nor a `.env` may change the demo.
            settings = load_settings(env, env_file=None)
            bridge = Bridge(settings, port=0)
            await bridge.start()
            slack.events_url = bridge.url + "/slack/events"
            receiver: web.AppRunner | None = None
            poller: asyncio.Task[None] | None = None
            try:
                async with BridgeClient(bridge.url, token) as client:
                    bot = DemoBot(client, story, email="erin@example.com")
                    if hook is not None:
                        receiver = web.AppRunner(bot.webhook_app(secret), access_log=None)
                        await receiver.setup()
                        await web.SockSite(receiver, hook).start()
                        how = "a signed webhook"
                    else:
                        poller = asyncio.create_task(bot.poll())
                        how = "the GET /v1/events long-poll"
                    story.line(
                        "hitl-bridge demo: a fake Slack workspace with agents Alice and Bob in "
                        f"#{CHANNEL_NAME},"
                    )
                    story.line(f"the real bridge at {bridge.url}, and a small bot that gets")
                    story.line(f"its events by {how}. All on 127.0.0.1, nothing to set up.")
                    story.line()
                    await play(story, slack, bot)
            finally:
                if poller is not None:
                    poller.cancel()
                    await asyncio.gather(poller, return_exceptions=True)
                await bridge.stop()
                if receiver is not None:
                    await receiver.cleanup()


def main(events: Literal["webhook", "poll"] = "webhook", pace: float = 0.2) -> int:
    """Run the demo; 0 when the whole story played, 1 otherwise."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")
    logs.setup("WARNING")
    try:
        run_loop(run(events=events, pace=pace, out=sys.stdout))
    except DemoError as exc:
        print(f"hitl-bridge demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `hitl-bridge demo | head`: the reader left
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more may reach the pipe
        return 0
    print("\nThe demo is over: every step went through the real bridge.", flush=True)
    return 0
