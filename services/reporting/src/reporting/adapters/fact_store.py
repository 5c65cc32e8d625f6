"""Bulk writes of the projection: one multi-row upsert per table per consumer poll.

``INSERT ... ON CONFLICT`` is dialect-specific (PostgreSQL and SQLite both have it with the
same shape). Rows are sorted by key so that two workers upserting overlapping calls lock
rows in the same order (no deadlock). A key appears at most once per statement: callers
merge a poll's patches first (PostgreSQL refuses to update one row twice in a statement).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from reporting.adapters.db import agent_interval_campaigns, agent_intervals, call_facts
from reporting.domain.agent_intervals import AgentInterval, epoch_ms
from reporting.domain.call_facts import CALL_FACT_FIELDS, SET_ONCE_FIELDS, CallPatch

CallKey = tuple[str, str]  # (tenant_id, call_id)


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


async def upsert_call_facts(session: AsyncSession, patches: Mapping[CallKey, CallPatch]) -> None:
    """Merge patches into ``call_facts`` with the rules of :mod:`reporting.domain.call_facts`."""
    if not patches:
        return
    rows = [
        {"tenant_id": tenant, "call_id": call_id,
         **{name: patch.get(name) for name in CALL_FACT_FIELDS}}
        for (tenant, call_id), patch in sorted(patches.items())
    ]
    stmt = _insert(session, call_facts)
    merged = {
        name: (func.coalesce(call_facts.c[name], stmt.excluded[name]) if name in SET_ONCE_FIELDS
               else func.coalesce(stmt.excluded[name], call_facts.c[name]))
        for name in CALL_FACT_FIELDS
    }
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["tenant_id", "call_id"], set_=merged), rows)


async def open_intervals(
    session: AsyncSession, tenant_id: str, agent_ids: Iterable[str]
) -> list[AgentInterval]:
    """The open intervals of ``agent_ids`` (normally one per agent, or none)."""
    t = agent_intervals
    result = await session.execute(
        select(t).where(t.c.tenant_id == tenant_id, t.c.agent_id.in_(sorted(set(agent_ids))),
                        t.c.ended_at.is_(None)))
    return [
        AgentInterval(
            interval_id=r.interval_id, agent_id=r.agent_id, session_id=r.session_id,
            state=r.state, reason=r.reason, campaign_ids=tuple(r.campaign_ids),
            call_id=r.call_id, started_at=r.started_at,
        )
        for r in result
    ]


async def close_intervals(
    session: AsyncSession, tenant_id: str, closed: Sequence[AgentInterval]
) -> None:
    """Set the end of intervals that were open."""
    if not closed:
        return
    t = agent_intervals
    stmt = (update(t)
            .where(t.c.tenant_id == bindparam("b_tenant"),
                   t.c.interval_id == bindparam("b_interval"))
            .values(ended_at=bindparam("b_ended_at", type_=t.c.ended_at.type),
                    end_ms=bindparam("b_end_ms", type_=t.c.end_ms.type)))
    await session.execute(stmt, [
        {"b_tenant": tenant_id, "b_interval": i.interval_id, "b_ended_at": i.ended_at,
         "b_end_ms": epoch_ms(i.ended_at) if i.ended_at else None}
        for i in sorted(closed, key=lambda i: i.interval_id)
    ])


async def insert_intervals(
    session: AsyncSession, tenant_id: str, opened: Sequence[AgentInterval]
) -> None:
    """Store new intervals and their campaigns (a replayed interval keeps its first row)."""
    if not opened:
        return
    rows = [
        {"tenant_id": tenant_id, "interval_id": i.interval_id, "agent_id": i.agent_id,
         "session_id": i.session_id, "state": i.state, "reason": i.reason,
         "campaign_ids": list(i.campaign_ids), "call_id": i.call_id,
         "started_at": i.started_at, "ended_at": i.ended_at,
         "start_ms": epoch_ms(i.started_at),
         "end_ms": epoch_ms(i.ended_at) if i.ended_at else None}
        for i in sorted(opened, key=lambda i: i.interval_id)
    ]
    stmt = _insert(session, agent_intervals)
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["tenant_id", "interval_id"]),
                          rows)
    links = sorted({(tenant_id, c, i.interval_id) for i in opened for c in i.campaign_ids})
    if links:
        link_stmt = _insert(session, agent_interval_campaigns).on_conflict_do_nothing(
            index_elements=["tenant_id", "campaign_id", "interval_id"])
        await session.execute(link_stmt, [
            {"tenant_id": t, "campaign_id": c, "interval_id": i} for t, c, i in links])
