from __future__ import annotations

import csv
import io

import phonenumbers
import pytest
from phonenumbers import timezone as pn_timezone

from simulator.agents import lognormal
from simulator.leadgen import make_lead_file


def test_lead_file_has_the_requested_mix_and_line_numbers() -> None:
    f = make_lead_file(total=100, dnc=5, invalid=3, seed=1)
    rows = list(csv.reader(io.StringIO(f.csv_text)))
    assert rows[0] == ["phone", "country", "first_name", "last_name"]
    assert len(rows) == 101
    assert len(f.valid_numbers) == 97 and len(set(f.valid_numbers)) == 97
    assert set(f.dnc_numbers) <= set(f.valid_numbers) and len(f.dnc_numbers) == 5
    for line, phone in f.invalid_rows.items():
        assert rows[line - 1][0] == phone  # CSV line numbers: header is line 1
    for n in f.valid_numbers:
        parsed = phonenumbers.parse(n)
        assert phonenumbers.is_valid_number(parsed)
        assert pn_timezone.time_zones_for_number(parsed) == ("America/New_York",)


def test_same_seed_same_file_and_bad_mix_refused() -> None:
    assert make_lead_file(20, 2, 2, seed=3) == make_lead_file(20, 2, 2, seed=3)
    with pytest.raises(ValueError):
        make_lead_file(5, 3, 3)


def test_lognormal_has_the_requested_mean() -> None:
    import random

    rng = random.Random(0)
    samples = [lognormal(rng, 150, 150) for _ in range(20000)]
    assert abs(sum(samples) / len(samples) - 150) < 6
