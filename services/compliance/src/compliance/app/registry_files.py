"""Reading a registry download for an import, in bounded memory: blocks of lines, a
vectorised fast path for uniform files, the domain parser for everything else, sorted
runs spilled to disk and merged into the ``.npy`` source of truth.

The file (plain ASCII, or gzip detected by its magic bytes) is read in blocks of about
``_BLOCK`` bytes split into lines. A block whose lines all share one layout at one width —
``AAA,NNNNNNN`` (the FTC download), ``+`` and digits (E.164), or national digits with or
without the trunk prefix — is converted with numpy in one pass: exactly the numbers the
domain parser gives for those lines (tests compare them). Any other block (a comment, a
blank line, spaces, mixed widths, a bad line) goes through :func:`parse_registry_lines`,
which skips what it may and refuses the file with the line number and reason.

Memory does not grow with the file: numbers collect in a run buffer of ``_RUN`` numbers
that is sorted, deduplicated and written to a scratch file when full; the runs are then
merged (k-way, ``_MERGE`` numbers in memory across all runs) straight into the ``.npy``.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

from compliance.domain.dnc_index import U64Array, distinct
from compliance.domain.errors import MalformedRegistryFileError
from compliance.domain.registry import NationalFormat, parse_registry_lines

_BLOCK = 8 << 20  # bytes read at a time (~700 k FTC lines)
_MAX_LINE = 256  # bytes: a registry line is a number; longer means garbage
_RUN = 1 << 22  # numbers sorted in memory at a time (32 MiB)
_MERGE = 1 << 21  # numbers the merge reads ahead across all runs (16 MiB)
_MIN_READ = 1 << 16  # numbers the merge reads from a run at least (512 KiB)
_READ = 1 << 20  # numbers per chunk when reading a .npy back (8 MiB)
_ZERO, _NINE, _ONE, _COMMA, _PLUS, _CR = (ord(c) for c in "091,+\r")
_U64 = np.dtype("<u8")


class ImportStopped(Exception):
    """The process is stopping: the import thread gives up (the job is reported
    interrupted once its lease lapses)."""


@dataclass
class Progress:
    """Counters a running import publishes (written by its thread), the phase it is in,
    and the flag that stops it."""

    lines: int = 0
    numbers: int = 0
    phase: str = "parse"
    stop: bool = False

    def checkpoint(self, _: int = 0) -> None:
        """Raise :class:`ImportStopped` if asked to stop (called between chunks)."""
        if self.stop:
            raise ImportStopped


def parse_file(path: Path, name: str, fmt: NationalFormat, progress: Progress,
               scratch: Path, out: Path) -> int:
    """Write the sorted distinct E.164 digit integers of a registry file (plain or gzip)
    to ``out`` (``.npy``, via a temporary name); the count.

    Raises :class:`MalformedRegistryFileError` (line number, masked reason) for a bad
    line, non-ASCII bytes, a line over 256 bytes, a corrupt gzip stream or a file without
    any number. ``scratch`` (a directory for the runs) is removed afterwards.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        runs = _parse_to_runs(path, name, fmt, progress, scratch)
        if progress.numbers == 0:
            raise MalformedRegistryFileError(name, progress.lines,
                                             "the file holds no phone number")
        progress.phase = "merge"
        return merge_runs(runs, out, progress.checkpoint)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _parse_to_runs(path: Path, name: str, fmt: NationalFormat, progress: Progress,
                   scratch: Path) -> list[Path]:
    """Parse the file into sorted distinct runs of at most ``_RUN`` numbers."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    stream: IO[bytes] | gzip.GzipFile = gzip.GzipFile(path, "rb") if gzipped else path.open("rb")
    runs: list[Path] = []
    buffer, filled = np.empty(_RUN, _U64), 0
    with stream:
        for lines in _blocks(stream, name, progress, gzipped):
            values = fixed_width(lines, fmt)
            if values is None:
                values = _with_domain_parser(lines, name, fmt, progress.lines)
            progress.lines += len(lines)
            progress.numbers += len(values)
            while len(values):
                take = min(len(values), _RUN - filled)
                buffer[filled:filled + take] = values[:take]
                filled, values = filled + take, values[take:]
                if filled == _RUN:
                    runs.append(_write_run(buffer, scratch / f"{len(runs):05d}.run"))
                    filled = 0
    if filled:
        runs.append(_write_run(buffer[:filled], scratch / f"{len(runs):05d}.run"))
    return runs


def _write_run(values: U64Array, path: Path) -> Path:
    """Sort ``values`` in place and write them, without duplicates, to ``path``."""
    values.sort()
    distinct(values).tofile(path)
    return path


def merge_runs(runs: list[Path], out: Path, on_chunk: Callable[[int], None]) -> int:
    """K-way merge of sorted distinct runs into the ``.npy`` file ``out`` (written under
    a temporary name, fsynced, renamed); the count. ``on_chunk(numbers)`` after each
    round (progress; it may raise to stop).

    Each round emits every buffered number up to the smallest last buffered number of
    the runs not read to the end (nothing later can be smaller), sorted (timsort: the
    pieces are sorted runs) and deduplicated; emptied buffers are refilled.
    """
    per = max(_MIN_READ, _MERGE // max(1, len(runs)))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    count = 0
    with ExitStack() as stack:
        stack.callback(partial.unlink, missing_ok=True)  # no-op once renamed
        sources = [stack.enter_context(run.open("rb")) for run in runs]
        heads = [_read(source, per) for source in sources]
        more = [len(head) == per for head in heads]
        dst = stack.enter_context(partial.open("wb"))
        upper = sum(run.stat().st_size for run in runs) // _U64.itemsize
        dst.write(_npy_header(upper))
        while live := [i for i, head in enumerate(heads) if len(head)]:
            bound = min((heads[i][-1] for i in live if more[i]), default=None)
            parts = []
            for i in live:
                cut = len(heads[i]) if bound is None else int(
                    np.searchsorted(heads[i], bound, side="right"))
                parts.append(heads[i][:cut])
                heads[i] = heads[i][cut:]
                if not len(heads[i]) and more[i]:
                    heads[i] = _read(sources[i], per)
                    more[i] = len(heads[i]) == per
            merged = np.concatenate(parts)
            merged.sort(kind="stable")
            merged = distinct(merged)
            dst.write(merged.data)
            count += len(merged)
            on_chunk(len(merged))
        header = _npy_header(count)
        if len(header) != len(_npy_header(upper)):
            raise ValueError("npy header size changed")  # impossible below 10**50 numbers
        dst.seek(0)
        dst.write(header)
        dst.flush()
        os.fsync(dst.fileno())
        dst.close()
        partial.replace(out)
    return count


def _read(source: IO[bytes], count: int) -> U64Array:
    return np.frombuffer(source.read(count * _U64.itemsize), dtype=_U64)


def _npy_header(count: int) -> bytes:
    """The ``.npy`` (1.0) header of ``count`` little-endian ``uint64``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": _U64.str, "fortran_order": False, "shape": (count,)})
    return buffer.getvalue()


