"""Online estimators the pacing engine learns from the campaign's own completed calls.

Every estimator is an immutable value object: ``observe(...)`` returns a new snapshot and
never mutates the old one, so a pacing decision is a pure function of the snapshot it was
given. Weights decay exponentially per observation (an effective memory of ``memory``
observations), which lets the estimates follow drift (answer rate, talk time) while a
prior covers the cold start. All durations are in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Counts of new dials at which the pacing model evaluates expected abandons: every count
#: up to 16, then 15% apart (up to ~1.3 million).
DIAL_COUNTS: FloatArray = np.unique(np.concatenate((
    np.arange(0.0, 17.0), np.round(16.0 * 1.15 ** np.arange(1, 82)),
)))


def _decay(memory: float, count: int) -> float:
    """Weight kept by the old estimate after ``count`` new observations."""
    return float((1.0 - 1.0 / memory) ** count)


@dataclass(frozen=True, eq=False)
class DurationEstimator:
    """Exponentially weighted histogram of a duration (seconds) on a uniform grid.

    ``weights[i]`` is the probability mass of ``[i * bin_width, (i + 1) * bin_width)``;
    ``overflow`` is the mass beyond the grid, whose tail is taken as exponential with
    mean ``tail_mean`` seconds. Mass is spread uniformly inside a bin.
    """

    bin_width: float
    weights: FloatArray
    overflow: float
    tail_mean: float
    memory: float
    _cdf: FloatArray = field(init=False, repr=False)
    _mean: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        cdf = np.concatenate(([0.0], np.cumsum(self.weights)))
        object.__setattr__(self, "_cdf", cdf)
        edges = (np.arange(self.weights.size) + 0.5) * self.bin_width
        tail = self.overflow * (self.horizon + self.tail_mean)
        object.__setattr__(self, "_mean", float(np.dot(self.weights, edges) + tail))

    @classmethod
    def from_samples(
        cls,
        samples: Sequence[float],
        *,
        bin_width: float,
        horizon: float,
        memory: float,
        tail_mean: float,
    ) -> DurationEstimator:
        """Prior built from representative durations (equal weights), e.g. a cold start."""
        n_bins = round(horizon / bin_width)
        weights, overflow = _histogram(np.asarray(samples, dtype=np.float64), bin_width, n_bins)
        return cls(bin_width, weights, overflow, tail_mean, memory)

    @property
    def horizon(self) -> float:
        """End of the grid (seconds)."""
        return self.weights.size * self.bin_width

    @property
    def mean(self) -> float:
        """Mean duration (seconds)."""
        return self._mean

    def observe(self, samples: Sequence[float]) -> DurationEstimator:
        """New snapshot after observing ``samples`` (seconds), most recent weighing most."""
        if len(samples) == 0:
            return self
        keep = _decay(self.memory, len(samples))
        batch, batch_overflow = _histogram(
            np.asarray(samples, dtype=np.float64), self.bin_width, self.weights.size
        )
        return replace(
            self,
            weights=keep * self.weights + (1.0 - keep) * batch,
            overflow=keep * self.overflow + (1.0 - keep) * batch_overflow,
        )

    def bin_centres(self) -> FloatArray:
        """The centre of every bin, then one more step: the row of a lookup table that
        holds every duration beyond the grid."""
        return (np.arange(self.weights.size + 1, dtype=np.float64) + 0.5) * self.bin_width

    def cdf(self, x: FloatArray) -> FloatArray:
        """P(duration <= x) for an array of durations (seconds)."""
        inside = np.interp(x, np.arange(self._cdf.size) * self.bin_width, self._cdf)
        beyond = 1.0 - self.overflow * np.exp(-(np.maximum(x, self.horizon) - self.horizon)
                                              / self.tail_mean)
        return np.where(x <= self.horizon, inside, beyond)

    def quantiles(self, levels: FloatArray) -> FloatArray:
        """Inverse CDF at ``levels`` (within the grid; seconds)."""
        grid = np.arange(self._cdf.size) * self.bin_width
        return np.asarray(np.interp(levels, self._cdf, grid), dtype=np.float64)

    def expected_lead(self, x: FloatArray) -> FloatArray:
        """``E[(x - duration)+]``, i.e. the integral of the CDF up to ``x`` (seconds)."""
        area = np.concatenate(([0.0], np.cumsum(self._cdf[:-1] + self._cdf[1:]) * (
            0.5 * self.bin_width)))
        return np.asarray(np.interp(x, np.arange(self._cdf.size) * self.bin_width, area))

    def conditional_end(self, elapsed: FloatArray, within: FloatArray) -> FloatArray:
        """P(ends within ``within`` more seconds | lasted ``elapsed`` seconds), outer product.

        Returns an array of shape ``(len(elapsed), len(within))``.
        """
        survive_now = 1.0 - self.cdf(elapsed)
        later = elapsed[:, None] + within[None, :]
        ended = self.cdf(later.ravel()).reshape(later.shape) - (1.0 - survive_now)[:, None]
        hazard_tail = 1.0 - np.exp(-within[None, :] / self.tail_mean)
        safe = survive_now > 1e-9
        ratio = ended / np.where(safe, survive_now, 1.0)[:, None]
        return np.clip(np.where(safe[:, None], ratio, hazard_tail), 0.0, 1.0)


def _histogram(samples: FloatArray, bin_width: float, n_bins: int) -> tuple[FloatArray, float]:
    """Normalised histogram of ``samples`` on the grid plus the share beyond it."""
    index = np.floor(samples / bin_width).astype(np.int64)
    inside = index < n_bins
    counts = np.bincount(np.clip(index[inside], 0, None), minlength=n_bins).astype(np.float64)
    total = float(samples.size)
    return counts / total, float(np.count_nonzero(~inside)) / total


_TALK_PRIOR = DurationEstimator.from_samples(
    (-150.0 * np.log(1.0 - (np.arange(50) + 0.5) / 50)).tolist(),
    bin_width=5.0, horizon=1800.0, memory=400.0, tail_mean=150.0,
)
_WRAP_PRIOR = DurationEstimator.from_samples(
    np.linspace(5.0, 60.0, 12).tolist(), bin_width=1.0, horizon=300.0, memory=400.0,
    tail_mean=30.0,
)


@dataclass(frozen=True, eq=False)
class OutlookTables:
    """Per-bin probabilities at the answer-time points of a new dial (see
    :meth:`CampaignStatistics.outlook_tables`).

    ``answer_lead[m]`` is ``E[(answer_times[m] - delay)+]`` (seconds): live answers per
    second of future dials, times this, is how many of them are answered by then.
    ``agent_free[i]`` holds, for an agent whose elapsed handle time falls in bin ``i``,
    P(free by each answer time + grace) followed by the Bernoulli variances;
    ``call_answered`` the same for calls in flight by elapsed ring time. The last row of
    each table holds every elapsed time beyond the grid. ``talking_free`` and
    ``wrapping_free`` are ``agent_free`` for agents whose phase is known: still talking
    (by elapsed talk time) or in wrap-up (by elapsed wrap-up time); knowing that a call
    has ended is worth a lot, as wrap-ups are short and regular. ``new_answers[i, m]``:
    expected live answers by answer time ``m`` from ``DIAL_COUNTS[i]`` new dials, and
    ``new_answers_var`` their variance.
    """

    answer_probability: float
    answer_times: FloatArray
    answered_by: FloatArray
    answer_lead: FloatArray
    handle_time: DurationEstimator
    ring_bin_width: float
    call_answered: FloatArray
    new_answers: FloatArray
    new_answers_var: FloatArray
    talk_time: DurationEstimator
    wrap_time: DurationEstimator
    grace: float
    _fused: dict[tuple[bool, bool], _FusedTable] = field(
        default_factory=dict, init=False, repr=False)

    @cached_property
    def agent_free(self) -> FloatArray:
        """Per bin of elapsed handle time (built on first use: dialers that see the
        agents' phases do not need it)."""
        handle = self.handle_time
        return _with_variances(handle.conditional_end(handle.bin_centres(),
                                                      self.answer_times + self.grace))

    @cached_property
    def talking_free(self) -> FloatArray:
        """``agent_free`` for agents still talking, by elapsed talk time (built on first
        use: only dialers that see the agents' phases need it)."""
        return _with_variances(
            _talk_then_wrap(self.talk_time, self.wrap_time, self.answer_times + self.grace))

    @cached_property
    def wrapping_free(self) -> FloatArray:
        """``agent_free`` for agents in wrap-up, by elapsed wrap-up time."""
        wrap = self.wrap_time
        return _with_variances(wrap.conditional_end(wrap.bin_centres(),
                                                    self.answer_times + self.grace))

    def balance(self, busy_elapsed: FloatArray, ring_elapsed: FloatArray,
                talk_elapsed: FloatArray | None = None,
                wrap_elapsed: FloatArray | None = None) -> FloatArray:
        """``demand - supply`` means at each answer time (+ grace for supply), then
        ``demand + supply`` variances: the calls in flight against the busy agents (by
        elapsed handle time, or by phase), in one histogram over the tables of the
        populations present."""
        busy = busy_elapsed.size > 0
        phases = (talk_elapsed is not None and talk_elapsed.size > 0) or (
            wrap_elapsed is not None and wrap_elapsed.size > 0)
        fused = self._fused.get((busy, phases))
        if fused is None:
            tables = [(-1.0, self.handle_time.bin_width, self.agent_free)] if busy else []
            if phases:
                tables += [(-1.0, self.talk_time.bin_width, self.talking_free),
                           (-1.0, self.wrap_time.bin_width, self.wrapping_free)]
            fused = _FusedTable.stack([*tables, (1.0, self.ring_bin_width, self.call_answered)])
            self._fused[(busy, phases)] = fused
        populations: list[FloatArray | None] = [busy_elapsed] if busy else []
        if phases:
            populations += [talk_elapsed, wrap_elapsed]
        return fused.sum([*populations, ring_elapsed])

    def supply(self, busy_elapsed: FloatArray) -> FloatArray:
        """Expected agents freed by each answer time + grace, then the variances, for
        agents whose phase is not known (elapsed handle time)."""
        return _binned(busy_elapsed, self.handle_time.bin_width, self.agent_free)

    def supply_talking(self, talk_elapsed: FloatArray) -> FloatArray:
        """The same for agents still talking (elapsed talk time): the rest of the talk,
        then a whole wrap-up."""
        return _binned(talk_elapsed, self.talk_time.bin_width, self.talking_free)

    def supply_wrapping(self, wrap_elapsed: FloatArray) -> FloatArray:
        """The same for agents in wrap-up (elapsed wrap-up time)."""
        return _binned(wrap_elapsed, self.wrap_time.bin_width, self.wrapping_free)

    def demand(self, ring_elapsed: FloatArray) -> FloatArray:
        """Expected live answers of calls in flight by each answer time, then variances."""
        return _binned(ring_elapsed, self.ring_bin_width, self.call_answered)


def _with_variances(probability: FloatArray) -> FloatArray:
    """A table of Bernoulli probabilities followed by their variances, column-wise."""
    return np.hstack((probability, probability * (1.0 - probability)))


def _talk_then_wrap(talk: DurationEstimator, wrap: DurationEstimator,
                    within: FloatArray) -> FloatArray:
    """P(the rest of the talk and a whole wrap-up end within ``within`` s | talked for the
    centre of each talk bin (the last row: beyond the grid)): the conditional end of the
    talk convolved with the wrap-up distribution on a grid a tenth of a talk bin wide
    (0.5 s). Shape ``(talk bins + 1, len(within))``.

    Every talk time the convolution needs (a bin centre plus whole steps) lies on one
    lattice, so the talk CDF is evaluated once per lattice point and each row's step
    masses are a window of the lattice's.
    """
    fine = 10  # steps per talk bin; the bin centres are on the lattice as it is even
    step = talk.bin_width / fine
    rows = talk.weights.size + 1
    ends = np.arange(0.0, float(within.max()) + step, step)
    lattice = np.arange(fine * (rows - 1) + fine // 2 + ends.size, dtype=np.float64) * step
    cdf = talk.cdf(lattice)
    survive = 1.0 - cdf[fine // 2::fine][:rows]
    windows = np.lib.stride_tricks.sliding_window_view(np.diff(cdf), ends.size - 1)
    safe = survive > 1e-9
    mass = windows[fine // 2::fine][:rows] / np.where(safe, survive, 1.0)[:, None]
    if not safe.all():  # talked beyond any learned talk time: exponential tail
        mass[~safe] = -np.diff(np.exp(-ends / talk.tail_mean))
    middle = ends[:-1] + 0.5 * step
    wrap_done = wrap.cdf(np.maximum(within[None, :] - middle[:, None], 0.0).ravel()).reshape(
        middle.size, within.size)
    return np.clip(mass @ wrap_done, 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class _FusedTable:
    """Several per-bin tables stacked, the means of the supply ones negated, so that one
    histogram over every population and one matrix product give ``demand - supply``
    means and ``demand + supply`` variances."""

    table: FloatArray
    parts: tuple[tuple[FloatArray, int], ...]  # (bin edges, first row)

    @classmethod
    def stack(cls, tables: Sequence[tuple[float, float, FloatArray]]) -> _FusedTable:
        blocks, parts, first = [], [], 0
        for sign, bin_width, table in tables:
            half = table.shape[1] // 2
            blocks.append(np.hstack((sign * table[:, :half], table[:, half:])))
            parts.append((_edges(bin_width, table.shape[0]), first))
            first += table.shape[0]
        return cls(np.vstack(blocks), tuple(parts))

    def sum(self, populations: Sequence[FloatArray | None]) -> FloatArray:
        rows = []
        for elapsed, (edges, first) in zip(populations, self.parts, strict=True):
            if elapsed is not None and elapsed.size:
                index = edges.searchsorted(elapsed, "right")
                if first:
                    index += first
                rows.append(index)
        if not rows:
            return np.zeros(self.table.shape[1])
        return _sum_rows(self.table, rows[0] if len(rows) == 1 else np.concatenate(rows))


@lru_cache(maxsize=64)
def _edges(bin_width: float, rows: int) -> FloatArray:
    """Upper edges of the bins of a table with ``rows`` rows, the last of which holds
    every elapsed time beyond the grid: ``searchsorted(edges, t, "right")`` is t's row."""
    edges = np.arange(1, rows, dtype=np.float64) * bin_width
    edges.flags.writeable = False
    return edges


_ONES = np.ones(1024)
_ONES.flags.writeable = False


def _sum_rows(table: FloatArray, index: NDArray[np.intp]) -> FloatArray:
    """``table[index].sum(axis=0)``: the rows gathered when there are fewer of them than
    the table has (as a product with a vector of ones: one BLAS call), else a histogram of
    the rows times the table."""
    n = index.size
    if n < table.shape[0]:
        ones = _ONES[:n] if n <= _ONES.size else np.ones(n)
        return np.asarray(ones @ table.take(index, axis=0))
    return np.asarray(np.bincount(index, minlength=table.shape[0]).astype(np.float64) @ table)


def _binned(elapsed: FloatArray, bin_width: float, table: FloatArray) -> FloatArray:
    """Sum of the table rows of the bins that ``elapsed`` (seconds) fall in."""
    return _sum_rows(table, _edges(bin_width, table.shape[0]).searchsorted(elapsed, "right"))


@dataclass(frozen=True)
class CampaignStatistics:
    """What the pacing engine knows about a campaign, learned from its completed calls.

    - ``answer_probability``: share of dials answered by a live person;
    - ``answer_delay``: dial to end of greeting, live answers only (seconds);
    - ``non_live_duration``: dial to failure/no-answer, calls not answered live (seconds);
    - ``handle_time``: talk + wrap-up of connected calls (seconds);
    - ``talk_time`` and ``wrap_time``: the two phases of the handle time (connect to
      hang-up, hang-up to the agent's release), for agents whose phase the dialer sees;
    - ``outcome_memory``: effective number of call outcomes behind ``answer_probability``.
    """

    answer_probability: float
    answer_delay: DurationEstimator
    non_live_duration: DurationEstimator
    handle_time: DurationEstimator
    talk_time: DurationEstimator = field(default_factory=lambda: _TALK_PRIOR)
    wrap_time: DurationEstimator = field(default_factory=lambda: _WRAP_PRIOR)
    outcome_memory: float = 2000.0
    _tables: dict[tuple[float, int], OutlookTables] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def cold_start(cls) -> CampaignStatistics:
        """Deliberately vague priors for a campaign that has made no calls yet.

        25% live answers; greetings 4-20 s after the dial; unanswered calls end anywhere
        from 1 to 30 s; handle times spread around 3 minutes (talk around 2.5 minutes,
        wrap-up 5-60 s). They are washed out after a few hundred calls.
        """
        return cls(
            answer_probability=0.25,
            answer_delay=DurationEstimator.from_samples(
                np.linspace(4.0, 20.0, 17).tolist(),
                bin_width=0.5, horizon=60.0, memory=1000.0, tail_mean=10.0,
            ),
            non_live_duration=DurationEstimator.from_samples(
                np.linspace(1.0, 30.0, 30).tolist(),
                bin_width=0.5, horizon=60.0, memory=2000.0, tail_mean=10.0,
            ),
            handle_time=DurationEstimator.from_samples(
                (-180.0 * np.log(1.0 - (np.arange(50) + 0.5) / 50)).tolist(),
                bin_width=5.0, horizon=1800.0, memory=400.0, tail_mean=180.0,
            ),
        )

    def observe(
        self,
        *,
        live_answer_delays: Sequence[float] = (),
        non_live_durations: Sequence[float] = (),
        handle_times: Sequence[float] = (),
        talk_times: Sequence[float] = (),
        wrap_times: Sequence[float] = (),
    ) -> CampaignStatistics:
        """New snapshot after calls resolved (live or not) and agents finished calls
        (``talk_times`` and ``wrap_times``: the phases of finished calls, when known)."""
        outcomes = len(live_answer_delays) + len(non_live_durations)
        probability = self.answer_probability
        if outcomes:
            keep = _decay(self.outcome_memory, outcomes)
            probability = keep * probability + (1.0 - keep) * len(live_answer_delays) / outcomes
        return CampaignStatistics(
            answer_probability=probability,
            answer_delay=self.answer_delay.observe(live_answer_delays),
            non_live_duration=self.non_live_duration.observe(non_live_durations),
            handle_time=self.handle_time.observe(handle_times),
            talk_time=self.talk_time.observe(talk_times),
            wrap_time=self.wrap_time.observe(wrap_times),
            outcome_memory=self.outcome_memory,
        )

    def outlook_tables(self, grace: float, points: int) -> OutlookTables:
        """Lookup tables for :class:`~dialer.domain.pacing_model.PipelineOutlook` (memoised).

        A new live call is answered at one of ``points`` equally likely delays; for each,
        the tables give, per bin of elapsed handle time, P(the agent is free by then +
        ``grace``) and, per bin of elapsed ring time, P(the call is answered live by then).
        """
        key = (grace, points)
        cached = self._tables.get(key)
        if cached is None:
            cached = self._build_tables(grace, points)
            self._tables[key] = cached
        return cached

    def _build_tables(self, grace: float, points: int) -> OutlookTables:
        levels = (np.arange(points, dtype=np.float64) + 0.5) / points
        times = self.answer_delay.quantiles(levels)
        ring = self.non_live_duration
        answered = self.live_answer_within(ring.bin_centres(), times)
        share = self.answer_probability * levels
        return OutlookTables(
            answer_probability=self.answer_probability,
            answer_times=times,
            answered_by=levels,
            answer_lead=self.answer_delay.expected_lead(times),
            handle_time=self.handle_time,
            ring_bin_width=ring.bin_width,
            call_answered=_with_variances(answered),
            new_answers=DIAL_COUNTS[:, None] * share,
            new_answers_var=DIAL_COUNTS[:, None] * (share * (1.0 - share)),
            talk_time=self.talk_time,
            wrap_time=self.wrap_time,
            grace=grace,
        )

    def live_answer_within(self, ring_elapsed: FloatArray, within: FloatArray) -> FloatArray:
        """P(a call ringing for ``ring_elapsed`` s is answered live within ``within`` s).

        Bayes on the two outcome distributions: the longer a call rings, the likelier it
        is headed for a no-answer. Shape ``(len(ring_elapsed), len(within))``.
        """
        p = self.answer_probability
        delay_cdf_now = self.answer_delay.cdf(ring_elapsed)
        pending = p * (1.0 - delay_cdf_now) + (1.0 - p) * (
            1.0 - self.non_live_duration.cdf(ring_elapsed)
        )
        later = (ring_elapsed[:, None] + within[None, :]).ravel()
        answered = p * (self.answer_delay.cdf(later).reshape(-1, within.size)
                        - delay_cdf_now[:, None])
        safe = pending > 1e-12
        ratio = answered / np.where(safe, pending, 1.0)[:, None]
        return np.clip(np.where(safe[:, None], ratio, 0.0), 0.0, 1.0)
