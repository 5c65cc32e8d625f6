"""Rebuild the ``nanp_area_codes`` table of ``regions.json`` from libphonenumber's geocoder.

    python build_nanp_area_codes.py

Every English geocoder entry under ``+1 NPA`` (area-code level such as "Florida" and
finer ones such as "Pensacola, FL") is mapped to state/province codes through the
``names`` table; an area code gets the union. Snapshotting the table avoids importing the
geocoder's 290 k-entry dataset (several seconds) at every start-up. Rerun after a
``phonenumbers`` upgrade.
"""

from __future__ import annotations

import json
from pathlib import Path

import phonenumbers
from phonenumbers.geodata import GEOCODE_DATA

HERE = Path(__file__).parent


def main() -> None:
    """Write ``nanp_area_codes`` (area code → sorted subdivision codes) into regions.json."""
    path = HERE / "regions.json"
    regions = json.loads(path.read_text())
    codes = {code for names in regions["names"].values() for code in names.values()}
    by_name = {name: code for names in regions["names"].values() for name, code in names.items()}
    table: dict[str, set[str]] = {}
    for prefix, descriptions in GEOCODE_DATA.items():
        text = descriptions.get("en", "")
        if not prefix.startswith("1") or len(prefix) < 4 or not text:
            continue
        if ", " in text:
            found = {text.rsplit(", ", 1)[1]} & codes
        else:
            found = {by_name[part] for part in text.split("/") if part in by_name}
        if found:
            table.setdefault(prefix[1:4], set()).update(found)
    regions["nanp_area_codes"] = {npa: sorted(s) for npa, s in sorted(table.items())}
    regions["sources"]["nanp_area_codes"] = (
        f"derived from phonenumbers {phonenumbers.__version__} geocoder data (en) "
        "by build_nanp_area_codes.py"
    )
    path.write_text(json.dumps(regions, indent=1, ensure_ascii=False) + "\n")
    print(f"{len(table)} area codes")


if __name__ == "__main__":
    main()
