"""The benchmark's table: policies x scenarios x metrics, as Markdown."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.pacing.scenarios import BASE, TWINS, VARIANTS
from bench.pacing.tune import CONTENDERS, LIMIT

OURS = "kaden predictive"
TARGETS = {"S10": 0.84, "M50": 0.935, "L200": 0.978}


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


def _cell(rows: list[dict[str, Any]]) -> str:
    """Occupancy, marked when any seed breaks the abandon limit."""
    occupancy = 100 * _mean(rows, "occupancy")
    ok = max(r["abandon_rate"] for r in rows) <= LIMIT
    return f"{occupancy:.1f}%" + ("" if ok else " ✗")


def render(runs: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """Summary table, twins gap, full metrics table and run facts."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[(run["contender"], run["scenario"])].append(run)
    scenarios = [s.name for s in BASE + VARIANTS + TWINS]
    seeds = len(meta["evaluation_seeds"])
    ours_seeds = max((r["seed"] for r in runs if r["contender"] == OURS), default=0)
    out = [
        "# Pacing benchmark results",
        "",
        f"{seeds} evaluation seeds (1..{seeds}; ours on the base scenarios: 1..{ours_seeds}), "
        "tuning seeds "
        f"{meta['tuning_seeds'][0]}..{meta['tuning_seeds'][-1]}; occupancy is the mean over "
        "seeds; ✗ = abandon rate above 3.0% on at least one seed (fails the scenario).",
        "",
        "## Occupancy (policies × scenarios)",
        "",
        "| policy | " + " | ".join(scenarios) + " |",
        "|---|" + "---|" * len(scenarios),
    ]
    for contender in CONTENDERS:
        cells = [_cell(groups[(contender.name, sc)]) if groups.get((contender.name, sc))
                 else "—" for sc in scenarios]
        out.append(f"| {contender.name} | " + " | ".join(cells) + " |")
    optimum = meta["twin_optimum"]
    out.append("| exact optimum (LP) | " + " | ".join(
        f"{100 * optimum[sc]['occupancy']:.1f}%" if sc in optimum else "—" for sc in scenarios
    ) + " |")
    out += ["", "## Markovian twins: share of the progressive → optimum gap closed", "",
            "| twin | progressive | ours | optimum | gap closed |", "|---|---|---|---|---|"]
    for twin in TWINS:
        prog = _mean(groups[("progressive", twin.name)], "occupancy")
        ours = _mean(groups[(OURS, twin.name)], "occupancy")
        best = optimum[twin.name]["occupancy"]
        out.append(f"| {twin.name} | {100 * prog:.2f}% | {100 * ours:.2f}% | {100 * best:.2f}% "
                   f"| {100 * (ours - prog) / (best - prog):.1f}% |")
    out += [
        "", "## All metrics", "",
        "| scenario | policy | knob | occupancy | abandon mean | abandon worst seed | pass "
        "| dials /agent-h | contacts /agent-h | wait /contact (s) | worst rolling 1 h "
        "| lines /agent mean | lines /agent p95 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for sc in scenarios:
        for contender in CONTENDERS:
            rows = groups.get((contender.name, sc))
            if not rows:
                continue
            worst = max(r["abandon_rate"] for r in rows)
            knob = "" if contender.knob_range is None else f"{rows[0]['knob']:.4g}"
            out.append(
                f"| {sc} | {contender.name} | {knob} | {100 * _mean(rows, 'occupancy'):.2f}% "
                f"| {100 * _mean(rows, 'abandon_rate'):.2f}% | {100 * worst:.2f}% "
                f"| {'pass' if worst <= LIMIT else 'FAIL'} "
                f"| {_mean(rows, 'dials_per_agent_hour'):.1f} "
                f"| {_mean(rows, 'contacts_per_agent_hour'):.2f} "
                f"| {_mean(rows, 'wait_per_contact'):.1f} "
                f"| {100 * max(r['worst_rolling_hour_abandon'] for r in rows):.2f}% "
                f"| {_mean(rows, 'lines_per_agent_mean'):.3f} "
                f"| {_mean(rows, 'lines_per_agent_p95'):.3f} |")
    timing = meta["decision_1000_agents_us"]
    l200 = meta["l200_shift_seconds_ours"]
    out += [
        "", "## Run facts", "",
        f"- one decision for 1,000 agents: median {timing['median_us']:.0f} µs, "
        f"best {timing['best_us']:.0f} µs, p99 {timing['p99_us']:.0f} µs",
        f"- 8.5-hour L200 shift with our pacer: mean {l200['mean']:.1f} s, max "
        f"{l200['max']:.1f} s (wall time per shift inside a busy worker)",
        f"- whole benchmark: {meta['total_seconds'] / 60:.1f} min wall on "
        f"{meta['workers']} workers ({meta['cpu_count']} CPUs)" + _cpu_note(meta),
        "- tuned knobs: " + "; ".join(f"{k} = {v:.4g}" for k, v in meta["knobs"].items()),
        "- LP sizes: " + "; ".join(
            f"{k}: {int(v['states'])} states, {v['seconds']:.1f} s" for k, v in optimum.items()),
        "",
        "Targets: " + ", ".join(f"{k} ≥ {100 * v:.1f}%" for k, v in TARGETS.items())
        + "; twins ≥ 97% of the gap closed; compliant on every seed everywhere.",
        "",
    ]
    return "\n".join(out)




def _cpu_note(meta: dict[str, Any]) -> str:
    """CPU seconds of the pool (tuning, evaluation, LP), when the run recorded them."""
    cpu = meta.get("cpu_seconds")
    if not cpu:
        return ""
    total = sum(cpu.values())
    cached = ", LP optima from the cache" if meta.get("lp_from_cache") else ""
    return (f"; {total:.0f} CPU-s in the workers ({total / 60 / meta['workers']:.1f} min "
            f"per worker: tuning {cpu['tuning']:.0f}, evaluation {cpu['evaluation']:.0f}, "
            f"LP {cpu['lp']:.0f}{cached})") + "".join(
        f"; then `--only '{r['contender']}'` re-tuned and re-evaluated that policy: "
        f"{r['seconds'] / 60:.1f} min wall, {r['cpu_seconds']:.0f} CPU-s"
        for r in meta.get("reruns", []))


def partial_report(results: Path) -> str:
    """Table from the runs finished so far (``pacing-runs.jsonl``) of a run in progress."""
    runs = [json.loads(line) for line in (results / "pacing-runs.jsonl").read_text().splitlines()]
    seeds = sorted({r["seed"] for r in runs})
    done = [s for s in seeds
            if sum(r["seed"] == s for r in runs) == max(sum(r["seed"] == t for r in runs)
                                                        for t in seeds)]
    complete = [r for r in runs if r["seed"] in done]
    cache = json.loads((results / "pacing-twins-lp.json").read_text())
    ours_l200 = [r["seconds"] for r in complete if r["contender"] == OURS
                 and r["scenario"] == "L200"] or [float("nan")]
    meta = {
        "evaluation_seeds": done,
        "tuning_seeds": list(range(1000, 1005)),
        "knobs": {f"{r['contender']} @ {r['scenario']}": r["knob"] for r in complete
                  if r["scenario"] in TARGETS},
        "twin_optimum": {key.split("|")[0]: value for key, value in cache.items()},
        "decision_1000_agents_us": {"median_us": float("nan"), "best_us": float("nan"),
                                    "p99_us": float("nan")},
        "l200_shift_seconds_ours": {"mean": sum(ours_l200) / len(ours_l200),
                                    "max": max(ours_l200)},
        "total_seconds": float("nan"),
        "workers": 2,
        "cpu_count": 2,
    }
    return "PARTIAL (run in progress)\n\n" + render(complete, meta)


if __name__ == "__main__":
    print(partial_report(Path(__file__).resolve().parents[1] / "results"))
