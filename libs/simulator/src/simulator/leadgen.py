"""Synthetic lead files: valid New York numbers, some on the tenant's DNC list, some invalid."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass

import phonenumbers

# Manhattan area codes: a single IANA zone (America/New_York) per number.
AREA_CODES = ("212", "646", "917", "332")


@dataclass(frozen=True)
class LeadFile:
    csv_text: str
    valid_numbers: list[str]      # E.164, in file order, DNC numbers included
    dnc_numbers: list[str]        # E.164 numbers the tenant puts on its DNC list
    invalid_rows: dict[int, str]  # CSV line number (header = 1) -> the raw phone


def _random_valid_number(rng: random.Random) -> str:
    while True:
        exchange = f"{rng.randint(2, 9)}{rng.randint(0, 99):02d}"
        raw = f"+1{rng.choice(AREA_CODES)}{exchange}{rng.randint(0, 9999):04d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(raw)):
            return raw


def make_lead_file(total: int, dnc: int, invalid: int, seed: int = 7) -> LeadFile:
    """``total`` CSV data rows: ``invalid`` of them with unusable numbers, ``dnc`` of the
    valid ones also returned as DNC numbers. Row order is shuffled deterministically."""
    if dnc + invalid > total:
        raise ValueError("dnc + invalid must not exceed total")
    rng = random.Random(seed)
    numbers: set[str] = set()
    while len(numbers) < total - invalid:
        numbers.add(_random_valid_number(rng))
    valid = sorted(numbers)
    rng.shuffle(valid)
    bad_values = ["12345", "+1 212 000 0000", "not-a-number", "", "+999123"]
    rows: list[tuple[str, str]] = [(n, "valid") for n in valid]
    rows += [(bad_values[i % len(bad_values)], "invalid") for i in range(invalid)]
    rng.shuffle(rows)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["phone", "country", "first_name", "last_name"])
    invalid_rows: dict[int, str] = {}
    ordered_valid: list[str] = []
    for i, (phone, kind) in enumerate(rows):
        writer.writerow([phone, "US", f"First{i}", f"Last{i}"])
        if kind == "invalid":
            invalid_rows[i + 2] = phone
        else:
            ordered_valid.append(phone)
    return LeadFile(out.getvalue(), ordered_valid, rng.sample(valid, dnc), invalid_rows)
