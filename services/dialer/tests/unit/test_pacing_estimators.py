"""Unit tests of the online estimators behind the pacing engine."""

from __future__ import annotations

import numpy as np
import pytest

from dialer.domain.pacing_estimators import CampaignStatistics, DurationEstimator


def uniform_prior() -> DurationEstimator:
    return DurationEstimator.from_samples(
        np.linspace(0.5, 59.5, 60).tolist(), bin_width=1.0, horizon=60.0, memory=100.0,
        tail_mean=10.0)


def test_observations_move_the_distribution_towards_them() -> None:
    prior = uniform_prior()
    assert prior.mean == pytest.approx(30.0, abs=0.6)
    learned = prior.observe([10.2] * 1000)
    assert learned.mean == pytest.approx(10.5, abs=0.5)
    assert prior.mean == pytest.approx(30.0, abs=0.6)  # snapshots are immutable


def test_recent_observations_weigh_more() -> None:
    old_then_new = uniform_prior().observe([5.0] * 200).observe([40.0] * 200)
    assert old_then_new.mean > 30.0


def test_cdf_is_a_distribution_function() -> None:
    estimator = uniform_prior().observe([3.0, 7.0, 7.5, 20.0, 80.0])
    x = np.linspace(-1.0, 200.0, 400)
    cdf = estimator.cdf(x)
    assert np.all(np.diff(cdf) >= -1e-12)
    assert cdf[0] == 0.0 and 0.99 < cdf[-1] <= 1.0


def test_overflow_tail_is_exponential() -> None:
    estimator = DurationEstimator.from_samples(
        [100.0] * 10, bin_width=1.0, horizon=60.0, memory=100.0, tail_mean=20.0)
    assert estimator.overflow == pytest.approx(1.0)
    assert estimator.cdf(np.array([80.0]))[0] == pytest.approx(1 - np.exp(-1.0))
    assert estimator.mean == pytest.approx(80.0)


def test_conditional_end_uses_elapsed_time() -> None:
    # Durations exactly 100 s: an agent 95 s in frees within 10 s, one 10 s in does not.
    estimator = DurationEstimator.from_samples(
        [100.2] * 50, bin_width=1.0, horizon=600.0, memory=100.0, tail_mean=100.0)
    ends = estimator.conditional_end(np.array([95.0, 10.0]), np.array([10.0]))
    assert ends[0, 0] == pytest.approx(1.0)
    assert ends[1, 0] == pytest.approx(0.0)


def test_conditional_end_beyond_the_grid_uses_the_tail_hazard() -> None:
    estimator = DurationEstimator.from_samples(
        [100.2] * 50, bin_width=1.0, horizon=600.0, memory=100.0, tail_mean=50.0)
    ends = estimator.conditional_end(np.array([700.0]), np.array([50.0]))
    assert ends[0, 0] == pytest.approx(1 - np.exp(-1.0))


def test_expected_lead_integrates_the_cdf() -> None:
    estimator = DurationEstimator.from_samples(
        [10.5] * 10, bin_width=1.0, horizon=60.0, memory=100.0, tail_mean=10.0)
    lead = estimator.expected_lead(np.array([5.0, 20.0]))
    assert lead[0] == pytest.approx(0.0)
    assert lead[1] == pytest.approx(20.0 - 10.5, abs=1e-9)


def test_answer_probability_is_learned_from_outcomes() -> None:
    stats = CampaignStatistics.cold_start()
    learned = stats.observe(live_answer_delays=[10.0] * 1000, non_live_durations=[25.0] * 9000)
    assert stats.answer_probability == 0.25
    assert learned.answer_probability == pytest.approx(0.1, abs=0.02)


def test_handle_time_is_learned() -> None:
    learned = CampaignStatistics.cold_start().observe(handle_times=[60.0] * 2000)
    assert learned.handle_time.mean == pytest.approx(62.5, abs=1.0)


def test_long_ringing_calls_are_unlikely_to_be_answered() -> None:
    rng = np.random.default_rng(3)
    stats = CampaignStatistics.cold_start().observe(
        live_answer_delays=(2.0 + rng.gamma(4.0, 2.0, 3000)).tolist(),
        non_live_durations=[25.0] * 12000)
    within = stats.live_answer_within(np.array([0.0, 10.0, 22.0]), np.array([60.0]))[:, 0]
    assert within[0] == pytest.approx(stats.answer_probability, abs=0.01)
    assert within[0] > within[1] > within[2]  # live answers come early, no-answers ring on
    assert within[2] < 0.01


def test_outlook_tables_are_memoised_per_snapshot() -> None:
    stats = CampaignStatistics.cold_start()
    assert stats.outlook_tables(2.0, 8) is stats.outlook_tables(2.0, 8)
    assert stats.outlook_tables(0.0, 8) is not stats.outlook_tables(2.0, 8)
    newer = stats.observe(handle_times=[100.0])
    assert newer.outlook_tables(2.0, 8) is not stats.outlook_tables(2.0, 8)
