"""Request and response bodies of the agent API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from agent.domain.session import AgentSession, AgentState

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=ID_PATTERN)]
"""An agent, call, lead or campaign id: letters, digits, '.', '_', ':', '-' (100 max)."""
Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not ignored


class LoginRequest(_Request):
    campaign_ids: list[Identifier] = Field(
        min_length=1, max_length=100, description="campaigns the agent takes calls for")
    ready: bool = Field(False, description="ready at once instead of paused('logged_in')")


class PauseRequest(_Request):
    reason: Name = Field(description="one of the configured pause reasons, e.g. break")


class DispositionRequest(_Request):
    call_id: Identifier = Field(description="the call being wrapped up")
    disposition: Name = Field(description="one of the configured dispositions, e.g. sale")
    callback_at: AwareDatetime | None = Field(
        None, description="required iff the disposition is a callback; a future instant")
    notes: str | None = Field(None, max_length=4000, description="free text, kept privately")
    then: Literal["ready", "pause"] = Field("ready", description="state after the disposition")
    pause_reason: Name | None = Field(
        None, description='with then: "pause"; a configured reason (default after_call)')


class CallView(BaseModel):
    """The call an agent is on or wrapping up: what the agent's screen needs to load."""

    call_id: str
    lead_id: str
    campaign_id: str


class AgentView(BaseModel):
    agent_id: str
    session_id: str | None
    state: AgentState
    reason: str | None
    since: datetime | None = Field(description="when the current state began (UTC)")
    campaign_ids: list[str]
    current_call: CallView | None

    @classmethod
    def of(cls, agent: AgentSession) -> AgentView:
        call = agent.call
        return cls(
            agent_id=agent.agent_id, session_id=agent.session_id, state=agent.state,
            reason=agent.reason, since=agent.since, campaign_ids=list(agent.campaign_ids),
            current_call=CallView(call_id=call.call_id, lead_id=call.lead_id,
                                  campaign_id=call.campaign_id) if call else None,
        )


class AgentPage(BaseModel):
    items: list[AgentView]
    next_after: str | None = Field(
        description="pass as ?after= for the next page; null on the last page")
