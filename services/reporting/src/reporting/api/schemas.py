"""Response schemas of the KPI API (times in seconds, rates as fractions 0..1 or null)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

_RATE = "fraction (0..1); null when the denominator is 0"


class KpiRange(BaseModel):
    """The range the numbers cover (UTC)."""

    from_: datetime | None = Field(None, alias="from", description="inclusive; null = all time")
    to: datetime | None = Field(None, description="exclusive; null = all time")


class CampaignKpisOut(BaseModel):
    campaign_id: str
    range: KpiRange
    dials: int
    connects: int
    contacts: int
    contact_rate: float | None = Field(description="contacts ÷ dials; " + _RATE)
    right_party_contacts: int | None = Field(description="not reported yet: always null")
    conversions: int
    conversion_rate: float | None = Field(description="conversions ÷ dials; " + _RATE)
    conversion_per_contact: float | None = Field(description="conversions ÷ contacts; " + _RATE)
    abandoned: int
    abandon_rate: float | None = Field(description="abandoned ÷ live answers; " + _RATE)
    handled_calls: int
    att_s: float | None = Field(description="average talk time, seconds")
    acw_s: float | None = Field(description="average after-call work, seconds")
    aht_s: float | None = Field(description="average handle time, seconds")
    occupancy: float | None = Field(description=_RATE)
    utilisation: float | None = Field(description=_RATE)
    definitions: dict[str, str] = Field(description="the formula of every number above")


class AgentKpisOut(BaseModel):
    agent_id: str
    range: KpiRange
    handled_calls: int
    conversions: int
    att_s: float | None = Field(description="average talk time, seconds")
    acw_s: float | None = Field(description="average after-call work, seconds")
    aht_s: float | None = Field(description="average handle time, seconds")
    occupancy: float | None = Field(description=_RATE)
    utilisation: float | None = Field(description=_RATE)
    definitions: dict[str, str] = Field(description="the formula of every number above")
