"""DncIndex against a reference set, deltas and compaction, registry file import."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.domain.dnc_index import DncIndex, e164_to_int
from compliance.domain.errors import MalformedRegistryFileError
from compliance.domain.registry import parse_registry_lines

e164 = st.integers(min_value=10**7, max_value=10**15 - 1).map(lambda n: f"+{n}")
nanp = st.integers(min_value=12_002_000_000, max_value=19_999_999_999).map(lambda n: f"+{n}")


@settings(max_examples=60, deadline=None)
@given(
    members=st.lists(st.one_of(e164, nanp), max_size=300),
    probes=st.lists(st.one_of(e164, nanp), max_size=100),
)
def test_index_agrees_with_a_set(members: list[str], probes: list[str]) -> None:
    index = DncIndex.from_e164(members, "v")
    reference = set(members)
    for number in probes + members:
        assert (number in index) == (number in reference)
    values = np.array([e164_to_int(n) for n in probes + members], dtype=np.uint64)
    assert index.contains_many(values).tolist() == [n in reference for n in probes + members]
    assert len(index) == len(reference)


def _large(count: int, seed: int) -> np.ndarray:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    return np.uint64(10**10) + rng.integers(2 * 10**9, 10**10, count, dtype=np.uint64)


def test_compact_buckets_store_under_4_bytes_and_answer_exactly() -> None:
    numbers = _large(400_000, seed=1)
    index = DncIndex.from_ints(numbers, "v")
    assert index.nbytes / len(index) <= 4
    probes = np.concatenate([numbers[:5000], _large(5000, seed=2)])
    reference = set(numbers.tolist())
    expected = [int(v) in reference for v in probes]
    assert index.contains_many(probes).tolist() == expected
    assert [index.contains_int(int(v)) for v in probes] == expected


@settings(max_examples=25, deadline=None)
@given(
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 199)), max_size=120),
    compact_at=st.integers(0, 120),
)
def test_deltas_and_compaction_match_a_set(ops: list[tuple[bool, int]], compact_at: int) -> None:
    base = _large(70_000, seed=3)  # large enough for a compact (directory) bucket
    pool = [f"+{v}" for v in base[:100].tolist()] + [f"+{v + 1}" for v in base[:100].tolist()]
    index = DncIndex.from_ints(base, "v")
    reference = {f"+{v}" for v in base.tolist()}
    for step, (add, i) in enumerate(ops):
        (index.add if add else index.remove)(pool[i])
        (reference.add if add else reference.discard)(pool[i])
        if step == compact_at:
            index.compact()
            assert index.pending == 0
    assert all((n in index) == (n in reference) for n in pool)
    assert len(index) == len(reference)
    index.compact()
    assert all((n in index) == (n in reference) for n in pool)


def test_registry_file_formats() -> None:
    lines = ["# FTC download 2025-01-14", "", "212,5550123", "4155550123", "+13055551234"]
    values = parse_registry_lines(lines, "US-DNC", 1).tolist()
    assert values == [12125550123, 14155550123, 13055551234]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("212,555012", "expected 'AAA,NNNNNNN'"),
        ("hello", "not a phone number"),
        ("+442079460000", "outside country code +1"),
    ],
)
def test_malformed_registry_line_names_the_line_and_masks_it(line: str, problem: str) -> None:
    with pytest.raises(MalformedRegistryFileError) as info:
        parse_registry_lines(["2125550123", line], "US-DNC", 1)
    assert info.value.line_no == 2 and problem in str(info.value)
    assert "2079460" not in str(info.value)
