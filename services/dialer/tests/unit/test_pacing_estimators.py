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


def phase_statistics() -> CampaignStatistics:
    rng = np.random.default_rng(5)
    talk = rng.lognormal(4.66, 0.83, 3000)
    wrap = rng.lognormal(2.88, 0.47, 3000)
    return CampaignStatistics.cold_start().observe(
        talk_times=talk.tolist(), wrap_times=wrap.tolist(), handle_times=(talk + wrap).tolist())


def test_talk_and_wrap_up_are_learned_separately() -> None:
    stats = phase_statistics()
    assert stats.talk_time.mean == pytest.approx(150.0, rel=0.1)
    assert stats.wrap_time.mean == pytest.approx(20.0, rel=0.1)
    assert stats.handle_time.mean == pytest.approx(170.0, rel=0.1)


def test_a_talking_agent_frees_by_the_rest_of_the_talk_plus_a_whole_wrap_up() -> None:
    """The table's convolution against a brute-force one on a 20x finer grid."""
    stats = phase_statistics()
    tables = stats.outlook_tables(2.0, 8)
    within = tables.answer_times + 2.0
    beyond = tables.talk_time.weights.size  # the last row: talked beyond the grid
    for row in (0, 20, 60, 200, beyond):  # talked 2.5 s, 102.5 s, 302.5 s, 1002.5 s, more
        elapsed = np.array([(row + 0.5) * tables.talk_time.bin_width])
        ends = np.arange(0.0, within.max() + 0.025, 0.025)
        done = stats.talk_time.conditional_end(elapsed, ends)[0]
        mass, middle = np.diff(done), ends[:-1] + 0.0125
        expected = [float(mass @ stats.wrap_time.cdf(np.maximum(w - middle, 0.0)))
                    for w in within]
        np.testing.assert_allclose(tables.talking_free[row, :8], expected, atol=2e-3)
        # never likelier than the talk alone ending, or a fresh wrap-up alone ending
        talk_only = stats.talk_time.conditional_end(elapsed, within)[0]
        assert np.all(tables.talking_free[row, :8] <= talk_only + 1e-12)
        assert np.all(tables.talking_free[row, :8] <= stats.wrap_time.cdf(within) + 1e-12)
    wrap_row = 15  # in wrap-up for 15.5 s
    np.testing.assert_allclose(
        tables.wrapping_free[wrap_row, :8],
        stats.wrap_time.conditional_end(np.array([15.5]), within)[0])


def test_knowing_the_phase_sharpens_when_agents_free_up() -> None:
    """An agent 100 s into a call is either still talking or in a short wrap-up: told
    which, the engine is far more certain than from the handle time alone."""
    tables = phase_statistics().outlook_tables(2.0, 8)
    handle = tables.supply(np.array([100.0]))[:8]
    talking = tables.supply_talking(np.array([100.0]))[:8]
    wrapping = tables.supply_wrapping(np.array([10.0]))[:8]
    assert np.all(talking < handle) and np.all(wrapping > 3 * handle)


def test_the_fused_balance_is_demand_minus_supply_and_their_variances() -> None:
    tables = phase_statistics().outlook_tables(2.0, 8)
    rng = np.random.default_rng(9)
    busy, talk = rng.uniform(0, 2500, 7), rng.uniform(0, 2500, 40)  # beyond the grids too
    wrap, ring = rng.uniform(0, 400, 9), rng.uniform(0, 90, 60)
    supply = tables.supply(busy) + tables.supply_talking(talk) + tables.supply_wrapping(wrap)
    demand = tables.demand(ring)
    expected = np.concatenate((demand[:8] - supply[:8], demand[8:] + supply[8:]))
    np.testing.assert_allclose(tables.balance(busy, ring, talk, wrap), expected, atol=1e-9)
    plain = np.concatenate((demand[:8] - tables.supply(busy)[:8],
                            demand[8:] + tables.supply(busy)[8:]))
    np.testing.assert_allclose(tables.balance(busy, ring), plain, atol=1e-9)
    np.testing.assert_allclose(tables.balance(busy[:0], ring[:0]), np.zeros(16))
