"""Lists and leads: create a list, read it with counts, page through its leads, read a lead."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from common.app import RuntimeDep, SessionDep
from leads.api.deps import Reader, Writer
from leads.api.schemas import LeadOut, LeadPage, ListCreate, ListDetail, ListOut
from leads.app import lists
from leads.domain.lead import LeadStatus

router = APIRouter(prefix="/v1", tags=["lists"])


@router.post("/lists", status_code=201)
async def create_list(body: ListCreate, principal: Writer, session: SessionDep,
                      runtime: RuntimeDep) -> ListOut:
    """Create an empty lead list."""
    row = await lists.create_list(session, tenant_id=principal.tenant_id, name=body.name,
                                  now=runtime.clock.now())
    return ListOut.model_validate(dict(row))


@router.get("/lists/{list_id}")
async def get_list(list_id: str, principal: Reader, session: SessionDep) -> ListDetail:
    """A list with its number of leads in each status."""
    row = await lists.get_list(session, tenant_id=principal.tenant_id, list_id=list_id)
    counts = await lists.status_counts(session, tenant_id=principal.tenant_id, list_id=list_id)
    return ListDetail(**dict(row), lead_count=sum(counts.values()), counts=counts)


@router.get("/lists/{list_id}/leads")
async def list_leads(
    list_id: str, principal: Reader, session: SessionDep,
    status: Annotated[LeadStatus | None, Query(description="only leads in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    after: Annotated[str | None, Query(max_length=64,
                                       description="`next_after` of the previous page")] = None,
) -> LeadPage:
    """The list's leads in id (= import) order, one keyset page at a time."""
    rows, next_after = await lists.page_leads(
        session, tenant_id=principal.tenant_id, list_id=list_id, status=status, limit=limit,
        after=after)
    return LeadPage(items=[LeadOut.model_validate(dict(r)) for r in rows], next_after=next_after)


@router.get("/leads/{lead_id}", tags=["leads"])
async def get_lead(lead_id: str, principal: Reader, session: SessionDep) -> LeadOut:
    """One lead's state: status, attempts, next attempt, last outcome, closing reason."""
    row = await lists.get_lead(session, tenant_id=principal.tenant_id, lead_id=lead_id)
    return LeadOut.model_validate(dict(row))
