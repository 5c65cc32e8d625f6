"""The agent API: sessions, states and dispositions of a tenant's agents (``/v1/agents``).

Commands answer 200 with the agent's state after the command; an illegal transition is a
409 whose details carry the current state and the commands allowed in it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from agent.adapters.repository import AgentRepository
from agent.api.schemas import (
    ID_PATTERN,
    AgentPage,
    AgentView,
    DispositionRequest,
    Identifier,
    LoginRequest,
    PauseRequest,
)
from agent.app.commands import AgentCommands
from agent.domain.session import AgentState
from agent.settings import AgentSettings
from common.app import RuntimeDep, SessionDep
from common.auth import Principal, require_scopes

router = APIRouter(prefix="/v1/agents", tags=["agents"])

Reader = Annotated[Principal, Depends(require_scopes("agents:read"))]
Writer = Annotated[Principal, Depends(require_scopes("agents:write"))]
AgentId = Annotated[str, Path(min_length=1, max_length=100, pattern=ID_PATTERN,
                              description="chosen by the tenant, e.g. agent-3")]


def agent_commands(runtime: RuntimeDep) -> AgentCommands:
    """The request's command handlers, with the configured vocabulary."""
    settings = runtime.settings
    if not isinstance(settings, AgentSettings):
        raise TypeError("the agent service runs with AgentSettings (SPEC.settings_cls)")
    return AgentCommands(AgentRepository(runtime.event_store), runtime.clock,
                         settings.vocabulary())


Commands = Annotated[AgentCommands, Depends(agent_commands)]

_REFUSED: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such agent in the tenant"},
    409: {"description": "not allowed in the agent's current state"},
}


@router.post("/{agent_id}/login", response_model=AgentView, responses={409: _REFUSED[409]})
async def login(agent_id: AgentId, body: LoginRequest, principal: Writer,
                session: SessionDep, commands: Commands) -> AgentView:
    """Open a session on campaigns: paused('logged_in'), or ready with ``ready: true``."""
    return AgentView.of(await commands.login(session, principal.tenant_id, agent_id,
                                             body.campaign_ids, ready=body.ready))


@router.post("/{agent_id}/ready", response_model=AgentView, responses=_REFUSED)
async def ready(agent_id: AgentId, principal: Writer, session: SessionDep,
                commands: Commands) -> AgentView:
    """Paused -> ready: the dialer may route calls to the agent."""
    return AgentView.of(await commands.ready(session, principal.tenant_id, agent_id))


@router.post("/{agent_id}/pause", response_model=AgentView, responses=_REFUSED)
async def pause(agent_id: AgentId, body: PauseRequest, principal: Writer, session: SessionDep,
                commands: Commands) -> AgentView:
    """Ready (or paused for another reason) -> paused(reason)."""
    return AgentView.of(await commands.pause(session, principal.tenant_id, agent_id, body.reason))


@router.post("/{agent_id}/logout", response_model=AgentView, responses=_REFUSED)
async def logout(agent_id: AgentId, principal: Writer, session: SessionDep,
                 commands: Commands) -> AgentView:
    """Ready or paused -> logged_out (on a call: 409, finish the call first)."""
    return AgentView.of(await commands.logout(session, principal.tenant_id, agent_id))


@router.post("/{agent_id}/hangup", response_model=AgentView, responses=_REFUSED)
async def hang_up(agent_id: AgentId, principal: Writer, session: SessionDep,
                  commands: Commands) -> AgentView:
    """On_call -> wrap_up (the dialer ends the call); already in wrap_up: no change."""
    return AgentView.of(await commands.hang_up(session, principal.tenant_id, agent_id))


@router.post("/{agent_id}/disposition", response_model=AgentView, responses=_REFUSED)
async def submit_disposition(agent_id: AgentId, body: DispositionRequest, principal: Writer,
                             session: SessionDep, commands: Commands) -> AgentView:
    """Wrap_up -> ready (or paused with ``then: "pause"``), recording the call's result."""
    return AgentView.of(await commands.submit_disposition(
        session, principal.tenant_id, agent_id, call_id=body.call_id,
        disposition=body.disposition, callback_at=body.callback_at, notes=body.notes,
        then=body.then, pause_reason=body.pause_reason))


@router.get("/{agent_id}", response_model=AgentView, responses={404: _REFUSED[404]})
async def get_agent(agent_id: AgentId, principal: Reader, session: SessionDep,
                    commands: Commands) -> AgentView:
    """The agent's state and, on a call, the lead context (call, lead and campaign ids)."""
    return AgentView.of(await commands.get(session, principal.tenant_id, agent_id))


@router.get("", response_model=AgentPage)
async def list_agents(
    principal: Reader, session: SessionDep, commands: Commands,
    campaign_id: Annotated[Identifier | None, Query(description="agents of this campaign")] = None,
    state: Annotated[AgentState | None, Query()] = None,
    after: Annotated[Identifier | None, Query(description="next_after of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AgentPage:
    """The tenant's agents by agent_id, optionally of a campaign and/or in a state."""
    agents = await commands.page(session, principal.tenant_id, campaign_id=campaign_id,
                                 state=state, after=after, limit=limit + 1)
    more = len(agents) > limit
    items = [AgentView.of(a) for a in agents[:limit]]
    return AgentPage(items=items, next_after=items[-1].agent_id if more else None)
