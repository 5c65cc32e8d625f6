"""Scenarios of the pacing benchmark (docs: /docs/pacing.md, spec: pacing-benchmark.md).

Times are seconds from the start of the simulated day: 30 minutes of warm-up, then the
8-hour measured shift, which is also the regulatory window the pacer is told about.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WARMUP = 1800.0
SHIFT = 8 * 3600.0
HOUR4 = WARMUP + 4 * 3600.0
TWIN_HANDLE_MEAN = 170.0  # the Markovian twins' exponential handle time, seconds


@dataclass(frozen=True)
class Scenario:
    """One simulated campaign.

    ``drift``: the live-answer probability falls from 0.30 to 0.15 over the shift, half of
    it linearly and half as a step at hour 4; ``breaks``: 10% of agents (at least one)
    take a 15-minute break at a random time in each 2-hour block (starting when their
    current call ends); ``talk_mean_after_hour4``: talk-time mean from hour 4 on (sd stays
    150 s); ``markovian``: the Markovian twin (exponential handle time of mean 170 s,
    exponential time in flight with the scenario's mean, answer grace 0 s).
    """

    name: str
    agents: int
    answer_probability: float
    tuned_as: str = ""
    drift: bool = False
    breaks: bool = False
    talk_mean_after_hour4: float = 150.0
    markovian: bool = False

    @property
    def grace(self) -> float:
        """Seconds a live answer may wait for an agent."""
        return 0.0 if self.markovian else 2.0

    @property
    def tuning_scenario(self) -> str:
        """Base scenario whose tuned knobs a static baseline uses here."""
        return self.tuned_as or self.name

    def live_probability(self, t: float) -> float:
        """Probability that a dial placed at ``t`` is answered by a live person."""
        if not self.drift:
            return self.answer_probability
        x = min(1.0, max(0.0, (t - WARMUP) / SHIFT))
        return 0.30 - 0.075 * x - (0.075 if t >= HOUR4 else 0.0)

    @property
    def flight_mean(self) -> float:
        """Mean dial-to-outcome time (s) of the real process, used by the twin."""
        p = self.answer_probability
        return p * 10.0 + (1.0 - p) * (0.3 * 2.5 + 0.7 * 25.0)

    @property
    def break_agents(self) -> int:
        """How many agents take breaks."""
        return max(1, math.ceil(0.1 * self.agents)) if self.breaks else 0


BASE = (
    Scenario("S10", 10, 0.30),
    Scenario("M50", 50, 0.20),
    Scenario("L200", 200, 0.10),
)
VARIANTS = (
    Scenario("M50-drift", 50, 0.20, tuned_as="M50", drift=True),
    Scenario("M50-breaks", 50, 0.20, tuned_as="M50", breaks=True),
    Scenario("M50-talk210", 50, 0.20, tuned_as="M50", talk_mean_after_hour4=210.0),
)
TWINS = (
    Scenario("S10-twin", 10, 0.30, tuned_as="S10", markovian=True),
    Scenario("M50-twin", 50, 0.20, tuned_as="M50", markovian=True),
    Scenario("L200-twin", 200, 0.10, tuned_as="L200", markovian=True),
)
ALL = {s.name: s for s in BASE + VARIANTS + TWINS}
