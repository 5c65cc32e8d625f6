"""The twins' LP and the optimal policy read out of it (bench/pacing/twins.py).

The policy is checked by evaluating it exactly: the Markov chain of the twin under "hold
``levels[b]`` calls in flight" has a stationary distribution, whose occupancy and abandon
rate must be the LP's (up to the one state the LP randomises in, which the read-out
rounds).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.linalg import spsolve

from bench.pacing.scenarios import ALL, TWIN_HANDLE_MEAN
from bench.pacing.twins import optimal_dial_levels, twin_optimum


def evaluate(name: str, levels: np.ndarray) -> tuple[float, float]:
    """Exact long-run occupancy and abandon rate of the twin under the level policy."""
    twin = ALL[name]
    n, p = twin.agents, twin.answer_probability
    mu, theta = 1.0 / TWIN_HANDLE_MEAN, 1.0 / twin.flight_mean
    c_max = int(levels.max()) + 1
    index = {(b, c): i for i, (b, c) in enumerate(  # states after the dialer's top-up
        (b, c) for b in range(n + 1) for c in range(int(levels[b]), c_max + 1))}
    rows, cols, rates = [], [], []

    def to(state: int, b: int, c: int, rate: float) -> None:
        rows.append(state)
        cols.append(index[(b, max(c, int(levels[b])))])  # the dialer tops up at once
        rates.append(rate)

    for (b, c), i in index.items():
        if b:
            to(i, b - 1, c, b * mu)
        if c:
            to(i, b, c - 1, c * theta * (1 - p))
            to(i, min(n, b + 1), c - 1, c * theta * p)  # all busy: abandoned, b stays n
    q = sparse.csr_matrix((rates, (rows, cols)), shape=(len(index),) * 2)
    generator = (q - sparse.diags(np.asarray(q.sum(axis=1)).ravel())).T.tolil()
    generator[0, :] = 1.0  # replace one balance equation by sum(pi) = 1
    rhs = np.zeros(len(index))
    rhs[0] = 1.0
    pi = spsolve(generator.tocsr(), rhs)
    b = np.array([s[0] for s in index])
    c = np.array([s[1] for s in index])
    answers = pi * c * theta * p
    return float(pi @ b / n), float(answers[b == n].sum() / answers.sum())


@pytest.mark.parametrize("name", ["S10-twin", "M50-twin"])
def test_the_read_out_policy_scores_what_the_lp_promises(name: str) -> None:
    optimum = twin_optimum(ALL[name])
    occupancy, abandon_rate = evaluate(name, optimal_dial_levels(ALL[name]))
    assert occupancy == pytest.approx(optimum["occupancy"], abs=0.001)
    assert abandon_rate == pytest.approx(0.03, abs=0.001)


def test_levels_fall_as_agents_get_busy_and_never_under_progressive() -> None:
    twin = ALL["S10-twin"]
    for target in (0.005, 0.0175, 0.03, 0.08):  # at 1.75% the solver leaves round-off flows
        levels = optimal_dial_levels(twin, target)
        assert len(levels) == twin.agents + 1
        assert (np.diff(levels) <= 0).all()
        assert (levels >= twin.agents - np.arange(twin.agents + 1)).all()


def test_a_larger_budget_dials_more() -> None:
    twin = ALL["S10-twin"]
    tight, loose = optimal_dial_levels(twin, 0.005), optimal_dial_levels(twin, 0.08)
    assert (loose >= tight).all() and (loose > tight).any()
    assert evaluate("S10-twin", loose)[0] > evaluate("S10-twin", tight)[0]
