"""``/v1/registries``: national registry copies (platform data, imported by an operator).

Imports and their jobs need the ``platform:operator`` scope (a tenant token is refused
with 403 whatever its other scopes); the list of copies in force is readable with
``compliance:read`` (it is the same for every tenant and names no number).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import select

from common.app import RuntimeDep, SessionDep
from common.auth import OPERATOR_SCOPE, Principal, require_scopes
from common.errors import NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from compliance.adapters.registry_tables import registry_imports
from compliance.app.registries import copies_in_force, known_registries
from compliance.app.registry_imports import ImportRequest, start_import
from compliance.settings import ComplianceSettings

router = APIRouter(prefix="/v1/registries", tags=["registries"])

Operator = Annotated[Principal, Depends(require_scopes(OPERATOR_SCOPE))]
Reader = Annotated[Principal, Depends(require_scopes("compliance:read"))]
_FUTURE_SLACK = timedelta(minutes=5)


class ImportAccepted(BaseModel):
    job_id: str
    status_url: str


class ImportJob(BaseModel):
    job_id: str
    name: str
    version: str
    downloaded_at: datetime
    state: Literal["running", "succeeded", "failed"]
    bytes: int = Field(description="size of the uploaded file")
    sha256: str = Field(description="of the uploaded file")
    lines_read: int
    numbers: int = Field(description="numbers parsed so far (distinct once succeeded)")
    error: str | None = Field(None, description="why the file was refused (numbers masked)")
    error_line: int | None = Field(None, description="1-based line of the file at fault")
    copy_id: str | None = None
    created_at: datetime
    updated_at: datetime = Field(description="last progress report")
    finished_at: datetime | None = None


class CopyOut(BaseModel):
    copy_id: str
    version: str
    downloaded_at: datetime
    imported_at: datetime
    count: int = Field(description="distinct numbers")
    sha256: str


class RegistryOut(BaseModel):
    name: str
    country_code: int
    required_by: list[str] = Field(description="packs that require a fresh copy")
    status: Literal["fresh", "stale", "missing"]
    copy_in_force: CopyOut | None = None
    age_days: float | None = Field(None, description="now − downloaded_at, days")
    stale_at: datetime | None = Field(None, description="when the strictest pack stops "
                                      "accepting this copy (null: no age limit)")


class Registries(BaseModel):
    items: list[RegistryOut]


async def _known(name: str) -> None:
    known = sorted(await asyncio.to_thread(known_registries))  # the packs load once
    if name not in known:
        raise NotFound(f"unknown registry {name!r}; known registries: {', '.join(known)}",
                       details={"known": known})


@router.post("/{name}/imports", status_code=status.HTTP_202_ACCEPTED,
             response_model=ImportAccepted, responses={
                 403: {"description": "not a platform operator"},
                 404: {"description": "unknown registry (the known ones are listed)"},
                 413: {"description": "larger than registry_upload_max_bytes"},
                 415: {"description": "a multipart or JSON body (send the file as the body)"},
                 422: {"description": "empty file, bad version or download instant, a copy "
                       "downloaded before the copy in force or already stale (without force)"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "text/plain": {"schema": {"type": "string", "format": "binary"}},
                 "application/gzip": {"schema": {"type": "string", "format": "binary"}}}}})
async def import_registry(
    name: str, request: Request, principal: Operator, runtime: RuntimeDep,
    version: Annotated[str, Query(min_length=1, max_length=100, pattern=r"^[\w.:+-]+$",
                                  description="the copy's version, e.g. the download id")],
    downloaded_at: Annotated[AwareDatetime, Query(description="when the file was downloaded "
                                                   "from the registry (RFC 3339)")],
    force: Annotated[bool, Query(description="import even a copy downloaded before the copy "
                                 "in force (kept as history: copies rank by downloaded_at) "
                                 "or already stale")] = False,
) -> ImportAccepted:
    """Upload a registry download as the raw request body (one number per line: E.164,
    national digits or the FTC's ``AAA,NNNNNNN``; gzip accepted). Parsed in the
    background: follow ``status_url``. A bad line refuses the whole file. National digits
    may carry the trunk prefix (``1`` NANP, ``0`` GB/FR); impossible numbers are refused."""
    await _known(name)
    settings = runtime.settings
    assert isinstance(settings, ComplianceSettings), "SPEC.settings_cls is ComplianceSettings"
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type.startswith("multipart/") or media_type.endswith("json"):
        raise UnsupportedMediaType(f"send the registry file as the raw request body "
                                   f"(text/plain or application/gzip), not {media_type}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.registry_upload_max_bytes:
        raise PayloadTooLarge(f"registry file exceeds {settings.registry_upload_max_bytes} bytes "
                              "(KADEN_REGISTRY_UPLOAD_MAX_BYTES)")
    if downloaded_at > runtime.clock.now() + _FUTURE_SLACK:
        raise Unprocessable(f"downloaded_at {downloaded_at.isoformat()} is in the future")
    job_id = await start_import(runtime, ImportRequest(
        name=name, version=version, downloaded_at=downloaded_at,
        requested_by=principal.subject, force=force), request.stream())
    return ImportAccepted(job_id=job_id, status_url=f"/v1/registries/imports/{job_id}")


@router.get("/imports/{job_id}", response_model=ImportJob,
            responses={404: {"description": "no such import job"}})
async def import_job(job_id: str, _: Operator, session: SessionDep,
                     runtime: RuntimeDep) -> ImportJob:
    """An import job: state, lines read, numbers, and the error that refused the file."""
    row = (await session.execute(select(registry_imports)
                                 .where(registry_imports.c.job_id == job_id))).mappings().first()
    if row is None:
        raise NotFound(f"no registry import job {job_id}")
    job = ImportJob.model_validate(dict(row))
    settings = runtime.settings
    assert isinstance(settings, ComplianceSettings), "SPEC.settings_cls is ComplianceSettings"
    silent = (runtime.clock.now() - job.updated_at).total_seconds()
    if job.state == "running" and silent > settings.registry_job_lease_s:
        job = job.model_copy(update={"state": "failed", "error": (
            f"interrupted: no progress for {silent:.0f} s (the importing process stopped); "
            "upload the file again")})
    return job


@router.get("", response_model=Registries)
async def list_registries(_: Reader, session: SessionDep, runtime: RuntimeDep) -> Registries:
    """Every registry a pack requires, with the copy in force, its age and staleness."""
    now = runtime.clock.now()
    in_force = {c.name: c for c in await copies_in_force(session)}
    items = []
    for name, known in (await asyncio.to_thread(known_registries)).items():
        copy = in_force.get(name)
        if copy is None:
            items.append(RegistryOut(name=name, country_code=known.country_code,
                                     required_by=list(known.required_by), status="missing"))
            continue
        stale_at = known.stale_at(copy.downloaded_at)
        items.append(RegistryOut(
            name=name, country_code=known.country_code, required_by=list(known.required_by),
            status="stale" if stale_at is not None and now >= stale_at else "fresh",
            copy_in_force=CopyOut(copy_id=copy.copy_id, version=copy.version,
                                  downloaded_at=copy.downloaded_at, imported_at=copy.imported_at,
                                  count=copy.count, sha256=copy.sha256),
            age_days=round((now - copy.downloaded_at) / timedelta(days=1), 3), stale_at=stale_at))
    return Registries(items=items)
