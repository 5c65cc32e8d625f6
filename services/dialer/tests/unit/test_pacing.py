"""Unit tests of the pacing engine: decisions, clamps and budget accounting."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from dialer.domain.pacing import (
    AbandonBudget,
    PacingConfig,
    PacingMode,
    PacingReason,
    PacingState,
    decide,
    plan_budget,
    progressive_lines,
)
from dialer.domain.pacing_estimators import DIAL_COUNTS, CampaignStatistics
from dialer.domain.pacing_model import PipelineOutlook

SHIFT = 8 * 3600.0


def learned_statistics() -> CampaignStatistics:
    """Statistics after a few thousand calls like the benchmark's (fixed draws)."""
    rng = np.random.default_rng(11)
    live = (2.0 + rng.gamma(4.0, 2.0, 4000)).tolist()
    other = np.where(rng.random(16000) < 0.3, rng.uniform(1.0, 4.0, 16000), 25.0).tolist()
    handle = (rng.lognormal(4.66, 0.83, 3000) + rng.lognormal(2.88, 0.47, 3000)).tolist()
    return CampaignStatistics.cold_start().observe(
        live_answer_delays=live, non_live_durations=other, handle_times=handle)


STATS = learned_statistics()


def make_state(
    *,
    idle: int = 2,
    busy: tuple[float, ...] = (30.0, 90.0, 150.0, 160.0, 175.0, 200.0, 240.0, 400.0),
    ring: tuple[float, ...] = (1.0, 3.0, 8.0),
    waiting: int = 0,
    paused: int = 0,
    answers: int = 600,
    abandons: int = 10,
    now: float = 3 * 3600.0,
    statistics: CampaignStatistics = STATS,
) -> PacingState:
    return PacingState(
        now=now, idle_agents=idle, paused_agents=paused, busy_elapsed=busy,
        ring_elapsed=ring, waiting_answers=waiting, statistics=statistics,
        budget=AbandonBudget(0.0, SHIFT, live_answers=answers, abandons=abandons),
    )


PREDICTIVE = PacingConfig()


def test_same_state_same_decision_and_state_untouched() -> None:
    state = make_state()
    snapshot = (state.busy_elapsed, state.ring_elapsed, state.budget)
    first, second = decide(state, PREDICTIVE), decide(state, PREDICTIVE)
    assert first == second
    assert (state.busy_elapsed, state.ring_elapsed, state.budget) == snapshot


def test_known_state_gives_known_decision() -> None:
    decision = decide(make_state(idle=3), PREDICTIVE)
    assert decision.reason is PacingReason.ABANDON_THRESHOLD
    assert decision.lines_to_dial == 3  # ahead of progressive, which dials nothing here
    assert progressive_lines(make_state(idle=3)) == 0
    assert decision.explain["marginal_abandon_probability"] <= decision.explain[
        "abandon_threshold"]


def test_explanation_is_json_and_carries_inputs() -> None:
    decision = decide(make_state(), PREDICTIVE)
    explain = json.loads(json.dumps(decision.explain))
    assert explain["lines_to_dial"] == decision.lines_to_dial
    assert explain["reason"] == decision.reason.value
    assert explain["idle_agents"] == 2 and explain["busy_agents"] == 8
    assert explain["calls_in_flight"] == 3 and explain["window_abandons"] == 10
    assert 0.0 < explain["answer_probability"] < 1.0
    assert explain["abandon_threshold"] == pytest.approx(
        PREDICTIVE.threshold_gain * explain["planned_abandon_rate"])


@pytest.mark.parametrize(("idle", "ring", "waiting", "expected"),
                         [(5, (1.0, 2.0), 0, 3), (2, (1.0, 2.0, 3.0, 4.0), 0, 0), (3, (), 1, 2)])
def test_progressive_is_one_call_per_uncovered_idle_agent(
    idle: int, ring: tuple[float, ...], waiting: int, expected: int
) -> None:
    state = make_state(idle=idle, ring=ring, waiting=waiting)
    decision = decide(state, PacingConfig(mode=PacingMode.PROGRESSIVE))
    assert decision.lines_to_dial == expected
    assert decision.reason is PacingReason.PROGRESSIVE


def test_power_dials_fixed_lines_per_idle_agent() -> None:
    config = PacingConfig(mode=PacingMode.POWER, lines_per_agent=3.0)
    assert decide(make_state(idle=4, ring=(1.0,) * 5), config).lines_to_dial == 7
    assert decide(make_state(idle=1, ring=(1.0,) * 5), config).lines_to_dial == 0


def test_power_with_blown_budget_drops_to_progressive_unless_told_not_to() -> None:
    state = make_state(idle=4, ring=(), answers=1000, abandons=40)
    guarded = decide(state, PacingConfig(mode=PacingMode.POWER, lines_per_agent=3.0))
    assert (guarded.lines_to_dial, guarded.reason) == (4, PacingReason.BUDGET_EXHAUSTED)
    config = PacingConfig(mode=PacingMode.POWER, lines_per_agent=3.0, enforce_budget=False)
    assert decide(state, config).lines_to_dial == 12


