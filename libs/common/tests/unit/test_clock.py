from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.clock import FixedClock, SystemClock


def test_system_clock_applies_its_offset_and_shifts_in_place() -> None:
    clock = SystemClock(offset_s=3600)
    assert abs(clock.now() - datetime.now(UTC) - timedelta(hours=1)) < timedelta(seconds=1)
    clock.shift(-7200)
    assert abs(clock.now() - datetime.now(UTC) + timedelta(hours=1)) < timedelta(seconds=1)
    assert clock.now().tzinfo is not None


def test_fixed_clock_moves_only_when_advanced() -> None:
    start = datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC)
    clock = FixedClock(start)
    assert clock.now() == start
    clock.advance(1.5)
    assert clock.now() == start + timedelta(seconds=1.5)
    with pytest.raises(ValueError, match="aware"):
        FixedClock(datetime(2026, 1, 1))
