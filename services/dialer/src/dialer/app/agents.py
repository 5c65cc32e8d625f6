"""Agent projection (``agents`` topic) and the end of connected calls.

The dialer keeps each agent's last reported state, the campaigns it serves and since when
it is ready (longest-idle routing). When an agent hangs up (``wrap_up``) or logs out with
a call, that call ends as ``completed`` with its talk time; when it leaves ``on_call`` /
``wrap_up`` for good, the call's ``released_at`` closes its handle time (pacing learns
handle times from them).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from common.consumer import ConsumedEvent
from common.events.catalog import AgentStateChangedV1
from dialer.adapters.db import agent_campaigns, agents, calls
from dialer.app.calls import CallBook
from dialer.domain.dialing import CallState

_HANG_UP_STATES = ("wrap_up", "logged_out")
_BUSY_STATES = ("on_call", "wrap_up")


class AgentDesk:
    """Applies agent state changes to the projection and to the calls they end."""

    def __init__(self, call_book: CallBook) -> None:
        self.calls = call_book

    async def on_agent_event(self, session: AsyncSession, event: ConsumedEvent) -> None:
        """Handle one event of the ``agents`` topic (dispositions are not the dialer's)."""
        p = event.payload()
        if not isinstance(p, AgentStateChangedV1):
            return
        tenant = event.envelope.tenantid
        found = await session.execute(select(agents).where(
            agents.c.tenant_id == tenant, agents.c.agent_id == p.agent_id))
        current = found.first()
        campaign_ids = list(p.campaign_ids) or (
            list(current.campaign_ids) if current is not None and p.state != "logged_out" else [])
        ready_since = None
        if p.state == "ready":
            ready_since = p.at
            if current is not None and current.state == "ready" and current.ready_since:
                ready_since = current.ready_since  # a repeated "ready" keeps its place in line
        values: dict[str, Any] = {"state": p.state, "campaign_ids": campaign_ids,
                                  "ready_since": ready_since, "call_id": p.call_id,
                                  "updated_at": p.at}
        if p.state == "logged_out":  # a logged-out agent is reserved for nothing
            values["reserved_call_id"] = None
        if current is None:
            await session.execute(insert(agents).values(tenant_id=tenant, agent_id=p.agent_id,
                                                        **values))
        else:
            await session.execute(update(agents).where(
                agents.c.tenant_id == tenant, agents.c.agent_id == p.agent_id).values(**values))
        if (current is not None and current.call_id and current.state in _BUSY_STATES
                and p.state not in _BUSY_STATES):
            await self._released(session, tenant, current.call_id, p)
        if current is None or sorted(current.campaign_ids) != sorted(campaign_ids):
            await self._set_membership(session, tenant, p.agent_id, campaign_ids)
        if p.state in _HANG_UP_STATES:
            # wrap_up ends the call it names; a logout also ends the call reserved for it.
            call_ids = {p.call_id} if p.call_id else set()
            if p.state == "logged_out" and current is not None and current.reserved_call_id:
                call_ids.add(current.reserved_call_id)
            await self._end_connected(session, tenant, p, call_ids)

    async def _released(self, session: AsyncSession, tenant: str, call_id: str,
                        p: AgentStateChangedV1) -> None:
        """The agent is done with ``call_id`` (talk + wrap-up): its handle time ends."""
        await session.execute(update(calls).where(
            calls.c.tenant_id == tenant, calls.c.call_id == call_id,
            calls.c.agent_id == p.agent_id, calls.c.released_at.is_(None))
            .values(released_at=p.at))

    async def _set_membership(self, session: AsyncSession, tenant: str, agent_id: str,
                              campaign_ids: list[str]) -> None:
        await session.execute(delete(agent_campaigns).where(
            agent_campaigns.c.tenant_id == tenant, agent_campaigns.c.agent_id == agent_id))
        if campaign_ids:
            await session.execute(insert(agent_campaigns), [
                {"tenant_id": tenant, "campaign_id": c, "agent_id": agent_id}
                for c in sorted(set(campaign_ids))])

    async def _end_connected(self, session: AsyncSession, tenant: str, p: AgentStateChangedV1,
                             call_ids: set[str]) -> None:
        """End those of ``call_ids`` that are connected to this agent, as completed."""
        if not call_ids:
            return
        result = await session.execute(select(calls).where(
            calls.c.tenant_id == tenant, calls.c.call_id.in_(call_ids),
            calls.c.agent_id == p.agent_id, calls.c.state == CallState.CONNECTED.value))
        for call in result.all():
            await self.calls.end(session, call, "completed", p.at)
