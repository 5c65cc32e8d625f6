"""Cost of one pacing decision for a 1,000-agent campaign (spec: under 1 ms)."""

from __future__ import annotations

import statistics
import time

import numpy as np

from dialer.domain.pacing import AbandonBudget, PacingConfig, PacingState, decide
from dialer.domain.pacing_estimators import CampaignStatistics


def thousand_agent_state(seed: int = 7) -> PacingState:
    """A busy 1,000-agent campaign: 20 idle, 860 talking, 120 in wrap-up, 900 calls in
    flight."""
    rng = np.random.default_rng(seed)
    talk, wrap = rng.lognormal(4.66, 0.83, 2000), rng.lognormal(2.88, 0.47, 2000)
    stats = CampaignStatistics.cold_start().observe(
        live_answer_delays=(2.0 + rng.gamma(4.0, 2.0, 3000)).tolist(),
        non_live_durations=np.where(rng.random(9000) < 0.3, rng.uniform(1, 4, 9000), 25.0).tolist(),
        handle_times=(talk + wrap).tolist(), talk_times=talk.tolist(), wrap_times=wrap.tolist(),
    )
    return PacingState(
        now=3600.0, idle_agents=20, paused_agents=0, busy_elapsed=(),
        talk_elapsed=tuple(rng.uniform(0.0, 400.0, 860).tolist()),
        wrap_elapsed=tuple(rng.uniform(0.0, 30.0, 120).tolist()),
        ring_elapsed=tuple(rng.uniform(0.0, 25.0, 900).tolist()),
        waiting_answers=0, statistics=stats,
        budget=AbandonBudget(0.0, 28800.0, live_answers=20_000, abandons=550),
    )


def decision_microseconds(repeats: int = 2000) -> dict[str, float]:
    """Median and best time of one decision (microseconds), inputs as tuples of floats."""
    state = thousand_agent_state()
    config = PacingConfig()
    decide(state, config)  # builds the memoised lookup tables of this statistics snapshot
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        decide(state, config)
        samples.append(time.perf_counter() - start)
    return {"median_us": 1e6 * statistics.median(samples), "best_us": 1e6 * min(samples),
            "p99_us": 1e6 * sorted(samples)[int(0.99 * repeats)]}


if __name__ == "__main__":
    print(decision_microseconds())
