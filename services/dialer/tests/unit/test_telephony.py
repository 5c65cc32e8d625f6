"""The simulated carrier's draws: outcome shares, the AMD's misreadings, the hour of day."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from common.clock import FixedClock
from dialer.adapters.simulated_carrier import (
    DEFAULT_HOURLY_ANSWER_PROFILE,
    CarrierProfile,
    Party,
    SimulatedCarrier,
    draw_attempt,
    number_time_zone,
)
from dialer.adapters.telephony import Progress
from dialer.settings import DialerSettings

N = 40_000
TOL = 0.01  # > 4 standard errors of a share at N = 40,000


def test_outcome_shares_converge_to_the_profile() -> None:
    profile = CarrierProfile(answer_probability=0.35, machine_share=0.2, busy_share=0.25,
                             failed_share=0.05, amd_false_positive_share=0.0,
                             amd_false_negative_share=0.0)
    rng = random.Random(1234)
    draws = [draw_attempt(profile, rng, ring_timeout_s=20.0) for _ in range(N)]
    counts = Counter(d.outcome for d in draws)
    answered = counts[Progress.ANSWERED_HUMAN] + counts[Progress.ANSWERED_MACHINE]
    unanswered = N - answered
    assert answered / N == pytest.approx(0.35, abs=TOL)
    assert counts[Progress.ANSWERED_MACHINE] / answered == pytest.approx(0.2, abs=TOL)
    assert counts[Progress.BUSY] / unanswered == pytest.approx(0.25, abs=TOL)
    assert counts[Progress.FAILED] / unanswered == pytest.approx(0.05, abs=TOL)
    assert counts[Progress.NO_ANSWER] / unanswered == pytest.approx(0.70, abs=TOL)
    rings = [d.after_s for d in draws if d.outcome is Progress.ANSWERED_HUMAN]
    assert min(rings) >= 2.0 and max(rings) < 20.0
    assert sum(rings) / len(rings) == pytest.approx(2.0 + 2.0 * 3.0, abs=0.3)  # min + k*theta
    assert all(d.after_s == 20.0 for d in draws if d.outcome is Progress.NO_ANSWER)
    assert all(d.truth is None for d in draws if d.outcome not in
               (Progress.ANSWERED_HUMAN, Progress.ANSWERED_MACHINE))


def test_amd_misreads_the_configured_shares_and_keeps_the_truth() -> None:
    profile = CarrierProfile(answer_probability=1.0, machine_share=0.3,
                             amd_false_positive_share=0.1, amd_false_negative_share=0.2)
    rng = random.Random(99)
    draws = [draw_attempt(profile, rng, 25.0) for _ in range(N)]
    people = [d for d in draws if d.truth is Party.PERSON]
    machines = [d for d in draws if d.truth is Party.MACHINE]
    assert len(machines) / N == pytest.approx(0.3, abs=TOL)  # the truth follows machine_share
    false_pos = sum(d.outcome is Progress.ANSWERED_MACHINE for d in people) / len(people)
    false_neg = sum(d.outcome is Progress.ANSWERED_HUMAN for d in machines) / len(machines)
    assert false_pos == pytest.approx(0.1, abs=TOL)
    assert false_neg == pytest.approx(0.2, abs=1.5 * TOL)  # fewer machines: wider error


def test_perfect_amd_never_misreads() -> None:
    profile = CarrierProfile(answer_probability=1.0, machine_share=0.5,
                             amd_false_positive_share=0.0, amd_false_negative_share=0.0)
    rng = random.Random(5)
    for d in (draw_attempt(profile, rng, 25.0) for _ in range(2000)):
        expected = Progress.ANSWERED_MACHINE if d.truth is Party.MACHINE else Progress.ANSWERED_HUMAN
        assert d.outcome is expected


@pytest.mark.parametrize(("hour", "expected"), [(3, 0.4 * 0.25), (12, 0.4), (19, 0.4 * 2.0),
                                                (20, 1.0)])  # 0.4 x 3 capped at 1
def test_hour_of_day_multiplies_the_answer_probability(hour: int, expected: float) -> None:
    hourly = [1.0] * 24
    hourly[3], hourly[19], hourly[20] = 0.25, 2.0, 3.0
    profile = CarrierProfile(answer_probability=0.4, hourly_answer_profile=tuple(hourly))
    rng = random.Random(hour)
    answered = sum(draw_attempt(profile, rng, 25.0, local_hour=hour).truth is not None
                   for _ in range(N // 4))
    assert answered / (N // 4) == pytest.approx(expected, abs=2 * TOL)


def test_default_profile_peaks_in_the_evening() -> None:
    profile = CarrierProfile()
    assert profile.answer_probability_at(None) == 0.35
    assert profile.answer_probability_at(18) > profile.answer_probability_at(10) \
        > profile.answer_probability_at(3)
    assert len(DEFAULT_HOURLY_ANSWER_PROFILE) == 24


def test_local_hour_from_the_number_else_the_fallback_zone() -> None:
    clock = FixedClock(datetime(2026, 7, 1, 15, 0, tzinfo=UTC))
    carrier = SimulatedCarrier(CarrierProfile(), rng=random.Random(1), clock=clock,
                               fallback_timezone="Asia/Tokyo")
    assert number_time_zone("+13125550142") == "America/Chicago"
    assert carrier.local_hour("+13125550142") == 10   # CDT, UTC-5
    assert carrier.local_hour("+12125550142") == 11   # EDT, UTC-4
    assert carrier.local_hour("+442079460000") == 16  # BST, UTC+1
    assert number_time_zone("+80012345678") is None   # international freephone: no place
    assert carrier.local_hour("+80012345678") == 0    # Tokyo, UTC+9
    assert carrier.local_hour("not a number") == 0


def test_same_seed_same_calls() -> None:
    profile = CarrierProfile()
    a = [draw_attempt(profile, random.Random(7), 25.0, 10) for _ in range(3)]
    b = [draw_attempt(profile, random.Random(7), 25.0, 10) for _ in range(3)]
    assert a == b


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"busy_share": 0.8, "failed_share": 0.3}, "must not exceed 1"),
    ({"answer_probability": 1.5}, "answer_probability"),
    ({"amd_false_positive_share": -0.1}, "amd_false_positive_share"),
    ({"amd_false_negative_share": 1.1}, "amd_false_negative_share"),
    ({"hourly_answer_profile": (1.0,) * 23}, "24 multipliers"),
    ({"hourly_answer_profile": (1.0,) * 23 + (-0.5,)}, ">= 0"),
    ({"hourly_answer_profile": (1.0,) * 23 + (float("nan"),)}, "finite"),
    ({"ring_gamma_scale_s": 0.0}, "ring_gamma_scale_s"),
    ({"max_leg_s": 0.0}, "max_leg_s"),
])
def test_invalid_profile(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CarrierProfile(**kwargs)


def test_invalid_carrier_arguments() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        SimulatedCarrier(CarrierProfile(), rng=random.Random(1), time_scale=0.0)
    with pytest.raises(KeyError):  # ZoneInfoNotFoundError
        SimulatedCarrier(CarrierProfile(), rng=random.Random(1), fallback_timezone="Mars/Base")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("carrier_hourly_answer_profile", [1.0] * 23, "at least 24 items"),
    ("carrier_hourly_answer_profile", [1.0] * 25, "at most 24 items"),
    ("carrier_hourly_answer_profile", [1.0] * 23 + [-1.0], "greater than or equal to 0"),
    ("carrier_fallback_timezone", "Mars/Olympus_Mons", "unknown time zone"),
    ("carrier_amd_false_positive_share", 1.5, "less than or equal to 1"),
    ("carrier_amd_false_negative_share", -0.1, "greater than or equal to 0"),
])
def test_carrier_settings_are_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DialerSettings(**{field: value})


def test_default_carrier_settings_match_the_profile() -> None:
    settings = DialerSettings()
    assert tuple(settings.carrier_hourly_answer_profile) == DEFAULT_HOURLY_ANSWER_PROFILE
    assert settings.carrier_amd_false_positive_share == CarrierProfile().amd_false_positive_share
    assert settings.carrier_amd_false_negative_share == CarrierProfile().amd_false_negative_share
