"""KPI endpoints: ``GET /v1/campaigns/{id}/kpis`` and ``GET /v1/agents/{id}/kpis``.

Tenant from the bearer token (scope ``kpis:read``); optional ``from``/``to`` ISO 8601
instants with a UTC offset select calls by dial time and agent time by overlap.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime

from common.app import RuntimeDep, SessionDep
from common.auth import Principal, require_scopes
from common.errors import Unprocessable
from reporting.api.schemas import AgentKpisOut, CampaignKpisOut, KpiRange
from reporting.app.kpi_reports import agent_report, campaign_report
from reporting.domain.kpis import AGENT_DEFINITIONS, CAMPAIGN_DEFINITIONS, RANGE_NOTE, TimeRange

router = APIRouter(prefix="/v1", tags=["kpis"])

KpiReader = Annotated[Principal, Depends(require_scopes("kpis:read"))]
From = Annotated[AwareDatetime | None, Query(
    alias="from", description="start of the range, inclusive (ISO 8601 with offset)")]
To = Annotated[AwareDatetime | None, Query(
    alias="to", description="end of the range, exclusive (ISO 8601 with offset)")]
ResourceId = Annotated[str, Path(min_length=1, max_length=100)]


def _range(start: AwareDatetime | None, end: AwareDatetime | None) -> TimeRange:
    if start is not None and end is not None and end <= start:
        raise Unprocessable("'to' must be after 'from'",
                            {"from": start.isoformat(), "to": end.isoformat()})
    return TimeRange(start, end)


def _range_out(span: TimeRange) -> KpiRange:
    return KpiRange.model_validate({"from": span.start, "to": span.end})


@router.get("/campaigns/{campaign_id}/kpis", response_model=CampaignKpisOut,
            responses={404: {"description": "the tenant has no data for this campaign"}})
async def get_campaign_kpis(
    campaign_id: ResourceId, principal: KpiReader, session: SessionDep, runtime: RuntimeDep,
    start: From = None, end: To = None,
) -> CampaignKpisOut:
    """A campaign's KPIs over the range, each with its formula in ``definitions``."""
    span = _range(start, end)
    kpis = await campaign_report(session, principal.tenant_id, campaign_id, span,
                                 runtime.clock.now())
    return CampaignKpisOut(campaign_id=campaign_id, range=_range_out(span),
                           definitions={**CAMPAIGN_DEFINITIONS, "range": RANGE_NOTE},
                           **dataclasses.asdict(kpis))


@router.get("/agents/{agent_id}/kpis", response_model=AgentKpisOut,
            responses={404: {"description": "the tenant has no data for this agent"}})
async def get_agent_kpis(
    agent_id: ResourceId, principal: KpiReader, session: SessionDep, runtime: RuntimeDep,
    start: From = None, end: To = None,
) -> AgentKpisOut:
    """An agent's KPIs over the range, each with its formula in ``definitions``."""
    span = _range(start, end)
    kpis = await agent_report(session, principal.tenant_id, agent_id, span, runtime.clock.now())
    return AgentKpisOut(agent_id=agent_id, range=_range_out(span),
                        definitions={**AGENT_DEFINITIONS, "range": RANGE_NOTE},
                        **dataclasses.asdict(kpis))
