"""Rebuild ``us_zip_zones.csv.gz`` and the US zones of ``regions.json`` from ``zipcodes``.

Run with the ``zipcodes`` wheel importable (it is *not* a runtime dependency)::

    pip download --no-deps -d /tmp/zipcodes zipcodes==3.0.0
    cd /tmp/zipcodes && unzip -q zipcodes-*.whl -d ext
    PYTHONPATH=/tmp/zipcodes/ext python build_us_zip_zones.py

Only ZIP codes with a valid IANA zone are kept (military APO/FPO codes have none).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import zipcodes

HERE = Path(__file__).parent


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name


def main() -> None:
    """Write the ZIP table and merge per-state zone sets into regions.json."""
    rows = sorted(
        (r["zip_code"], r["state"], r["timezone"])
        for r in zipcodes.list_all()
        if r["state"] and _valid_zone(r["timezone"])
    )
    buf = io.StringIO()
    buf.write(f"# source: zipcodes {zipcodes.__version__} (PyPI, MIT); built {date.today()}\n")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["zip", "state", "zone"])
    writer.writerows(rows)
    with gzip.GzipFile(HERE / "us_zip_zones.csv.gz", "wb", mtime=0) as fh:
        fh.write(buf.getvalue().encode())
    by_state: dict[str, set[str]] = {}
    for _zip, state, zone in rows:
        by_state.setdefault(state, set()).add(zone)
    regions_path = HERE / "regions.json"
    regions = json.loads(regions_path.read_text())
    regions["zones"]["US"] = {s: sorted(z) for s, z in sorted(by_state.items())}
    regions["sources"]["zones.US"] = (
        f"derived from zipcodes {zipcodes.__version__} by build_us_zip_zones.py on {date.today()}"
    )
    regions_path.write_text(json.dumps(regions, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(rows)} ZIP codes, {len(by_state)} states")


if __name__ == "__main__":
    main()
