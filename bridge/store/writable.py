"""Whether the database takes writes: the one exception a backend raises when it does not
(a full disk, a read-only file, a failing disk, a database server that is down), and the
flag `/healthz` reads."""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

# Seconds without a failed write before a successful one counts as recovery. While a disk
# is full, writes that still fit succeed between those that do not: without this, each
# would flip the flag (and log a line) back and forth.
SETTLE = 1.0
# Seconds a caller is asked to wait before trying again.
RETRY_AFTER = 5


class Unavailable(Exception):
    """The database cannot take a write now. Nothing of the transaction was kept, so the
    same call may be made again later; but for one PostgreSQL cut off as it committed,
    which may have kept it (whoever runs it again finds what it did)."""

    retry_after = RETRY_AFTER


class Writable:
    """The flag: down at the first write that fails for want of the database, up again at
    the first that succeeds once none has failed for `SETTLE` seconds. Each change is
    logged once, as one line."""

    def __init__(self) -> None:
        self.reason: str | None = None  # why the database takes no writes; None: it does
        self._failed_at = 0.0

    @property
    def ok(self) -> bool:
        return self.reason is None

    def failed(self, reason: str) -> None:
        self._failed_at = time.monotonic()
        if self.reason is None:
            self.reason = reason
            log.error("database cannot take writes: %s; answering 503", reason)

    def wrote(self) -> None:
        if self.reason is not None and time.monotonic() - self._failed_at >= SETTLE:
            self.reason = None
            log.warning("database takes writes again")
