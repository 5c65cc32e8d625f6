"""The import worker: turns queued import jobs into leads, one chunk per transaction.

A worker claims the oldest queued job (or a running one whose worker went silent past
its lease), reads the stored payload lazily and handles ``import_chunk_rows`` rows per
transaction: normalise, drop numbers already in the list (or earlier in the file), insert
the new leads with their ``lead.imported`` events, and advance the job's counters and
resume point. A crash loses nothing: the next worker resumes at ``processed_rows``. The
job update is fenced on the resume point, so a worker that lost its lease stops without
writing. When the job ends its payload is cleared (it holds personal data).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from itertools import islice
from typing import Any, cast

from sqlalchemy import CursorResult, RowMapping, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from common.app import ServiceRuntime
from common.events.catalog import LeadImportedV1
from common.eventstore import StreamAppend
from leads.adapters.db import import_jobs, leads
from leads.app.loop import PeriodicWorker
from leads.domain.ids import new_id
from leads.domain.normalise import NormalisedLead, RowRejected, normalise_row
from leads.domain.rows import SourceRow, read_rows
from leads.settings import LeadsSettings

log = logging.getLogger(__name__)
_STORE_ATTEMPTS = 3  # a concurrent import into the same list can win a number: re-check


class LostLease(Exception):
    """Another worker took the job over (this one was silent longer than the lease)."""


@dataclass(frozen=True)
class CheckedRow:
    """A source row and what normalising it gave: a lead or the reason it was rejected."""

    row: SourceRow
    lead: NormalisedLead | None = None
    reason: str | None = None


@dataclass
class Progress:
    """A job's counters and reported errors, as committed so far."""

    processed_rows: int
    accepted: int
    duplicate: int
    invalid: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False

    @classmethod
    def of(cls, job: RowMapping) -> Progress:
        return cls(job["processed_rows"], job["accepted"], job["duplicate"], job["invalid"],
                   list(job["errors"]), job["errors_truncated"])

    def report(self, position_key: str, position: int, reason: str, cap: int) -> None:
        if len(self.errors) < cap:
            self.errors.append({position_key: position, "reason": reason})
        else:
            self.errors_truncated = True

    def columns(self) -> dict[str, Any]:
        return {"processed_rows": self.processed_rows, "accepted": self.accepted,
                "duplicate": self.duplicate, "invalid": self.invalid,
                "errors": self.errors, "errors_truncated": self.errors_truncated}


def check_rows(rows: Iterator[SourceRow], default_country: str | None,
               limit: int) -> list[CheckedRow]:
    """Normalise the next ``limit`` rows (CPU-bound: the worker runs it in a thread)."""
    checked = []
    for row in islice(rows, limit):
        if row.fields is None:
            checked.append(CheckedRow(row, reason=row.problem))
            continue
        try:
            checked.append(CheckedRow(row, lead=normalise_row(row.fields, default_country)))
        except RowRejected as exc:
            checked.append(CheckedRow(row, reason=exc.reason))
    return checked


