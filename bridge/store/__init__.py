"""Storage: numbered migrations and the row functions the core uses."""

from bridge.store.sqlite import Event, OutboxRow, Store, StoredMessage, Tx

__all__ = ["Event", "OutboxRow", "Store", "StoredMessage", "Tx"]
