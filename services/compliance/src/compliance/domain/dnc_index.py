"""In-memory index of a national do-not-call registry (≈ 250 M numbers for the US).

Layout: an E.164 number is the integer ``n`` of its digits. ``n // 10**9`` selects a
bucket (numbers of different lengths never share a key: E.164 has no leading zero) and
``r = n % 10**9 < 2**30`` is the remainder. A large bucket keeps a directory of
``2**k`` start offsets indexed by the top ``k`` bits of ``r`` (``k >= 14``), so only the
low ``30 - k <= 16`` bits need storing: a sorted ``uint16`` per number plus 4 bytes of
directory per ~8 numbers, 2.5–2.7 bytes per number in all, and a lookup touches about
two cache lines. Small buckets keep plain sorted ``uint32``.

Updates from DNC events go to small add/remove delta sets that lookups consult first;
:meth:`DncIndex.compact` folds them into new buckets and swaps them in with one
reference store, so readers never see a half-built index.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice, pairwise

import numpy as np
import numpy.typing as npt

_SPLIT = 10**9
_REST_BITS = 30  # 10**9 < 2**30
_MIN_DIR_BITS = 14  # leaves <= 16 low bits: uint16 storage
_MAX_DIR_BITS = 24
_PER_SLOT = 8  # target numbers per directory slot: ~2 cache misses per lookup
_COMPACT_FROM = 1 << 16  # smaller buckets stay plain uint32 (no directory overhead)
_CHUNK = 1 << 21  # numbers handled at a time while building (16 MiB of uint64)

U64Array = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]


def e164_to_int(number: str) -> int:
    """``+14155550123`` → ``14155550123``; raises ValueError for anything else."""
    if not (number.startswith("+") and number[1:].isdigit() and 8 <= len(number) <= 16):
        raise ValueError("not an E.164 number")
    return int(number[1:])


@dataclass(frozen=True)
class _Bucket:
    """Sorted remainders of one bucket, compact (directory + low bits) or plain."""

    low: npt.NDArray[np.uint16] | npt.NDArray[np.uint32]
    view: memoryview
    directory: npt.NDArray[np.uint32] | None
    dir_view: memoryview | None
    shift: int

    @classmethod
    def of(cls, rests: npt.NDArray[np.uint32]) -> _Bucket:
        """Bucket of sorted distinct remainders."""
        builder = _BucketBuilder(len(rests))
        builder.add(rests)
        return builder.bucket()

    def rests(self) -> npt.NDArray[np.uint32]:
        """The full sorted remainders (used when compacting)."""
        if self.directory is None:
            return self.low.astype(np.uint32)
        slots = np.repeat(
            np.arange(len(self.directory) - 1, dtype=np.uint32), np.diff(self.directory)
        )
        return (slots << np.uint32(self.shift)) | self.low.astype(np.uint32)

    def contains(self, rest: int) -> bool:
        """Membership of one remainder (bisects one directory slot)."""
        if self.dir_view is None:
            lo, hi, key = 0, len(self.view), rest
        else:
            slot = rest >> self.shift
            lo, hi, key = (
                self.dir_view[slot],
                self.dir_view[slot + 1],
                rest & ((1 << self.shift) - 1),
            )
        i = bisect.bisect_left(self.view, key, lo, hi)
        return i < hi and self.view[i] == key

    def contains_many(self, rests: npt.NDArray[np.uint32]) -> BoolArray:
        """Vectorised membership: a binary search run in lock-step inside each slot."""
        n = len(self.low)
        if n == 0:
            return np.zeros(len(rests), dtype=bool)
        if self.directory is None:
            pos = np.searchsorted(self.low, rests)
            hit: BoolArray = (pos < n) & (self.low[np.minimum(pos, n - 1)] == rests)
            return hit
        slot = (rests >> np.uint32(self.shift)).astype(np.int64)
        key = (rests & np.uint32((1 << self.shift) - 1)).astype(self.low.dtype)
        lo = self.directory[slot].astype(np.int64)
        end = self.directory[slot + 1].astype(np.int64)
        hi = end.copy()
        while True:
            active = lo < hi
            if not active.any():
                break
            mid = (lo + hi) >> 1
            right = active & (self.low[np.minimum(mid, n - 1)] < key)
            lo = np.where(right, mid + 1, lo)
            hi = np.where(active & ~right, mid, hi)
        found: BoolArray = (lo < end) & (self.low[np.minimum(lo, n - 1)] == key)
        return found

    @property
    def nbytes(self) -> int:
        """Bytes of the stored remainders plus the directory."""
        return int(self.low.nbytes) + (0 if self.directory is None else int(self.directory.nbytes))


class _BucketBuilder:
    """Fills a bucket of a known size from its sorted remainders, chunk by chunk: the
    stored arrays are allocated once at their final size, temporaries are per chunk."""

    def __init__(self, count: int) -> None:
        self.count, self.filled, self.slots_done = count, 0, 0
        self.directory: npt.NDArray[np.uint32] | None = None
        self.shift = 0
        if count < _COMPACT_FROM:
            self.low: npt.NDArray[np.uint16] | npt.NDArray[np.uint32] = np.empty(count, np.uint32)
            return
        bits = min(_MAX_DIR_BITS, max(_MIN_DIR_BITS, (count // _PER_SLOT).bit_length()))
        self.shift = _REST_BITS - bits
        self.low = np.empty(count, np.uint16)
        self.directory = np.empty((1 << bits) + 1, np.uint32)

    def add(self, rests: npt.NDArray[np.uint32]) -> None:
        """Append the next sorted remainders (all above those added before)."""
        start, n = self.filled, len(rests)
        if n == 0:
            return
        if self.directory is None:
            self.low[start:start + n] = rests
        else:
            # directory[j] = index of the first remainder >= j << shift; the slots whose
            # first remainder lies in this chunk are those up to the last one's slot.
            self.low[start:start + n] = rests & np.uint32((1 << self.shift) - 1)
            upto = (int(rests[-1]) >> self.shift) + 1
            for first in range(self.slots_done, upto, _CHUNK):
                last = min(upto, first + _CHUNK)
                edges = np.arange(first, last, dtype=np.uint32) << np.uint32(self.shift)
                self.directory[first:last] = start + np.searchsorted(rests, edges)
            self.slots_done = max(self.slots_done, upto)
        self.filled += n

    def bucket(self) -> _Bucket:
        """The finished bucket (every remainder added)."""
        if self.filled != self.count:
            raise ValueError(f"bucket got {self.filled} numbers, expected {self.count}")
        if self.directory is None:
            return _Bucket(low=self.low, view=self.low.data, directory=None, dir_view=None,
                           shift=0)
        self.directory[self.slots_done:] = self.count
        return _Bucket(low=self.low, view=self.low.data, directory=self.directory,
                       dir_view=self.directory.data, shift=self.shift)


@dataclass(frozen=True)
class _Snapshot:
    buckets: dict[int, _Bucket]
    size: int


class DncIndex:
    """Membership index of E.164 numbers: ``number in index``, batch ``contains_many``.

    ``version`` names the registry copy (and event position) the index reflects.
    """

    def __init__(self, version: str, snapshot: _Snapshot | None = None) -> None:
        self.version = version
        self._base = snapshot or _Snapshot(buckets={}, size=0)
        self._added: set[int] = set()
        self._removed: set[int] = set()

    @classmethod
    def from_ints(cls, numbers: U64Array, version: str) -> DncIndex:
        """Build from an array of E.164 digit integers (any order, duplicates allowed)."""
        values = _sorted_unique(numbers)
        return cls.from_sorted_chunks(
            lambda: (values[i:i + _CHUNK] for i in range(0, len(values), _CHUNK)), version)

    @classmethod
    def from_sorted_chunks(cls, chunks: Callable[[], Iterable[U64Array]], version: str, *,
                           on_chunk: Callable[[int], None] | None = None) -> DncIndex:
        """Build from sorted distinct E.164 digit integers delivered in chunks.

        ``chunks()`` is called twice (one pass counts each bucket, the next fills it), so
        memory is the index plus one chunk: a registry file is read from disk, never held.
        ``on_chunk(numbers)`` is called after each chunk (progress; it may raise to stop).
        Raises ValueError if the values are not strictly increasing.
        """
        counts: dict[int, int] = {}
        previous = -1
        for chunk in chunks():
            previous = _check_increasing(chunk, previous)
            for key, start, stop in _runs_of_keys(chunk):
                counts[key] = counts.get(key, 0) + stop - start
            if on_chunk is not None:
                on_chunk(len(chunk))
        builders = {key: _BucketBuilder(count) for key, count in counts.items()}
        for chunk in chunks():
            for key, start, stop in _runs_of_keys(chunk):
                builders[key].add((chunk[start:stop] % np.uint64(_SPLIT)).astype(np.uint32))
            if on_chunk is not None:
                on_chunk(len(chunk))
        buckets = {key: builder.bucket() for key, builder in builders.items()}
        return cls(version, _Snapshot(buckets=buckets, size=sum(counts.values())))

    @classmethod
    def from_e164(cls, numbers: Iterable[str], version: str) -> DncIndex:
        """Build from E.164 strings (the start-up rebuild from the source of truth)."""
        ints = map(e164_to_int, numbers)
        chunks = []
        while chunk := list(islice(ints, _CHUNK)):
            chunks.append(np.array(chunk, dtype=np.uint64))
        return cls.from_ints(np.concatenate(chunks) if chunks else np.empty(0, np.uint64), version)

    def __len__(self) -> int:
        return self._base.size + len(self._added) - len(self._removed)

    def __contains__(self, number: object) -> bool:
        return isinstance(number, str) and self.contains_int(e164_to_int(number))

    def contains_int(self, value: int) -> bool:
        """Membership of one E.164 digit integer."""
        if value in self._removed:
            return False
        if value in self._added:
            return True
        bucket = self._base.buckets.get(value // _SPLIT)
        return bucket is not None and bucket.contains(value % _SPLIT)

    def contains_many(self, values: U64Array) -> BoolArray:
        """Vectorised membership of E.164 digit integers (the batch scrub)."""
        values = np.asarray(values, dtype=np.uint64)
        keys = values // np.uint64(_SPLIT)
        rests = (values % np.uint64(_SPLIT)).astype(np.uint32)
        found = np.zeros(len(values), dtype=bool)
        for key in _sorted_unique(keys).tolist():
            bucket = self._base.buckets.get(key)
            if bucket is not None:
                mask = keys == key
                found[mask] = bucket.contains_many(rests[mask])
        if self._added:
            found |= np.isin(values, np.fromiter(self._added, np.uint64, len(self._added)))
        if self._removed:
            found &= ~np.isin(values, np.fromiter(self._removed, np.uint64, len(self._removed)))
        return found

    def add(self, number: str) -> None:
        """Record a registration (a DNC event), effective for the next lookup."""
        value = e164_to_int(number)
        self._removed.discard(value)
        if not self._in_base(value):
            self._added.add(value)

    def remove(self, number: str) -> None:
        """Record a de-registration, effective for the next lookup."""
        value = e164_to_int(number)
        self._added.discard(value)
        if self._in_base(value):
            self._removed.add(value)

    def _in_base(self, value: int) -> bool:
        bucket = self._base.buckets.get(value // _SPLIT)
        return bucket is not None and bucket.contains(value % _SPLIT)

    @property
    def pending(self) -> int:
        """Delta entries not yet folded into the buckets."""
        return len(self._added) + len(self._removed)

    def compact(self) -> None:
        """Fold the deltas into rebuilt buckets, then swap them in (one reference store)."""
        buckets = dict(self._base.buckets)
        added, removed = set(self._added), set(self._removed)
        for key in {v // _SPLIT for v in added | removed}:
            old = buckets[key].rests() if key in buckets else np.empty(0, np.uint32)
            plus = np.array([v % _SPLIT for v in added if v // _SPLIT == key], np.uint32)
            minus = np.array([v % _SPLIT for v in removed if v // _SPLIT == key], np.uint32)
            merged = np.concatenate([old[~np.isin(old, minus)], plus])
            merged.sort()
            buckets[key] = _Bucket.of(merged)
        size = sum(len(b.low) for b in buckets.values())
        self._base = _Snapshot(buckets=buckets, size=size)
        self._added -= added
        self._removed -= removed

    @property
    def nbytes(self) -> int:
        """Bytes of the buckets (delta sets are bounded by compaction)."""
        return sum(b.nbytes for b in self._base.buckets.values())


def _sorted_unique(numbers: U64Array) -> U64Array:
    """Sorted distinct values (``np.unique`` is ~80x slower on numpy 2.4 at 10 M)."""
    values = np.array(numbers, dtype=np.uint64, copy=True)
    values.sort()
    return distinct(values)


def distinct(values: U64Array) -> U64Array:
    """Already sorted ``values`` without repeats."""
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _check_increasing(chunk: U64Array, previous: int) -> int:
    """The chunk's last value; ValueError unless ``previous < chunk[0] < chunk[1] < ...``."""
    if len(chunk) == 0:
        return previous
    if int(chunk[0]) <= previous or bool((chunk[1:] <= chunk[:-1]).any()):
        raise ValueError("registry numbers are not sorted and distinct")
    return int(chunk[-1])


def _runs_of_keys(chunk: U64Array) -> Iterator[tuple[int, int, int]]:
    """``(bucket key, start, stop)`` of each run of one bucket in a sorted chunk."""
    if len(chunk) == 0:
        return
    keys = chunk // np.uint64(_SPLIT)
    cuts = [0, *(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist(), len(chunk)]
    for start, stop in pairwise(cuts):
        yield int(keys[start]), start, stop
