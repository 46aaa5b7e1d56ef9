"""How Slack's answers are sorted, as pure functions (the calls themselves are tested end to
end against the fake Slack)."""

from __future__ import annotations

import pytest

from bridge.slack.webapi import classify, retry_after


@pytest.mark.parametrize(
    ("method", "error", "kind"),
    [
        ("reactions.add", "already_reacted", "done"),
        ("reactions.remove", "no_reaction", "done"),
        ("chat.delete", "message_not_found", "done"),
        ("chat.update", "message_not_found", "final"),  # done only where it means so
        ("chat.postMessage", "already_reacted", "retry"),
        ("chat.postMessage", "is_archived", "final"),
        ("chat.postMessage", "msg_blocks_too_long", "final"),
        ("chat.postMessage", "restricted_action_thread_locked", "final"),
        ("chat.postMessage", "cannot_reply_to_message", "final"),
        ("reactions.add", "thread_locked", "final"),
        ("reactions.add", "too_many_emoji", "final"),
        ("chat.update", "edit_window_closed", "final"),
        ("chat.update", "is_inactive", "final"),
        ("files.completeUploadExternal", "storage_limit_reached", "final"),
        ("chat.postMessage", "internal_error", "unsure"),
        ("chat.postMessage", "service_unavailable", "unsure"),
        ("chat.postMessage", "invalid_auth", "retry"),  # the operator can mend the token
        ("chat.postMessage", "something_new", "retry"),
    ],
)
def test_each_answer_has_its_class(method: str, error: str, kind: str) -> None:
    assert classify(method, error) == kind


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("30", 30.0), ("0", 1.0), ("-5", 1.0), ("inf", 1.0), ("nan", 1.0), ("soon", 1.0),
     ("86400", 3600.0), (None, 1.0)],
)  # fmt: skip
def test_retry_after_is_kept_sane(header: str | None, seconds: float) -> None:
    assert retry_after({} if header is None else {"Retry-After": header}) == seconds
