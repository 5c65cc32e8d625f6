from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulator.devstack import NEW_YORK, demo_clock_offset


@pytest.mark.parametrize("iso", [
    "2026-11-23T15:00:00+00:00",   # Monday 10:00 New York: already fine
    "2026-11-23T22:59:00+00:00",   # Monday 17:59 New York
])
def test_business_hours_keep_real_time(iso: str) -> None:
    assert demo_clock_offset(datetime.fromisoformat(iso)) == 0.0


@pytest.mark.parametrize("iso", [
    "2026-11-23T03:00:00+00:00",   # Sunday 22:00 New York
    "2026-11-24T02:00:00+00:00",   # Monday 21:00 New York
    "2026-11-28T17:00:00+00:00",   # Saturday noon
    "2026-11-27T12:00:00+00:00",   # Friday 07:00 New York
])
def test_other_times_move_to_a_weekday_2pm_in_new_york(iso: str) -> None:
    now = datetime.fromisoformat(iso)
    shifted = (now + timedelta(seconds=demo_clock_offset(now))).astimezone(NEW_YORK)
    assert shifted.weekday() < 5 and shifted.hour == 14 and shifted.minute == 0
    assert shifted > now.astimezone(UTC)
