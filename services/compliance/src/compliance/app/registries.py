"""National registry copies in force, as in-process indexes rebuilt from their source of truth.

Source of truth: ``<registry_dir>/<name>/<copy_id>.npy`` (sorted distinct E.164 digit
integers written by the import job) and its ``registry_copies`` row; the copy in force
for a name is its row downloaded last (ties: imported last). :meth:`NationalRegistries.refresh`
reads those rows (one small query) and rebuilds the :class:`DncIndex` of every name whose
copy changed, in a thread, reading the file in chunks (memory: the index plus one chunk),
then swaps it in with one reference store: screenings never see a half-built index, and
the copy held stays in force until its successor is built. A process holds one
:class:`NationalRegistries` (:func:`shared_registries`), used by the screening worker and
the batch check API alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from prometheus_client import Gauge
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from common.app import ServiceRuntime
from compliance.adapters.registry_tables import registry_copies
from compliance.app.registry_files import npy_chunks
from compliance.domain.decision import DncHit, RegistryCopy
from compliance.domain.dnc_index import DncIndex, e164_to_int
from compliance.domain.periods import Period
from compliance.domain.policy import PolicyCatalog
from compliance.domain.registry import NationalFormat, registry_format
from compliance.settings import ComplianceSettings

log = logging.getLogger(__name__)

REGISTRY_DOWNLOADED = Gauge(
    "kaden_compliance_registry_downloaded_timestamp_seconds",
    "Download instant of the registry copy this process screens with (alert on "
    "time() - this approaching the pack's max age)", ["registry"])
REGISTRY_NUMBERS = Gauge(
    "kaden_compliance_registry_numbers", "Numbers in the registry copy held", ["registry"])


@dataclass(frozen=True)
class KnownRegistry:
    """A registry some bundled pack requires: its country's number format and the
    packs' limits."""

    name: str
    fmt: NationalFormat
    required_by: tuple[str, ...]
    max_ages: tuple[Period, ...]

    @property
    def country_code(self) -> int:
        """The registry's country calling code."""
        return self.fmt.country_code

    def stale_at(self, downloaded_at: datetime) -> datetime | None:
        """When a copy downloaded at ``downloaded_at`` is too old for the strictest pack
        (None: no pack limits its age)."""
        utc = ZoneInfo("UTC")
        return min((p.after(downloaded_at, utc) for p in self.max_ages), default=None)


@cache
def known_registries() -> dict[str, KnownRegistry]:
    """Every registry a bundled pack requires, by name (``US-DNC``, ``GB-TPS``, ...): the
    names an operator may import. The number format comes from the name's ISO prefix."""
    catalog = PolicyCatalog.bundled()
    required: dict[str, list[tuple[str, Period | None]]] = {}
    for pack_id in catalog.pack_ids:
        for registry in catalog.pack(pack_id).registries:
            required.setdefault(registry.name, []).append((pack_id, registry.max_age))
    return {name: KnownRegistry(
        name=name, fmt=registry_format(name),
        required_by=tuple(p for p, _ in packs),
        max_ages=tuple(age for _, age in packs if age is not None))
        for name, packs in sorted(required.items())}


@dataclass(frozen=True)
class CopyInForce:
    """Metadata of an imported copy (a ``registry_copies`` row)."""

    copy_id: str
    name: str
    version: str
    downloaded_at: datetime
    imported_at: datetime
    count: int
    sha256: str

    @property
    def order(self) -> tuple[datetime, datetime]:
        """Copies of a registry rank by download instant, then import instant: the
        greatest is in force."""
        return self.downloaded_at, self.imported_at

    @property
    def registry_copy(self) -> RegistryCopy:
        """The domain fact the staleness rule reads."""
        return RegistryCopy(name=self.name, version=self.version, downloaded_at=self.downloaded_at)


def copy_path(directory: Path, name: str, copy_id: str) -> Path:
    """Where a copy's numbers are stored."""
    return directory / name / f"{copy_id}.npy"


async def copies_in_force(session: AsyncSession) -> list[CopyInForce]:
    """The copy in force of each registry (downloaded last, then imported last), by name."""
    rows = await session.execute(select(
        registry_copies.c.copy_id, registry_copies.c.name, registry_copies.c.version,
        registry_copies.c.downloaded_at, registry_copies.c.imported_at, registry_copies.c.count,
        registry_copies.c.sha256).order_by(registry_copies.c.downloaded_at,
                                           registry_copies.c.imported_at))
    latest = {row.name: CopyInForce(*row) for row in rows}
    return [latest[name] for name in sorted(latest)]