def npy_chunks(path: Path) -> tuple[int, Callable[[], Iterator[U64Array]]]:
    """The count of a 1-D ``uint64`` ``.npy`` file and a function reading it again in
    chunks of ``_READ`` numbers (plain reads: nothing of it stays mapped in memory).
    Raises ValueError for another kind of array."""
    with path.open("rb") as source:
        version = np.lib.format.read_magic(source)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(source)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(source)
        offset = source.tell()
    if len(shape) != 1 or fortran or dtype != _U64:
        raise ValueError(f"{path.name}: not a 1-D little-endian uint64 array")

    def chunks() -> Iterator[U64Array]:
        with path.open("rb") as source:
            source.seek(offset)
            left = int(shape[0])
            while left:
                chunk = _read(source, min(left, _READ))
                if not len(chunk):
                    raise ValueError(f"{path.name}: truncated ({left} numbers missing)")
                left -= len(chunk)
                yield chunk

    return int(shape[0]), chunks


def _blocks(stream: IO[bytes] | gzip.GzipFile, name: str, progress: Progress,
            gzipped: bool) -> Iterator[list[bytes]]:
    """Lines (without ``\\n``) in blocks; ``progress.lines`` counts the lines before each."""
    tail = b""
    while True:
        progress.checkpoint()
        try:
            block = stream.read(_BLOCK)
        except (EOFError, OSError, zlib.error) as exc:
            kind = "corrupt or truncated gzip stream" if gzipped else "unreadable file"
            raise MalformedRegistryFileError(name, progress.lines + 1, f"{kind}: {exc}") from None
        lines = (tail + block).split(b"\n")
        tail = lines.pop() if block else b""
        too_long = next((i for i, line in enumerate(lines) if len(line) > _MAX_LINE), None)
        if too_long is None and len(tail) > _MAX_LINE:
            too_long = len(lines)
        if too_long is not None:
            raise MalformedRegistryFileError(name, progress.lines + too_long + 1,
                                             f"line longer than {_MAX_LINE} bytes "
                                             "(not a registry file)")
        if lines and lines != [b""]:
            yield lines
        if not block:
            return


