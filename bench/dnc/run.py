"""DNC index benchmark: Python ``set`` vs PostgreSQL indexed table vs ``DncIndex``.

    python bench/dnc/run.py --sizes 10M,250M          # full run (about 15 minutes)
    python bench/dnc/run.py --quick                   # 1M, a few seconds per contender

Synthetic US numbers (``+1`` NPA NXX-XXXX, seeded) are built into each contender in the
same run; queries are half registered numbers and half random numbers. Measured:
memory (bytes per number), build time, single-lookup latency p50/p99 (µs, one
``perf_counter_ns`` pair per lookup, E.164 string in), batch throughput (numbers/s).
The ``set`` is skipped above ``--set-max`` (it would not fit in RAM: projected size is
reported), PostgreSQL above ``--pg-max``. Results: ``bench/results/dnc.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from compliance.domain.dnc_index import DncIndex, e164_to_int

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
U64 = npt.NDArray[np.uint64]


@dataclass
class Row:
    """One contender at one size."""

    contender: str
    size: int
    status: str = "measured"
    bytes_per_number: float | None = None
    build_s: float | None = None
    single_p50_us: float | None = None
    single_p99_us: float | None = None
    batch_per_s: float | None = None
    hit_ratio: float | None = None
    notes: list[str] = field(default_factory=list)


def parse_size(text: str) -> int:
    """``10M`` → 10_000_000, ``250M``, ``500k``, ``1000``."""
    text = text.strip().upper()
    scale = {"K": 10**3, "M": 10**6, "G": 10**9}.get(text[-1], 1)
    return int(float(text.rstrip("KMG")) * scale)


def synthetic_numbers(size: int, seed: int) -> U64:
    """``size`` distinct US numbers as E.164 digit integers, sorted."""
    rng = np.random.default_rng(seed)
    out = np.empty(0, np.uint64)
    while len(out) < size:
        need = int((size - len(out)) * 1.05) + 1000
        npa = rng.integers(200, 1000, need, dtype=np.uint64)
        sub = rng.integers(2_000_000, 10_000_000, need, dtype=np.uint64)
        fresh = np.uint64(10**10) + npa * np.uint64(10**7) + sub
        out = np.concatenate([out, fresh])
        out.sort()
        keep = np.ones(len(out), bool)
        keep[1:] = out[1:] != out[:-1]
        out = out[keep]
    return np.sort(np.random.default_rng(seed + 1).choice(out, size, replace=False))


def queries(numbers: U64, count: int, seed: int) -> U64:
    """Half registered numbers, half random numbers (mostly unregistered), shuffled."""
    rng = np.random.default_rng(seed)
    hits = numbers[rng.integers(0, len(numbers), count // 2)]
    npa = rng.integers(200, 1000, count - count // 2, dtype=np.uint64)
    sub = rng.integers(2_000_000, 10_000_000, count - count // 2, dtype=np.uint64)
    misses = np.uint64(10**10) + npa * np.uint64(10**7) + sub
    both = np.concatenate([hits, misses])
    rng.shuffle(both)
    return both


def rss_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def latencies(lookup: Callable[[str], bool], numbers: list[str]) -> tuple[float, float]:
    """p50 and p99 of single lookups, in µs."""
    clock = time.perf_counter_ns
    samples = np.empty(len(numbers), np.int64)
    for i, number in enumerate(numbers):
        start = clock()
        lookup(number)
        samples[i] = clock() - start
    return float(np.percentile(samples, 50)) / 1e3, float(np.percentile(samples, 99)) / 1e3


def bench_index(numbers: U64, qs: U64, singles: list[str]) -> Row:
    """The DncIndex: built from the integer array a database fetch would return."""
    row = Row("DncIndex (bucketed uint16 + directory)", len(numbers))
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    index = DncIndex.from_ints(numbers, "bench")
    row.build_s = time.perf_counter() - start
    row.bytes_per_number = index.nbytes / len(index)
    row.notes.append(
        f"RSS growth during build {(rss_bytes() - before) / len(numbers):.2f} B/number "
        "(transient sort copies; the index itself is bytes/number)"
    )
    row.single_p50_us, row.single_p99_us = latencies(index.__contains__, singles)
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        found = index.contains_many(qs)
        best = max(best, len(qs) / (time.perf_counter() - start))
    row.batch_per_s, row.hit_ratio = best, float(found.mean())
    if len(numbers) <= 2_000_000:
        sample = [f"+{n}" for n in numbers[:200_000].tolist()]
        start = time.perf_counter()
        DncIndex.from_e164(sample, "strings")
        per = (time.perf_counter() - start) / len(sample)
        row.notes.append(f"from E.164 strings: {per * 1e6:.2f} µs/number")
    del index
    return row


def bench_set(numbers: U64, qs: U64, singles: list[str]) -> Row:
    """A Python ``set`` of ints (the naive in-process index)."""
    row = Row("Python set[int]", len(numbers))
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    members = set(numbers.tolist())
    row.build_s = time.perf_counter() - start
    gc.collect()
    row.bytes_per_number = (rss_bytes() - before) / len(numbers)
    row.single_p50_us, row.single_p99_us = latencies(lambda n: e164_to_int(n) in members, singles)
    values = qs.tolist()
    start = time.perf_counter()
    hits = sum(v in members for v in values)
    row.batch_per_s = len(values) / (time.perf_counter() - start)
    row.hit_ratio = hits / len(values)
    return row


def bench_postgres(numbers: U64, qs: U64, singles: list[str]) -> Row:
    """A PostgreSQL ``bigint`` primary-key table, loaded by binary COPY."""
    from common.infra.postgres_local import LocalPostgres

    row = Row("PostgreSQL table + btree PK", len(numbers))
    with LocalPostgres() as pg, tempfile.TemporaryDirectory() as tmp:
        row.notes.append(f"PostgreSQL {pg.version}, local TCP, fsync off, default shared_buffers")
        path = Path(tmp) / "dnc.bin"
        start = time.perf_counter()
        write_copy_binary(numbers, path)
        row.notes.append(f"COPY file prepared in {time.perf_counter() - start:.1f} s (not counted)")
        asyncio.run(_pg_measure(pg.port, path, qs, singles, row))
    return row


def write_copy_binary(numbers: U64, path: Path) -> None:
    """PostgreSQL binary COPY file of one ``bigint`` column."""
    rows = np.empty(len(numbers), dtype=[("n", ">i2"), ("len", ">i4"), ("v", ">i8")])
    rows["n"], rows["len"], rows["v"] = 1, 8, numbers.astype(np.int64)
    with path.open("wb") as fh:
        fh.write(b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big"))
        fh.write(rows.tobytes())
        fh.write((-1).to_bytes(2, "big", signed=True))


async def _pg_measure(port: int, path: Path, qs: U64, singles: list[str], row: Row) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres")
    try:
        await conn.execute("SET maintenance_work_mem = '2GB'")
        start = time.perf_counter()
        await conn.execute("CREATE TABLE dnc (number bigint NOT NULL)")
        await conn.copy_to_table("dnc", source=str(path), format="binary")
        await conn.execute("ALTER TABLE dnc ADD PRIMARY KEY (number)")
        await conn.execute("VACUUM ANALYZE dnc")
        row.build_s = time.perf_counter() - start
        size = await conn.fetchval("SELECT pg_total_relation_size('dnc')")
        index_size = await conn.fetchval("SELECT pg_relation_size('dnc_pkey')")
        row.bytes_per_number = size / row.size
        row.notes.append(
            f"table+index {size / 2**20:.0f} MiB on disk, index alone "
            f"{index_size / row.size:.1f} B/number"
        )
        stmt = await conn.prepare("SELECT EXISTS (SELECT 1 FROM dnc WHERE number = $1)")
        clock = time.perf_counter_ns
        sample = singles[: min(len(singles), 20_000)]
        for number in sample[:5000]:  # warm the cache
            await stmt.fetchval(e164_to_int(number))
        samples = np.empty(len(sample), np.int64)
        for i, number in enumerate(sample):
            t0 = clock()
            await stmt.fetchval(e164_to_int(number))
            samples[i] = clock() - t0
        row.single_p50_us = float(np.percentile(samples, 50)) / 1e3
        row.single_p99_us = float(np.percentile(samples, 99)) / 1e3
        batch = await conn.prepare(
            "SELECT count(*) FROM unnest($1::bigint[]) AS q(n) "
            "WHERE EXISTS (SELECT 1 FROM dnc WHERE number = q.n)"
        )
        values = qs[:1_000_000].astype(np.int64).tolist()
        start, hits = time.perf_counter(), 0
        for i in range(0, len(values), 100_000):
            hits += await batch.fetchval(values[i : i + 100_000])
        row.batch_per_s = len(values) / (time.perf_counter() - start)
        row.hit_ratio = hits / len(values)
    finally:
        await conn.close()


def infeasible(contender: str, size: int, measured: Row | None, why: str) -> Row:
    """A row for a contender not run at ``size``, with its projected memory."""
    row = Row(contender, size, status="not run")
    if measured and measured.bytes_per_number:
        row.bytes_per_number = measured.bytes_per_number
        row.notes.append(
            f"projected {measured.bytes_per_number * size / 2**30:.1f} GiB "
            f"from {measured.size:,} numbers; {why}"
        )
    else:
        row.notes.append(why)
    return row


def render(rows: list[Row], meta: dict[str, Any]) -> str:
    """Markdown table of the results."""

    def fmt(value: float | None, spec: str) -> str:
        return "—" if value is None else format(value, spec)

    lines = [
        "# DNC index benchmark",
        "",
        f"Run {meta['date']} on {meta['machine']} (Python {meta['python']}, numpy "
        f"{meta['numpy']}); command `{meta['command']}`. Load average at the end "
        f"{meta['load_average_at_end'][0]:.1f} (other jobs shared the 2 CPUs).",
        "",
        "| contender | numbers | status | bytes/number | build (s) | single p50 (µs) "
        "| single p99 (µs) | batch (numbers/s) | hit ratio |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.contender} | {r.size:,} | {r.status} | {fmt(r.bytes_per_number, '.2f')} "
            f"| {fmt(r.build_s, '.1f')} | {fmt(r.single_p50_us, '.1f')} "
            f"| {fmt(r.single_p99_us, '.1f')} | {fmt(r.batch_per_s, ',.0f')} "
            f"| {fmt(r.hit_ratio, '.3f')} |"
        )
    lines += ["", "Notes:", ""]
    lines += [f"- {r.contender} @ {r.size:,}: {n}" for r in rows for n in r.notes]
    lines += [
        "",
        "Targets (issue #4): ≤ 4 bytes/number, single lookup p99 ≤ 20 µs, "
        "batch ≥ 1,000,000 numbers/s.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10M,250M")
    parser.add_argument("--quick", action="store_true", help="1M numbers, fewer lookups")
    parser.add_argument("--set-max", default="10M", help="largest size for the Python set")
    parser.add_argument("--pg-max", default="10M", help="largest size for PostgreSQL")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--out", default=str(RESULTS / "dnc"), help="output path without suffix")
    args = parser.parse_args(argv)
    sizes = [1_000_000] if args.quick else [parse_size(s) for s in args.sizes.split(",")]
    set_max, pg_max = parse_size(args.set_max), parse_size(args.pg_max)
    singles_count = 20_000 if args.quick else 200_000
    rows: list[Row] = []
    last_set: Row | None = None
    last_pg: Row | None = None
    for size in sizes:
        print(f"generating {size:,} numbers…", file=sys.stderr, flush=True)
        numbers = synthetic_numbers(size, seed=7)
        qs = queries(numbers, 1_000_000, seed=11)
        singles = [f"+{v}" for v in queries(numbers, singles_count, seed=13).tolist()]
        rows.append(bench_index(numbers, qs, singles))
        print(rows[-1], file=sys.stderr, flush=True)
        if size <= set_max:
            last_set = bench_set(numbers, qs, singles)
            rows.append(last_set)
        else:
            rows.append(
                infeasible(
                    "Python set[int]",
                    size,
                    last_set,
                    "plus the int list and source array while building: not attempted on "
                    "this 24 GiB machine shared with other jobs",
                )
            )
        print(rows[-1], file=sys.stderr, flush=True)
        if args.skip_postgres:
            pass
        elif size <= pg_max:
            last_pg = bench_postgres(numbers, qs, singles)
            rows.append(last_pg)
        else:
            rows.append(
                infeasible(
                    "PostgreSQL table + btree PK",
                    size,
                    last_pg,
                    f"on disk; not run above --pg-max {args.pg_max}: linear build-time "
                    f"projection {(last_pg.build_s or 0) * size / last_pg.size / 60:.0f}+ min"
                    if last_pg
                    else f"not run above --pg-max {args.pg_max}",
                )
            )
        print(rows[-1], file=sys.stderr, flush=True)
        del numbers, qs
        gc.collect()
    ram_gib = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPUs, {ram_gib:.0f} GiB RAM, {platform.machine()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average_at_end": os.getloadavg(),
        "command": "python bench/dnc/run.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(render(rows, meta))
    out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=1) + "\n"
    )
    print(render(rows, meta))


if __name__ == "__main__":
    main()
