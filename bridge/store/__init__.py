"""Storage: numbered migrations and the row functions the core uses."""

from bridge.store.sqlite import DeadLetter, Event, OutboxRow, Store, StoredMessage, Tx, View
from bridge.store.writable import Unavailable

__all__ = [
    "DeadLetter",
    "Event",
    "OutboxRow",
    "Store",
    "StoredMessage",
    "Tx",
    "Unavailable",
    "View",
]
