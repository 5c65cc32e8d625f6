"""Event handlers for the ``calls`` topic: calls put agents on_call and into wrap_up.

- ``CallConnectedV1`` -> the agent goes on_call with the call's lead context, whatever
  its state (the call IS bridged); a warning is logged if the agent was not ready.
- ``CallEndedV1`` for the agent's current call while on_call -> wrap_up.
Other call events are ignored. A ``ConcurrencyError`` (an API command on the same agent
won the race) propagates: the consumer runner retries the record on fresh state.

The state change is stamped with the call event's ``at`` (when it happened at the
carrier), not with the time this consumer processed it, so that agent state intervals
do not absorb consumer lag.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from agent.adapters.repository import AgentRepository
from agent.app.commands import new_session_id
from agent.domain.session import AgentSession, CurrentCall
from common.consumer import ConsumedEvent
from common.events.catalog import CallConnectedV1, CallEndedV1

log = logging.getLogger(__name__)

_HANDLED = frozenset({CallConnectedV1.event_type, CallEndedV1.event_type})


class CallEventHandler:
    """Applies call events to the agent they concern (tenant from the envelope)."""

    def __init__(self, repository: AgentRepository) -> None:
        self._repo = repository

    async def handle(self, session: AsyncSession, event: ConsumedEvent) -> None:
        """The consumer runner's handler (runs in the runner's transaction)."""
        if event.envelope.type not in _HANDLED:  # dialed, answered, abandoned: no agent
            return
        tenant_id, payload = event.envelope.tenantid, event.payload()
        if isinstance(payload, CallConnectedV1):
            await self._connected(session, tenant_id, payload)
        elif isinstance(payload, CallEndedV1):
            await self._ended(session, tenant_id, payload)

    async def _connected(self, session: AsyncSession, tenant_id: str,
                         call: CallConnectedV1) -> None:
        agent = await self._repo.get(session, tenant_id, call.agent_id) \
            or AgentSession(call.agent_id)
        decision = agent.connect_call(
            CurrentCall(call.call_id, call.lead_id, call.campaign_id),
            at=call.at, session_id=new_session_id())
        if not decision.events:
            return
        if not agent.expects_call:
            log.warning("call %s was bridged to agent %s while %s: moving it to on_call",
                        call.call_id, call.agent_id, agent.state.value)
        await self._repo.save(session, tenant_id, agent, decision)

    async def _ended(self, session: AsyncSession, tenant_id: str, call: CallEndedV1) -> None:
        if call.agent_id is None:
            return
        agent = await self._repo.get(session, tenant_id, call.agent_id)
        if agent is None:
            return
        decision = agent.end_call(call.call_id, at=call.at)
        if decision.events:
            await self._repo.save(session, tenant_id, agent, decision)
