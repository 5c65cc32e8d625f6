"""Property tests: half-open windows across DST transitions, multi-zone conjunction, and
the next-open/next-close search agreeing with the predicate."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.domain.effective import EffectivePolicy, merge
from compliance.domain.pack_schema import PolicyPack
from compliance.domain.windows import closed_reason, is_open_everywhere, next_close, next_open
from compliance.domain.zones import zone_info

DST_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/St_Johns",
    "America/Havana",
    "Europe/London",
    "Europe/Paris",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "America/Phoenix",
    "Pacific/Chatham",
]
# DST transition days of 2024–2026 in the zones above, ± a day and a half.
TRANSITIONS = [
    datetime(2025, 3, 9, 7, tzinfo=UTC),
    datetime(2025, 11, 2, 6, tzinfo=UTC),
    datetime(2025, 3, 30, 1, tzinfo=UTC),
    datetime(2025, 10, 26, 1, tzinfo=UTC),
    datetime(2025, 3, 9, 5, tzinfo=UTC),
    datetime(2025, 11, 2, 5, tzinfo=UTC),
    datetime(2025, 4, 5, 15, tzinfo=UTC),
    datetime(2025, 9, 6, 4, tzinfo=UTC),
    datetime(2024, 3, 10, 5, tzinfo=UTC),
    datetime(2024, 11, 3, 5, tzinfo=UTC),
]

minutes = st.integers(min_value=0, max_value=24 * 60 - 1)
instants = st.builds(
    lambda base, offset: base + timedelta(seconds=offset),
    st.sampled_from(TRANSITIONS),
    st.integers(min_value=-36 * 3600, max_value=36 * 3600),
)


def window_policy(start: int, end: int) -> EffectivePolicy:
    """A one-window, every-day policy (minutes since local midnight, half-open)."""
    pack = PolicyPack.model_validate(
        {
            "schema": "kaden.policy-pack/1",
            "id": "T",
            "kind": "jurisdiction",
            "jurisdiction": "US",
            "version": "1",
            "calling_hours": {
                "windows": [
                    {
                        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                        "start": time(start // 60, start % 60),
                        "end": time(end // 60, end % 60),
                    }
                ]
            },
        }
    )
    return merge([(pack, "t")], ["US"], [])


windows = st.tuples(minutes, minutes).filter(lambda w: w[0] < w[1])


@settings(max_examples=300, deadline=None)
@given(window=windows, zone=st.sampled_from(DST_ZONES), instant=instants)
def test_open_iff_local_wall_time_in_half_open_window(
    window: tuple[int, int], zone: str, instant: datetime
) -> None:
    policy = window_policy(*window)
    wall = instant.astimezone(zone_info(zone)).time()
    expected = time(window[0] // 60, window[0] % 60) <= wall < time(window[1] // 60, window[1] % 60)
    assert (closed_reason(policy, zone, instant) is None) == expected


@settings(max_examples=200, deadline=None)
@given(
    window=windows,
    zones=st.lists(st.sampled_from(DST_ZONES), min_size=1, max_size=4),
    instant=instants,
)
def test_multi_zone_open_iff_open_in_every_zone(
    window: tuple[int, int], zones: list[str], instant: datetime
) -> None:
    policy = window_policy(*window)
    assert is_open_everywhere(policy, zones, instant) == all(
        is_open_everywhere(policy, [z], instant) for z in zones
    )


@settings(max_examples=120, deadline=None)
@given(
    window=windows,
    zones=st.lists(st.sampled_from(DST_ZONES), min_size=1, max_size=3),
    instant=instants,
)
def test_next_open_is_the_first_open_instant(
    window: tuple[int, int], zones: list[str], instant: datetime
) -> None:
    policy = window_policy(*window)
    found = next_open(policy, zones, instant)
    if found is None:  # windows never overlap in every zone
        return
    assert found >= instant and is_open_everywhere(policy, zones, found)
    probe = instant
    while probe < found:  # closed everywhere before it (sampled every 7 minutes)
        assert not is_open_everywhere(policy, zones, probe)
        probe += timedelta(minutes=7)
    if found > instant:
        assert not is_open_everywhere(policy, zones, found - timedelta(microseconds=1))


@settings(max_examples=120, deadline=None)
@given(
    window=windows,
    zones=st.lists(st.sampled_from(DST_ZONES), min_size=1, max_size=3),
    instant=instants,
)
def test_next_close_is_the_first_closed_instant(
    window: tuple[int, int], zones: list[str], instant: datetime
) -> None:
    policy = window_policy(*window)
    found = next_close(policy, zones, instant)
    assert found is not None and found >= instant
    assert not is_open_everywhere(policy, zones, found)
    if found > instant:
        assert is_open_everywhere(policy, zones, found - timedelta(microseconds=1))
