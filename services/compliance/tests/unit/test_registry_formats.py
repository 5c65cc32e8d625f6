"""National formats of registry files (trunk prefixes, possible lengths, the NANP plan),
the numpy fast path against the domain parser, the on-disk merge of sorted runs, and the
refusal of copies older than the one in force or already stale."""

from __future__ import annotations

import time as time_module
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import Unprocessable
from compliance.app import registry_files, registry_imports
from compliance.app.registries import CopyInForce, known_registries, load_index
from compliance.app.registry_files import Progress, fixed_width, parse_file
from compliance.app.registry_imports import ImportRequest, check_newer
from compliance.domain.errors import MalformedRegistryFileError
from compliance.domain.registry import parse_registry_lines, registry_format

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


@pytest.mark.parametrize(("name", "line", "e164"), [
    ("GB-TPS", "01632960123", 441632960123),  # TPS: national format with trunk 0
    ("GB-TPS", "1632960123", 441632960123),
    ("GB-TPS", "+441632960123", 441632960123),
    ("GB-TPS", "08001111", 448001111),  # 7-digit freephone
    ("FR-BLOCTEL", "0612345678", 33612345678),
    ("FR-BLOCTEL", "612345678", 33612345678),
    ("FR-BLOCTEL", "+33612345678", 33612345678),
    ("US-DNC", "12125550123", 12125550123),  # NANP trunk prefix 1
    ("US-DNC", "2125550123", 12125550123),
    ("US-DNC", "212,5550123", 12125550123),  # FTC download
    ("US-DNC", "+12125550123", 12125550123),
    ("CA-DNCL", "14165550123", 14165550123),
])
def test_national_lines_become_the_right_e164_number(name: str, line: str, e164: int) -> None:
    fmt = registry_format(name)
    assert parse_registry_lines([line], name, fmt).tolist() == [e164]
    fast = fixed_width([line.encode(), line.encode()], fmt)
    assert fast is not None and fast.tolist() == [e164, e164]


@pytest.mark.parametrize(("name", "line", "reason"), [
    ("GB-TPS", "4401632960123", "13 digits: a GB national number has 7 or 9 or 10"),
    ("GB-TPS", "+4401632960123", "11 digits: a GB national number has 7 or 9 or 10"),
    ("GB-TPS", "00441632960123", "14 digits"),
    ("GB-TPS", "212,5550123", "expected one number per line (no comma)"),
    ("FR-BLOCTEL", "06123456", "8 digits: a FR national number has 9 digits"),
    ("FR-BLOCTEL", "0012345678", "a FR national number cannot start with 0"),
    ("US-DNC", "112125550123", "12 digits: a US national number has 10"),
    ("US-DNC", "1125550123", "area code and exchange cannot start with 0 or 1"),
    ("US-DNC", "2120550123", "area code and exchange cannot start with 0 or 1"),
    ("US-DNC", "112,5550123", "area code and exchange cannot start with 0 or 1"),
    ("US-DNC", "+1212555012", "9 digits"),
])
def test_impossible_numbers_refuse_the_file_with_the_line(name: str, line: str,
                                                           reason: str) -> None:
    fmt = registry_format(name)
    with pytest.raises(MalformedRegistryFileError) as info:
        parse_registry_lines(["# header", line], name, fmt)
    assert info.value.line_no == 2 and reason in str(info.value), str(info.value)
    assert line.lstrip("+")[2:-2] not in str(info.value)  # masked
    assert fixed_width([line.encode()], fmt) is None


_FORMATS = ["US-DNC", "GB-TPS", "FR-BLOCTEL"]
_LAYOUTS = st.sampled_from(["digits", "trunk", "plus", "ftc"])


@st.composite
def _blocks(draw: st.DrawFn) -> tuple[str, list[bytes]]:
    """A block of same-width lines of one layout, often valid, sometimes not."""
    name = draw(st.sampled_from(_FORMATS))
    fmt = registry_format(name)
    layout = draw(_LAYOUTS)
    width = draw(st.sampled_from([*fmt.lengths, min(fmt.lengths) - 1, max(fmt.lengths) + 1]))
    digit = st.sampled_from("0123456789")
    lead = st.sampled_from("23456789") if draw(st.booleans()) else digit
    count = draw(st.integers(1, 6))
    lines = []
    for _ in range(count):
        nsn = draw(lead) + "".join(draw(st.lists(digit, min_size=width - 1, max_size=width - 1)))
        if fmt.nanp and width >= 4 and draw(st.booleans()):
            nsn = nsn[:3] + draw(lead) + nsn[4:]
        line = {"digits": nsn, "trunk": fmt.trunk_prefix + nsn,
                "plus": f"+{fmt.country_code}{nsn}", "ftc": f"{nsn[:3]},{nsn[3:]}"}[layout]
        lines.append(line.encode())
    return name, lines


