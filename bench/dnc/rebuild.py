"""Registry import and start-up rebuild timings (``python bench/dnc/rebuild.py --size 10M``).

Writes a synthetic US registry file (FTC layout ``AAA,NNNNNNN``), parses it the way an
import job does (``parse_file``: line by line, chunked, spilled to disk, sorted), saves
the ``.npy`` source of truth, then times what a service start-up does with it
(``load_index``: memory-mapped ``.npy`` → ``DncIndex``). Prints one Markdown row.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from compliance.app.registries import CopyInForce, load_index
from compliance.app.registry_files import Progress, parse_file
from compliance.app.registry_imports import save_numbers


def _size(text: str) -> int:
    units = {"K": 10**3, "M": 10**6}
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="10M", help="numbers in the file (e.g. 1M, 10M)")
    args = parser.parse_args()
    n = _size(args.size)
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "us.txt"
        numbers = 2_000_000_000 + rng.choice(8_000_000_000, size=n, replace=False)
        with source.open("w") as out:
            for chunk in np.array_split(numbers, max(1, n // 1_000_000)):
                out.write("".join(f"{v // 10**7},{v % 10**7:07d}\n" for v in chunk.tolist()))
        started = time.perf_counter()
        parsed = parse_file(source, "US-DNC", 1, Progress(), folder / "scratch")
        parse_s = time.perf_counter() - started
        copy = CopyInForce(copy_id="bench", name="US-DNC", version="bench",
                           downloaded_at=datetime.now(UTC), imported_at=datetime.now(UTC),
                           count=len(parsed), sha256="")
        save_numbers(folder / "US-DNC" / "bench.npy", parsed)
        del parsed
        started = time.perf_counter()
        index = load_index(folder, copy)
        rebuild_s = time.perf_counter() - started
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("| numbers | file MB | import parse (s) | lines/s | rebuild from .npy (s) | "
              "index bytes/number | peak RSS MB |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| {n:,} | {source.stat().st_size / 1e6:.0f} | {parse_s:.1f} | "
              f"{n / parse_s:,.0f} | {rebuild_s:.2f} | {index.nbytes / len(index):.2f} | "
              f"{rss_mb:,.0f} |")


if __name__ == "__main__":
    main()
