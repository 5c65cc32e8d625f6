"""Exact optimum of the Markovian twins: a constrained MDP solved as a linear program.

State: (busy agents b, calls in flight c). Handle times are exponential (rate mu), each
call in flight resolves at rate theta and is then live with probability p; a live answer
with every agent busy is abandoned at once (grace 0). Dialing is instantaneous, so the
decision in a state is how many calls to add; it is modelled as a chain of "add one more
call" steps, which keeps the LP linear in the number of states:

- ``y[b, c]``: long-run share of time in the post-decision state (b, c);
- ``z[b, c]``: rate at which the pre-decision state (b, c) is left by dialing one more.

Balance of each pre-decision state: ``y[b,c] q(b,c) + z[b,c] = (transitions into
(b,c)) + z[b,c-1]``, with ``q(b,c) = b mu + c theta``. Maximise occupancy ``sum y b / N``
subject to abandons <= 3% of live answers and ``sum y = 1`` (HiGHS).

The state space is truncated at ``c_max`` calls in flight (2.5x what keeps every agent
busy) and, for large teams, at ``b_min`` busy agents (reflecting); the solution's
probability mass on those boundaries is reported and is negligible.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from bench.pacing.scenarios import TWIN_HANDLE_MEAN, Scenario


def twin_optimum(
    scenario: Scenario, target: float = 0.03, handle_mean: float = TWIN_HANDLE_MEAN,
    method: str = "highs-ds",
) -> dict[str, float]:
    """Optimal occupancy of the twin of ``scenario`` with abandon rate <= ``target``."""
    return _solve(scenario, target, handle_mean, method)[0]


def optimal_dial_levels(scenario: Scenario, target: float = 0.03,
                        handle_mean: float = TWIN_HANDLE_MEAN) -> np.ndarray:
    """The optimal policy of the twin as ``levels[b]``: calls to have in flight when
    ``b`` agents are busy (dial up to it; the policy is a threshold in each row).

    The LP fixes the policy only in the states it visits. A row it never visits (fewer
    busy agents than the optimum ever has) continues the rows above it: their level plus
    the last step between them (what one more idle agent adds), and never below
    progressive (a call per idle agent). The one state the LP may randomise in is
    rounded to the nearer action.
    """
    _, y, z, out_rate, b_min = _solve(scenario, target, handle_mean, "highs-ds")
    flow = y * out_rate + z  # rate at which each pre-decision state is passed through
    visited = flow > 1e-7 * flow.max()  # below: the solver's round-off, not a policy
    dial = visited & (z > 0.5 * flow)
    rows, c_max = dial.shape[0], dial.shape[1] - 1
    levels = np.zeros(rows, dtype=np.int64)
    for row in range(rows - 1, -1, -1):
        on = np.flatnonzero(dial[row])
        if on.size:
            levels[row] = on[-1] + 1
        elif row < rows - 1:
            step = levels[row + 1] - (levels[row + 2] if row + 2 < rows else 0)
            levels[row] = levels[row + 1] + max(1, step)
        levels[row] = min(c_max, max(levels[row], rows - 1 - row))
    return np.concatenate((np.full(b_min, levels[0]), levels))


def _solve(scenario: Scenario, target: float, handle_mean: float,
           method: str) -> tuple[dict[str, float], np.ndarray, np.ndarray, np.ndarray, int]:
    """The LP: the optimum, and the solution (``y``, ``z`` and the out rates of the
    states, shaped (busy - b_min, calls in flight)) with ``b_min``."""
    n, p = scenario.agents, scenario.answer_probability
    mu, theta = 1.0 / handle_mean, 1.0 / scenario.flight_mean
    c_max = math.ceil(2.5 * n * mu / (theta * p)) + 10
    b_min = max(0, n - math.ceil(6.0 * math.sqrt(n)) - 10)
    shape = (n + 1 - b_min, c_max + 1)
    size = shape[0] * shape[1]
    b, c = (a.ravel() for a in np.indices(shape))
    b = b + b_min
    idx = np.arange(size)
    done = b > b_min  # a call ends: (b, c) -> (b - 1, c); reflected at b_min
    out_rate = np.where(done, b * mu, 0.0) + c * theta
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def add(r: np.ndarray, col: np.ndarray, v: np.ndarray | float) -> None:
        rows.append(r)
        cols.append(col)
        vals.append(np.broadcast_to(np.asarray(v, dtype=np.float64), r.shape))

    # y columns 0..size-1, z columns size..2*size-1; row = pre-decision state.
    add(idx, idx, out_rate)
    has_up = c < c_max
    add(idx[has_up], size + idx[has_up], 1.0)
    has_below = c > 0
    add(idx[has_below], size + idx[has_below] - 1, -1.0)
    add(idx[done] - shape[1], idx[done], -b[done] * mu)
    ring = c > 0  # a call resolves not live: (b, c) -> (b, c - 1)
    add(idx[ring] - 1, idx[ring], -c[ring] * theta * (1 - p))
    served = ring & (b < n)  # live with an idle agent: (b, c) -> (b + 1, c - 1)
    add(idx[served] + shape[1] - 1, idx[served], -c[served] * theta * p)
    lost = ring & (b == n)  # live, all busy: abandoned, (n, c) -> (n, c - 1)
    add(idx[lost] - 1, idx[lost], -c[lost] * theta * p)
    a_eq = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(size + 1, 2 * size),
    ).tolil()
    a_eq[size, :size] = 1.0
    b_eq = np.zeros(size + 1)
    b_eq[size] = 1.0
    answers = c * theta * p
    a_ub = np.concatenate((np.where(b == n, answers, 0.0) - target * answers, np.zeros(size)))
    objective = np.concatenate((-b / n, np.zeros(size)))
    bounds = [(0.0, None)] * (2 * size)
    if b_min == 0:
        bounds[0] = (0.0, 0.0)  # (0, 0) would be absorbing: never stop there
    result = linprog(objective, A_ub=a_ub[None, :], b_ub=[0.0], A_eq=a_eq.tocsr(), b_eq=b_eq,
                     bounds=bounds, method=method)
    if result.status != 0:
        raise RuntimeError(f"twin LP failed: {result.message}")
    y, z = result.x[:size], result.x[size:]
    optimum = {
        "occupancy": float(-result.fun),
        "abandon_rate": float(np.dot(y, np.where(b == n, answers, 0.0)) / np.dot(y, answers)),
        "states": float(size),
        "mass_at_truncation": float(y[(c == c_max) | ((b == b_min) & (b_min > 0))].sum()),
    }
    return optimum, y.reshape(shape), z.reshape(shape), out_rate.reshape(shape), b_min


if __name__ == "__main__":
    import sys
    import time

    from bench.pacing.scenarios import TWINS

    for twin in TWINS:
        if len(sys.argv) > 1 and twin.name not in sys.argv[1:]:
            continue
        start = time.perf_counter()
        print(twin.name, twin_optimum(twin), f"{time.perf_counter() - start:.1f}s")
