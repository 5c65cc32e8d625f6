"""``/v1/campaigns``: create, read, start/pause/stop and live status (tenant-scoped)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from common.app import RuntimeDep, SessionDep
from common.auth import Principal, require_scopes
from dialer.api.schemas import (
    CampaignCreate,
    CampaignOut,
    CampaignSettingsPatch,
    CampaignStatusOut,
)
from dialer.app.campaigns import CampaignDesk
from dialer.domain.campaign import CampaignCommand

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])

Reader = Annotated[Principal, Depends(require_scopes("campaigns:read"))]
Writer = Annotated[Principal, Depends(require_scopes("campaigns:write"))]


def _desk(runtime: RuntimeDep) -> CampaignDesk:
    return CampaignDesk(runtime.event_store, runtime.clock)


Desk = Annotated[CampaignDesk, Depends(_desk)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CampaignOut)
async def create_campaign(body: CampaignCreate, principal: Writer, session: SessionDep,
                          desk: Desk) -> CampaignOut:
    """Create a campaign (state ``created``). 422 with the reason for invalid settings."""
    return CampaignOut.of(await desk.create(session, principal.tenant_id, **body.changes()))


@router.patch("/{campaign_id}", response_model=CampaignOut)
async def update_campaign(campaign_id: str, body: CampaignSettingsPatch, principal: Writer,
                          session: SessionDep, desk: Desk) -> CampaignOut:
    """Change settings (applied from the next pacing decision). 422 with the reason for
    invalid settings; 409 if the campaign is stopped; 404 for another tenant's."""
    return CampaignOut.of(await desk.update_settings(session, principal.tenant_id, campaign_id,
                                                     body.changes()))


@router.get("/{campaign_id}", response_model=CampaignOut)
async def get_campaign(campaign_id: str, principal: Reader, session: SessionDep,
                       desk: Desk) -> CampaignOut:
    return CampaignOut.of(await desk.get(session, principal.tenant_id, campaign_id))


@router.get("/{campaign_id}/status", response_model=CampaignStatusOut)
async def campaign_status(campaign_id: str, principal: Reader, session: SessionDep,
                          desk: Desk) -> CampaignStatusOut:
    """Hopper depth, calls by stage and ready agents, now."""
    return CampaignStatusOut.of(
        campaign_id, await desk.status(session, principal.tenant_id, campaign_id))


async def _transition(command: CampaignCommand, campaign_id: str, principal: Principal,
                      session: SessionDep, desk: CampaignDesk) -> CampaignOut:
    return CampaignOut.of(await desk.apply(session, principal.tenant_id, campaign_id, command))


@router.post("/{campaign_id}/start", response_model=CampaignOut)
async def start_campaign(campaign_id: str, principal: Writer, session: SessionDep,
                         desk: Desk) -> CampaignOut:
    """created|paused → running; otherwise 409 naming the current state."""
    return await _transition(CampaignCommand.START, campaign_id, principal, session, desk)


@router.post("/{campaign_id}/pause", response_model=CampaignOut)
async def pause_campaign(campaign_id: str, principal: Writer, session: SessionDep,
                         desk: Desk) -> CampaignOut:
    """running → paused (calls in flight finish; no new dials)."""
    return await _transition(CampaignCommand.PAUSE, campaign_id, principal, session, desk)


@router.post("/{campaign_id}/stop", response_model=CampaignOut)
async def stop_campaign(campaign_id: str, principal: Writer, session: SessionDep,
                        desk: Desk) -> CampaignOut:
    """created|running|paused → stopped (terminal); hopper leads go back to leads."""
    return await _transition(CampaignCommand.STOP, campaign_id, principal, session, desk)
