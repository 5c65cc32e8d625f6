"""Command handlers against an in-memory repository: the retry on a concurrent change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agent.app.commands import AgentCommands
from agent.domain.session import AgentSession, AgentState, CurrentCall, Decision, TransitionRefused
from agent.domain.vocabulary import Vocabulary
from common.clock import FixedClock
from common.errors import Conflict, NotFound
from common.eventstore import ConcurrencyError

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
CALL = CurrentCall("call-1", "lead-1", "camp-1")


class RacingRepository:
    """Agents of tenant acme in memory; the first ``losses`` saves lose to ``rival``."""

    def __init__(self, *agents: AgentSession, losses: int = 0,
                 rival: AgentSession | None = None) -> None:
        self.agents = {a.agent_id: a for a in agents}
        self.losses, self.rival = losses, rival
        self.saved: list[Decision] = []

    async def get(self, _session: Any, tenant_id: str, agent_id: str) -> AgentSession | None:
        return self.agents.get(agent_id) if tenant_id == "acme" else None

    async def save(self, _session: Any, _tenant_id: str, before: AgentSession,
                   decision: Decision) -> None:
        if self.losses:  # a concurrent writer commits first
            self.losses -= 1
            if self.rival:
                self.agents[self.rival.agent_id] = self.rival
            raise ConcurrencyError("lost")
        stored = self.agents.get(before.agent_id)
        assert before.version == (stored.version if stored else 0)
        self.agents[before.agent_id] = decision.session
        self.saved.append(decision)


def ready_agent() -> AgentSession:
    return AgentSession("agent-3").login(["camp-1"], ready=True, session_id="s", now=T0).session


def commands(repo: RacingRepository) -> AgentCommands:
    return AgentCommands(repo, FixedClock(T0), Vocabulary())  # type: ignore[arg-type]


async def test_a_command_that_loses_a_race_is_decided_again_on_fresh_state() -> None:
    agent = ready_agent()
    rival = agent.pause("lunch", vocabulary=Vocabulary(), now=T0).session
    repo = RacingRepository(agent, losses=1, rival=rival)
    after = await commands(repo).pause(None, "acme", "agent-3", "break")  # type: ignore[arg-type]
    assert (after.reason, after.version) == ("break", rival.version + 1)


async def test_a_logout_that_loses_to_a_call_is_refused() -> None:
    agent = ready_agent()
    on_call = agent.connect_call(CALL, at=T0, session_id="s").session
    repo = RacingRepository(agent, losses=1, rival=on_call)
    with pytest.raises(TransitionRefused, match="finish the call first"):
        await commands(repo).logout(None, "acme", "agent-3")  # type: ignore[arg-type]
    assert repo.saved == []


async def test_losing_twice_is_a_conflict_asking_to_retry() -> None:
    repo = RacingRepository(ready_agent(), losses=2)
    with pytest.raises(Conflict, match="changing concurrently; retry the request"):
        await commands(repo).logout(None, "acme", "agent-3")  # type: ignore[arg-type]


async def test_unknown_agent_is_not_found_but_login_creates_it() -> None:
    repo = RacingRepository(ready_agent())
    with pytest.raises(NotFound, match="agent 'agent-4' not found"):
        await commands(repo).ready(None, "acme", "agent-4")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await commands(repo).get(None, "globex", "agent-3")  # type: ignore[arg-type]
    after = await commands(repo).login(None, "acme", "agent-4", ["c"],  # type: ignore[arg-type]
                                       ready=True)
    assert (after.agent_id, after.state, after.version) == ("agent-4", AgentState.READY, 1)
