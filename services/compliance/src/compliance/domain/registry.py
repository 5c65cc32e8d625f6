"""National registry files: parsing a download into E.164 integers for the DNC index.

Accepted line formats (blank lines and ``#`` comments are skipped):

* ``+14155550123`` — E.164 with the registry's country code;
* ``4155550123`` / ``14155550123`` (NANP), ``01632960123`` / ``1632960123`` (GB),
  ``0612345678`` / ``612345678`` (FR) — national digits, with or without the trunk
  prefix (``1`` in the NANP, ``0`` elsewhere), which is stripped;
* ``415,5550123`` — the FTC download layout (area code, subscriber number; NANP only).

The national significant number (NSN) must have a length the country's numbering plan
allows (libphonenumber metadata: possible lengths) and may not start with ``0``; a NANP
number is ``NXX NXX XXXX`` (area code and exchange start with 2–9). A bad line refuses
the whole file with its line number; the copy in force stays.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from itertools import islice

import numpy as np
from phonenumbers import PhoneMetadata

from common.pii import mask_phone
from compliance.domain.dnc_index import U64Array
from compliance.domain.errors import MalformedRegistryFileError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class NationalFormat:
    """How a registry's country writes its numbers: the country code, the trunk prefix
    dialled before a national number, and the possible NSN lengths (digits)."""

    region: str
    country_code: int
    trunk_prefix: str
    lengths: tuple[int, ...]

    @property
    def nanp(self) -> bool:
        """North American Numbering Plan: ``NXX NXX XXXX`` numbers, FTC layout allowed."""
        return self.country_code == 1

    def nsn_problem(self, nsn: str) -> str | None:
        """Why ``nsn`` (digits) is not a possible national number here (None: it is)."""
        if len(nsn) not in self.lengths:
            allowed = " or ".join(str(n) for n in self.lengths)
            return (f"{len(nsn)} digits: a {self.region} national number has {allowed} "
                    f"digits (after an optional trunk prefix {self.trunk_prefix!r})")
        if nsn[0] == "0":
            return f"a {self.region} national number cannot start with 0"
        if self.nanp and (nsn[0] in "01" or nsn[3] in "01"):
            return "a NANP area code and exchange cannot start with 0 or 1"
        return None


@cache
def national_format(region: str) -> NationalFormat:
    """The format of ``region`` (ISO code: ``US``, ``GB``...) from libphonenumber's
    metadata; a NANP number is always 10 digits (7-digit local dialling is not a number)."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.general_desc is None:
        raise ValueError(f"no numbering plan for region {region!r}")
    code = int(metadata.country_code or 0)
    lengths = (10,) if code == 1 else tuple(sorted(metadata.general_desc.possible_length))
    return NationalFormat(region=region, country_code=code,
                          trunk_prefix=metadata.national_prefix or "", lengths=lengths)


def registry_format(registry: str) -> NationalFormat:
    """The format of a registry named ``<ISO region>-<list>`` (``GB-TPS`` → GB)."""
    return national_format(registry[:2].upper())


def parse_registry_lines(lines: Iterable[str], registry: str, fmt: NationalFormat) -> U64Array:
    """E.164 digit integers (``uint64``) from registry file lines.

    Raises :class:`MalformedRegistryFileError` naming the line and, masked, its content.
    """
    chunks: list[U64Array] = []
    numbered = enumerate(lines, start=1)
    while batch := list(islice(numbered, _CHUNK)):
        values = [v for v in (_parse_line(t, n, registry, fmt) for n, t in batch) if v]
        chunks.append(np.array(values, dtype=np.uint64))
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=np.uint64)


def _parse_line(text: str, line_no: int, registry: str, fmt: NationalFormat) -> int:
    line = text.strip()
    if not line or line.startswith("#"):
        return 0
    shown = mask_phone(line)
    code = str(fmt.country_code)
    if line.startswith("+"):
        digits = line[1:]
        if digits.isascii() and digits.isdigit() and not digits.startswith(code):
            raise MalformedRegistryFileError(
                registry, line_no, f"number {shown} is outside country code +{code}")
        nsn = digits[len(code):]
    elif "," in line:
        area, _, subscriber = (part.strip() for part in line.partition(","))
        if not fmt.nanp or len(area) != 3 or len(subscriber) != 7:
            expected = "'AAA,NNNNNNN'" if fmt.nanp else "one number per line (no comma)"
            raise MalformedRegistryFileError(registry, line_no,
                                             f"expected {expected}, got {shown!r}")
        nsn = area + subscriber
    else:
        trunk = fmt.trunk_prefix
        strip = bool(trunk) and line.startswith(trunk) and len(line) - len(trunk) in fmt.lengths
        nsn = line[len(trunk):] if strip else line
    if not (nsn.isascii() and nsn.isdigit()):
        raise MalformedRegistryFileError(registry, line_no, f"not a phone number: {shown!r}")
    problem = fmt.nsn_problem(nsn)
    if problem is not None:
        raise MalformedRegistryFileError(registry, line_no, f"{shown}: {problem}")
    return int(code + nsn)
