"""KPI use cases: read the fact totals of one tenant and apply the KPI formulas."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import NotFound
from reporting.adapters import kpi_queries
from reporting.domain.kpis import (
    AgentKpis,
    CampaignKpis,
    TimeRange,
    agent_kpis,
    campaign_kpis,
)


async def campaign_report(
    session: AsyncSession, tenant_id: str, campaign_id: str, span: TimeRange, now: datetime
) -> CampaignKpis:
    """KPIs of a campaign of ``tenant_id``; 404 when the tenant has no facts of it at all.

    Another tenant's campaign gets the very same 404: nothing says it exists elsewhere.
    """
    if not await kpi_queries.campaign_has_facts(session, tenant_id, campaign_id):
        raise NotFound(f"no data for campaign {campaign_id!r}")
    calls = await kpi_queries.call_totals(session, tenant_id, span, campaign_id=campaign_id)
    time = await kpi_queries.agent_time(session, tenant_id, span, now, campaign_id=campaign_id)
    return campaign_kpis(calls, time)


async def agent_report(
    session: AsyncSession, tenant_id: str, agent_id: str, span: TimeRange, now: datetime
) -> AgentKpis:
    """KPIs of an agent of ``tenant_id``; 404 when the tenant has no facts of it at all."""
    if not await kpi_queries.agent_has_facts(session, tenant_id, agent_id):
        raise NotFound(f"no data for agent {agent_id!r}")
    calls = await kpi_queries.call_totals(session, tenant_id, span, agent_id=agent_id)
    time = await kpi_queries.agent_time(session, tenant_id, span, now, agent_id=agent_id)
    return agent_kpis(calls, time)
