"""Registry import and start-up rebuild: time and peak memory (``python bench/dnc/rebuild.py
--size 10M``).

Writes a synthetic US registry file (FTC layout ``AAA,NNNNNNN``, 2 % repeated lines), then
runs each phase in a fresh Python process so its peak resident memory can be told apart:

* ``import`` — what an import job does: ``parse_file`` (blocks of lines → sorted runs on
  disk → k-way merge into the ``.npy``) then ``load_index`` (the index, built from the
  file in chunks, that the importing process swaps in);
* ``rebuild`` — what every pod does at start-up: ``load_index`` of the ``.npy``;
* ``rebuild-in-memory`` — for comparison, the index built from the whole array in memory
  (``np.load`` + ``DncIndex.from_ints``: a full copy and sort, the former start-up path).

Peak memory is the growth of the peak resident set (``VmHWM``, reset through
``/proc/self/clear_refs`` once the modules are imported; else ``ru_maxrss``) over the
resident set at the start of the phase — anonymous and file pages (the ``.npy`` is read
with plain reads, never mapped) — and, for the rebuilds, the peak of ``tracemalloc``
(numpy reports its buffers to it). Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from compliance.app.registries import CopyInForce, load_index
from compliance.app.registry_files import Progress, parse_file
from compliance.domain.dnc_index import DncIndex
from compliance.domain.registry import registry_format

_MB = 1 << 20


def _size(text: str) -> int:
    units = {"K": 10**3, "M": 10**6}
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def _status(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def _reset_peak() -> int:
    """Reset the peak resident set (Linux ``clear_refs`` 5) to the current one; the
    baseline, bytes. Without it, ``ru_maxrss`` (the peak since the process started)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status("VmRSS")
    except OSError:
        return _maxrss()


def _maxrss() -> int:
    """Peak resident set since the last reset, bytes."""
    try:
        return _status("VmHWM")
    except (OSError, LookupError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _copy(count: int) -> CopyInForce:
    now = datetime.now(UTC)
    return CopyInForce(copy_id="bench", name="US-DNC", version="bench", downloaded_at=now,
                       imported_at=now, count=count, sha256="")


def _phase(phase: str, folder: Path) -> dict[str, Any]:
    """One phase in this process: seconds, peak RSS growth and tracemalloc peak (bytes)."""
    base = _reset_peak()
    trace = phase != "import"  # tracemalloc slows the per-line Python of the parse
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    result: dict[str, Any] = {"phase": phase}
    if phase == "import":
        progress = Progress()
        count = parse_file(folder / "us.txt", "US-DNC", registry_format("US-DNC"), progress,
                           folder / "runs", folder / "US-DNC" / "bench.npy")
        result["parse_merge_s"] = time.perf_counter() - started
        result["parse_merge_rss"] = _maxrss() - base
        index = load_index(folder, _copy(count))
        result["lines"] = progress.lines
    elif phase == "rebuild":
        count = int(np.load(folder / "US-DNC" / "bench.npy", mmap_mode="r").shape[0])
        index = load_index(folder, _copy(count))
    else:
        index = DncIndex.from_ints(np.load(folder / "US-DNC" / "bench.npy"), "bench")
    result["seconds"] = time.perf_counter() - started
    result["rss"] = _maxrss() - base
    result["traced"] = tracemalloc.get_traced_memory()[1] if trace else None
    result["numbers"], result["index_bytes"] = len(index), index.nbytes
    return result


def _write_file(path: Path, n: int) -> None:
    rng = np.random.default_rng(7)
    distinct = n - n // 50
    numbers = 2_000_000_000 + rng.choice(8_000_000_000, size=distinct, replace=False)
    numbers = np.concatenate([numbers, numbers[: n - distinct]])
    with path.open("w") as out:
        for chunk in np.array_split(numbers, max(1, n // 1_000_000)):
            area, rest = chunk // 10**7, chunk % 10**7
            rest = np.where(rest < 2 * 10**6, rest + 2 * 10**6, rest)  # exchange 2-9
            out.write("".join(f"{a},{r:07d}\n" for a, r in zip(area.tolist(), rest.tolist(),
                                                                strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="10M", help="lines in the file (e.g. 1M, 10M)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(_phase(args.phase, Path(args.dir))))
        return
    n = _size(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write_file(folder / "us.txt", n)
        size_mb = (folder / "us.txt").stat().st_size / 1e6
        rows = [json.loads(subprocess.run(
            [sys.executable, __file__, "--phase", phase, "--dir", tmp], check=True,
            capture_output=True, text=True).stdout) for phase in
            ("import", "rebuild", "rebuild-in-memory")]
    imp = rows[0]
    print(f"{n:,} lines ({size_mb:.0f} MB), {imp['numbers']:,} distinct numbers; "
          f"index {imp['index_bytes'] / _MB:.1f} MiB "
          f"({imp['index_bytes'] / imp['numbers']:.2f} B/number)\n")
    print(f"import: parse + sort runs + merge {imp['parse_merge_s']:.1f} s "
          f"({imp['lines'] / imp['parse_merge_s']:,.0f} lines/s), peak RSS +"
          f"{imp['parse_merge_rss'] / _MB:.0f} MiB; with the index build {imp['seconds']:.1f} s, "
          f"peak RSS +{imp['rss'] / _MB:.0f} MiB\n")
    print("| phase | seconds | peak RSS growth (MiB) | B/number | tracemalloc peak (MiB) |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        traced = "—" if row["traced"] is None else f"{row['traced'] / _MB:.0f}"
        print(f"| {row['phase']} | {row['seconds']:.1f} | {row['rss'] / _MB:.0f} | "
              f"{row['rss'] / row['numbers']:.2f} | {traced} |")


if __name__ == "__main__":
    main()
