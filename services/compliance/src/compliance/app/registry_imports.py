"""Registry import jobs: an upload streamed to disk, parsed in the background, put in force.

1. :func:`start_import` writes the request body to ``<registry_dir>/incoming/<job>.upload``
   as it arrives (SHA-256 on the fly, size limit enforced), records the job (``running``)
   and starts the parse as a task of this process.
2. The parse (a thread, :mod:`compliance.app.registry_files`) reads the file in blocks,
   writes sorted runs to scratch files and merges them into the copy's ``.npy``; then the
   index is built from that file in chunks (:func:`load_index`). Memory stays bounded
   (runs and merge buffers, then the index). The job row gets its progress (lines read,
   numbers) every second during every phase: its heartbeat never lapses while working.
3. A bad line refuses the whole file: the job fails with the line number and the reason
   (number masked); nothing is written to the copies, the copy in force stays in force.
4. Success: ``<registry_dir>/<name>/<copy_id>.npy`` is written (temp file + rename), its
   ``registry_copies`` row inserted and the job marked ``succeeded`` in one transaction,
   and this process swaps the new index in; other processes pick it up on their next
   refresh. Files of copies ranking below the previous one are deleted.

A copy downloaded before the copy in force, or already stale, is refused before its
upload is read unless the operator forces it (:func:`check_newer`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client import Counter
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from common.app import ServiceRuntime
from common.errors import PayloadTooLarge, Unprocessable
from compliance.adapters.registry_tables import registry_copies, registry_imports
from compliance.app.registries import (
    CopyInForce,
    copies_in_force,
    copy_path,
    known_registries,
    load_index,
    shared_registries,
)
from compliance.app.registry_files import Progress, parse_file
from compliance.domain.errors import MalformedRegistryFileError
from compliance.settings import ComplianceSettings

log = logging.getLogger(__name__)

_PROGRESS_S = 1.0
_KEEP_FILES = 2  # copies per registry whose file is kept: in force and the previous one
_WRITE_BUFFER = 1 << 20
_ORPHAN_UPLOAD_S = 86400.0  # an upload file without a job row is removed after this
_TASKS: set[asyncio.Task[None]] = set()
REGISTRY_IMPORTS = Counter("kaden_compliance_registry_imports_total",
                           "Registry import jobs ended, by result (succeeded, refused, failed)",
                           ["registry", "result"])
T = TypeVar("T")


@dataclass(frozen=True)
class ImportRequest:
    """What an operator asked to import."""

    name: str
    version: str
    downloaded_at: datetime
    requested_by: str
    force: bool = False


async def receive_upload(body: AsyncIterator[bytes], path: Path, limit: int) -> tuple[int, str]:
    """Write a request body to ``path`` as it streams in: ``(bytes, sha256 hex)``.
    Raises :class:`PayloadTooLarge` past ``limit`` bytes (the partial file is removed)."""
    digest, size, buffer = hashlib.sha256(), 0, bytearray()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("wb") as out:
            async for chunk in body:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"registry file exceeds {limit} bytes "
                                          "(KADEN_REGISTRY_UPLOAD_MAX_BYTES)")
                digest.update(chunk)
                buffer += chunk
                if len(buffer) >= _WRITE_BUFFER:
                    await asyncio.to_thread(out.write, bytes(buffer))
                    buffer.clear()
            await asyncio.to_thread(out.write, bytes(buffer))
    except BaseException:
        await asyncio.to_thread(_discard, path)
        raise
    return size, digest.hexdigest()


async def start_import(runtime: ServiceRuntime, request: ImportRequest,
                       body: AsyncIterator[bytes]) -> str:
    """Receive the file, record the job and start parsing it; the job id. Raises
    :class:`Unprocessable` for a copy older than the one in force or already stale,
    unless ``request.force`` (see :func:`check_newer`)."""
    settings = _settings(runtime)
    if not request.force:
        async with runtime.sessions() as session:
            in_force = {c.name: c for c in await copies_in_force(session)}
        check_newer(request, in_force.get(request.name), runtime.clock.now())
    job_id = str(uuid.uuid4())
    upload = Path(settings.registry_dir) / "incoming" / f"{job_id}.upload"
    await _sweep(runtime, upload.parent)
    size, sha256 = await receive_upload(body, upload, settings.registry_upload_max_bytes)
    if size == 0:
        await asyncio.to_thread(_discard, upload)
        raise Unprocessable(f"the {request.name} registry file is empty (0 bytes)")
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        await session.execute(insert(registry_imports).values(
            job_id=job_id, name=request.name, version=request.version,
            downloaded_at=request.downloaded_at, state="running", bytes=size, sha256=sha256,
            lines_read=0, numbers=0, requested_by=request.requested_by, created_at=now,
            updated_at=now))
    task = asyncio.create_task(_run(runtime, job_id, request, upload, sha256),
                               name=f"registry-import-{job_id}")
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return job_id


def check_newer(request: ImportRequest, in_force: CopyInForce | None, now: datetime) -> None:
    """Refuse (:class:`Unprocessable`) a copy downloaded before the copy in force (it could
    never be in force: copies rank by download instant) or already stale for the strictest
    pack requiring the registry (it would block every number it should clear)."""
    if in_force is not None and request.downloaded_at < in_force.downloaded_at:
        raise Unprocessable(
            f"{request.name} copy {request.version!r} was downloaded at "
            f"{request.downloaded_at.isoformat()}, before the copy in force "
            f"{in_force.version!r} ({in_force.downloaded_at.isoformat()}): copies rank by "
            "download instant, so it would only be kept as history; pass force=true to "
            "import it anyway")
    stale_at = known_registries()[request.name].stale_at(request.downloaded_at)
    if stale_at is not None and stale_at <= now:
        raise Unprocessable(
            f"{request.name} copy {request.version!r} downloaded at "
            f"{request.downloaded_at.isoformat()} is already stale (the strictest pack "
            f"stopped accepting it at {stale_at.isoformat()}); screening would block every "
            "number with it: import a fresh download, or pass force=true")


async def _sweep(runtime: ServiceRuntime, incoming: Path) -> None:
    """Delete what imports of stopped processes left in ``incoming``: the files of jobs
    without progress for the lease, and uploads that never became a job once their file
    is a day old (file-system age: an upload in progress has no job row yet)."""
    files = await asyncio.to_thread(lambda: list(incoming.glob("*.*")) if incoming.exists() else [])
    if not files:
        return
    lease = timedelta(seconds=_settings(runtime).registry_job_lease_s)
    async with runtime.sessions() as session:
        jobs = {job_id: state == "running" and updated_at > runtime.clock.now() - lease
                for job_id, state, updated_at in await session.execute(
                    select(registry_imports.c.job_id, registry_imports.c.state,
                           registry_imports.c.updated_at)
                    .where(registry_imports.c.job_id.in_({f.stem for f in files})))}
    cutoff = time.time() - _ORPHAN_UPLOAD_S
    await asyncio.to_thread(_discard, *(
        f for f in files
        if (f.stem in jobs and not jobs[f.stem]) or (f.stem not in jobs and _mtime(f) < cutoff)))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


async def _run(runtime: ServiceRuntime, job_id: str, request: ImportRequest, upload: Path,
               sha256: str) -> None:
    directory = Path(_settings(runtime).registry_dir)
    progress = Progress()
    copy_id = str(uuid.uuid4())
    out = copy_path(directory, request.name, copy_id)
    stored = False
    try:
        try:
            count = await _in_thread(runtime, job_id, progress, parse_file, upload,
                                     request.name, known_registries()[request.name].fmt,
                                     progress, upload.with_suffix(".runs"), out)
        finally:  # parsed or refused: gone before the job reports its end
            await asyncio.to_thread(_discard, upload)
        copy = CopyInForce(copy_id=copy_id, name=request.name, version=request.version,
                           downloaded_at=request.downloaded_at, imported_at=runtime.clock.now(),
                           count=count, sha256=sha256)
        progress.phase = "build"
        index = await _in_thread(runtime, job_id, progress, load_index, directory, copy,
                                 progress.checkpoint)
        async with runtime.sessions() as session, session.begin():
            await session.execute(insert(registry_copies).values(
                copy_id=copy.copy_id, name=copy.name, version=copy.version,
                downloaded_at=copy.downloaded_at, imported_at=copy.imported_at, count=copy.count,
                sha256=copy.sha256, job_id=job_id))
            await _finish(session, job_id, copy.imported_at, state="succeeded",
                          copy_id=copy.copy_id, lines_read=progress.lines, numbers=copy.count)
        stored = True
        shared_registries(runtime).install(copy, index)
        await _prune(runtime, directory, copy.name)
        REGISTRY_IMPORTS.labels(copy.name, "succeeded").inc()
        log.info("registry %s copy %s imported: %d numbers", copy.name, copy.version, copy.count)
    except asyncio.CancelledError:
        progress.stop = True  # a thread cannot be cancelled: ask it to stop
        raise
    except MalformedRegistryFileError as exc:
        REGISTRY_IMPORTS.labels(request.name, "refused").inc()
        await _fail(runtime, job_id, progress, str(exc), exc.line_no)
    except Exception as exc:
        REGISTRY_IMPORTS.labels(request.name, "failed").inc()
        log.exception("registry import %s failed", job_id)
        await _fail(runtime, job_id, progress, f"import failed: {type(exc).__name__}", None)
    finally:
        if not stored:
            await asyncio.to_thread(_discard, out)


async def _in_thread(runtime: ServiceRuntime, job_id: str, progress: Progress,
                     work: Callable[..., T], *args: Any) -> T:
    """Run ``work(*args)`` in a thread, writing the job's progress (its heartbeat) every
    ``_PROGRESS_S`` seconds meanwhile, whatever the phase (parse, merge, build)."""
    task = asyncio.ensure_future(asyncio.to_thread(work, *args))
    while not task.done():
        await asyncio.wait({task}, timeout=_PROGRESS_S)
        await _update(runtime, job_id, lines_read=progress.lines, numbers=progress.numbers,
                      updated_at=runtime.clock.now())
    return task.result()


def _discard(*paths: Path) -> None:
    """Remove files, and directories (the scratch runs of an import) with their files."""
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


async def _prune(runtime: ServiceRuntime, directory: Path, name: str) -> None:
    """Delete the files of copies ranking below the ``_KEEP_FILES`` highest (rows stay)."""
    async with runtime.sessions() as session:
        old = (await session.execute(
            select(registry_copies.c.copy_id).where(registry_copies.c.name == name)
            .order_by(registry_copies.c.downloaded_at.desc(), registry_copies.c.imported_at.desc())
            .offset(_KEEP_FILES))).scalars()
        await asyncio.to_thread(_discard, *(copy_path(directory, name, c) for c in old))


async def _update(runtime: ServiceRuntime, job_id: str, **values: Any) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(registry_imports)
                              .where(registry_imports.c.job_id == job_id).values(**values))


async def _finish(session: AsyncSession, job_id: str, now: datetime, **values: Any) -> None:
    await session.execute(update(registry_imports).where(registry_imports.c.job_id == job_id)
                          .values(updated_at=now, finished_at=now, **values))


async def _fail(runtime: ServiceRuntime, job_id: str, progress: Progress, error: str,
                line: int | None) -> None:
    log.warning("registry import %s refused: %s", job_id, error)
    async with runtime.sessions() as session, session.begin():
        await _finish(session, job_id, runtime.clock.now(), state="failed", error=error,
                      error_line=line, lines_read=progress.lines, numbers=progress.numbers)


def _settings(runtime: ServiceRuntime) -> ComplianceSettings:
    settings = runtime.settings
    assert isinstance(settings, ComplianceSettings), "SPEC.settings_cls is ComplianceSettings"
    return settings
