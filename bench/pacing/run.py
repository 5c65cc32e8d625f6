"""Pacing benchmark: tune, evaluate every policy on every scenario, print and save the table.

    .venv/bin/python bench/pacing/run.py            # full run: 30 evaluation seeds
    .venv/bin/python bench/pacing/run.py --quick    # smoke run: 3 seeds, short tuning

Writes bench/results/pacing.md (the table) and bench/results/pacing.json (every run);
bench/results/pacing-runs.jsonl holds the runs as they finish.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.pacing.report import OURS, render
from bench.pacing.scenarios import ALL, BASE, TWIN_HANDLE_MEAN, TWINS, VARIANTS
from bench.pacing.timing import decision_microseconds
from bench.pacing.tune import BY_NAME, CONTENDERS, run_task, tune
from bench.pacing.twins import twin_optimum

RESULTS = Path(__file__).resolve().parents[1] / "results"
TUNING_SEEDS_FROM = 1000  # evaluation seeds are 1..N, tuning seeds 1000..


LP_CACHE = RESULTS / "pacing-twins-lp.json"


def lp_key(name: str) -> str:
    """Cache key: everything the twin's LP depends on."""
    twin = ALL[name]
    return f"{name}|{twin.agents}|{twin.answer_probability}|{twin.flight_mean:.6f}|0.03|{TWIN_HANDLE_MEAN:g}"


