"""Import jobs: accepting an upload (a queued job) and reading a job's progress.

The upload is stored in the job row; :mod:`leads.app.import_worker` processes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import RowMapping, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import NotFound
from leads.adapters.db import import_jobs
from leads.app.lists import get_list
from leads.domain.ids import new_id
from leads.domain.rows import PayloadFormat

JobStatus = Literal["queued", "running", "done", "failed"]


@dataclass(frozen=True)
class Upload:
    """Rows to import, as stored for the worker."""

    format: PayloadFormat
    payload: bytes
    total_rows: int
    default_country: str | None = None


async def create_import(session: AsyncSession, *, tenant_id: str, list_id: str, upload: Upload,
                        now: datetime) -> str:
    """Queue an import of ``upload`` into the list; returns the job id."""
    await get_list(session, tenant_id=tenant_id, list_id=list_id)
    job_id = new_id("import", now)
    await session.execute(insert(import_jobs).values(
        tenant_id=tenant_id, job_id=job_id, list_id=list_id, status="queued",
        format=upload.format, default_country=upload.default_country, payload=upload.payload,
        total_rows=upload.total_rows, processed_rows=0, accepted=0, duplicate=0, invalid=0,
        errors=[], errors_truncated=False, created_at=now,
    ))
    return job_id


async def get_import(session: AsyncSession, *, tenant_id: str, job_id: str) -> RowMapping:
    """The job's progress (without its payload), or :class:`NotFound`."""
    columns = [c for c in import_jobs.c if c.name != "payload"]
    row = (await session.execute(select(*columns).where(
        import_jobs.c.tenant_id == tenant_id, import_jobs.c.job_id == job_id))).mappings().first()
    if row is None:
        raise NotFound(f"import job {job_id} not found")
    return row
