"""Request and response bodies of the campaigns API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Row

from dialer.app.campaigns import CampaignStatus
from dialer.domain.campaign import ABANDON_THRESHOLD_S, MAX_ATTEMPTS_RANGE


class CampaignCreate(BaseModel):
    """A new campaign over one or more lead lists."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    list_ids: list[str] = Field(min_length=1, description="lead lists the campaign dials")
    dial_mode: Literal["preview", "progressive", "power", "predictive"] = Field(
        "progressive", description="only progressive is supported yet")
    max_attempts: int = Field(3, ge=MAX_ATTEMPTS_RANGE[0], le=MAX_ATTEMPTS_RANGE[1],
                              description="attempts per lead before it is closed")
    retry_delay_s: int = Field(3600, ge=0, description="seconds after an unanswered attempt")
    abandon_threshold_s: float = Field(
        ABANDON_THRESHOLD_S, description="seconds a live answer may wait for an agent (fixed)")


class CampaignOut(BaseModel):
    campaign_id: str
    name: str
    state: Literal["created", "running", "paused", "stopped"]
    list_ids: list[str]
    dial_mode: str
    max_attempts: int
    retry_delay_s: int
    abandon_threshold_s: float
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> CampaignOut:
        return cls.model_validate(row._mapping, from_attributes=False)


class CampaignStatusOut(BaseModel):
    campaign_id: str
    state: Literal["created", "running", "paused", "stopped"]
    hopper_depth: int = Field(description="cleared leads waiting to be dialed")
    calls_ringing: int
    calls_waiting_for_agent: int = Field(description="live answers not yet connected")
    calls_connected: int
    ready_agents: int = Field(description="ready agents of the campaign not reserved for a call")

    @classmethod
    def of(cls, campaign_id: str, status: CampaignStatus) -> CampaignStatusOut:
        return cls(campaign_id=campaign_id, **vars(status))