def lp_task(name: str) -> tuple[str, dict[str, float]]:
    """Exact optimum of one twin (worker entry point)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = twin_optimum(ALL[name])
    result["seconds"] = time.perf_counter() - start
    result["cpu_seconds"] = time.process_time() - cpu
    return name, result


def load_lp_cache(recompute: bool) -> dict[str, dict[str, float]]:
    """Optima already solved for these exact twins (the L200 LP takes minutes)."""
    if recompute or not LP_CACHE.exists():
        return {}
    cached = json.loads(LP_CACHE.read_text())
    return {twin.name: cached[lp_key(twin.name)] for twin in TWINS if lp_key(twin.name) in cached}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=30, help="evaluation seeds (>= 30)")
    parser.add_argument("--tuning-seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=6, help="bisection rounds per knob")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--ours-seeds", type=int, default=0,
                        help="evaluate ours on the base scenarios with this many seeds "
                             "(when --seeds is lowered to save time)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 seeds, 2 tuning seeds, 2 rounds")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--recompute-lp", action="store_true",
                        help=f"solve the twins' LPs even if cached in {LP_CACHE.name}")
    parser.add_argument("--only", choices=[c.name for c in CONTENDERS],
                        help="re-tune and re-evaluate this policy alone and merge it into "
                             "the results of the last full run (every run is deterministic)")
    args = parser.parse_args()
    if args.only:
        rerun_one(args)
        return
    if args.quick:
        args.seeds, args.tuning_seeds, args.rounds = 3, 2, 2
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", flush=True)

    eval_seeds = list(range(1, args.seeds + 1))
    tuning_seeds = list(range(TUNING_SEEDS_FROM, TUNING_SEEDS_FROM + args.tuning_seeds))
    with get_context("fork").Pool(args.workers) as pool:
        optimum = load_lp_cache(args.recompute_lp)
        lp_jobs = [pool.apply_async(lp_task, (twin.name,)) for twin in TWINS
                   if twin.name not in optimum]
        log(f"tuning on seeds {tuning_seeds[0]}..{tuning_seeds[-1]}")
        knobs, tuning_cpu = tune(pool, tuning_seeds, args.rounds, log)
        log(f"tuned ({tuning_cpu:.0f} CPU-s)")
        tasks = []
        for contender in CONTENDERS:
            for scenario in BASE + VARIANTS + TWINS:
                if scenario.markovian and contender.name not in ("progressive", OURS):
                    continue
                knob = knobs.get((contender.name, scenario.tuning_scenario),
                                 contender.default_knob)
                seeds = eval_seeds
                if contender.name == OURS and scenario in BASE:
                    seeds = list(range(1, max(args.seeds, args.ours_seeds) + 1))
                tasks += [(contender.name, scenario.name, knob, s) for s in seeds]
        # Seed-major order (big teams first within a seed): a partial run is still balanced.
        tasks.sort(key=lambda t: (t[3], -ALL[t[1]].agents))
        log(f"evaluating {len(tasks)} shifts on seeds 1..{args.seeds}")
        runs: list[dict[str, Any]] = []
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "pacing-runs.jsonl").open("w") as partial:
            for i, res in enumerate(pool.imap_unordered(run_task, tasks, chunksize=1)):
                runs.append(res)
                partial.write(json.dumps(res) + "\n")
                partial.flush()
                if (i + 1) % 100 == 0:
                    log(f"  {i + 1}/{len(tasks)} shifts")
        solved = dict(job.get() for job in lp_jobs)
        optimum.update(solved)
    log("timing one decision for 1,000 agents")
    timing = decision_microseconds()
    ours_l200 = [r["seconds"] for r in runs
                 if r["contender"] == "kaden predictive" and r["scenario"] == "L200"]
    meta = {
        "evaluation_seeds": eval_seeds,
        "tuning_seeds": tuning_seeds,
        "knobs": {f"{name} @ {sc}": k for (name, sc), k in sorted(knobs.items())},
        "twin_optimum": optimum,
        "decision_1000_agents_us": timing,
        "l200_shift_seconds_ours": {"mean": statistics.mean(ours_l200), "max": max(ours_l200)},
        "total_seconds": time.perf_counter() - started,
        "cpu_seconds": {
            "tuning": tuning_cpu,
            "evaluation": sum(r["cpu_seconds"] for r in runs),
            "lp": sum(v.get("cpu_seconds", 0.0) for v in solved.values()),
        },
        "lp_from_cache": sorted(set(optimum) - set(solved)),
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
    }
    table = render(runs, meta)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pacing.md").write_text(table)
    (args.out / "pacing.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))
    LP_CACHE.write_text(json.dumps({lp_key(k): v for k, v in optimum.items()}, indent=1))
    log(f"wrote {args.out / 'pacing.md'} and {args.out / 'pacing.json'}")


def rerun_one(args: argparse.Namespace) -> None:
    """Re-tune and re-evaluate ``args.only`` and merge it into ``pacing.json``/``.md``."""
    started = time.perf_counter()
    saved = json.loads((args.out / "pacing.json").read_text())
    meta, runs = saved["meta"], saved["runs"]
    with get_context("fork").Pool(args.workers) as pool:
        knobs, tuning_cpu = tune(pool, meta["tuning_seeds"], args.rounds, print, only=args.only)
        contender = BY_NAME[args.only]
        tasks = [(contender.name, sc.name, knobs.get((contender.name, sc.tuning_scenario),
                                                     contender.default_knob), seed)
                 for sc in BASE + VARIANTS + TWINS
                 if not sc.markovian or contender.name in ("progressive", OURS)
                 for seed in meta["evaluation_seeds"]]
        fresh = list(pool.imap_unordered(run_task, tasks, chunksize=1))
    runs = [r for r in runs if r["contender"] != args.only] + fresh
    meta["knobs"] = {k: v for k, v in meta["knobs"].items() if not k.startswith(args.only + " @")}
    meta["knobs"].update({f"{name} @ {sc}": k for (name, sc), k in knobs.items()})
    meta.setdefault("reruns", []).append({
        "contender": args.only, "seconds": time.perf_counter() - started,
        "cpu_seconds": tuning_cpu + sum(r["cpu_seconds"] for r in fresh)})
    table = render(runs, meta)
    print(table)
    (args.out / "pacing.md").write_text(table)
    (args.out / "pacing.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
