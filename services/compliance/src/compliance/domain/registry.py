"""National registry files: parsing a download into E.164 integers for the DNC index.

Accepted line formats (blank lines and ``#`` comments are skipped):

* ``+14155550123`` — E.164;
* ``4155550123`` — national significant number, prefixed with the registry's country code;
* ``415,5550123`` — the FTC download layout (area code, subscriber number).

A bad line refuses the whole file with its line number; the copy in force stays.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import numpy as np

from common.pii import mask_phone
from compliance.domain.dnc_index import U64Array
from compliance.domain.errors import MalformedRegistryFileError

_CHUNK = 1 << 20


def parse_registry_lines(lines: Iterable[str], registry: str, country_code: int) -> U64Array:
    """E.164 digit integers (``uint64``) from registry file lines.

    Raises :class:`MalformedRegistryFileError` naming the line and, masked, its content.
    """
    chunks: list[U64Array] = []
    numbered = enumerate(lines, start=1)
    while batch := list(islice(numbered, _CHUNK)):
        values = [v for v in (_parse_line(t, n, registry, country_code) for n, t in batch) if v]
        chunks.append(np.array(values, dtype=np.uint64))
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=np.uint64)


def _parse_line(text: str, line_no: int, registry: str, country_code: int) -> int:
    line = text.strip()
    if not line or line.startswith("#"):
        return 0
    if line.startswith("+"):
        digits = line[1:]
    elif "," in line:
        area, _, subscriber = line.partition(",")
        area, subscriber = area.strip(), subscriber.strip()
        if len(area) != 3 or len(subscriber) != 7:
            raise MalformedRegistryFileError(
                registry, line_no, f"expected 'AAA,NNNNNNN', got {mask_phone(line)!r}"
            )
        digits = f"{country_code}{area}{subscriber}"
    else:
        digits = f"{country_code}{line}"
    if not digits.isdigit() or not 8 <= len(digits) <= 15:
        raise MalformedRegistryFileError(
            registry, line_no, f"not a phone number: {mask_phone(line) if line else '(empty)'!r}"
        )
    if not digits.startswith(str(country_code)):
        raise MalformedRegistryFileError(
            registry,
            line_no,
            f"number {mask_phone('+' + digits)} is outside country code +{country_code}",
        )
    return int(digits)
