"""Request and response bodies of the campaigns API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Row

from dialer.app.campaigns import CampaignStatus
from dialer.domain.campaign import (
    ABANDON_THRESHOLD_S,
    MAX_ATTEMPTS_RANGE,
    MAX_RETRY_DELAY_S,
    PRIORITY_RANGE,
)

DialModeName = Literal["preview", "progressive", "power", "predictive"]
AmdActionName = Literal["hang_up", "leave_message"]
LeadOrderingName = Literal["fifo", "newest_first", "fewest_attempts_first"]
TimeoutActionName = Literal["dial", "skip"]
# Every float refuses NaN and infinities here (allow_inf_nan=False: a 422 naming the field);
# the domain checks the ranges with a precise message.


class CampaignSettingsPatch(BaseModel):
    """Campaign settings that may change after creation (all optional; ranges and the
    rules between fields are checked by the domain with a precise 422)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    list_ids: list[str] | None = Field(None, min_length=1)
    dial_mode: DialModeName | None = None
    max_attempts: int | None = Field(None, ge=MAX_ATTEMPTS_RANGE[0], le=MAX_ATTEMPTS_RANGE[1])
    retry_delay_s: int | None = Field(None, ge=0, le=MAX_RETRY_DELAY_S)
    max_lines_per_agent: float | None = Field(
        None, allow_inf_nan=False,
        description="cap on lines (ringing + waiting) per available agent, 1..10")
    lines_per_agent: float | None = Field(None, allow_inf_nan=False,
                                          description="power mode: lines per idle agent")
    ring_timeout_s: float | None = Field(None, allow_inf_nan=False, description="seconds; 15..120")
    amd_action: AmdActionName | None = None
    amd_message: str | None = Field(None, description="left on a machine (leave_message)")
    abandon_message: str | None = Field(
        None, description="played on abandon; required to start")
    caller_id: str | None = Field(None, description="E.164; required to start")
    product: str | None = Field(None, max_length=100)
    requires_consent: bool | None = None
    target_abandon_rate: float | None = Field(
        None, allow_inf_nan=False, description="fraction; may only tighten compliance's abandon budget")
    amd_false_positive_rate: float | None = Field(
        None, allow_inf_nan=False,
        description="share of the AMD's machine verdicts that are live people (0..0.5)")
    priority: int | None = Field(None, ge=PRIORITY_RANGE[0], le=PRIORITY_RANGE[1],
                                 description="higher gets shared agents first")
    lead_ordering: LeadOrderingName | None = None
    preview_timeout_s: float | None = Field(None, allow_inf_nan=False, description="seconds; 5..3600")
    preview_timeout_action: TimeoutActionName | None = None

    def changes(self) -> dict[str, Any]:
        """The fields the request set (an explicit null clears an optional setting)."""
        values = self.model_dump(exclude_unset=True)
        if "list_ids" in values and values["list_ids"] is not None:
            values["list_ids"] = tuple(values["list_ids"])
        return values


class CampaignCreate(CampaignSettingsPatch):
    """A new campaign over one or more lead lists."""

    name: str = Field(min_length=1, max_length=200)
    list_ids: list[str] = Field(min_length=1,
                                description="lead lists the campaign dials")
    abandon_threshold_s: float = Field(
        ABANDON_THRESHOLD_S, allow_inf_nan=False,
        description="seconds a live answer may wait for an agent (fixed)")

    def changes(self) -> dict[str, Any]:
        """Every field given (unset ones take the domain defaults)."""
        return super().changes() | {"name": self.name, "list_ids": tuple(self.list_ids),
                                    "abandon_threshold_s": self.abandon_threshold_s}


class CampaignOut(BaseModel):
    campaign_id: str
    name: str
    state: Literal["created", "running", "paused", "stopped"]
    list_ids: list[str]
    dial_mode: str
    max_attempts: int
    retry_delay_s: int
    abandon_threshold_s: float
    max_lines_per_agent: float
    lines_per_agent: float
    ring_timeout_s: float
    amd_action: str
    amd_message: str | None
    abandon_message: str | None
    caller_id: str | None
    product: str | None
    requires_consent: bool
    target_abandon_rate: float | None
    amd_false_positive_rate: float
    priority: int
    lead_ordering: str
    preview_timeout_s: float
    preview_timeout_action: str
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
