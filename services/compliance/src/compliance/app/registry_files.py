"""Reading a registry download for an import: blocks of lines, a vectorised fast path for
uniform files, the domain parser for everything else.

The file (plain ASCII, or gzip detected by its magic bytes) is read in blocks of about
``_BLOCK`` bytes split into lines. A block whose lines all share one of the three layouts
at one width — ``AAA,NNNNNNN`` (the FTC download), ``+`` and digits (E.164), or national
digits — is converted with numpy in one pass: exactly the numbers the domain parser
gives for those lines (tests compare them). Any other block (a comment, a blank line,
spaces, mixed widths, a bad line) goes through :func:`parse_registry_lines`, which skips
what it may and refuses the file with the line number and reason. Numbers of each block
are spilled to a scratch file; memory holds only the final array (8 bytes a number).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

from compliance.domain.dnc_index import U64Array
from compliance.domain.errors import MalformedRegistryFileError
from compliance.domain.registry import parse_registry_lines

_BLOCK = 8 << 20  # bytes read at a time (~700 k FTC lines)
_MAX_LINE = 256  # bytes: a registry line is a number; longer means garbage
_ZERO, _NINE, _COMMA, _PLUS, _CR = (ord(c) for c in "09,+\r")


class ImportStopped(Exception):
    """The process is stopping: the parse thread gives up (the job is reported
    interrupted once its lease lapses)."""


@dataclass
class Progress:
    """Counters a running parse publishes (written by the parse thread), and the flag
    that stops it."""

    lines: int = 0
    numbers: int = 0
    stop: bool = False


def parse_file(path: Path, name: str, country_code: int, progress: Progress,
               scratch: Path) -> U64Array:
    """Sorted distinct E.164 digit integers of a registry file (plain or gzip).

    Raises :class:`MalformedRegistryFileError` (line number, masked reason) for a bad
    line, non-ASCII bytes, a line over 256 bytes, a corrupt gzip stream or a file without
    any number.
    """
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    stream: IO[bytes] | gzip.GzipFile = gzip.GzipFile(path, "rb") if gzipped else path.open("rb")
    with stream, scratch.open("wb") as spill:
        for lines in _blocks(stream, name, progress, gzipped):
            values = fixed_width(lines, country_code)
            if values is None:
                values = _with_domain_parser(lines, name, country_code, progress.lines)
            progress.lines += len(lines)
            values.tofile(spill)
            progress.numbers += len(values)
    if progress.numbers == 0:
        raise MalformedRegistryFileError(name, progress.lines, "the file holds no phone number")
    numbers: U64Array = np.fromfile(scratch, dtype=np.uint64)
    numbers.sort()
    keep = np.empty(len(numbers), dtype=bool)
    keep[0] = True
    np.not_equal(numbers[1:], numbers[:-1], out=keep[1:])
    return numbers[keep]


def _blocks(stream: IO[bytes] | gzip.GzipFile, name: str, progress: Progress,
            gzipped: bool) -> Iterator[list[bytes]]:
    """Lines (without ``\\n``) in blocks; ``progress.lines`` counts the lines before each."""
    tail = b""
    while True:
        if progress.stop:
            raise ImportStopped
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


def _with_domain_parser(lines: list[bytes], name: str, country_code: int,
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
        return parse_registry_lines(text, name, country_code)
    except MalformedRegistryFileError as exc:
        detail = str(exc).partition(f", line {exc.line_no}: ")[2]
        raise MalformedRegistryFileError(name, before + exc.line_no, detail) from None


def fixed_width(lines: list[bytes], country_code: int) -> U64Array | None:
    """The numbers of a block whose lines all have one layout and one width (a trailing
    ``\\r`` allowed), computed with numpy; None for any other block."""
    width = len(lines[0])
    if any(len(line) != width for line in lines):
        return None
    grid = np.frombuffer(b"".join(lines), dtype=np.uint8).reshape(len(lines), width)
    if width and (grid[:, -1] == _CR).all():
        grid, width = grid[:, :-1], width - 1
    prefix = str(country_code)
    if width == 11 and (grid[:, 3] == _COMMA).all():  # AAA,NNNNNNN
        return _digits(np.delete(grid, 3, axis=1), country_code)
    if width and (grid[:, 0] == _PLUS).all():  # +E.164
        if not 8 <= width - 1 <= 15 or (grid[:, 1:1 + len(prefix)] != np.frombuffer(
                prefix.encode(), np.uint8)).any():
            return None
        return _digits(grid[:, 1:], None)
    if 8 <= len(prefix) + width <= 15:  # national digits
        return _digits(grid, country_code)
    return None


def _digits(grid: npt.NDArray[np.uint8], country_code: int | None) -> U64Array | None:
    """Each row's ASCII digits as an integer, after the country code; None if a byte of
    the grid is not a digit."""
    if grid.size == 0 or ((grid < _ZERO) | (grid > _NINE)).any():
        return None
    width = grid.shape[1]
    weights = np.uint64(10) ** np.arange(width - 1, -1, -1, dtype=np.uint64)
    values: U64Array = (grid - _ZERO).astype(np.uint64) @ weights
    if country_code is not None:
        values += np.uint64(country_code) * np.uint64(10) ** np.uint64(width)
    return values
