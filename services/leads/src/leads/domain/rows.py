"""Reading the rows of an import: CSV uploads and JSON lead lists (stored as NDJSON).

Rows are read lazily from the stored payload, so a worker holds one chunk of parsed rows
at a time. Each row carries its *position*, the number a user can find it by:

- CSV: the line number in the file, as a spreadsheet shows it (header = line 1, first
  data row = line 2). A quoted field spanning lines counts its first line; blank lines
  are skipped but keep the numbering.
- JSON: the 0-based index in the request's ``leads`` array.

A structurally broken row (wrong field count, not an object) is yielded with a
``problem`` instead of fields, so the good rows around it still import.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

KNOWN_COLUMNS = ("phone", "country", "timezone", "first_name", "last_name", "postal_code",
                 "region")
PayloadFormat = Literal["csv", "ndjson"]


class HeaderError(ValueError):
    """The CSV header cannot describe the rows (no phone column, empty or repeated name)."""


@dataclass(frozen=True)
class SourceRow:
    """One row of an import: its position and its fields, or why it cannot be read."""

    position: int
    fields: dict[str, str] | None
    problem: str | None = None


def _column_name(cell: str) -> str:
    """A known column matched loosely (``First Name`` -> ``first_name``); others kept as is."""
    name = cell.strip()
    key = name.lower().replace(" ", "_").replace("-", "_")
    return key if key in KNOWN_COLUMNS else name


def parse_header(cells: list[str]) -> list[str]:
    """Column names of a CSV header; raises :class:`HeaderError` with the precise problem."""
    columns = [_column_name(c) for c in cells]
    for i, name in enumerate(columns, start=1):
        if not name:
            raise HeaderError(f"CSV header column {i} is empty")
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise HeaderError(f"CSV header repeats column '{name}'")
        seen.add(name)
    if "phone" not in seen:
        raise HeaderError(f"CSV header has no 'phone' column (found: {', '.join(columns)})")
    return columns


def csv_rows(payload: bytes) -> Iterator[SourceRow]:
    """The data rows of a UTF-8 CSV file (BOM allowed) with a header row.

    Raises :class:`HeaderError` for an empty file or a bad header and
    ``UnicodeDecodeError`` for bytes that are not UTF-8.
    """
    text = io.TextIOWrapper(io.BytesIO(payload), encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise HeaderError(
            "CSV file is empty: a header row with a 'phone' column is required") from None
    except csv.Error as exc:
        raise HeaderError(f"CSV header is malformed: {exc}") from exc
    columns = parse_header(header)
    line = reader.line_num
    while True:
        start = line + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            yield SourceRow(start, None, f"malformed CSV: {exc}")
            continue
        line = reader.line_num
        if not record:
            continue  # a blank line
        if len(record) != len(columns):
            yield SourceRow(start, None,
                            f"row has {len(record)} fields, header has {len(columns)}")
            continue
        yield SourceRow(start, dict(zip(columns, record, strict=True)))


def to_ndjson(leads: list[Any]) -> bytes:
    """Store a JSON ``leads`` array as one JSON document per line (read back lazily)."""
    return b"\n".join(json.dumps(lead, separators=(",", ":")).encode() for lead in leads)


def _field_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    kind = "array" if isinstance(value, list) else "object"
    raise ValueError(f"field '{name}' must be a string or a number, got {kind}")


def ndjson_rows(payload: bytes) -> Iterator[SourceRow]:
    """The rows of a JSON import stored by :func:`to_ndjson`; position = array index."""
    if not payload:
        return
    for index, line in enumerate(io.BytesIO(payload)):
        lead = json.loads(line)
        if not isinstance(lead, dict):
            yield SourceRow(index, None, f"lead must be a JSON object, got {_json_kind(lead)}")
            continue
        try:
            fields = {str(k): t for k, v in lead.items() if (t := _field_text(k, v)) is not None}
        except ValueError as exc:
            yield SourceRow(index, None, str(exc))
            continue
        yield SourceRow(index, fields)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string",
            list: "array"}.get(type(value), type(value).__name__)


def read_rows(fmt: PayloadFormat, payload: bytes) -> Iterator[SourceRow]:
    """The rows of a stored payload of either format."""
    return csv_rows(payload) if fmt == "csv" else ndjson_rows(payload)


def count_rows(fmt: PayloadFormat, payload: bytes) -> int:
    """Number of rows (good or bad) of a payload; also checks a CSV header and encoding."""
    return sum(1 for _ in read_rows(fmt, payload))
