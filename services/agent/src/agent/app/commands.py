"""Use cases behind the agent API: load the agent, decide, append + update in one transaction.

A consumed call event may change the same agent at the same moment; the event store's
expected version makes one of the two writers fail with ``ConcurrencyError``. A command
that loses is decided once more on the fresh state (which may now refuse it: e.g. a
logout that lost to a call connection is a 409 "finish the call first").
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from agent.adapters.repository import AgentRepository
from agent.domain.session import AfterDisposition, AgentSession, AgentState, Decision
from agent.domain.vocabulary import Vocabulary
from common.clock import Clock
from common.errors import Conflict, NotFound
from common.events.catalog import DispositionSubmittedV1
from common.eventstore import ConcurrencyError

log = logging.getLogger(__name__)

Decide = Callable[[AgentSession], Decision]


def new_session_id() -> str:
    """A fresh id for an agent's login session."""
    return f"sess-{uuid.uuid4().hex}"


class AgentCommands:
    """The agent API's commands and queries for one request (its transaction)."""

    def __init__(self, repository: AgentRepository, clock: Clock, vocabulary: Vocabulary) -> None:
        self._repo = repository
        self._clock = clock
        self._vocabulary = vocabulary

    # ------------------------------------------------------------------ queries
    async def get(self, session: AsyncSession, tenant_id: str, agent_id: str) -> AgentSession:
        agent = await self._repo.get(session, tenant_id, agent_id)
        if agent is None:
            raise NotFound(f"agent {agent_id!r} not found")
        return agent

    async def page(self, session: AsyncSession, tenant_id: str, *, campaign_id: str | None,
                   state: AgentState | None, after: str | None, limit: int) -> list[AgentSession]:
        return await self._repo.page(session, tenant_id, campaign_id=campaign_id, state=state,
                                     after=after, limit=limit)

    # ------------------------------------------------------------------ commands
    async def login(self, session: AsyncSession, tenant_id: str, agent_id: str,
                    campaign_ids: Sequence[str], *, ready: bool) -> AgentSession:
        return await self._execute(session, tenant_id, agent_id, lambda a: a.login(
            campaign_ids, ready=ready, session_id=new_session_id(), now=self._clock.now()),
            create=True)

    async def ready(self, session: AsyncSession, tenant_id: str, agent_id: str) -> AgentSession:
        return await self._execute(session, tenant_id, agent_id,
                                   lambda a: a.make_ready(self._clock.now()))

    async def pause(self, session: AsyncSession, tenant_id: str, agent_id: str,
                    reason: str) -> AgentSession:
        return await self._execute(session, tenant_id, agent_id, lambda a: a.pause(
            reason, vocabulary=self._vocabulary, now=self._clock.now()))

    async def logout(self, session: AsyncSession, tenant_id: str, agent_id: str) -> AgentSession:
        return await self._execute(session, tenant_id, agent_id,
                                   lambda a: a.logout(self._clock.now()))

    async def hang_up(self, session: AsyncSession, tenant_id: str, agent_id: str) -> AgentSession:
        return await self._execute(session, tenant_id, agent_id,
                                   lambda a: a.hang_up(self._clock.now()))

    async def submit_disposition(
        self, session: AsyncSession, tenant_id: str, agent_id: str, *, call_id: str,
        disposition: str, callback_at: datetime | None, notes: str | None,
        then: AfterDisposition, pause_reason: str | None,
    ) -> AgentSession:
        """Record the disposition (event + notes row) and end the agent's wrap-up."""
        decision = await self._decide_and_save(session, tenant_id, agent_id, lambda a: (
            a.submit_disposition(
                call_id=call_id, disposition=disposition, callback_at=callback_at,
                vocabulary=self._vocabulary, now=self._clock.now(), then=then,
                pause_reason=pause_reason)))
        after = decision.session
        first_version = after.version - len(decision.events) + 1
        for version, event in enumerate(decision.events, start=first_version):
            if isinstance(event, DispositionSubmittedV1):
                assert after.session_id is not None  # a disposition happens within a session
                await self._repo.record_disposition(session, tenant_id, after.session_id,
                                                    version, event, notes)
        return after

    # ------------------------------------------------------------------ internals
    async def _execute(self, session: AsyncSession, tenant_id: str, agent_id: str,
                       decide: Decide, *, create: bool = False) -> AgentSession:
        decision = await self._decide_and_save(session, tenant_id, agent_id, decide, create=create)
        return decision.session

    async def _decide_and_save(self, session: AsyncSession, tenant_id: str, agent_id: str,
                               decide: Decide, *, create: bool = False) -> Decision:
        """Load, decide and save; on a concurrent change, once more on fresh state."""
        try:
            return await self._attempt(session, tenant_id, agent_id, decide, create)
        except ConcurrencyError:
            log.info("agent %s changed concurrently; deciding again", agent_id)
        try:
            return await self._attempt(session, tenant_id, agent_id, decide, create)
        except ConcurrencyError:
            raise Conflict(f"agent {agent_id!r} is changing concurrently; "
                           "retry the request") from None

    async def _attempt(self, session: AsyncSession, tenant_id: str, agent_id: str,
                       decide: Decide, create: bool) -> Decision:
        before = await self._repo.get(session, tenant_id, agent_id)
        if before is None:
            if not create:
                raise NotFound(f"agent {agent_id!r} not found")
            before = AgentSession(agent_id)
        decision = decide(before)
        if decision.events:
            await self._repo.save(session, tenant_id, before, decision)
        return decision
