"""The model's pure helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from bridge.model import iso


def test_iso_writes_utc_with_whole_seconds_whatever_the_zone() -> None:
    assert iso(datetime(2026, 1, 1, 12, 0, 0, 999_999, tzinfo=UTC)) == "2026-01-01T12:00:00Z"
    paris = timezone(timedelta(hours=1))
    assert iso(datetime(2026, 1, 1, 13, 0, 1, tzinfo=paris)) == "2026-01-01T12:00:01Z"
    assert iso(datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)) == "1969-12-31T23:59:59Z"
    last = datetime(9999, 12, 31, 23, 59, 58, 999_999, tzinfo=UTC)
    assert iso(last) == "9999-12-31T23:59:58Z"
    assert iso(last + timedelta(microseconds=1)) == "9999-12-31T23:59:59Z"


def test_iso_of_the_same_second_again_and_then_of_another() -> None:
    """It keeps the last second it wrote: asked again, and then for others, it is never
    stale."""
    moment = datetime(2026, 12, 5, 8, 0, 0, tzinfo=UTC)
    seconds = [0, 0.2, 0.9, 1, 1.5, 0.1, 3600]
    written = [iso(moment + timedelta(seconds=s)) for s in seconds]
    assert written == [
        "2026-12-05T08:00:00Z",
        "2026-12-05T08:00:00Z",
        "2026-12-05T08:00:00Z",
        "2026-12-05T08:00:01Z",
        "2026-12-05T08:00:01Z",
        "2026-12-05T08:00:00Z",
        "2026-12-05T09:00:00Z",
    ]
