"""Storage: numbered migrations and the row functions the core uses."""

from bridge.store.sqlite import DeadLetter, Event, OutboxRow, Store, StoredMessage, Tx, View

__all__ = ["DeadLetter", "Event", "OutboxRow", "Store", "StoredMessage", "Tx", "View"]
