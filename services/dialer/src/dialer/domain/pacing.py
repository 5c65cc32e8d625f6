"""Pacing engine: how many numbers to dial right now.

A pure, deterministic function of the observed state: :func:`decide` takes a
:class:`PacingState` and a :class:`PacingConfig` and returns a :class:`PacingDecision`
with the lines to dial and an explanation (its inputs and the reason), which the dialer
publishes as a ``pacing.decided`` event. No I/O, no clock, no randomness: the live dialer
and the benchmark drive the same code. All times are in seconds.

Predictive mode spends the abandon budget of the regulatory window deliberately:

1. budget: the window is steered to end at ``final = target - reserve / (its expected
   live answers)``; ``allowed = final * expected answers in the correction horizon +
   surplus``, where the surplus is ``final * live answers so far - abandons so far -
   expected abandons of calls already in flight`` (see :func:`plan_budget`);
2. planned rate: the allowed abandons spread over the horizon's expected answers.
   Realised abandons feed straight back: a bad hour lowers the planned rate, a good one
   raises it;
3. dial the most new calls whose marginal abandon probability stays within
   ``threshold_gain * planned rate`` and whose expected abandons together stay within
   the allowed budget (:mod:`dialer.domain.pacing_model`); never fewer than progressive.

A blown budget drops to progressive (no overdial: every call has an idle agent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from dialer.domain.pacing_estimators import CampaignStatistics
from dialer.domain.pacing_model import PipelineOutlook

JsonScalar = int | float | str


class PacingMode(StrEnum):
    """Dialing mode of a campaign."""

    PROGRESSIVE = "progressive"  # one call per idle agent not covered by a call in flight
    POWER = "power"  # a fixed number of lines per idle agent
    PREDICTIVE = "predictive"  # model-based, spends the abandon budget


class PacingReason(StrEnum):
    """Why a decision dialed what it dialed."""

    NO_AGENTS = "no_agents"
    PROGRESSIVE = "progressive"
    POWER = "power"
    BUDGET_EXHAUSTED = "budget_exhausted"
    ABANDON_THRESHOLD = "abandon_threshold"
    ABANDON_BUDGET = "abandon_budget"
    LINE_CAP = "line_cap"


@dataclass(frozen=True)
class PacingConfig:
    """Campaign pacing settings.

    - ``target_abandon_rate``: share of live answers that may be abandoned in the
      regulatory window (0.03 in the US and UK);
    - ``answer_grace``: seconds a live answer may wait for an agent before it counts as
      abandoned (a fact of the platform, 2 s by default);
    - ``max_lines_per_agent``: cap on lines (calls in flight and waiting answers) per
      logged-in, non-paused agent, in every mode;
    - ``lines_per_agent``: power mode's lines per idle agent; ``enforce_budget``: power
      mode drops to progressive once the window's abandon rate is above target;
    - predictive mode: ``threshold_gain`` (marginal abandon probability allowed per unit
      of planned abandon rate), ``max_planned_rate`` (cap of the planned rate),
      ``reserve_sigmas`` and ``reserve_floor`` (abandons held back, see
      :func:`plan_budget`), ``correction_horizon`` (seconds over which a budget surplus
      or deficit is worked off) and ``min_correction_horizon`` (never over less, even at
      the end of the window), ``answer_points`` (answer delays the model checks) and
      ``future_dial_weight`` (share of the live answers of the dials of the coming
      seconds counted as competing with a new call; 0: the decisions to come account
      for themselves, which is what the optimal policy of the Markovian twins does).
    """

    mode: PacingMode = PacingMode.PREDICTIVE
    target_abandon_rate: float = 0.03
    answer_grace: float = 2.0
    max_lines_per_agent: float = 20.0
    lines_per_agent: float = 2.0
    enforce_budget: bool = True
    threshold_gain: float = 0.25
    max_planned_rate: float = 2.0
    reserve_sigmas: float = 1.5
    correction_horizon: float = 3600.0
    reserve_floor: float = 2.0
    answer_points: int = 8
    future_dial_weight: float = 0.0
    min_correction_horizon: float = 600.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.target_abandon_rate < 1.0:
            raise ValueError("target_abandon_rate must be in [0, 1)")
        if self.answer_grace < 0.0 or self.max_lines_per_agent < 1.0:
            raise ValueError("answer_grace must be >= 0 and max_lines_per_agent >= 1")
        if self.lines_per_agent < 1.0 or self.answer_points < 1:
            raise ValueError("lines_per_agent must be >= 1 and answer_points >= 1")
        if self.future_dial_weight < 0.0 or self.threshold_gain <= 0.0:
            raise ValueError("future_dial_weight must be >= 0 and threshold_gain > 0")
        if self.correction_horizon <= 0.0 or self.min_correction_horizon < 0.0:
            raise ValueError("correction_horizon must be > 0 and min_correction_horizon >= 0")


@dataclass(frozen=True)
class AbandonBudget:
    """Abandon accounting of the current regulatory window (e.g. a shift or 24 h)."""

    window_start: float
    window_length: float
    live_answers: int = 0
    abandons: int = 0

    def remaining_time(self, now: float) -> float:
        """Seconds left in the window."""
        return max(0.0, self.window_start + self.window_length - now)


@dataclass(frozen=True)
class PacingState:
    """What the dialer observes at time ``now`` (seconds).

    ``busy_elapsed``: elapsed handle time of each agent on a call or in wrap-up whose
    phase is not reported; ``talk_elapsed`` / ``wrap_elapsed``: the agents whose phase
    the dialer sees, still talking (time since connect) or in wrap-up (time since the
    call ended); an agent is in exactly one of the three. ``ring_elapsed``: time since
    dialing of each call in flight (not yet answered, failed or timed out);
    ``waiting_answers``: live answers waiting for an agent.
    """

    now: float
    idle_agents: int
    paused_agents: int
    busy_elapsed: Sequence[float]
    ring_elapsed: Sequence[float]
    waiting_answers: int
    statistics: CampaignStatistics
    budget: AbandonBudget
    talk_elapsed: Sequence[float] = ()
    wrap_elapsed: Sequence[float] = ()

    @property
    def busy_agents(self) -> int:
        """Agents on a call or in wrap-up."""
        return len(self.busy_elapsed) + len(self.talk_elapsed) + len(self.wrap_elapsed)

    @property
    def lines_in_use(self) -> int:
        """Calls in flight plus answers waiting for an agent."""
        return len(self.ring_elapsed) + self.waiting_answers


@dataclass(frozen=True)
class PacingDecision:
    """Lines to dial now, why, and the inputs that led there (JSON-serialisable)."""

    lines_to_dial: int
    reason: PacingReason
    explain: dict[str, JsonScalar] = field(default_factory=dict)


def progressive_lines(state: PacingState) -> int:
    """One call per idle agent not already covered by a call in flight or a waiting answer."""
    return max(0, state.idle_agents - state.lines_in_use)


def decide(state: PacingState, config: PacingConfig) -> PacingDecision:
    """The pacing decision for ``state`` under ``config``."""
    busy = state.busy_agents
    agents = state.idle_agents + busy
    base: dict[str, JsonScalar] = {
        "mode": config.mode.value,
        "now": state.now,
        "idle_agents": state.idle_agents,
        "busy_agents": busy,
        "wrapping_agents": len(state.wrap_elapsed),
        "paused_agents": state.paused_agents,
        "calls_in_flight": len(state.ring_elapsed),
        "waiting_answers": state.waiting_answers,
        "window_live_answers": state.budget.live_answers,
        "window_abandons": state.budget.abandons,
    }
    if agents == 0:
        return _decision(0, PacingReason.NO_AGENTS, base)
    in_use = state.lines_in_use
    cap = max(0, math.floor(config.max_lines_per_agent * agents) - in_use)
    progressive = min(cap, progressive_lines(state))
    if config.mode is PacingMode.PROGRESSIVE:
        return _decision(progressive, PacingReason.PROGRESSIVE, base)
    if config.mode is PacingMode.POWER:
        if config.enforce_budget and _window_rate(state.budget) > config.target_abandon_rate:
            return _decision(progressive, PacingReason.BUDGET_EXHAUSTED, base)
        power = round(config.lines_per_agent * state.idle_agents) - in_use
        return _decision(min(cap, max(0, power)), PacingReason.POWER, base)
    return _predictive(state, config, agents, cap, progressive, base)


def _window_rate(budget: AbandonBudget) -> float:
    """Realised abandon rate of the window so far (0 before any live answer)."""
    return budget.abandons / budget.live_answers if budget.live_answers else 0.0


@dataclass(frozen=True)
class BudgetPlan:
    """Abandons the pacer may still spend, planned over the correction horizon.

    ``horizon_answers``: live answers expected in the horizon; ``reserve``: abandons held
    back against bad luck; ``final_rate``: the abandon rate the window is steered to end
    at (the target less the reserve spread over all of the window's answers);
    ``allowed``: abandons new dials may add by the end of the horizon; ``planned_rate``:
    ``allowed`` per expected answer (0 when exhausted).
    """

    horizon_answers: float
    reserve: float
    final_rate: float
    allowed: float
    planned_rate: float


def plan_budget(
    budget: AbandonBudget, config: PacingConfig, *, now: float, committed: float,
    answer_rate: float,
) -> BudgetPlan:
    """Budget accounting of the regulatory window: a trajectory to the window's end.

    The window is steered to end at ``final = target - reserve / (answers so far + answers
    expected in the rest of the window)``: the reserve (``reserve_floor + reserve_sigmas
    x sqrt(expected abandons in the horizon)``, shrinking towards the floor as the window
    ends) is spread over the whole window, not held back from the next hour, so a window
    starts spending at once and its last hour is not a spree. ``surplus = final x answers
    so far - abandons so far - committed`` (the expected abandons of calls already in
    flight) is how far the window is below that trajectory (negative: above it). It is
    worked off over the horizon (``correction_horizon`` seconds or the rest of the window,
    whichever is first), so realised abandons feed back fast; but never over less than
    ``min_correction_horizon``: in the window's last minutes a few abandons more or less
    would otherwise swing the plan between a burst and progressive dialing. What the
    window cannot spend by its end stays unspent. ``answer_rate``: expected live answers
    per second.
    """
    remaining = budget.remaining_time(now)
    horizon = min(config.correction_horizon, remaining)
    target = config.target_abandon_rate
    reserve = config.reserve_floor + config.reserve_sigmas * math.sqrt(
        target * answer_rate * horizon)
    final = target - reserve / max(budget.live_answers + answer_rate * remaining, 1.0)
    surplus = final * budget.live_answers - budget.abandons - committed
    answers = answer_rate * max(horizon, config.min_correction_horizon)
    allowed = final * answers + surplus
    planned = min(config.max_planned_rate, max(0.0, allowed) / max(answers, 1.0))
    return BudgetPlan(answers, reserve, final, allowed, planned)


def _predictive(
    state: PacingState,
    config: PacingConfig,
    agents: int,
    cap: int,
    progressive: int,
    info: dict[str, JsonScalar],
) -> PacingDecision:
    """Predictive mode: the abandon budget of the window, spent by the pipeline model."""
    stats = state.statistics
    answer_rate = agents / stats.handle_time.mean
    outlook = PipelineOutlook.build(
        statistics=stats,
        idle_agents=state.idle_agents,
        busy_elapsed=np.asarray(state.busy_elapsed, dtype=np.float64),
        talk_elapsed=np.asarray(state.talk_elapsed, dtype=np.float64),
        wrap_elapsed=np.asarray(state.wrap_elapsed, dtype=np.float64),
        ring_elapsed=np.asarray(state.ring_elapsed, dtype=np.float64),
        waiting_answers=state.waiting_answers,
        grace=config.answer_grace,
        points=config.answer_points,
        answer_rate=config.future_dial_weight * answer_rate,
    )
    # The curve up to a guess of the answer first (an eighth of the agents), then up to a
    # bound (see ``abandon_curve``), then whole: its rows do not depend on how many are
    # evaluated, so a stage whose search stops before its end gives exactly what the
    # whole curve would, and the short first stage is the cheap common case.
    curve = outlook.abandon_curve(min(cap, 1 + agents // 8))
    committed = curve.committed
    plan = plan_budget(state.budget, config, now=state.now, committed=committed,
                       answer_rate=answer_rate)
    threshold = config.threshold_gain * plan.planned_rate
    info.update({
        "answer_probability": stats.answer_probability,
        "mean_answer_delay": stats.answer_delay.mean,
        "mean_handle_time": stats.handle_time.mean,
        "horizon_answers": plan.horizon_answers,
        "committed_abandons": committed,
        "reserve_abandons": plan.reserve,
        "final_abandon_rate": plan.final_rate,
        "allowed_abandons": plan.allowed,
        "planned_abandon_rate": plan.planned_rate,
        "abandon_threshold": threshold,
    })
    if plan.allowed <= 0.0:
        return _decision(progressive, PacingReason.BUDGET_EXHAUSTED, info)
    lines, marginal, by_budget = curve.largest_dial(threshold, plan.allowed)
    for bounded in (True, False):
        if not lines == curve.upper < cap:
            break
        curve = outlook.abandon_curve(cap, bounded=bounded)
        lines, marginal, by_budget = curve.largest_dial(threshold, plan.allowed)
    reason = PacingReason.ABANDON_BUDGET if by_budget else PacingReason.ABANDON_THRESHOLD
    if lines == cap and cap > 0:
        reason = PacingReason.LINE_CAP
    if lines < progressive:
        lines, reason = progressive, PacingReason.PROGRESSIVE
    info["marginal_abandon_probability"] = marginal
    return _decision(lines, reason, info)


def _decision(lines: int, reason: PacingReason, info: dict[str, JsonScalar]) -> PacingDecision:
    """Assemble the decision, recording the lines and the reason in the explanation (a
    dict of the decision's own, which this completes)."""
    info["lines_to_dial"], info["reason"] = lines, reason.value
    return PacingDecision(lines, reason, info)
