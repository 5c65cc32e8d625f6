"""Aggregate reads over the fact tables: the totals every KPI is computed from.

Each function is one ``SELECT`` with ``SUM(CASE ...)`` over an indexed slice (tenant +
campaign or agent), portable between SQLite and PostgreSQL. Agent time is clipped to the
range with integer arithmetic on the epoch-millisecond columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, and_, case, exists, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from reporting.adapters.db import agent_interval_campaigns, agent_intervals, call_facts
from reporting.domain.agent_intervals import LOGGED_OUT, epoch_ms
from reporting.domain.kpis import AgentTime, CallTotals, TimeRange


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _sum_if(condition: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, func.coalesce(value, 0)), else_=0)), 0)


def _ms(value: int) -> ColumnElement[int]:
    # Typed: epoch milliseconds overflow the 32-bit integer PostgreSQL infers for a literal.
    return literal(value, BigInteger)


async def call_totals(
    session: AsyncSession, tenant_id: str, span: TimeRange, *,
    campaign_id: str | None = None, agent_id: str | None = None,
) -> CallTotals:
    """Totals over the call facts of a campaign or an agent dialed within ``span``."""
    f = call_facts
    where = [f.c.tenant_id == tenant_id]
    if campaign_id is not None:
        where.append(f.c.campaign_id == campaign_id)
    if agent_id is not None:
        where.append(f.c.agent_id == agent_id)
    if span.start is not None:
        where.append(f.c.dialed_at >= span.start)
    if span.end is not None:
        where.append(f.c.dialed_at < span.end)
    human = f.c.answered_by == "human"
    handled = and_(f.c.connected_at.is_not(None), f.c.ended_at.is_not(None))
    row = (await session.execute(select(
        _count(f.c.dialed_at.is_not(None)).label("dials"),
        _count(f.c.answered_by.is_not(None)).label("connects"),
        _count(human).label("contacts"),
        _count(and_(human, f.c.category == "success")).label("conversions"),
        _count(f.c.abandoned == true()).label("abandoned"),
        _count(handled).label("handled"),
        _sum_if(handled, f.c.talk_ms).label("talk_ms"),
        _sum_if(handled, f.c.acw_ms).label("acw_ms"),
    ).where(*where))).one()
    return CallTotals(**{name: int(value) for name, value in row._mapping.items()})


async def agent_time(
    session: AsyncSession, tenant_id: str, span: TimeRange, now: datetime, *,
    campaign_id: str | None = None, agent_id: str | None = None,
) -> AgentTime:
    """Milliseconds per logged-in state of a campaign's agents or one agent, inside ``span``.

    An interval still open counts up to ``now``.
    """
    i = agent_intervals
    end = func.coalesce(i.c.end_ms, _ms(epoch_ms(now)))
    lo: ColumnElement[Any] = i.c.start_ms
    hi: ColumnElement[Any] = end
    where = [i.c.tenant_id == tenant_id, i.c.state != LOGGED_OUT]
    if span.start is not None:
        start = _ms(epoch_ms(span.start))
        lo = case((i.c.start_ms > start, i.c.start_ms), else_=start)
        where.append(end > start)
    if span.end is not None:
        stop = _ms(epoch_ms(span.end))
        hi = case((end < stop, end), else_=stop)
        where.append(i.c.start_ms < stop)
    if agent_id is not None:
        where.append(i.c.agent_id == agent_id)
    stmt = select(i.c.state, _sum_if(hi > lo, hi - lo)).group_by(i.c.state)
    if campaign_id is not None:
        c = agent_interval_campaigns
        stmt = stmt.join(c, and_(c.c.tenant_id == i.c.tenant_id,
                                 c.c.interval_id == i.c.interval_id))
        where += [c.c.tenant_id == tenant_id, c.c.campaign_id == campaign_id]
    by_state = {state: int(ms) for state, ms in await session.execute(stmt.where(*where))}
    return AgentTime(ready_ms=by_state.get("ready", 0), paused_ms=by_state.get("paused", 0),
                     on_call_ms=by_state.get("on_call", 0),
                     wrap_up_ms=by_state.get("wrap_up", 0))


async def campaign_has_facts(session: AsyncSession, tenant_id: str, campaign_id: str) -> bool:
    """Whether this tenant has any call fact or agent interval of the campaign (all time)."""
    f, c = call_facts, agent_interval_campaigns
    query = select(
        exists().where(f.c.tenant_id == tenant_id, f.c.campaign_id == campaign_id)
        | exists().where(c.c.tenant_id == tenant_id, c.c.campaign_id == campaign_id))
    return bool(await session.scalar(query))


async def agent_has_facts(session: AsyncSession, tenant_id: str, agent_id: str) -> bool:
    """Whether this tenant has any call fact or state interval of the agent (all time)."""
    f, i = call_facts, agent_intervals
    query = select(
        exists().where(f.c.tenant_id == tenant_id, f.c.agent_id == agent_id)
        | exists().where(i.c.tenant_id == tenant_id, i.c.agent_id == agent_id))
    return bool(await session.scalar(query))
