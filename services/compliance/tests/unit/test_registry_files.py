"""Registry file parsing for imports (line numbers across chunks, gzip, garbage, empty
files), the known registries, and the in-process registry facts."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY

from common.errors import PayloadTooLarge
from compliance.app import registry_files
from compliance.app.registries import CopyInForce, NationalRegistries, known_registries, load_index
from compliance.app.registry_files import ImportStopped, Progress, fixed_width, parse_file
from compliance.app.registry_imports import receive_upload
from compliance.domain.dnc_index import DncIndex
from compliance.domain.errors import MalformedRegistryFileError
from compliance.domain.registry import registry_format

US, GB, FR = (registry_format(n) for n in ("US-DNC", "GB-TPS", "FR-BLOCTEL"))

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


def _parse(tmp_path: Path, content: bytes, name: str = "US-DNC") -> tuple[list[int], Progress]:
    source, out = tmp_path / "file.upload", tmp_path / "copy.npy"
    source.write_bytes(content)
    progress = Progress()
    count = parse_file(source, name, registry_format(name), progress, tmp_path / "runs", out)
    values = np.load(out).tolist()
    assert count == len(values) and not (tmp_path / "runs").exists()
    return values, progress


def _refusal(tmp_path: Path, content: bytes, name: str = "US-DNC") -> MalformedRegistryFileError:
    with pytest.raises(MalformedRegistryFileError) as info:
        _parse(tmp_path, content, name)
    assert not (tmp_path / "copy.npy").exists() and not (tmp_path / "runs").exists()
    return info.value


def test_formats_are_sorted_and_deduplicated(tmp_path: Path) -> None:
    values, progress = _parse(tmp_path, b"# FTC\n415,5550123\n+12125550100\n\n4155550123\r\n")
    assert values == [12125550100, 14155550123]
    assert (progress.lines, progress.numbers) == (5, 3)


def test_gzip_is_detected_by_its_magic_bytes(tmp_path: Path) -> None:
    values, _ = _parse(tmp_path, gzip.compress(b"+33612345678\n612345679\n"), "FR-BLOCTEL")
    assert values == [33612345678, 33612345679]


def test_bad_line_number_counts_lines_of_earlier_chunks(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_files, "_BLOCK", 40)  # three lines a block
    content = b"".join(b"+1212555%04d\n" % i for i in range(7)) + b"+4420712345\n"
    error = _refusal(tmp_path, content)
    assert error.line_no == 8
    assert "line 8: number +4*******45 is outside country code +1" in str(error)
    assert "4420712345" not in str(error)


@pytest.mark.parametrize(("content", "line", "reason"), [
    (b"+12125550100\n212,555010\n", 2, "expected 'AAA,NNNNNNN'"),
    (b"+12125550100\n2125550100x\n", 2, "not a phone number"),
    (b"+12125550100\n\xff\xfe\n", 2, "not ASCII text (byte 0xff at column 1)"),
    (b"+12125550100\n" + b"9" * 300, 2, "line longer than 256 bytes"),
    (b"+12125550100\n" + b"9" * 300 + b"\n+12125550101\n", 2, "line longer than 256 bytes"),
    (b"# header only\n\n", 2, "the file holds no phone number"),
    (gzip.compress(b"+12125550100\n" * 2000, mtime=0)[:40], 0, "corrupt or truncated gzip stream"),
    (b"\x1f\x8bgarbage", 1, "corrupt or truncated gzip stream"),
], ids=["ftc-short", "not-digits", "not-ascii", "long-last-line", "long-line", "no-number",
        "truncated-gzip", "gzip-garbage"])
def test_malformed_files_are_refused_with_line_and_reason(
        tmp_path: Path, content: bytes, line: int, reason: str) -> None:
    error = _refusal(tmp_path, content)
    assert reason in str(error), str(error)
    # A truncated gzip fails at the first line it cannot decompress, wherever that falls.
    assert error.line_no == line if line else error.line_no >= 1


def test_known_registries_come_from_the_packs() -> None:
    known = known_registries()
    assert {n: k.country_code for n, k in known.items()} == {
        "CA-DNCL": 1, "FR-BLOCTEL": 33, "GB-TPS": 44, "US-DNC": 1}
    assert known["US-DNC"].required_by == ("US",)
    assert known["US-DNC"].stale_at(T0) == T0 + timedelta(days=31)
    assert known["GB-TPS"].stale_at(T0) == T0 + timedelta(days=28)


def _copy(version: str, imported_at: datetime, count: int = 2) -> CopyInForce:
    return CopyInForce(copy_id=f"id-{version}", name="US-DNC", version=version,
                       downloaded_at=imported_at - timedelta(days=1), imported_at=imported_at,
                       count=count, sha256="0" * 64)


def test_facts_name_the_copy_and_hits(tmp_path: Path) -> None:
    registries = NationalRegistries(tmp_path)
    assert registries.facts("+12125550100") == ([], [])
    registries.install(_copy("v1", T0), DncIndex.from_ints(np.array([12125550100], np.uint64), "v1"))
    sample = REGISTRY.get_sample_value
    assert sample("kaden_compliance_registry_numbers", {"registry": "US-DNC"}) == 2
    assert sample("kaden_compliance_registry_downloaded_timestamp_seconds",
                  {"registry": "US-DNC"}) == (T0 - timedelta(days=1)).timestamp()
    hits, copies = registries.facts("+12125550100")
    assert [(h.list_name, h.kind, h.version) for h in hits] == [("US-DNC", "national", "v1")]
    assert [(c.name, c.version) for c in copies] == [("US-DNC", "v1")]
    assert registries.facts("+12125550101")[0] == []
    assert registries.facts("not a number") == ([], copies)
    # An older copy never replaces a newer one (a late rebuild loses).
    registries.install(_copy("v0", T0 - timedelta(days=30)), DncIndex.from_ints(
        np.empty(0, np.uint64), "v0"))
    assert registries.held()["US-DNC"].version == "v1"


def test_load_index_checks_the_file_against_its_metadata(tmp_path: Path) -> None:
    copy = _copy("v1", T0, count=3)
    path = tmp_path / "US-DNC" / "id-v1.npy"
    path.parent.mkdir()
    np.save(path, np.array([12125550100, 12125550101, 14155550123], np.uint64))
    index = load_index(tmp_path, copy)
    assert len(index) == 3 and "+14155550123" in index and "+14155550124" not in index
    with pytest.raises(ValueError, match="file holds 3 numbers, metadata says 4"):
        load_index(tmp_path, _copy("v1", T0, count=4))


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_upload_is_hashed_on_the_fly_and_cut_at_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "incoming" / "job.upload"
    size, digest = await receive_upload(_chunks(b"+1212", b"5550100\n"), path, limit=13)
    assert (size, path.read_bytes()) == (13, b"+12125550100\n")
    assert digest == hashlib.sha256(b"+12125550100\n").hexdigest()
    # No Content-Length (a chunked body): refused once past the limit, partial file removed.
    with pytest.raises(PayloadTooLarge, match="exceeds 13 bytes"):
        await receive_upload(_chunks(b"+12125550100\n", b"+"), path, limit=13)
    assert not path.exists()


def test_a_stopping_process_stops_the_parse_thread(tmp_path: Path) -> None:
    source = tmp_path / "file.upload"
    source.write_bytes(b"+12125550100\n")
    with pytest.raises(ImportStopped):
        parse_file(source, "US-DNC", US, Progress(stop=True), tmp_path / "runs",
                   tmp_path / "copy.npy")


@pytest.mark.parametrize(("lines", "name"), [
    ([b"212,5550100", b"415,5550123", b"999,2000000"], "US-DNC"),  # FTC download
    ([b"212,5550100\r", b"415,5550123\r"], "US-DNC"),  # CRLF
    ([b"+12125550100", b"+14155550123"], "US-DNC"),  # E.164
    ([b"12125550123", b"14155550123"], "US-DNC"),  # NANP with its trunk prefix 1
    ([b"612345678", b"712345678"], "FR-BLOCTEL"),  # national digits (Bloctel)
    ([b"0612345678", b"0712345678"], "FR-BLOCTEL"),  # with the trunk prefix 0
    ([b"2071234567\r", b"2071234568\r"], "GB-TPS"),
    ([b"01632960123", b"02079460000"], "GB-TPS"),  # TPS national format
])
def test_fast_path_gives_exactly_what_the_domain_parser_gives(lines: list[bytes], name: str) -> None:
    fmt = registry_format(name)
    fast = fixed_width(lines, fmt)
    assert fast is not None
    expected = registry_files.parse_registry_lines([line.decode() for line in lines], name, fmt)
    assert fast.tolist() == expected.tolist()


@pytest.mark.parametrize(("lines", "name"), [
    ([b"212,5550100", b"# comment!!"], "US-DNC"),  # a comment: the domain skips it
    ([b"212,5550100", b" 212,555010"], "US-DNC"),  # spaces
    ([b"+12125550100", b"+442071234567"[:12]], "US-DNC"),  # another country code
    ([b"+1212555", b"+1415555"], "US-DNC"),  # too short for E.164
    ([b"212,555010x"], "US-DNC"),  # not digits
    ([b"212,5550100", b"2125550100"], "US-DNC"),  # mixed layouts
    ([b"212,0550100"], "US-DNC"),  # exchange starting with 0
    ([b"1125550100"], "US-DNC"),  # area code starting with 1
    ([b"0612345678", b"6123456789"], "FR-BLOCTEL"),  # trunk prefix on some lines only
    ([b"123,4567890"], "GB-TPS"),  # the FTC layout is NANP-only
    ([b"+4401632960123"], "GB-TPS"),  # trunk prefix inside E.164: impossible length
])
def test_any_other_block_goes_to_the_domain_parser(lines: list[bytes], name: str) -> None:
    assert fixed_width(lines, registry_format(name)) is None