def test_max_lines_per_agent_caps_every_mode() -> None:
    state = make_state(idle=10, busy=(), ring=(1.0,) * 4)
    power = PacingConfig(mode=PacingMode.POWER, lines_per_agent=5.0, max_lines_per_agent=1.5)
    assert decide(state, power).lines_to_dial == 15 - 4
    predictive = decide(state, PacingConfig(max_lines_per_agent=1.5))
    assert predictive.lines_to_dial <= 11
    assert predictive.reason is PacingReason.LINE_CAP


def test_no_logged_in_available_agent_means_no_dial() -> None:
    state = make_state(idle=0, busy=(), ring=(), paused=5)
    for mode in PacingMode:
        decision = decide(state, PacingConfig(mode=mode))
        assert (decision.lines_to_dial, decision.reason) == (0, PacingReason.NO_AGENTS)


def test_predictive_does_not_dial_when_no_agent_can_free_up_in_time() -> None:
    long_calls = CampaignStatistics.cold_start().observe(handle_times=[900.0] * 3000)
    state = make_state(idle=0, busy=(5.0,) * 10, ring=(), statistics=long_calls)
    assert decide(state, PREDICTIVE).lines_to_dial == 0


def test_predictive_never_dials_fewer_than_progressive() -> None:
    state = make_state(idle=6, busy=(10.0,) * 4, ring=(), answers=1000, abandons=29)
    decision = decide(state, PREDICTIVE)
    assert decision.lines_to_dial >= 6 == progressive_lines(state)


def test_blown_budget_drops_to_progressive() -> None:
    state = make_state(idle=3, ring=(2.0,), answers=1000, abandons=40)
    decision = decide(state, PREDICTIVE)
    assert decision.reason is PacingReason.BUDGET_EXHAUSTED
    assert decision.lines_to_dial == 2
    assert decision.explain["allowed_abandons"] < 0


def test_more_abandons_so_far_never_means_more_lines() -> None:
    lines = [decide(make_state(idle=3, abandons=a), PREDICTIVE).lines_to_dial
             for a in (0, 6, 12, 18, 24)]
    assert lines == sorted(lines, reverse=True)
    assert lines[0] > lines[-1]


def test_more_idle_agents_never_means_fewer_lines() -> None:
    lines = [decide(make_state(idle=i), PREDICTIVE).lines_to_dial for i in range(0, 8)]
    assert lines == sorted(lines)


def test_budget_plan_arithmetic() -> None:
    budget = AbandonBudget(0.0, SHIFT, live_answers=1000, abandons=20)
    config = PacingConfig(reserve_floor=1.0, reserve_sigmas=2.0, correction_horizon=3600.0,
                          min_correction_horizon=600.0)
    plan = plan_budget(budget, config, now=SHIFT - 1800.0, committed=0.5, answer_rate=0.1)
    horizon_answers = 0.1 * 1800.0  # the window ends before the correction horizon
    reserve = 1.0 + 2.0 * math.sqrt(0.03 * horizon_answers)
    final = 0.03 - reserve / (1000 + horizon_answers)
    assert plan.horizon_answers == pytest.approx(horizon_answers)
    assert plan.reserve == pytest.approx(reserve)
    assert plan.final_rate == pytest.approx(final)
    assert plan.allowed == pytest.approx(final * (1000 + horizon_answers) - 20 - 0.5)
    assert plan.planned_rate == pytest.approx(plan.allowed / horizon_answers)


def test_a_fresh_window_spends_from_its_start() -> None:
    """The reserve is spread over the whole window, not held back from its first hour: a
    10-agent team (about 200 live answers an hour) plans close to the target at once."""
    fresh = AbandonBudget(0.0, SHIFT)
    plan = plan_budget(fresh, PREDICTIVE, now=0.0, committed=0.0, answer_rate=10 / 170.0)
    window_answers = 10 / 170.0 * SHIFT
    assert plan.final_rate == pytest.approx(0.03 - plan.reserve / window_answers)
    assert plan.planned_rate == pytest.approx(plan.final_rate)
    assert plan.planned_rate > 0.85 * PREDICTIVE.target_abandon_rate  # was 0.1x


def test_window_end_spreads_a_surplus_over_the_minimum_horizon() -> None:
    """A minute before the window ends, a surplus of a few abandons is not spent in one
    burst: it is spread over ``min_correction_horizon`` and the rest stays unspent."""
    budget = AbandonBudget(0.0, SHIFT, live_answers=8000, abandons=230)
    burst, spread = (plan_budget(budget, replace(PREDICTIVE, min_correction_horizon=m),
                                 now=SHIFT - 60.0, committed=0.0, answer_rate=0.3)
                     for m in (0.0, 600.0))
    assert spread.horizon_answers == pytest.approx(0.3 * 600.0)
    assert burst.horizon_answers == pytest.approx(0.3 * 60.0)
    surplus = spread.final_rate * 8000 - 230
    assert surplus > 5.0
    assert spread.planned_rate == pytest.approx(spread.final_rate + surplus / 180.0)
    assert burst.planned_rate > 3 * spread.planned_rate


