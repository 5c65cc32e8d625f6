"""Policies of the benchmark, their knobs, and the tuning protocol of the spec.

Tuning: for every tuned policy, the largest knob value whose worst tuning-seed abandon
rate is <= 3%, on seeds disjoint from the evaluation seeds. Abandons grow with every
knob, so the largest passing value is found by bisection; all bisections advance
together, one round at a time, to keep both workers busy. Baselines are tuned per base
scenario; ours is tuned once, jointly on the three base scenarios (its worst seed over
all of them), and never retuned. A probe stops at its first tuning seed above the limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool
from typing import Any

from bench.pacing import policies
from bench.pacing.scenarios import ALL, BASE
from bench.pacing.sim import Policy, simulate

LIMIT = 0.03


@dataclass(frozen=True)
class Contender:
    """A policy of the table: how to build it, and its knob range if it is tuned."""

    name: str
    build: Callable[[float, float], Policy]  # (knob, grace) -> policy
    knob_range: tuple[float, float] | None = None
    default_knob: float = 0.0
    joint: bool = False  # tuned once over all base scenarios


CONTENDERS = (
    Contender("progressive", lambda k, g: policies.Progressive()),
    Contender("lines per idle agent, tuned", lambda k, g: policies.LinesPerIdleAgent(k),
              (1.0, 30.0)),
    Contender("VICIdial RATIO, tuned", lambda k, g: policies.ViciRatio(k), (1.0, 3.0)),
    Contender("VICIdial adaptive, defaults", lambda k, g: policies.ViciAdaptive(3.0),
              default_knob=3.0),
    Contender("VICIdial adaptive, tuned cap", lambda k, g: policies.ViciAdaptive(k),
              (1.0, 4.0)),
    Contender("lookahead, tuned", lambda k, g: policies.Lookahead(k, g), (0.05, 1.0)),
    Contender("kaden predictive", lambda k, g: policies.Kaden(k, g), (0.020, 0.029),
              joint=True),
)
BY_NAME = {c.name: c for c in CONTENDERS}


def run_task(task: tuple[str, str, float, int]) -> dict[str, Any]:
    """One shift: (contender, scenario, knob, seed) -> metrics (worker entry point).

    ``seconds`` is the wall time of the shift, ``cpu_seconds`` the CPU time of the worker.
    """
    contender, scenario_name, knob, seed = task
    scenario = ALL[scenario_name]
    policy = BY_NAME[contender].build(knob, scenario.grace)
    start, cpu = time.perf_counter(), time.process_time()
    result = simulate(scenario, policy, seed)
    result["seconds"] = time.perf_counter() - start
    result["cpu_seconds"] = time.process_time() - cpu
    return {"contender": contender, "scenario": scenario_name, "knob": knob, "seed": seed,
            **result}


def probe_task(task: tuple[str, str, float, tuple[int, ...]]) -> dict[str, Any]:
    """Worst abandon rate of a knob over tuning seeds, run one after the other; stops at
    the first seed above the limit (the knob fails whatever the other seeds do)."""
    contender, scenario_name, knob, seeds = task
    worst, cpu, failed_seed = 0.0, 0.0, None
    for seed in seeds:
        res = run_task((contender, scenario_name, knob, seed))
        worst, cpu = max(worst, res["abandon_rate"]), cpu + res["cpu_seconds"]
        if res["abandon_rate"] > LIMIT:
            failed_seed = seed
            break
    return {"contender": contender, "scenario": scenario_name, "worst": worst,
            "failed_seed": failed_seed, "cpu_seconds": cpu}


def tune(pool: Pool, seeds: Sequence[int], rounds: int, log: Callable[[str], None],
         only: str | None = None) -> tuple[dict[tuple[str, str], float], float]:
    """Tuned knob per (contender, base scenario) by simultaneous bisection.

    Returns the knobs and the CPU seconds spent. A probe runs its tuning seeds in turn
    and stops at the first one above the limit, the seed that failed last first.
    ``only``: tune that contender alone.
    """
    brackets: dict[tuple[str, str], list[float]] = {}  # key -> [passing lo, failing hi]
    for contender in CONTENDERS:
        if contender.knob_range is None or only not in (None, contender.name):
            continue
        groups = ["*"] if contender.joint else [s.name for s in BASE]
        for group in groups:
            brackets[(contender.name, group)] = [contender.knob_range[0], contender.knob_range[1]]
    # Ours first tests the top of its range (0.1 pp below the legal limit), the baselines
    # start bisecting at once. Bisection is geometric: knobs are ratios.
    probes = {key: hi if BY_NAME[key[0]].joint else math.sqrt(lo * hi)
              for key, (lo, hi) in brackets.items()}
    order: dict[tuple[str, str], list[int]] = {}  # per (contender, scenario): seed order
    resolved: dict[tuple[str, str], float] = {}
    cpu = 0.0
    for round_no in range(rounds):
        if not probes:
            break
        tasks = []
        for (name, group), knob in probes.items():
            scenarios = [s.name for s in BASE] if group == "*" else [group]
            tasks += [(name, sc, knob, tuple(order.get((name, sc), seeds))) for sc in scenarios]
        worst: dict[tuple[str, str], float] = {}
        tasks.sort(key=lambda t: -ALL[t[1]].agents)
        for res in pool.imap_unordered(probe_task, tasks):
            name, sc = res["contender"], res["scenario"]
            key = (name, "*" if BY_NAME[name].joint else sc)
            worst[key] = max(worst.get(key, 0.0), res["worst"])
            cpu += res["cpu_seconds"]
            if res["failed_seed"] is not None:
                rest = [s for s in order.get((name, sc), seeds) if s != res["failed_seed"]]
                order[(name, sc)] = [res["failed_seed"], *rest]
        next_probes = {}
        for key, knob in probes.items():
            passed = worst[key] <= LIMIT
            log(f"  tune round {round_no}: {key[0]} @ {key[1]} knob={knob:.4f} "
                f"worst abandon={worst[key]:.4f} {'pass' if passed else 'fail'}")
            if passed and knob >= brackets[key][1]:
                resolved[key] = knob
                continue
            brackets[key][0 if passed else 1] = knob
            lo, hi = brackets[key]
            next_probes[key] = math.sqrt(lo * hi)
        probes = next_probes
    for key, (lo, _hi) in brackets.items():
        if key not in resolved and lo == BY_NAME[key[0]].knob_range[0]:  # type: ignore[index]
            log(f"  WARNING: no knob of {key[0]} passed on {key[1]}; it keeps the lowest")
        resolved.setdefault(key, lo)
    knobs: dict[tuple[str, str], float] = {}
    for (name, group), knob in resolved.items():
        for scenario in BASE if group == "*" else [ALL[group]]:
            knobs[(name, scenario.name)] = knob
    return knobs, cpu
