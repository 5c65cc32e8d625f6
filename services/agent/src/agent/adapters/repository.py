"""Loading and storing AgentSessions: the event stream plus its snapshot row, atomically."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from agent.adapters.db import agent_campaigns, agents, dispositions
from agent.domain.session import AgentSession, AgentState, CurrentCall, Decision
from common.events.catalog import DispositionSubmittedV1
from common.eventstore import ConcurrencyError, EventStore


class AgentRepository:
    """Agent sessions of one service database; every method is scoped to one tenant."""

    def __init__(self, event_store: EventStore) -> None:
        self._events = event_store

    async def get(self, session: AsyncSession, tenant_id: str, agent_id: str) -> AgentSession | None:
        """The agent's current state, or None if the tenant never had that agent."""
        row = (await session.execute(select(agents).where(
            agents.c.tenant_id == tenant_id, agents.c.agent_id == agent_id))).first()
        return _from_row(row) if row else None

    async def save(self, session: AsyncSession, tenant_id: str, before: AgentSession,
                   decision: Decision) -> None:
        """Append the decision's events after ``before.version`` and update the snapshot.

        Raises :class:`ConcurrencyError` if the stream moved since ``before`` was read.
        """
        after = decision.session
        # A savepoint: on ConcurrencyError nothing of this attempt stays in the transaction,
        # so the caller may reload and retry in the same transaction.
        async with session.begin_nested():
            await self._events.append(session, tenant_id=tenant_id, stream_id=before.stream_id,
                                      expected_version=before.version, payloads=decision.events)
            values = _to_row(after)
            if before.version == 0:
                await session.execute(insert(agents).values(tenant_id=tenant_id, **values))
            else:
                result = await session.execute(update(agents).where(
                    agents.c.tenant_id == tenant_id, agents.c.agent_id == after.agent_id,
                    agents.c.version == before.version).values(**values))
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    raise ConcurrencyError(
                        f"agent {after.agent_id} moved past version {before.version}")
            if after.campaign_ids != before.campaign_ids:
                await session.execute(delete(agent_campaigns).where(
                    agent_campaigns.c.tenant_id == tenant_id,
                    agent_campaigns.c.agent_id == after.agent_id))
                await session.execute(insert(agent_campaigns), [
                    {"tenant_id": tenant_id, "campaign_id": c, "agent_id": after.agent_id}
                    for c in after.campaign_ids])

    async def record_disposition(self, session: AsyncSession, tenant_id: str, session_id: str,
                                 version: int, submitted: DispositionSubmittedV1,
                                 notes: str | None) -> None:
        """Keep the disposition (stream ``version``) with the notes the event does not carry."""
        await session.execute(insert(dispositions).values(
            tenant_id=tenant_id, agent_id=submitted.agent_id, version=version,
            call_id=submitted.call_id, session_id=session_id, lead_id=submitted.lead_id,
            campaign_id=submitted.campaign_id,
            disposition=submitted.disposition, category=submitted.category,
            callback_at=submitted.callback_at, notes=notes, submitted_at=submitted.at))

    async def page(self, session: AsyncSession, tenant_id: str, *, campaign_id: str | None,
                   state: AgentState | None, after: str | None, limit: int) -> list[AgentSession]:
        """One page of the tenant's agents by agent_id, optionally of a campaign / in a state."""
        query = select(agents).where(agents.c.tenant_id == tenant_id)
        if campaign_id is not None:
            query = query.join(agent_campaigns, (agent_campaigns.c.tenant_id == agents.c.tenant_id)
                               & (agent_campaigns.c.agent_id == agents.c.agent_id)).where(
                agent_campaigns.c.campaign_id == campaign_id)
        if state is not None:
            query = query.where(agents.c.state == state.value)
        if after is not None:
            query = query.where(agents.c.agent_id > after)
        rows = await session.execute(query.order_by(agents.c.agent_id).limit(limit))
        return [_from_row(r) for r in rows]


def _from_row(row: Row[Any]) -> AgentSession:
    call = CurrentCall(row.call_id, row.lead_id, row.campaign_id) if row.call_id else None
    return AgentSession(
        agent_id=row.agent_id, state=AgentState(row.state), version=row.version,
        session_id=row.session_id, reason=row.reason, since=row.since,
        campaign_ids=tuple(row.campaign_ids), call=call,
    )


def _to_row(s: AgentSession) -> dict[str, Any]:
    return {
        "agent_id": s.agent_id, "session_id": s.session_id, "state": s.state.value,
        "reason": s.reason, "since": s.since, "campaign_ids": list(s.campaign_ids),
        "call_id": s.call.call_id if s.call else None,
        "lead_id": s.call.lead_id if s.call else None,
        "campaign_id": s.call.campaign_id if s.call else None,
        "version": s.version,
    }