class ImportWorker(PeriodicWorker):
    """Processes import jobs one at a time (run several workers for parallel jobs)."""

    def __init__(self, runtime: ServiceRuntime, settings: LeadsSettings) -> None:
        super().__init__("import-worker", settings.import_poll_interval_s)
        self._rt = runtime
        self._settings = settings

    async def tick(self) -> bool:
        job = await self._claim()
        if job is None:
            return False
        await self._run(job)
        return True

    async def _claim(self) -> RowMapping | None:
        now = self._rt.clock.now()
        lease = now + timedelta(seconds=self._settings.import_lease_s)
        claimable = (import_jobs.c.status.in_(("queued", "running")),
                     or_(import_jobs.c.status == "queued", import_jobs.c.lease_until < now))
        async with self._rt.sessions() as s, s.begin():
            candidate = (await s.execute(
                select(import_jobs.c.tenant_id, import_jobs.c.job_id).where(*claimable)
                .order_by(import_jobs.c.created_at).limit(1))).first()
            if candidate is None:
                return None
            key = (import_jobs.c.tenant_id == candidate.tenant_id,
                   import_jobs.c.job_id == candidate.job_id)
            claimed = await s.execute(update(import_jobs).where(*key, *claimable).values(
                status="running", lease_until=lease,
                started_at=func.coalesce(import_jobs.c.started_at, now)))
            if cast(CursorResult[Any], claimed).rowcount != 1:
                return None  # another worker was faster
            job: RowMapping = (await s.execute(select(import_jobs).where(*key))).mappings().one()
            return job

    async def _run(self, job: RowMapping) -> None:
        progress = Progress.of(job)
        rows = islice(read_rows(job["format"], job["payload"]), progress.processed_rows, None)

        def next_chunk() -> asyncio.Future[list[CheckedRow]]:
            # Normalising (CPU) runs in a thread while the previous chunk is being stored.
            return asyncio.ensure_future(asyncio.to_thread(
                check_rows, rows, job["default_country"], self._settings.import_chunk_rows))

        pending = next_chunk()
        try:
            while chunk := await pending:
                pending = next_chunk()
                progress = await self._store(job, chunk, progress)
                if self.stopping:
                    await self._release(job, progress)
                    return
            await self._finish(job, progress, "done", None)
            log.info("import job %s done: %d accepted, %d duplicate, %d invalid", job["job_id"],
                     progress.accepted, progress.duplicate, progress.invalid)
        except LostLease:
            log.warning("import job %s was taken over by another worker", job["job_id"])
        except (OperationalError, InterfaceError):
            raise  # database unavailable: the job resumes once the lease expires
        except Exception as exc:
            log.exception("import job %s failed after %d rows", job["job_id"],
                          progress.processed_rows)
            await self._finish(job, progress, "failed",
                               f"import stopped after {progress.processed_rows} rows: "
                               f"internal error ({type(exc).__name__})")
        finally:
            pending.cancel()

    async def _store(self, job: RowMapping, chunk: list[CheckedRow],
                     committed: Progress) -> Progress:
        for attempt in range(1, _STORE_ATTEMPTS + 1):
            progress = replace(committed, errors=list(committed.errors))
            try:
                async with self._rt.sessions() as s, s.begin():
                    await self._store_chunk(s, job, chunk, progress, committed.processed_rows)
                return progress
            except IntegrityError:
                if attempt == _STORE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _store_chunk(self, s: AsyncSession, job: RowMapping, chunk: list[CheckedRow],
                           progress: Progress, resume_point: int) -> None:
        now = self._rt.clock.now()
        tenant_id, list_id, job_id = job["tenant_id"], job["list_id"], job["job_id"]
        position_key = "row" if job["format"] == "csv" else "index"
        phones = {c.lead.phone_e164 for c in chunk if c.lead is not None}
        first_seen: dict[str, tuple[str, int]] = {}
        if phones:
            result = await s.execute(
                select(leads.c.phone_e164, leads.c.import_job_id, leads.c.source_position)
                .where(leads.c.tenant_id == tenant_id, leads.c.list_id == list_id,
                       leads.c.phone_e164.in_(phones)))
            first_seen = {r.phone_e164: (r.import_job_id, r.source_position) for r in result}
        new_leads: list[tuple[str, CheckedRow, NormalisedLead]] = []
        for c in chunk:
            if c.lead is None:
                progress.invalid += 1
                reason = c.reason or "invalid row"
            elif (seen := first_seen.get(c.lead.phone_e164)) is None:
                first_seen[c.lead.phone_e164] = (job_id, c.row.position)
                new_leads.append((new_id("lead", now), c, c.lead))
                progress.accepted += 1
                continue
            else:
                progress.duplicate += 1
                reason = ("duplicate of a number already in this list" if seen[0] != job_id
                          else f"duplicate of {position_key} {seen[1]} of this import")
            progress.report(position_key, c.row.position, reason,
                            self._settings.max_reported_errors)
        progress.processed_rows += len(chunk)
        fenced = await s.execute(update(import_jobs).where(
            import_jobs.c.tenant_id == tenant_id, import_jobs.c.job_id == job_id,
            import_jobs.c.status == "running", import_jobs.c.processed_rows == resume_point,
        ).values(**progress.columns(),
                 lease_until=now + timedelta(seconds=self._settings.import_lease_s)))
        if cast(CursorResult[Any], fenced).rowcount != 1:
            raise LostLease(job_id)
        if not new_leads:
            return
        await s.execute(insert(leads), [
            {"tenant_id": tenant_id, "lead_id": lead_id, "list_id": list_id,
             "phone_e164": lead.phone_e164, "country": lead.country,
             "candidate_zones": [z.model_dump() for z in lead.candidate_zones],
             "attributes": lead.attributes, "status": "new", "attempts": 0,
             "next_attempt_at": now, "next_reason": "new", "campaign_id": None,
             "due_attempt": None, "last_call_id": None, "last_outcome": None,
             "last_disposition": None, "closed_reason": None, "version": 1,
             "import_job_id": job_id, "source_position": c.row.position,
             "created_at": now, "updated_at": now}
            for lead_id, c, lead in new_leads
        ])
        await self._rt.event_store.append_many(s, tenant_id=tenant_id, appends=[
            StreamAppend(lead_id, 0, [LeadImportedV1(
                lead_id=lead_id, list_id=list_id, phone_e164=lead.phone_e164,
                country=lead.country, candidate_zones=list(lead.candidate_zones),
                attributes=lead.attributes)])
            for lead_id, _, lead in new_leads])

    async def _release(self, job: RowMapping, progress: Progress) -> None:
        """Give the job back (service stopping): any worker resumes it at once."""
        async with self._rt.sessions() as s, s.begin():
            await s.execute(update(import_jobs).where(
                import_jobs.c.tenant_id == job["tenant_id"],
                import_jobs.c.job_id == job["job_id"],
                import_jobs.c.status == "running",
                import_jobs.c.processed_rows == progress.processed_rows,
            ).values(status="queued", lease_until=None))
        log.info("import job %s paused after %d rows (stopping)", job["job_id"],
                 progress.processed_rows)

    async def _finish(self, job: RowMapping, progress: Progress, status: str,
                      failure_reason: str | None) -> None:
        async with self._rt.sessions() as s, s.begin():
            await s.execute(update(import_jobs).where(
                import_jobs.c.tenant_id == job["tenant_id"],
                import_jobs.c.job_id == job["job_id"],
                import_jobs.c.status == "running",
                import_jobs.c.processed_rows == progress.processed_rows,
            ).values(status=status, failure_reason=failure_reason, payload=None,
                     lease_until=None, finished_at=self._rt.clock.now()))
