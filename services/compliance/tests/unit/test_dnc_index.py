"""DncIndex against a reference set, deltas and compaction, registry file import."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.domain.dnc_index import DncIndex, e164_to_int
from compliance.domain.errors import MalformedRegistryFileError
from compliance.domain.registry import parse_registry_lines, registry_format

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


@settings(max_examples=40, deadline=None)
@given(members=st.lists(st.one_of(e164, nanp), max_size=400), chunk=st.integers(1, 50))
def test_index_built_from_sorted_chunks_matches_the_one_built_at_once(
        members: list[str], chunk: int) -> None:
    values = np.unique(np.array([e164_to_int(n) for n in members], dtype=np.uint64))
    chunked = DncIndex.from_sorted_chunks(
        lambda: (values[i:i + chunk] for i in range(0, len(values), chunk)), "v")
    assert len(chunked) == len(values)
    assert all(n in chunked for n in members)
    assert chunked.contains_many(values + np.uint64(1)).tolist() == np.isin(
        values + np.uint64(1), values).tolist()


def test_compact_bucket_built_in_chunks_matches_its_definition() -> None:
    rests = np.unique(np.random.default_rng(4).integers(0, 10**9, 200_000, dtype=np.uint64))
    values = np.uint64(12 * 10**9) + rests  # one bucket, large enough for a directory
    seen: list[int] = []
    index = DncIndex.from_sorted_chunks(
        lambda: (values[i:i + 7_777] for i in range(0, len(values), 7_777)), "v",
        on_chunk=seen.append)
    assert sum(seen) == 2 * len(values)  # two passes, each reported
    bucket = index._base.buckets[12]
    assert bucket.directory is not None
    edges = np.arange(len(bucket.directory), dtype=np.uint64) << np.uint64(bucket.shift)
    assert np.array_equal(bucket.directory, np.searchsorted(rests, edges))
    assert np.array_equal(bucket.low, rests & np.uint64((1 << bucket.shift) - 1))
    assert bucket.low.dtype == np.uint16 and index.nbytes / len(index) < 3


def test_unsorted_or_repeated_input_is_refused() -> None:
    for bad in ([3, 2], [2, 2]):
        values = np.array([10**10 + v for v in bad], np.uint64)
        with pytest.raises(ValueError, match="not sorted and distinct"):
            DncIndex.from_sorted_chunks(lambda v=values: [v[:1], v[1:]], "v")


def test_registry_file_formats() -> None:
    lines = ["# FTC download 2025-01-14", "", "212,5550123", "4155550123", "+13055551234"]
    values = parse_registry_lines(lines, "US-DNC", registry_format("US-DNC")).tolist()
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
        parse_registry_lines(["2125550123", line], "US-DNC", registry_format("US-DNC"))
    assert info.value.line_no == 2 and problem in str(info.value)
    assert "2079460" not in str(info.value)