@settings(max_examples=400, deadline=None)
@given(block=_blocks())
def test_fast_path_agrees_with_the_domain_parser(block: tuple[str, list[bytes]]) -> None:
    name, lines = block
    fmt = registry_format(name)
    fast = fixed_width(lines, fmt)
    try:
        slow = parse_registry_lines([line.decode() for line in lines], name, fmt)
    except MalformedRegistryFileError:
        assert fast is None  # the domain parser then names the line
        return
    if fast is not None:
        assert fast.tolist() == slow.tolist()


def test_fast_path_takes_uniform_valid_blocks() -> None:
    for name, lines in [("US-DNC", [b"212,5550123"] * 3), ("GB-TPS", [b"01632960123"] * 3),
                        ("FR-BLOCTEL", [b"+33612345678"] * 3)]:
        assert fixed_width(lines, registry_format(name)) is not None


def test_runs_are_merged_on_disk_sorted_and_distinct(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_files, "_RUN", 7)  # many runs
    monkeypatch.setattr(registry_files, "_MIN_READ", 2)  # many merge rounds
    monkeypatch.setattr(registry_files, "_MERGE", 8)
    monkeypatch.setattr(registry_files, "_READ", 5)  # index built from several chunks
    rng = np.random.default_rng(11)
    pool = (10**10 + rng.integers(200, 1000, 150) * 10**7 + rng.integers(200, 1000, 150) * 10**4
            + rng.integers(0, 10**4, 150))
    numbers = rng.choice(pool, 200)  # repeats, spread over several buckets
    source = tmp_path / "us.txt"
    source.write_text("".join(f"+{n}\n" for n in numbers.tolist()))
    out, progress = tmp_path / "US-DNC" / "c1.npy", Progress()
    count = parse_file(source, "US-DNC", registry_format("US-DNC"), progress,
                       tmp_path / "runs", out)
    expected = np.unique(numbers).astype(np.uint64)
    assert count == len(expected) and np.array_equal(np.load(out), expected)
    assert progress.phase == "merge" and progress.numbers == 200
    copy = CopyInForce(copy_id="c1", name="US-DNC", version="v", downloaded_at=T0,
                       imported_at=T0, count=count, sha256="")
    index = load_index(tmp_path, copy)
    probe = np.concatenate([expected, expected + np.uint64(1), expected - np.uint64(1)])
    assert index.contains_many(probe).tolist() == np.isin(probe, expected).tolist()
    assert len(index) == count


def _request(downloaded_at: datetime) -> ImportRequest:
    return ImportRequest(name="US-DNC", version="new", downloaded_at=downloaded_at,
                         requested_by="ops")


def test_older_or_stale_copies_are_refused_with_the_reason() -> None:
    in_force = CopyInForce(copy_id="c", name="US-DNC", version="jan", downloaded_at=T0,
                           imported_at=T0, count=1, sha256="")
    now = T0 + timedelta(days=2)
    check_newer(_request(T0), in_force, now)  # the same download again: allowed
    check_newer(_request(T0 + timedelta(days=1)), in_force, now)
    with pytest.raises(Unprocessable, match=r"before the copy in force 'jan' \(2026-01-05T12"):
        check_newer(_request(T0 - timedelta(seconds=1)), in_force, now)
    assert known_registries()["US-DNC"].stale_at(T0) == T0 + timedelta(days=31)
    check_newer(_request(T0), None, T0 + timedelta(days=31) - timedelta(seconds=1))
    with pytest.raises(Unprocessable, match=r"already stale .* at 2026-02-05T12:00:00"):
        check_newer(_request(T0), None, T0 + timedelta(days=31))


async def test_every_long_phase_keeps_the_job_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    beats: list[tuple[str, int]] = []

    async def update(runtime: object, job_id: str, **values: object) -> None:
        beats.append((job_id, int(str(values["numbers"]))))

    monkeypatch.setattr(registry_imports, "_update", update)
    monkeypatch.setattr(registry_imports, "_PROGRESS_S", 0.01)
    progress = Progress(numbers=7)
    runtime = SimpleNamespace(clock=SimpleNamespace(now=lambda: T0))

    def build(seconds: float) -> str:  # e.g. the index build after the parse
        time_module.sleep(seconds)
        return "index"

    result = await registry_imports._in_thread(runtime, "job-1", progress,  # type: ignore[arg-type]
                                               build, 0.2)
    assert result == "index" and len(beats) >= 5 and set(beats) == {("job-1", 7)}


def test_a_stopped_merge_leaves_no_partial_file(tmp_path: Path) -> None:
    run = tmp_path / "0.run"
    np.arange(10, dtype=np.uint64).tofile(run)
    out = tmp_path / "US-DNC" / "c.npy"

    def stop(_: int) -> None:
        raise registry_files.ImportStopped

    with pytest.raises(registry_files.ImportStopped):
        registry_files.merge_runs([run], out, stop)
    assert not out.exists() and not out.with_suffix(".partial").exists()
