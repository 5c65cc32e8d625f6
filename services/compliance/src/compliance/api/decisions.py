"""``/v1/leads/{lead_id}/decisions``: why a lead was (not) dialable, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from common.app import SessionDep
from common.auth import Principal, require_scopes
from common.errors import NotFound
from compliance.adapters.db import decisions

router = APIRouter(prefix="/v1/leads", tags=["compliance"])

Reader = Annotated[Principal, Depends(require_scopes("compliance:read"))]


class ReasonOut(BaseModel):
    rule_id: str
    effect: Literal["block", "allow", "note"]
    text: str
    source: str = Field(description="pack id, list name or component that fired")
    until: datetime | None = None
    permanent: bool = False


class ZoneOut(BaseModel):
    zone: str
    source: str
    detail: str


class DecisionOut(BaseModel):
    decision_id: str
    lead_id: str
    list_id: str
    campaign_id: str
    attempt: int
    outcome: Literal["cleared", "blocked"]
    decided_at: datetime
    number_masked: str
    reasons: list[ReasonOut]
    zones: list[ZoneOut] = Field(description="candidate time zones with their provenance")
    policy_version: str
    packs: list[dict[str, str]]
    jurisdictions: list[str]
    lists_consulted: list[dict[str, Any]]
    valid_until: datetime | None = None
    earliest_callable_at: datetime | None = Field(None, description="null: not by time alone")
    inputs: dict[str, Any]


class LeadDecisions(BaseModel):
    lead_id: str
    items: list[DecisionOut]


@router.get("/{lead_id}/decisions", response_model=LeadDecisions,
            responses={404: {"description": "no decision recorded for this lead"}})
async def lead_decisions(lead_id: str, principal: Reader, session: SessionDep,
                         limit: Annotated[int, Query(ge=1, le=200)] = 50) -> LeadDecisions:
    """The lead's decision records, newest first."""
    rows = (await session.execute(
        select(decisions.c.payload)
        .where(decisions.c.tenant_id == principal.tenant_id, decisions.c.lead_id == lead_id)
        .order_by(decisions.c.decided_at.desc(), decisions.c.decision_id).limit(limit))).scalars()
    items = [DecisionOut.model_validate(payload) for payload in rows]
    if not items:
        raise NotFound(f"no decision recorded for lead {lead_id}")
    return LeadDecisions(lead_id=lead_id, items=items)
