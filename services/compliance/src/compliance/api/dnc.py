"""``/v1/dnc``: the tenant's do-not-call list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel, Field

from common.app import RuntimeDep, SessionDep
from common.auth import Principal, require_scopes
from compliance.app import dnc

router = APIRouter(prefix="/v1/dnc", tags=["dnc"])

Writer = Annotated[Principal, Depends(require_scopes("dnc:write"))]
Reader = Annotated[Principal, Depends(require_scopes("dnc:read"))]


class DncEntryIn(BaseModel):
    """A number to put on the tenant list: E.164, or national digits read in ``country``."""

    phone: str = Field(min_length=1, max_length=32, examples=["+12125550123", "(212) 555-0123"])
    country: str = Field("US", pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")


class DncEntryOut(BaseModel):
    phone_e164: str
    list_id: str
    source: str = Field(description="api, disposition, ...")
    added_at: datetime


class DncPage(BaseModel):
    items: list[DncEntryOut]
    next_after: str | None = Field(None, description="pass as ?after= for the next page")


def _out(entry: dnc.DncEntry) -> DncEntryOut:
    return DncEntryOut(phone_e164=entry.phone_e164, list_id=entry.list_id, source=entry.source,
                       added_at=entry.added_at)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DncEntryOut,
             responses={200: {"description": "already on the list: the existing entry"},
                        422: {"description": "not a valid phone number"}})
async def add_number(body: DncEntryIn, principal: Writer, session: SessionDep, runtime: RuntimeDep,
                     response: Response) -> DncEntryOut:
    """Put a number on the tenant DNC list (effective at once; idempotent)."""
    phone = dnc.normalize_phone(body.phone, body.country)
    entry, created = await dnc.add_entry(session, runtime.event_store,
                                         tenant_id=principal.tenant_id, phone_e164=phone,
                                         source="api", now=runtime.clock.now())
    if not created:
        response.status_code = status.HTTP_200_OK
    return _out(entry)


@router.delete("/{phone_e164}", status_code=status.HTTP_204_NO_CONTENT,
               responses={404: {"description": "the number is not on the list"}})
async def remove_number(phone_e164: str, principal: Writer, session: SessionDep,
                        runtime: RuntimeDep) -> Response:
    """Take a number (E.164, ``+`` URL-encoded as ``%2B`` or literal) off the tenant list."""
    await dnc.remove_entry(session, runtime.event_store, tenant_id=principal.tenant_id,
                           phone_e164=dnc.require_e164(phone_e164), now=runtime.clock.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("", response_model=DncPage)
async def list_numbers(principal: Reader, session: SessionDep,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       after: Annotated[str | None, Query(max_length=16)] = None) -> DncPage:
    """The tenant list in number order, ``limit`` entries after ``after`` (keyset)."""
    entries = await dnc.list_entries(session, tenant_id=principal.tenant_id, limit=limit,
                                     after=after)
    next_after = entries[-1].phone_e164 if len(entries) == limit else None
    return DncPage(items=[_out(e) for e in entries], next_after=next_after)
