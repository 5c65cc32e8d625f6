"""The probabilistic model behind predictive pacing.

A live answer that arrives ``u`` seconds from now is served if an agent is available for
it by ``u + grace``: it is abandoned when the answers ahead of it in the FIFO queue
already take every agent that is idle now or frees up by then. With

- supply ``S(t)`` = idle agents + busy agents that finish within ``t`` seconds, each a
  Bernoulli from the learned handle-time distribution given its elapsed handle time
  (or, when the dialer sees the agent's phase, from the rest of the talk plus a whole
  wrap-up, or the rest of the wrap-up);
- demand ``D(u)`` = answers already waiting + calls in flight answered live within ``u``
  seconds (Bernoulli, given each call's elapsed ring time) + the earlier new dials,

the ``k``-th new dial is abandoned with probability ``P(S(u + grace) <= D(u))``, averaged
over the learned answer-delay distribution of ``u``. Sums of Bernoullis are taken as
normal (moments match, with a continuity correction), which keeps one decision at a few
vectorised operations on arrays of agents and calls.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass

import numpy as np

from dialer.domain.pacing_estimators import (
    DIAL_COUNTS,
    CampaignStatistics,
    FloatArray,
    OutlookTables,
)


def _shortfall_table() -> tuple[FloatArray, FloatArray]:
    """``psi(z) = E[(Z + z)+]`` for a standard normal ``Z``, tabulated for ``np.interp``.

    ``E[(X)+] = sd * psi(mean / sd)`` for ``X ~ N(mean, sd^2)``. Beyond z = 8, psi(z) = z
    to double precision, hence the far end point (linear interpolation is then exact).
    """
    z = np.linspace(-8.0, 8.0, 3201)
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in z.tolist()])
    psi = z * cdf + np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.append(z, 1e9), np.append(psi, 1e9)


_PSI_Z, _PSI = _shortfall_table()


@dataclass(frozen=True, eq=False)
class PipelineOutlook:
    """Supply of agents and demand of answers at the answer-time points of a new dial.

    The points are equally likely answer delays of a new live call (quantiles of the
    learned distribution, see :class:`OutlookTables`); supply is evaluated ``grace``
    seconds later. ``shortfall_mean[m]`` / ``shortfall_var[m]``: mean (with a continuity
    correction of -1/2) and variance of answers minus available agents at point ``m``.
    """

    tables: OutlookTables
    shortfall_mean: FloatArray
    shortfall_var: FloatArray

    @classmethod
    def build(
        cls,
        *,
        statistics: CampaignStatistics,
        idle_agents: int,
        busy_elapsed: FloatArray,
        ring_elapsed: FloatArray,
        waiting_answers: int,
        grace: float,
        points: int,
        answer_rate: float,
        talk_elapsed: FloatArray | None = None,
        wrap_elapsed: FloatArray | None = None,
    ) -> PipelineOutlook:
        """Moments of supply and demand for the current agents and calls in flight.

        ``busy_elapsed``: agents by elapsed handle time; ``talk_elapsed`` /
        ``wrap_elapsed``: agents whose phase is known, by elapsed talk / wrap-up time.
        ``answer_rate`` (live answers per second) is the pace at which later dials keep
        answering: those answered before a new call compete with it for the same agents.
        Agents and calls are binned by elapsed time (5 s and 0.5 s bins by default), so
        the cost is one histogram and one small matrix product for all of them.
        """
        tables = statistics.outlook_tables(grace, points)
        balance = tables.balance(busy_elapsed, ring_elapsed, talk_elapsed, wrap_elapsed)
        offset: float | FloatArray = waiting_answers - idle_agents - 0.5
        noise: float | FloatArray = 1e-3
        if answer_rate:
            later = answer_rate * tables.answer_lead
            offset, noise = later + offset, later + noise
        return cls(tables, balance[:points] + offset, balance[points:] + noise)

    def abandon_curve(self, upper: int, *, bounded: bool = False) -> AbandonCurve:
        """Expected abandons among all answers in the pipeline with ``k`` new dials, for
        ``k`` on the grid :data:`DIAL_COUNTS` up to the first count >= ``upper``.

        For each ``k``: the largest expected shortfall ``E[(D(u) - S(u + grace))+]`` over
        the answer-time points (normal approximation with a continuity correction: the
        shortfall is a whole number of answers). Its increments include what a new dial
        costs the calls already in flight (it may take the agent one of them would have
        got).

        ``bounded``: stop the grid where the new answers by the last answer-time point
        exceed the agents that can be free by then by three standard deviations (beyond,
        nearly every extra live answer is abandoned); the curve's ``upper`` is then that
        count. Callers whose search reaches it evaluate the full curve.
        """
        if bounded:
            per_dial = max(float(self.tables.new_answers[1, -1]), 1e-9)
            room = max(0.0, -float(self.shortfall_mean[-1])) + 3.0 * math.sqrt(
                float(self.shortfall_var[-1]) + 1.0)
            upper = min(upper, 2 * math.ceil(room / per_dial) + 16)
        size = min(bisect_left(_COUNTS, max(upper, 1)), len(_COUNTS) - 1) + 1
        tables = self.tables
        mean = tables.new_answers[:size] + self.shortfall_mean
        sd = np.sqrt(tables.new_answers_var[:size] + self.shortfall_var)
        mean /= sd
        shortfall = np.interp(mean, _PSI_Z, _PSI)
        shortfall *= sd
        return AbandonCurve(size, shortfall.max(axis=1).tolist(),
                            max(tables.answer_probability, 1e-6), upper)


@dataclass(frozen=True)
class AbandonCurve:
    """Expected abandons (``abandons[i]``) with ``DIAL_COUNTS[i]`` new dials, ``i < size``."""

    size: int
    abandons: list[float]
    answer_probability: float
    upper: int

    @property
    def committed(self) -> float:
        """Expected abandons among answers already in the pipeline (no new dial)."""
        return self.abandons[0]

    def largest_dial(self, threshold: float, budget: float) -> tuple[int, float, bool]:
        """Most new dials (<= ``upper``) whose marginal abandon probability (expected extra
        abandons per extra live answer) stays within ``threshold`` and whose expected
        extra abandons together stay within ``budget``.

        Returns the count, the marginal abandon probability of the last dial counted and
        whether the budget (rather than the threshold or ``upper``) was the binding limit.
        Between grid counts the curve is interpolated linearly. The search walks the grid
        from the first dial and usually stops within a few counts, so it runs on floats.
        """
        if self.upper <= 0:
            return 0, 0.0, False
        abandons, scale = self.abandons, 1.0 / self.answer_probability
        committed = abandons[0]
        p_lo = s_lo = 0.0
        for i in range(1, self.size):
            spent = abandons[i] - committed
            marginal = (abandons[i] - abandons[i - 1]) * (_INV_STEPS[i - 1] * scale)
            over_threshold = marginal > threshold
            if over_threshold or spent > budget:
                if i == 1:
                    return 0, 0.0, not over_threshold
                lo, hi = _COUNTS[i - 1], _COUNTS[i]
                # Largest count in [lo, hi) still within both limits, by linear interpolation.
                room = min((threshold - p_lo) / max(marginal - p_lo, 1e-12),
                           (budget - s_lo) / max(spent - s_lo, 1e-12), 1.0 - 1e-9)
                best = min(self.upper, int(lo + max(0.0, room) * (hi - lo)))
                return best, p_lo + (best - lo) / (hi - lo) * (marginal - p_lo), not over_threshold
            p_lo, s_lo = marginal, spent
        return self.upper, p_lo, False


_COUNTS: list[float] = DIAL_COUNTS.tolist()
_INV_STEPS: list[float] = (1.0 / np.diff(DIAL_COUNTS)).tolist()
