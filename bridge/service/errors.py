"""Why the core refused a request; the bot-facing wing turns each into an HTTP answer."""

from __future__ import annotations


class NotFound(Exception):
    """The thing named does not exist."""


class Invalid(Exception):
    """A request names something that does not fit; `field` says which part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Stopped(Exception):
    """The conversation is stopped and takes no more messages."""


class Decided(Exception):
    """The approval request was decided or expired already."""


class KeyTaken(Exception):
    """An idempotency key was remembered by a concurrent request meanwhile."""
