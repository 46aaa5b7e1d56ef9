"""Waiting for the fake, with a failure that says what."""

from __future__ import annotations

import pytest

from bridge.testing.fake_slack import FakeSlack


async def test_wait_for_times_out_clearly(fake: FakeSlack) -> None:
    with pytest.raises(AssertionError, match="condition not met"):
        await fake.wait_for(lambda: False, timeout=0.05)