def _with_domain_parser(lines: list[bytes], name: str, fmt: NationalFormat,
                        before: int) -> U64Array:
    """The domain parser on one block; errors carry the line number in the file."""
    try:
        text = [line.decode("ascii") for line in lines]
    except UnicodeDecodeError:
        line_no, raw = next((i, line) for i, line in enumerate(lines, 1) if not line.isascii())
        column = next(i for i, byte in enumerate(raw) if byte > 127)
        raise MalformedRegistryFileError(
            name, before + line_no,
            f"not ASCII text (byte 0x{raw[column]:02x} at column {column + 1})") from None
    try:
        return parse_registry_lines(text, name, fmt)
    except MalformedRegistryFileError as exc:
        detail = str(exc).partition(f", line {exc.line_no}: ")[2]
        raise MalformedRegistryFileError(name, before + exc.line_no, detail) from None


def fixed_width(lines: list[bytes], fmt: NationalFormat) -> U64Array | None:
    """The numbers of a block whose lines all have one layout and one width (a trailing
    ``\\r`` allowed), computed with numpy; None for any other block, and for a block
    with a number the domain parser would refuse (it then names the line)."""
    width = len(lines[0])
    if not width or any(len(line) != width for line in lines):
        return None
    grid = np.frombuffer(b"".join(lines), dtype=np.uint8).reshape(len(lines), width)
    if (grid[:, -1] == _CR).all():
        grid, width = grid[:, :-1], width - 1
    code, trunk = str(fmt.country_code).encode(), fmt.trunk_prefix.encode()
    if fmt.nanp and width == 11 and (grid[:, 3] == _COMMA).all():  # AAA,NNNNNNN
        return _nsn_values(np.delete(grid, 3, axis=1), fmt)
    if width and (grid[:, 0] == _PLUS).all():  # +E.164
        if width <= len(code) or (grid[:, 1:1 + len(code)] != np.frombuffer(code, np.uint8)).any():
            return None
        return _nsn_values(grid[:, 1 + len(code):], fmt)
    if trunk and width - len(trunk) in fmt.lengths:  # national digits, trunk prefix?
        with_trunk = (grid[:, :len(trunk)] == np.frombuffer(trunk, np.uint8)).all(axis=1)
        if with_trunk.all():
            return _nsn_values(grid[:, len(trunk):], fmt)
        if with_trunk.any():
            return None  # mixed: the domain parser decides line by line
    return _nsn_values(grid, fmt)


def _nsn_values(nsn: npt.NDArray[np.uint8], fmt: NationalFormat) -> U64Array | None:
    """E.164 integers of rows of national significant numbers (ASCII digits); None if a
    row is not a possible number of ``fmt`` (see :meth:`NationalFormat.nsn_problem`)."""
    width = nsn.shape[1]
    if width not in fmt.lengths or nsn.size == 0 or ((nsn < _ZERO) | (nsn > _NINE)).any():
        return None
    if (nsn[:, 0] == _ZERO).any() or (fmt.nanp and ((nsn[:, 0] <= _ONE) | (nsn[:, 3] <= _ONE)).any()):
        return None
    values: U64Array = np.full(len(nsn), fmt.country_code, dtype=np.uint64)
    for column in range(width):  # column by column: temporaries of one number per row
        values *= np.uint64(10)
        values += nsn[:, column] - np.uint8(_ZERO)
    return values
