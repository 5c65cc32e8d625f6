"""Trunk limits: the CPS token bucket and the concurrent-lines cap, by example and by
property (no interval sees more than cps * t + burst calls; never above max lines)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dialer.domain.trunk import TrunkLimits, TrunkMeter
from dialer.settings import DialerSettings


def test_starts_full_with_one_seconds_burst() -> None:
    meter = TrunkMeter(TrunkLimits(calls_per_second=10, max_concurrent_lines=100), now=0.0)
    assert meter.available(0.0, lines_in_use=0) == 10
    meter.take(10, 0.0)
    assert meter.available(0.0, lines_in_use=0) == 0
    assert meter.available(0.25, lines_in_use=0) == 2  # 2.5 tokens refilled: 2 whole calls
    assert meter.available(5.0, lines_in_use=0) == 10  # capped at the burst, not 50


def test_reading_does_not_consume() -> None:
    meter = TrunkMeter(TrunkLimits(calls_per_second=5, max_concurrent_lines=100), now=0.0)
    assert [meter.available(0.0, 0) for _ in range(3)] == [5, 5, 5]


def test_lines_cap_bounds_available() -> None:
    meter = TrunkMeter(TrunkLimits(calls_per_second=50, max_concurrent_lines=20), now=0.0)
    assert meter.available(0.0, lines_in_use=0) == 20
    assert meter.available(0.0, lines_in_use=17) == 3
    assert meter.available(0.0, lines_in_use=20) == 0
    assert meter.available(0.0, lines_in_use=25) == 0  # over the cap: nothing, never negative


def test_slow_trunk_still_places_one_call() -> None:
    meter = TrunkMeter(TrunkLimits(calls_per_second=0.5, max_concurrent_lines=10), now=100.0)
    assert meter.available(100.0, 0) == 1
    meter.take(1, 100.0)
    assert meter.available(101.9, 0) == 0
    assert meter.available(102.0, 0) == 1


def test_over_taking_is_debt_repaid_later() -> None:
    meter = TrunkMeter(TrunkLimits(calls_per_second=10, max_concurrent_lines=100), now=0.0)
    meter.take(15, 0.0)  # 5 more than granted
    assert meter.available(0.4, 0) == 0  # -5 + 4 tokens
    assert meter.available(0.6, 0) == 1


def test_clock_stepping_back_neither_refills_nor_drains() -> None:
    meter = TrunkMeter(TrunkLimits(calls_per_second=10, max_concurrent_lines=100), now=10.0)
    meter.take(10, 10.0)
    assert meter.available(9.0, 0) == 0
    assert meter.available(10.5, 0) == 5


@pytest.mark.parametrize(("cps", "lines", "message"), [
    (0.0, 10, "calls_per_second"), (-1.0, 10, "calls_per_second"),
    (float("inf"), 10, "calls_per_second"), (10.0, 0, "max_concurrent_lines")])
def test_invalid_limits(cps: float, lines: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrunkLimits(calls_per_second=cps, max_concurrent_lines=lines)


def test_negative_take_rejected() -> None:
    meter = TrunkMeter(TrunkLimits(calls_per_second=10, max_concurrent_lines=100), now=0.0)
    with pytest.raises(ValueError, match="count"):
        meter.take(-1, 0.0)


steps = st.lists(st.tuples(
    st.floats(min_value=0.0, max_value=2.0),   # seconds since the previous step
    st.integers(min_value=0, max_value=400),   # calls the pacing wants now
    st.floats(min_value=0.0, max_value=30.0),  # how long each placed call stays up, s
), min_size=1, max_size=60)


@settings(max_examples=100, deadline=None)
@given(cps=st.floats(min_value=0.2, max_value=200.0), max_lines=st.integers(1, 300),
       start=st.floats(min_value=-1e6, max_value=1e6), steps=steps)
def test_never_above_rate_or_lines(cps: float, max_lines: int, start: float,
                                   steps: list[tuple[float, int, float]]) -> None:
    limits = TrunkLimits(calls_per_second=cps, max_concurrent_lines=max_lines)
    meter = TrunkMeter(limits, now=start)
    now = start
    placed: list[tuple[float, int]] = []  # (time, calls placed) per step
    ends: list[tuple[float, int]] = []    # (end time, calls) per step
    for dt, wanted, duration in steps:
        now += dt
        up = sum(n for end, n in ends if end > now)
        count = min(wanted, meter.available(now, up))
        meter.take(count, now)
        assert up + count <= max_lines
        placed.append((now, count))
        ends.append((now + duration, count))
    for i, (t0, _) in enumerate(placed):  # every interval [t0, t1] between two steps
        calls = 0
        for t1, count in placed[i:]:
            calls += count
            assert calls <= cps * (t1 - t0) + limits.burst + 1e-6


@pytest.mark.parametrize(("field", "value"), [
    ("trunk_calls_per_second", 0.0), ("trunk_calls_per_second", float("inf")),
    ("trunk_max_concurrent_lines", 0)])
def test_trunk_settings_are_validated(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        DialerSettings(**{field: value})
