"""The simulated carrier: outcome shares converge to its profile; time is compressible."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from dialer.adapters.telephony import CarrierProfile, Progress, SimulatedCarrier, draw_attempt

N = 40_000


def test_outcome_shares_converge_to_the_profile() -> None:
    profile = CarrierProfile(answer_probability=0.35, machine_share=0.2, busy_share=0.25,
                             failed_share=0.05)
    rng = random.Random(1234)
    draws = [draw_attempt(profile, rng, ring_timeout_s=20.0) for _ in range(N)]
    counts = Counter(d.outcome for d in draws)
    answered = counts[Progress.ANSWERED_HUMAN] + counts[Progress.ANSWERED_MACHINE]
    unanswered = N - answered
    tol = 0.01  # > 4 standard errors at N = 40,000
    assert answered / N == pytest.approx(0.35, abs=tol)
    assert counts[Progress.ANSWERED_MACHINE] / answered == pytest.approx(0.2, abs=tol)
    assert counts[Progress.BUSY] / unanswered == pytest.approx(0.25, abs=tol)
    assert counts[Progress.FAILED] / unanswered == pytest.approx(0.05, abs=tol)
    assert counts[Progress.NO_ANSWER] / unanswered == pytest.approx(0.70, abs=tol)
    rings = [d.after_s for d in draws if d.outcome is Progress.ANSWERED_HUMAN]
    assert min(rings) >= 2.0 and max(rings) < 20.0
    assert sum(rings) / len(rings) == pytest.approx(2.0 + 2.0 * 3.0, abs=0.3)  # min + k*theta
    assert all(d.after_s == 20.0 for d in draws if d.outcome is Progress.NO_ANSWER)


def test_same_seed_same_calls() -> None:
    profile = CarrierProfile()
    a = [draw_attempt(profile, random.Random(7), 25.0) for _ in range(3)]
    b = [draw_attempt(profile, random.Random(7), 25.0) for _ in range(3)]
    assert a == b


def test_invalid_profile() -> None:
    with pytest.raises(ValueError, match="must not exceed 1"):
        CarrierProfile(busy_share=0.8, failed_share=0.3)
    with pytest.raises(ValueError, match="answer_probability"):
        CarrierProfile(answer_probability=1.5)


async def test_carrier_plays_the_call_out_in_scaled_time() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    carrier = SimulatedCarrier(CarrierProfile(answer_probability=1.0, machine_share=0.0),
                               rng=random.Random(3), time_scale=0.01, sleep=sleep)
    progress = [p async for p in carrier.dial("call-1", "+13125550142", 25.0)]
    assert progress == [Progress.RINGING, Progress.ANSWERED_HUMAN]
    assert 0.02 <= sum(slept) < 0.25  # a 2..25 s ring compressed 100 times


async def test_busy_does_not_ring() -> None:
    async def sleep(_: float) -> None:
        return None

    carrier = SimulatedCarrier(CarrierProfile(answer_probability=0.0, busy_share=1.0,
                                              failed_share=0.0), rng=random.Random(3), sleep=sleep)
    assert [p async for p in carrier.dial("call-1", "+13125550142", 25.0)] == [Progress.BUSY]
