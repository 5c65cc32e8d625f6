"""Lists and leads as the API sees them: create a list, read lists, page through leads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import NotFound
from leads.adapters.db import lead_lists, leads
from leads.domain.ids import new_id
from leads.domain.lead import LeadStatus


async def create_list(session: AsyncSession, *, tenant_id: str, name: str,
                      now: datetime) -> RowMapping:
    """A new, empty lead list of ``tenant_id``."""
    list_id = new_id("list", now)
    await session.execute(insert(lead_lists).values(
        tenant_id=tenant_id, list_id=list_id, name=name, created_at=now))
    return await get_list(session, tenant_id=tenant_id, list_id=list_id)


async def get_list(session: AsyncSession, *, tenant_id: str, list_id: str) -> RowMapping:
    """The list, or :class:`NotFound` (also for another tenant's list)."""
    row = (await session.execute(select(lead_lists).where(
        lead_lists.c.tenant_id == tenant_id, lead_lists.c.list_id == list_id))).mappings().first()
    if row is None:
        raise NotFound(f"list {list_id} not found")
    return row


async def status_counts(session: AsyncSession, *, tenant_id: str,
                        list_id: str) -> dict[str, int]:
    """Number of leads of the list in each status (every status present, zeros included)."""
    result = await session.execute(
        select(leads.c.status, func.count()).where(
            leads.c.tenant_id == tenant_id, leads.c.list_id == list_id).group_by(leads.c.status))
    counts = {s.value: 0 for s in LeadStatus}
    counts.update({status: int(n) for status, n in result})
    return counts


async def page_leads(session: AsyncSession, *, tenant_id: str, list_id: str,
                     status: LeadStatus | None, limit: int,
                     after: str | None) -> tuple[list[RowMapping], str | None]:
    """Up to ``limit`` leads of the list after lead id ``after`` (keyset, id order), and
    the cursor of the next page (``None`` on the last page)."""
    await get_list(session, tenant_id=tenant_id, list_id=list_id)
    query = select(leads).where(leads.c.tenant_id == tenant_id, leads.c.list_id == list_id)
    if status is not None:
        query = query.where(leads.c.status == status.value)
    if after is not None:
        query = query.where(leads.c.lead_id > after)
    rows = list((await session.execute(
        query.order_by(leads.c.lead_id).limit(limit + 1))).mappings())
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1]["lead_id"]
    return rows, None


async def get_lead(session: AsyncSession, *, tenant_id: str, lead_id: str) -> RowMapping:
    """The lead, or :class:`NotFound` (also for another tenant's lead)."""
    row = (await session.execute(select(leads).where(
        leads.c.tenant_id == tenant_id, leads.c.lead_id == lead_id))).mappings().first()
    if row is None:
        raise NotFound(f"lead {lead_id} not found")
    return row
