"""Import jobs: queue an import (JSON or CSV) and follow its progress."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from common.app import RuntimeDep, SessionDep
from leads.api.deps import Reader, SettingsDep, Writer
from leads.api.schemas import ImportAccepted, ImportStatus, RowError
from leads.api.uploads import openapi_body, read_upload
from leads.app import imports, lists

router = APIRouter(prefix="/v1", tags=["imports"])


@router.post("/lists/{list_id}/imports", status_code=202, openapi_extra=openapi_body(),
             responses={413: {"description": "body larger than the upload limit"},
                        415: {"description": "not JSON, multipart or CSV"}})
async def create_import(list_id: str, request: Request, response: Response, principal: Writer,
                        session: SessionDep, runtime: RuntimeDep,
                        settings: SettingsDep) -> ImportAccepted:
    """Queue an import of leads into the list; a worker processes it (see the job).

    JSON: ``{"default_country": "US", "leads": [{"phone": ..., ...}]}``. CSV: multipart
    field ``file`` (optional form field ``default_country``) or a ``text/csv`` body
    (``?default_country=``). Row errors are reported by the job: CSV rows by their line
    number in the file (header = line 1), JSON leads by their 0-based ``index``.
    """
    await lists.get_list(session, tenant_id=principal.tenant_id, list_id=list_id)  # 404 first
    upload = await read_upload(request, settings.max_upload_bytes)
    job_id = await imports.create_import(session, tenant_id=principal.tenant_id,
                                         list_id=list_id, upload=upload,
                                         now=runtime.clock.now())
    status_url = f"/v1/imports/{job_id}"
    response.headers["Location"] = status_url
    return ImportAccepted(job_id=job_id, status_url=status_url)


@router.get("/imports/{job_id}")
async def get_import(job_id: str, principal: Reader, session: SessionDep) -> ImportStatus:
    """An import job's status, counters and row errors."""
    row = await imports.get_import(session, tenant_id=principal.tenant_id, job_id=job_id)
    return ImportStatus(**{k: v for k, v in row.items() if k != "errors"},
                        errors=[RowError.model_validate(e) for e in row["errors"]])
