"""Preview mode for agents: reserve the next lead, then dial or skip it (tenant-scoped)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.engine import Row

from common.app import RuntimeDep, SessionDep
from common.auth import Principal, require_scopes
from dialer.app.calls import CallBook
from dialer.app.hopper import Hopper
from dialer.app.previews import PreviewDesk
from dialer.settings import DialerSettings

router = APIRouter(prefix="/v1", tags=["previews"])

Agent = Annotated[Principal, Depends(require_scopes("agents:write"))]


class PreviewOut(BaseModel):
    """A lead shown to one agent. The number is the agent's to see (never logged)."""

    preview_id: str
    campaign_id: str
    agent_id: str
    lead_id: str
    list_id: str
    attempt: int
    phone_e164: str
    state: Literal["reserved", "dial_requested", "dialed", "returned", "skipped"]
    reserved_at: datetime
    expires_at: datetime = Field(description="the campaign's timeout action applies then")
    call_id: str | None = Field(None, description="the call, once placed")
    outcome: str | None = Field(
        None, description="skipped, timeout_skipped, timeout_dialed, or why it went back")

    @classmethod
    def of(cls, row: Row[Any]) -> PreviewOut:
        return cls.model_validate(row._mapping, from_attributes=False)


def _desk(runtime: RuntimeDep) -> PreviewDesk:
    settings = cast(DialerSettings, runtime.settings)
    hopper = Hopper(runtime.event_store, runtime.clock, settings.hopper_cap)
    return PreviewDesk(hopper, CallBook(runtime.event_store))


Desk = Annotated[PreviewDesk, Depends(_desk)]


@router.post("/agents/{agent_id}/preview", response_model=PreviewOut,
             responses={204: {"description": "no lead waits in the agent's preview campaigns"}})
async def preview_next(agent_id: str, principal: Agent, session: SessionDep, desk: Desk,
                       runtime: RuntimeDep) -> PreviewOut | Response:
    """Reserve the next lead of the agent's running preview campaigns for this agent.
    404 unknown agent (or another tenant's); 409 agent not ready or already holding a
    preview or a call; 204 nothing to preview."""
    row = await desk.reserve(session, principal.tenant_id, agent_id, runtime.clock.now())
    if row is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return PreviewOut.of(row)


@router.get("/previews/{preview_id}", response_model=PreviewOut)
async def get_preview(preview_id: str, principal: Agent, session: SessionDep,
                      desk: Desk) -> PreviewOut:
    return PreviewOut.of(await desk.get(session, principal.tenant_id, preview_id))


@router.post("/previews/{preview_id}/dial", response_model=PreviewOut,
             status_code=status.HTTP_202_ACCEPTED)
async def dial_preview(preview_id: str, principal: Agent, session: SessionDep,
                       desk: Desk) -> PreviewOut:
    """Dial the previewed lead: the campaign's pacing loop places the call within a tick
    (after the last-mile check) and a live answer goes to this agent. 409 unless reserved."""
    return PreviewOut.of(await desk.request_dial(session, principal.tenant_id, preview_id))


@router.post("/previews/{preview_id}/skip", response_model=PreviewOut)
async def skip_preview(preview_id: str, principal: Agent, session: SessionDep, desk: Desk,
                       runtime: RuntimeDep) -> PreviewOut:
    """Skip the lead: it goes back to leads (``preview_skipped``: retried after the
    campaign's retry delay). 409 unless reserved."""
    return PreviewOut.of(await desk.skip(session, principal.tenant_id, preview_id,
                                         runtime.clock.now()))
