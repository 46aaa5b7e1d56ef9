"""The outbox sender for Slack: posts and updates what the service queued.

It decides what goes out, when, where and how often; what the posts say is drawn by
`thread` (the parent and thread messages) and `notices` (the bridge's own words).

Everything is rendered from the current state when it is sent, so a post that waited in the
outbox never shows a stale status. Posts carry their bridge key in message `metadata`; when
an earlier attempt may have reached Slack (a crash, a timeout), the thread is checked for
that key before anything is posted again, so nothing appears twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp

from bridge import media
from bridge.events import (
    ApprovalNotice,
    ApprovalReminder,
    Ephemeral,
    FailureNotice,
    Nudge,
    PostApproval,
    PostMessage,
    PostParent,
    React,
    Receipt,
    Reminder,
    SlackKind,
    SlackPayload,
    Transcript,
    UpdateApproval,
    UpdateParent,
    from_json,
)
from bridge.model import (
    Approval,
    ApprovalStatus,
    BlocMessage,
    Content,
    Conversation,
    ImageMessage,
    User,
)
from bridge.outbox import Booked, Defer, Fail, Retry, Settle
from bridge.service import ApprovalView, Service
from bridge.slack import approvals, notices, thread
from bridge.slack.blocks import Rendered, call_on
from bridge.slack.webapi import Refused, WebApi
from bridge.slack.window import LOW, Window
from bridge.store import OutboxRow, StoredMessage, Tx, View

log = logging.getLogger(__name__)

METADATA_TYPE = "hitl_bridge_post"

# Media the bridge can upload into the thread, and the largest file it will fetch for that.
MEDIA = frozenset({"image", "audio", "video", "file"})
UPLOAD_MAX = 20 * 1024 * 1024
SHARE_PATIENCE = 3  # attempts an upload found unshared waits before it is completed again
# At most this many queued messages are looked at for one combined post.
COMBINE_MAX = 20
# Kinds that post (and so are paced); the others edit or whisper.
POSTS = frozenset(
    {
        SlackKind.POST_PARENT,
        SlackKind.TRANSCRIPT,
        SlackKind.MESSAGE,
        SlackKind.FAILURE_NOTICE,
        SlackKind.REMINDER,
        SlackKind.NUDGE,
        SlackKind.POST_APPROVAL,
        SlackKind.APPROVAL_REMINDER,
    }
)
# Kinds about an approval request: they read the request, not a conversation.
APPROVAL_KINDS = frozenset(
    {
        SlackKind.POST_APPROVAL,
        SlackKind.UPDATE_APPROVAL,
        SlackKind.APPROVAL_REMINDER,
        SlackKind.APPROVAL_NOTICE,
    }
)
# Kinds that need the conversation's thread: if it is gone, the conversation gets a new one.
ANCHORED = (POSTS - APPROVAL_KINDS) | {SlackKind.UPDATE_PARENT}
# What the reactions on an agent's reply say, but the bot's receipt (a setting).
REACTIONS = {Receipt.UNDELIVERED: "warning", Receipt.INTERNAL: "lock"}
# Rows of one channel that may wait here for room in its window (`window.Window`: the calls
# it may have under way), holding a worker each. Past that, the channel is `full`: its rows
# stay in the outbox, and one taken all the same is put off for `CHANNEL_BUSY_WAIT`.
CHANNEL_WAITERS = 4
CHANNEL_BUSY_WAIT = 0.25
STALE_AFTER = 1.0  # seconds a row may wait for its channel and keep the view taken with it
# Refusals that mean the whole channel is out of reach, or just the thread.
CHANNEL_GONE = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "channel_is_archived"}
)
UNREACHABLE = CHANNEL_GONE | {"thread_not_found", "message_not_found"}


class SlackSender:
    def __init__(
        self,
        service: Service,
        api: WebApi,
        *,
        combine: bool = True,
        mention: str | None = None,
        home_channel: str = "",
        uploads: aiohttp.ClientSession | None = None,
        receipt: str = "white_check_mark",
    ) -> None:
        """`combine`: end-user messages queued behind the rate limit go out as one post.
        `mention`: who reminders and urgent handoffs call on (`here`, `channel`, or a user
        group id). `receipt`: the reaction that says the bot took an agent's reply."""
        self._service = service
        self._api = api
        self._pacer = api.posts
        self._combine = combine
        self._mention = call_on(mention)
        self._home = home_channel  # where threads go when their own channel is gone
        self._uploads = uploads  # set: media files are fetched and uploaded, not linked
        self._waited: set[int] = set()  # rows put off by Slack's 429: a backlog
        self._absorbed: set[str] = set()  # messages already posted combined with an earlier
        self._calling: Counter[str] = Counter()  # channel -> rows under way in it, or waiting
        self._windows: dict[str, Window] = {}  # channel -> its calls under way
        self._reactions = {Receipt.TAKEN: receipt, **REACTIONS}
        # Where a row's last post went, for the outbox to record as it removes the row.
        self._settle: dict[int, Settle] = {}

    async def delivered(self, row: OutboxRow) -> None:
        """Nothing more to do: the post itself is the receipt."""

    async def failed(self, row: OutboxRow, reason: Fail) -> None:
        """Slack would not show something meant for the agents (a message, the transcript, an
        approval request): say so in the conversation's thread, unless the thread itself is
        out of reach."""
        if row.kind not in (SlackKind.MESSAGE, SlackKind.TRANSCRIPT, SlackKind.POST_APPROVAL):
            return
        if row.conversation_id == row.payload.get("approvalId"):
            return  # a request outside a conversation: no thread to say it in
        if isinstance(reason, Refused) and reason.error in UNREACHABLE:
            return
        await self._service.deliveries.failed(row.conversation_id, row.kind, str(reason))

    def full(self) -> list[str]:
        """The channels with no room for another row: their calls under way and waiting fill
        their window and `CHANNEL_WAITERS` (`outbox.Full`)."""
        return [channel for channel in self._windows if self._no_room(channel)]

    def _no_room(self, channel: str) -> bool:
        window = self._windows.get(channel)
        return self._calling[channel] >= (window.limit if window else LOW) + CHANNEL_WAITERS

    async def hold(self, row: OutboxRow) -> float:
        """Pace posts per channel: book the row a slot, and let it wait for it outside the
        worker; and keep a channel's rows under way to its window, with at most
        `CHANNEL_WAITERS` more waiting in a worker for room in it. Other methods keep to
        their tiers as they are called (`WebApi`)."""
        channel = row.payload.get("channel")
        if channel is None:
            return 0.0
        if self._no_room(channel):  # a slot booked for it stays its own
            return Booked(CHANNEL_BUSY_WAIT) if row.booked else CHANNEL_BUSY_WAIT
        if row.kind not in POSTS:
            return 0.0
        if row.payload.get("messageId") in self._absorbed:
            return await self._pacer.paused(channel)
        if row.booked and not await self._pacer.paused(channel):
            return 0.0  # its slot has come
        wait = await self._pacer.reserve(channel)
        return Booked(wait) if wait > 0 else 0.0

    async def send(self, row: OutboxRow) -> Settle | None:
        channel = str(row.payload.get("channel"))
        window = self._windows.get(channel)
        if window is None:
            window = self._windows[channel] = Window()
        self._calling[channel] += 1
        try:
            queued_at = time.monotonic()
            async with window.call():
                # The view read as the row was taken is good unless this waited long (a
                # change meanwhile queues a row of its own after this one, which redraws).
                await self._send(row, fresh=time.monotonic() - queued_at > STALE_AFTER)
            return self._settle.get(row.id)
        finally:
            self._settle.pop(row.id, None)
            self._calling[channel] -= 1

    async def _send(self, row: OutboxRow, fresh: bool) -> None:
        try:
            payload = from_json(row.kind, row.payload)
        except ValueError as exc:
            raise Fail(str(exc)) from None
        if isinstance(payload, React):
            await self._react(str(row.payload["channel"]), payload)
            return
        if isinstance(payload, PostApproval | UpdateApproval | ApprovalReminder | ApprovalNotice):
            await self._approval(row, payload, await self._approval_view(row, payload, fresh))
            return
        view = await self._view(row, fresh)
        try:
            await self._do(row, view, payload)
        except Refused as exc:
            if (
                exc.error not in UNREACHABLE
                or row.kind not in ANCHORED
                or not await self._reanchor(view, exc.error)
            ):
                raise
            await self._do(row, await self._view(row, fresh=True), payload)

    async def _do(self, row: OutboxRow, view: View, payload: SlackPayload) -> None:
        match payload:
            case PostParent():
                await self._post_parent(row, view)
            case UpdateParent():
                await self._update_parent(view)
            case Transcript():
                await self._transcript(row, view)
            case PostMessage():
                await self._message(row, view)
            case Ephemeral():
                await self._ephemeral(row, view, payload)
            case Reminder() | Nudge() | FailureNotice():
                rendered = notices.in_thread(payload, self._mention)
                await self._reply(row, view.conv, [f"{row.kind}:{row.id}"], rendered, last=True)
            case _:
                raise Fail(f"no way to send a {payload.kind}")

    async def _reanchor(self, view: View, error: str) -> bool:
        """The thread is gone (its parent deleted, its channel archived...): open a new one,
        with a short transcript, in the same channel or, if that is what is gone, the home
        channel. The bot never notices. False when there is nowhere to go."""
        conv = view.conv
        channel = self._home if error in CHANNEL_GONE else conv.channel
        if channel == conv.channel and error in CHANNEL_GONE:
            return False
        log.warning("re-anchoring a conversation (%s)", error, extra={"conversation": conv.id})
        moved = dataclasses.replace(conv, channel=channel, thread_ts=None)
        key = f"{_parent_key(conv.id)}:{secrets.token_hex(4)}"
        ts = await self._post(
            channel, thread.parent(moved, view.user, view.assignee, mention=self._mention), [key]
        )
        permalink = await self._permalink(channel, ts)
        await self._service.deliveries.posted(
            [key], conv.id, channel, ts, parent=True, permalink=permalink
        )
        await self._post(channel, notices.lost_thread(error), [f"{key}:note"], ts)
        recap = thread.transcript(await self._service.deliveries.recap(conv.id), view.user)
        for part, rendered in enumerate(recap):
            await self._post(channel, rendered, [f"{key}:recap:{part}"], ts)
        return True

    # --- kinds ------------------------------------------------------------------------

    async def _post_parent(self, row: OutboxRow, view: View) -> None:
        conv = view.conv
        rendered = thread.parent(conv, view.user, view.assignee, mention=self._mention)
        key = _parent_key(conv.id)
        if await self._service.deliveries.slack_ts(key) is not None:
            return
        found = await self._find(row, key, conv.channel, None, conv.created_at.timestamp())
        ts = found[0] if found else await self._post(conv.channel, rendered, [key])
        permalink = await self._permalink(conv.channel, ts)
        await self._service.deliveries.posted(
            [key], conv.id, conv.channel, ts, parent=True, permalink=permalink
        )

    async def _update_parent(self, view: View) -> None:
        conv = view.conv
        if conv.thread_ts is None:
            return  # the parent was never posted (it failed for good): nothing to update
        rendered = thread.parent(conv, view.user, view.assignee, mention=self._mention)
        await self._api.call(
            "chat.update",
            channel=conv.channel,
            ts=conv.thread_ts,
            text=rendered.text,
            blocks=rendered.blocks,
        )

    async def _transcript(self, row: OutboxRow, view: View) -> None:
        """What the parent could not hold of the description, then the conversation so far."""
        conv = view.conv
        history = await self._service.deliveries.history(conv.id)
        posts = [
            (f"description:{conv.id}:{n}", r) for n, r in enumerate(thread.description_rest(conv))
        ]
        posts += [
            (f"transcript:{conv.id}:{n}", r)
            for n, r in enumerate(thread.transcript(history, view.user))
        ]
        for number, (key, rendered) in enumerate(posts):
            if number:  # the row's booking covered the first post only
                await asyncio.sleep(await self._pacer.reserve(conv.channel))
            await self._reply(row, conv, [key], rendered)

    async def _message(self, row: OutboxRow, view: View) -> None:
        waited = row.booked or row.id in self._waited  # it waited behind the limit
        self._waited.discard(row.id)
        try:
            await self._post_message(row, view, waited)
        except Defer:
            self._waited.add(row.id)  # rate limited: it waits behind the limit
            raise

    async def _post_message(self, row: OutboxRow, view: View, waited: bool) -> None:
        message = view.message
        if message is None:
            raise Fail(f"message {row.payload['messageId']} is gone")
        self._absorbed.discard(message.id)
        from_bot = message.author_id is None
        user = None if from_bot else view.user
        parts = thread.message(message.content, from_bot=from_bot)
        if view.message_ts is not None and len(parts) == 1:
            return  # in Slack already (combined with an earlier one, or uploaded)
        uploadable = self._uploads is not None and message.content.type in MEDIA
        if uploadable and await self._upload(row, view.conv, message, user):
            return
        try:
            if len(parts) > 1:
                await self._post_parts(row, view.conv, message, parts, user)
            else:
                await self._post_combined(row, view.conv, message, parts[0], user, waited)
        except Refused as exc:
            if exc.error != "invalid_blocks" or not _has_image(message.content):
                raise
            # Slack refuses an image block whose picture it cannot fetch: show links instead.
            links = thread.message(message.content, from_bot=from_bot, images=False)
            await self._post_parts(row, view.conv, message, links, user, tag="links")

    async def _post_combined(
        self,
        row: OutboxRow,
        conv: Conversation,
        message: StoredMessage,
        rendered: Rendered,
        user: User | None,
        waited: bool,
    ) -> None:
        """A message that fits one post; after a wait for its slot, with the same end user's
        messages queued behind it, as many as fit (the thread catches up sooner)."""
        batch = [message]
        if waited and self._combine and user is not None:
            batch += await self._queued_behind(row, message)
        if len(batch) > 1:
            rendered, count = thread.combined([m.content for m in batch])
            batch = batch[:count]
        await self._reply(row, conv, [m.id for m in batch], rendered, user, new=True, last=True)
        self._absorbed.update(m.id for m in batch[1:])

    async def _post_parts(
        self,
        row: OutboxRow,
        conv: Conversation,
        message: StoredMessage,
        parts: list[Rendered],
        user: User | None,
        tag: str = "part",
    ) -> None:
        """A message too long for one post, in order; each part is posted once, so a retry
        goes on where the last attempt stopped. The message is known by its first part;
        `tag` tells one rendering's parts from another's (pictures, or links instead)."""
        for number, rendered in enumerate(parts):
            if number:
                await asyncio.sleep(await self._pacer.reserve(conv.channel))
            first = number == 0 and tag == "part"
            key = message.id if first else f"{message.id}:{tag}:{number}"
            await self._reply(row, conv, [key], rendered, user)

    async def _upload(
        self, row: OutboxRow, conv: Conversation, message: StoredMessage, user: User | None
    ) -> bool:
        """Put a media message's file itself in the thread; False when it cannot be fetched
        (or Slack lost the upload), and the message is shown as a link instead.

        Slack's three steps: `files.getUploadURLExternal`, the bytes, then
        `files.completeUploadExternal`, which shares the file. The file's id is recorded
        before the last step, so an attempt after a lost answer asks `files.info` whether it
        was shared, and completes that same file if not: it never appears twice."""
        thread_ts, key = _thread(conv), f"{message.id}:upload"
        payload = message.content.payload.model_dump()
        url = next(v for k, v in payload.items() if k.endswith("Url"))
        name = payload.get("title") or url.rstrip("/").rsplit("/", 1)[-1][:100] or "file"
        recorded = await self._service.deliveries.slack_ts(key)
        if recorded is not None:
            file_id = recorded.removeprefix("pending:")
            shared = await self._shared(file_id, conv.channel) if row.maybe_sent else None
            if shared:
                await self._service.deliveries.posted(
                    [message.id], conv.id, conv.channel, f"file:{file_id}"
                )
                return True
            if shared is False and row.attempts < SHARE_PATIENCE:
                # Completed perhaps, and Slack shares a little later: give it that time.
                raise Retry("upload: not shared yet")
        else:
            data = await self._fetch(url)
            if data is None:
                log.info("could not fetch a media file to upload; linking it instead")
                return False
            file_id = await self._put(name, data)
            await self._service.deliveries.posted(
                [key], conv.id, conv.channel, f"pending:{file_id}"
            )
        try:
            await self._api.call(
                "files.completeUploadExternal",
                files=[{"id": file_id, "title": payload.get("title") or name}],
                channel_id=conv.channel,
                thread_ts=thread_ts,
                initial_comment=notices.upload_caption(user),
            )
        except Refused as exc:
            if exc.error != "file_not_found":
                raise
            return False  # the upload expired before it was shared
        # Slack shares an upload later and says not where: the file id stands in for a ts.
        await self._service.deliveries.posted(
            [message.id], conv.id, conv.channel, f"file:{file_id}"
        )
        return True

    async def _fetch(self, url: str) -> bytes | None:
        """The media file, whole, up to `UPLOAD_MAX`, from an address media may come from
        (`bridge.media`: public ones only, every redirect checked); None when it cannot be
        had, or may not be."""
        assert self._uploads is not None
        return await media.fetch(self._uploads, url, limit=UPLOAD_MAX)

    async def _put(self, name: str, data: bytes) -> str:
        """Steps one and two of an upload: the file's id, its bytes with Slack."""
        assert self._uploads is not None
        answer = await self._api.call("files.getUploadURLExternal", filename=name, length=len(data))
        try:
            async with self._uploads.post(
                str(answer.data["upload_url"]), data=data, timeout=aiohttp.ClientTimeout(total=60)
            ) as resp:
                if resp.status != 200:
                    raise Retry(f"Slack's upload URL answered HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Retry(f"upload: {type(exc).__name__}") from None
        return str(answer.data["file_id"])

    async def _shared(self, file_id: str, channel: str) -> bool | None:
        """Whether Slack has shared the file in `channel` (an earlier attempt completed it);
        None when Slack knows no such file."""
        try:
            answer = await self._api.call("files.info", file=file_id)
        except Refused:
            return None
        file = answer.data.get("file") or {}
        shares = file.get("shares") or {}
        places = {*file.get("channels", []), *file.get("groups", [])}
        for scope in ("public", "private"):
            places |= set(shares.get(scope) or {})
        return channel in places

    async def _queued_behind(self, row: OutboxRow, first: StoredMessage) -> list[StoredMessage]:
        """The same end user's text messages queued right behind `first`."""
        batch: list[StoredMessage] = []
        for later in await self._service.deliveries.queued_messages(row, COMBINE_MAX):
            if later.author_id != first.author_id or later.content.type != "text":
                break
            batch.append(later)
        return batch

    async def _react(self, channel: str, react: React) -> None:
        """A reaction on an agent's reply, in the channel the reply was in when it was
        queued (the thread may have moved since): it needs no view of the conversation."""
        if not self._reactions[react.receipt]:
            return  # receipts were turned off after this one was queued
        # `already_reacted` (an earlier attempt's answer was lost) counts as done.
        await self._api.call(
            "reactions.add",
            channel=channel,
            timestamp=react.ts,
            name=self._reactions[react.receipt],
        )

    async def _ephemeral(self, row: OutboxRow, view: View, told: Ephemeral) -> None:
        """A word to one agent, in the conversation's thread."""
        rendered = notices.ephemeral(told)
        await self._tell(row, told.user, view.conv.channel, view.conv.thread_ts, rendered)

    async def _tell(
        self, row: OutboxRow, user: str, channel: str, thread_ts: str | None, said: Rendered
    ) -> None:
        """Post an ephemeral notice. Slack keeps no trace of one an app can look up, so
        after an attempt that may have reached them it is not sent again: at most once,
        never twice."""
        if row.maybe_sent:
            log.info("an ephemeral notice may have gone out already; not repeating it")
            return
        await self._api.call(
            "chat.postEphemeral",
            channel=channel,
            user=user,
            thread_ts=thread_ts,
            text=said.text,
            blocks=said.blocks,
        )

    # --- approval requests ----------------------------------------------------------------

    async def _approval(
        self,
        row: OutboxRow,
        payload: PostApproval | UpdateApproval | ApprovalReminder | ApprovalNotice,
        seen: ApprovalView,
    ) -> None:
        match payload:
            case PostApproval():
                await self._post_approval(row, seen)
            case UpdateApproval():
                await self._update_approval(seen)
            case ApprovalReminder():
                await self._approval_reminder(row, seen, payload)
            case ApprovalNotice():
                await self._approval_notice(row, seen, payload)

    async def _post_approval(self, row: OutboxRow, seen: ApprovalView) -> None:
        """The request, in its conversation's thread (after what the thread was told before
        it: the same line), or as a message of its own in its channel. Carried in metadata
        like every post, so an attempt that may have reached Slack is looked for first. A
        request settled before it was ever posted (cancelled, or expired while Slack was out
        of reach) is not posted at all: nobody can act on it any more."""
        a = seen.approval
        if a.ts is not None:
            return
        # No thread (the conversation's parent could not be posted): the channel, then.
        thread_ts = seen.thread_ts if a.conversation_id else None
        key = _approval_key(a.id)
        found = await self._find(row, key, a.channel, thread_ts, a.created_at.timestamp())
        if found is not None:
            ts = found[0]
        elif a.status is not ApprovalStatus.PENDING:
            return
        else:
            ts = await self._drawn(a.channel, seen, [key], thread_ts)
        permalink = await self._permalink(a.channel, ts)
        self._settle[row.id] = self._service.deliveries.approval_recording(
            a.id, ts, thread_ts, permalink
        )

    async def _drawn(
        self, channel: str, seen: ApprovalView, keys: list[str], thread_ts: str | None
    ) -> str:
        """Post the request as it stands; with its pictures as links if Slack cannot fetch
        one (`invalid_blocks`), as a message's are."""
        try:
            return await self._post(channel, approvals.request(seen), keys, thread_ts)
        except Refused as exc:
            if exc.error != "invalid_blocks" or not approvals.has_image(seen.approval.draft):
                raise
            return await self._post(channel, approvals.request(seen, images=False), keys, thread_ts)

    async def _update_approval(self, seen: ApprovalView) -> None:
        """Rewrite the request as it now stands: settled, with no buttons. One never posted
        (Slack refused it for good, or it was settled first) is left so."""
        a = seen.approval
        if a.ts is None:
            return
        try:
            await self._rewrite(a, approvals.request(seen))
        except Refused as exc:
            if exc.error != "invalid_blocks" or not approvals.has_image(a.draft):
                raise
            await self._rewrite(a, approvals.request(seen, images=False))

    async def _rewrite(self, a: Approval, rendered: Rendered) -> None:
        await self._api.call(
            "chat.update", channel=a.channel, ts=a.ts, text=rendered.text, blocks=rendered.blocks
        )

    async def _approval_reminder(
        self, row: OutboxRow, seen: ApprovalView, reminder: ApprovalReminder
    ) -> None:
        """The one reminder, in the request's thread: its conversation's, or its own."""
        a = seen.approval
        if a.status is not ApprovalStatus.PENDING or a.ts is None:
            return  # decided meanwhile, or never posted: nothing to be reminded of
        thread_ts = a.thread_ts or a.ts
        key = f"{row.kind}:{a.id}"
        if await self._find(row, key, a.channel, thread_ts, None) is None:
            rendered = approvals.reminder(a, reminder.left, self._mention)
            await self._post(a.channel, rendered, [key], thread_ts)

    async def _approval_notice(
        self, row: OutboxRow, seen: ApprovalView, told: ApprovalNotice
    ) -> None:
        """Why a decision changed nothing, to whoever made it, in the request's thread."""
        a = seen.approval
        rendered = approvals.notice(told.why, seen, told.user)
        await self._tell(row, told.user, a.channel, a.thread_ts or a.ts, rendered)

    async def _approval_view(
        self,
        row: OutboxRow,
        payload: PostApproval | UpdateApproval | ApprovalReminder | ApprovalNotice,
        fresh: bool,
    ) -> ApprovalView:
        """The request as it is now: read with the row as it was taken, or read now."""
        seen = row.loaded if isinstance(row.loaded, ApprovalView) else None
        if fresh or seen is None:
            viewing = self._service.deliveries.approval_viewing(payload.approvalId)
            seen = await self._service.store.read(viewing)
        if seen is None:
            raise Fail(f"approval request {payload.approvalId} is gone")
        return seen

    # --- posting ------------------------------------------------------------------------

    async def _reply(
        self,
        row: OutboxRow,
        conv: Conversation,
        keys: list[str],
        rendered: Rendered,
        as_user: User | None = None,
        new: bool = False,
        last: bool = False,
    ) -> None:
        """Post one thread reply carrying `keys`, unless it is already there (`new`: the
        caller knows it is not recorded as posted). Where it went is recorded at once, or,
        for the `last` post of the row, with the row's removal."""
        thread_ts = _thread(conv)
        if not new and await self._service.deliveries.slack_ts(keys[0]) is not None:
            return
        found = await self._find(row, keys[0], conv.channel, thread_ts, None)
        if found is not None:
            ts, keys = found  # what that earlier attempt posted, which may be less
        else:
            ts = await self._post(conv.channel, rendered, keys, thread_ts, as_user)
        if last:
            self._settle[row.id] = self._service.deliveries.recording(
                keys, conv.id, conv.channel, ts
            )
        else:
            await self._service.deliveries.posted(keys, conv.id, conv.channel, ts)

    async def _post(
        self,
        channel: str,
        rendered: Rendered,
        keys: list[str],
        thread_ts: str | None = None,
        as_user: User | None = None,
    ) -> str:
        extra: dict[str, Any] = {}
        if as_user is not None:
            extra["username"] = as_user.name[:80]
            if as_user.picture_url:
                extra["icon_url"] = as_user.picture_url
        answer = await self._api.call(
            "chat.postMessage",
            channel=channel,
            thread_ts=thread_ts,
            text=rendered.text,
            blocks=rendered.blocks,
            metadata={"event_type": METADATA_TYPE, "event_payload": {"keys": " ".join(keys)}},
            unfurl_links=False,
            unfurl_media=False,
            **extra,
        )
        return str(answer.data["ts"])

    async def _find(
        self,
        row: OutboxRow,
        key: str,
        channel: str,
        thread_ts: str | None,
        oldest: float | None,
    ) -> tuple[str, list[str]] | None:
        """After an attempt that may have reached Slack, look for the post carrying `key`:
        its ts and all the keys it carries."""
        if not row.maybe_sent:
            return None
        cursor: str | None = None
        while True:
            if thread_ts is not None:
                answer = await self._api.call(
                    "conversations.replies",
                    channel=channel,
                    ts=thread_ts,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            else:
                answer = await self._api.call(
                    "conversations.history",
                    channel=channel,
                    oldest=f"{(oldest or 0) - 1:.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            for message in answer.data.get("messages") or []:
                meta = message.get("metadata") or {}
                carried = str((meta.get("event_payload") or {}).get("keys", "")).split()
                if meta.get("event_type") == METADATA_TYPE and key in carried:
                    log.info("found %s already in Slack; not posting it again", key)
                    return str(message["ts"]), carried
            cursor = (answer.data.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None

    async def _permalink(self, channel: str, ts: str) -> str | None:
        try:
            answer = await self._api.call("chat.getPermalink", channel=channel, message_ts=ts)
        except (Fail, Retry, Defer) as exc:
            log.warning("no permalink for %s/%s: %s", channel, ts, exc)
            return None
        return str(answer.data.get("permalink") or "") or None

    def load(self, row: OutboxRow) -> Callable[[Tx], View | ApprovalView | None]:
        """The row's view, for the outbox to read as it takes the row (`outbox.Load`): its
        conversation's, or its approval request's; none for a reaction, which needs none."""
        if row.kind == SlackKind.REACT:
            return _no_view
        if row.kind in APPROVAL_KINDS:
            return self._service.deliveries.approval_viewing(str(row.payload.get("approvalId")))
        return self._service.deliveries.viewing(row.conversation_id, row.payload.get("messageId"))

    async def _view(self, row: OutboxRow, fresh: bool = False) -> View:
        """The conversation as it is now: read with the row as it was taken (moments ago),
        or, when `fresh` or it was not, read now."""
        view: View | None = row.loaded if isinstance(row.loaded, View) else None
        if fresh or view is None:
            view = await self._service.deliveries.view(
                row.conversation_id, row.payload.get("messageId")
            )
        if view is None:
            raise Fail(f"conversation {row.conversation_id} is gone")
        return view


def _no_view(tx: Tx) -> None:
    return None


def _approval_key(approval_id: str) -> str:
    """How an approval request's post is named in its metadata."""
    return f"approval:{approval_id}"


def _parent_key(conversation_id: str) -> str:
    """How a conversation's parent post is named in the map of what is in Slack."""
    return f"parent:{conversation_id}"


def _thread(conv: Conversation) -> str:
    """The ts of the conversation's thread in Slack, which replies need."""
    if conv.thread_ts is None:
        raise Fail("the conversation has no Slack thread (its parent could not be posted)")
    return conv.thread_ts


def _has_image(content: Content) -> bool:
    items = content.payload.items if isinstance(content, BlocMessage) else [content]
    return any(isinstance(item, ImageMessage) for item in items)