def test_exhausted_budget_plans_nothing() -> None:
    budget = AbandonBudget(0.0, SHIFT, live_answers=1000, abandons=35)
    plan = plan_budget(budget, PREDICTIVE, now=SHIFT - 60.0, committed=0.0, answer_rate=0.1)
    assert plan.allowed < 0 and plan.planned_rate == 0.0


def test_dials_never_spend_beyond_the_allowed_abandons() -> None:
    outlook = PipelineOutlook.build(
        statistics=STATS, idle_agents=1, busy_elapsed=np.full(20, 150.0),
        ring_elapsed=np.array([1.0, 2.0]), waiting_answers=0, grace=2.0, points=8,
        answer_rate=0.1)
    curve = outlook.abandon_curve(400)
    for budget in (0.01, 0.05, 0.2, 1.0):
        lines, _, _ = curve.largest_dial(threshold=1.0, budget=budget)
        spent = np.interp(lines, DIAL_COUNTS[: curve.size], curve.abandons) - curve.committed
        assert spent <= budget + 1e-9
        assert lines < 400


def test_marginal_abandon_probability_stays_within_threshold() -> None:
    outlook = PipelineOutlook.build(
        statistics=STATS, idle_agents=3, busy_elapsed=np.linspace(0.0, 400.0, 30),
        ring_elapsed=np.array([1.0, 5.0, 9.0]), waiting_answers=0, grace=2.0, points=8,
        answer_rate=0.15)
    curve = outlook.abandon_curve(600)
    low, p_low, _ = curve.largest_dial(threshold=0.02, budget=1e9)
    high, p_high, _ = curve.largest_dial(threshold=0.10, budget=1e9)
    assert 0 < low < high < 600
    assert p_low <= 0.02 + 1e-9 and p_high <= 0.10 + 1e-9


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        PacingConfig(target_abandon_rate=1.5)
    with pytest.raises(ValueError):
        PacingConfig(max_lines_per_agent=0.5)
    with pytest.raises(ValueError):
        replace(PACING_POWER, lines_per_agent=0.0)
    with pytest.raises(ValueError):
        PacingConfig(future_dial_weight=-0.5)
    with pytest.raises(ValueError):
        PacingConfig(threshold_gain=0.0)
    with pytest.raises(ValueError):
        PacingConfig(min_correction_horizon=-1.0)


def test_counting_future_dials_as_competition_never_means_more_lines() -> None:
    state = make_state(idle=3, busy=tuple(np.linspace(20.0, 300.0, 40).tolist()))
    lines = [decide(state, replace(PREDICTIVE, future_dial_weight=w)).lines_to_dial
             for w in (0.0, 0.5, 1.0)]
    assert lines == sorted(lines, reverse=True)
    assert lines[0] > lines[-1]


PACING_POWER = PacingConfig(mode=PacingMode.POWER)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bounded_search_finds_what_the_full_curve_finds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(50):
        agents = int(rng.integers(1, 300))
        busy = int(rng.integers(0, agents + 1))
        outlook = PipelineOutlook.build(
            statistics=STATS, idle_agents=agents - busy,
            busy_elapsed=rng.uniform(0.0, 400.0, busy),
            ring_elapsed=rng.uniform(0.0, 25.0, int(rng.integers(0, 3 * agents))),
            waiting_answers=int(rng.integers(0, 2)), grace=2.0, points=8, answer_rate=0.0)
        bounded = outlook.abandon_curve(20 * agents, bounded=True)
        full = outlook.abandon_curve(20 * agents)
        assert bounded.size <= full.size and bounded.committed == full.committed
        for threshold in (0.005, 0.05, 0.3):
            budget = float(rng.uniform(0.0, 30.0))
            assert bounded.largest_dial(threshold, budget) == full.largest_dial(threshold, budget)


def phase_statistics() -> CampaignStatistics:
    rng = np.random.default_rng(12)
    talk, wrap = rng.lognormal(4.66, 0.83, 3000), rng.lognormal(2.88, 0.47, 3000)
    return STATS.observe(talk_times=talk.tolist(), wrap_times=wrap.tolist())


def test_agents_in_wrap_up_are_counted_as_freeing_up_soon() -> None:
    """The same forty busy agents, by handle time alone, all talking, or a quarter of
    them in wrap-up: the engine dials most when it knows some are about to be free."""
    stats = phase_statistics()
    handle = tuple(np.linspace(60.0, 240.0, 40).tolist())
    unknown = make_state(idle=0, busy=handle, ring=(), statistics=stats)
    talking = replace(unknown, busy_elapsed=(), talk_elapsed=handle)
    wrapping = replace(unknown, busy_elapsed=(), talk_elapsed=handle[:30],
                       wrap_elapsed=tuple(np.linspace(5.0, 20.0, 10).tolist()))
    lines = [decide(s, PREDICTIVE).lines_to_dial for s in (talking, unknown, wrapping)]
    assert lines[0] < lines[1] < lines[2], lines
    assert all(s.busy_agents == 40 for s in (talking, unknown, wrapping))
    explain = decide(wrapping, PREDICTIVE).explain
    assert explain["busy_agents"] == 40 and explain["wrapping_agents"] == 10