def load_index(directory: Path, copy: CopyInForce,
               on_chunk: Callable[[int], None] | None = None) -> DncIndex:
    """Rebuild a copy's index from its ``.npy`` file, read twice in chunks (memory: the
    index plus one chunk). ``on_chunk(numbers)`` reports progress (and may raise to stop).
    Raises OSError, or ValueError for a file not matching its metadata."""
    started = time.perf_counter()
    count, chunks = npy_chunks(copy_path(directory, copy.name, copy.copy_id))
    if count != copy.count:
        raise ValueError(f"{copy.name} copy {copy.copy_id}: file holds {count} numbers, "
                         f"metadata says {copy.count}")
    index = DncIndex.from_sorted_chunks(chunks, copy.version, on_chunk=on_chunk)
    log.info("registry %s copy %s rebuilt: %d numbers in %.1f s", copy.name, copy.version,
             len(index), time.perf_counter() - started)
    return index


class NationalRegistries:
    """The national registry indexes held by this process, with the copy of each."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._held: dict[str, tuple[CopyInForce, DncIndex]] = {}
        self._lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    async def refresh(self, session: AsyncSession, *, wait: bool = True) -> None:
        """Catch up with the copies in force. ``wait=False`` (per screening batch) rebuilds
        changed copies in the background, screening meanwhile with the copies held."""
        wanted = [c for c in await copies_in_force(session) if self._copy_id(c.name) != c.copy_id]
        if not wanted:
            return
        if wait:
            await self._rebuild(wanted)
        elif self._background is None or self._background.done():
            self._background = asyncio.create_task(self._rebuild(wanted), name="registry-rebuild")

    async def _rebuild(self, wanted: list[CopyInForce]) -> None:
        async with self._lock:
            for copy in wanted:
                if self._copy_id(copy.name) == copy.copy_id:
                    continue
                try:
                    index = await asyncio.to_thread(load_index, self.directory, copy)
                except (OSError, ValueError) as exc:
                    # The copy held stays in force (it grows stale and blocks, fail closed).
                    log.error("registry %s copy %s not loaded: %s", copy.name, copy.copy_id, exc)
                    continue
                self.install(copy, index)

    def install(self, copy: CopyInForce, index: DncIndex) -> None:
        """Put a copy in force in this process (one reference store), unless one ranking
        higher (:attr:`CopyInForce.order`) is."""
        held = self._held.get(copy.name)
        if held is None or held[0].order <= copy.order:
            self._held[copy.name] = (copy, index)
            REGISTRY_DOWNLOADED.labels(copy.name).set(copy.downloaded_at.timestamp())
            REGISTRY_NUMBERS.labels(copy.name).set(copy.count)

    def held(self) -> Mapping[str, CopyInForce]:
        """The copies this process screens with, by name."""
        return {name: copy for name, (copy, _) in self._held.items()}

    def facts(self, number: str) -> tuple[list[DncHit], list[RegistryCopy]]:
        """The registries holding ``number`` (national hits with the copy version) and every
        copy held (the rules judge staleness of the ones the policy requires)."""
        held = list(self._held.values())
        copies = [copy.registry_copy for copy, _ in held]
        try:
            value = e164_to_int(number)
        except ValueError:
            return [], copies  # not E.164: on no registry (the number rule blocks it)
        hits = [DncHit(list_name=copy.name, kind="national", version=copy.version)
                for copy, index in held if index.contains_int(value)]
        return hits, copies

    def _copy_id(self, name: str) -> str | None:
        held = self._held.get(name)
        return held[0].copy_id if held else None


_SHARED: dict[int, NationalRegistries] = {}


def shared_registries(runtime: ServiceRuntime) -> NationalRegistries:
    """The process's registries for ``runtime`` (created on first use, dropped with it)."""
    key = id(runtime)
    if key not in _SHARED:
        settings = runtime.settings
        assert isinstance(settings, ComplianceSettings), "SPEC.settings_cls is ComplianceSettings"
        _SHARED[key] = NationalRegistries(Path(settings.registry_dir))
        weakref.finalize(runtime, _SHARED.pop, key, None)
    return _SHARED[key]
