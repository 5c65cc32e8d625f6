"""The pacing policies compared by the benchmark: ours and the baselines of the spec.

Every policy sees the same :class:`PacingState` (what a dialer observes); the ones that
need answer and handle-time statistics get the same online estimates as ours, never the
simulation's parameters. "In-call" agents are the busy ones (talking or wrapping up).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from bench.pacing.sim import Policy
from dialer.domain.pacing import PacingConfig, PacingMode, PacingState, decide


class Kaden(Policy):
    """Our engine, predictive mode; knob: the target abandon rate it plans for."""

    name = "kaden predictive"
    learns = True
    needs_elapsed = True
    sees_phases = True

    def __init__(self, knob: float = 0.03, grace: float = 2.0) -> None:
        self.config = PacingConfig(target_abandon_rate=knob, answer_grace=grace)

    def decide(self, state: PacingState) -> int:
        return decide(state, self.config).lines_to_dial


class Progressive(Policy):
    """One call per idle agent not already covered by a call in flight (our engine)."""

    name = "progressive"
    counts_only = True
    config = PacingConfig(mode=PacingMode.PROGRESSIVE)

    def decide(self, state: PacingState) -> int:
        return decide(state, self.config).lines_to_dial


class LinesPerIdleAgent(Policy):
    """Fixed lines per idle agent (our engine's power mode without its budget guard)."""

    name = "lines per idle agent"
    counts_only = True

    def __init__(self, knob: float) -> None:
        self.config = PacingConfig(mode=PacingMode.POWER, lines_per_agent=knob,
                                   enforce_budget=False, max_lines_per_agent=100.0)

    def decide(self, state: PacingState) -> int:
        return decide(state, self.config).lines_to_dial


def _vici_dial(level: float, state: PacingState) -> int:
    """VICIdial's dial loop: round(level x agents) - calls already active."""
    busy = state.busy_agents
    active = len(state.ring_elapsed) + state.waiting_answers + busy
    return max(0, round(level * (state.idle_agents + busy)) - active)


class ViciRatio(Policy):
    """VICIdial RATIO: total active calls = round(level x (ready + in-call agents))."""

    name = "VICIdial RATIO"
    counts_only = True

    def __init__(self, knob: float) -> None:
        self.level = knob

    def decide(self, state: PacingState) -> int:
        return _vici_dial(self.level, state)


class ViciAdaptive(Policy):
    """VICIdial ADAPT_HARD_LIMIT as its source documents it (see the spec).

    Samples every second ready agents and answered-but-waiting calls (15-sample moving
    averages); every 15 s multiplies the level by ``1 + (avg ready - avg waiting) / avg
    agents`` within [1, cap]; halves it when more than 20 calls answered in the last
    minute and over half were dropped; resets it to 1.0 while more than 50 calls were
    answered today and today's drop rate is above 3%.
    """

    name = "VICIdial adaptive"

    def __init__(self, knob: float = 3.0) -> None:
        self.cap = knob
        self.level = 1.0
        self.ready: deque[int] = deque(maxlen=15)
        self.waiting: deque[int] = deque(maxlen=15)
        self.agents: deque[int] = deque(maxlen=15)
        self.history: deque[tuple[float, int, int]] = deque()
        self.next_sample = 0.0
        self.next_adjust = 15.0

    def decide(self, state: PacingState) -> int:
        now, budget = state.now, state.budget
        if now >= self.next_sample:
            self.next_sample = now + 1.0
            self.ready.append(state.idle_agents)
            self.waiting.append(state.waiting_answers)
            self.agents.append(state.idle_agents + state.busy_agents)
            self.history.append((now, budget.live_answers, budget.abandons))
            while self.history and self.history[0][0] < now - 60.0:
                self.history.popleft()
        if now >= self.next_adjust:
            self.next_adjust = now + 15.0
            avg_agents = max(sum(self.agents) / len(self.agents), 1.0)
            diff = (sum(self.ready) - sum(self.waiting)) / len(self.ready)
            self.level = min(self.cap, max(1.0, self.level * (1.0 + diff / avg_agents)))
            _, answers0, drops0 = self.history[0]
            answers, drops = budget.live_answers - answers0, budget.abandons - drops0
            if answers > 20 and drops > 0.5 * answers:
                self.level = max(1.0, self.level / 2.0)
        if budget.live_answers > 50 and budget.abandons > 0.03 * budget.live_answers:
            self.level = 1.0
        return _vici_dial(self.level, state)


class Lookahead(Policy):
    """Model-based lookahead ("weighted agents") with a safety factor (the knob).

    Needed answers = factor x (idle agents + expected agents free within the median
    answer delay + grace, from elapsed handle times) - waiting answers - expected live
    answers of the calls in flight (by the end of the answer-delay horizon); dials =
    needed / answer probability. Uses the same learned statistics and lookup tables as
    our engine.
    """

    name = "lookahead"
    learns = True
    needs_elapsed = True

    def __init__(self, knob: float, grace: float = 2.0) -> None:
        self.factor = knob
        self.grace = grace

    def decide(self, state: PacingState) -> int:
        stats = state.statistics
        tables = stats.outlook_tables(self.grace, 8)
        free_col, coming_col = 4, 7  # median answer delay; last answer-time point
        free = float(tables.supply(np.asarray(state.busy_elapsed))[free_col])
        coming = float(tables.demand(np.asarray(state.ring_elapsed))[coming_col])
        needed = self.factor * (state.idle_agents + free) - state.waiting_answers - coming
        return max(0, round(needed / max(stats.answer_probability, 1e-3)))
