"""Schema of a policy pack: the rules of one jurisdiction, tenant or campaign, as data.

Packs are YAML/JSON files validated by these pydantic models. Field names are the
vocabulary of ``docs/compliance.md``; every model forbids unknown fields so a typo is
a precise load error instead of a silently ignored rule.
"""

from __future__ import annotations

import re
from datetime import time
from functools import cache
from typing import Literal

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from compliance.domain.periods import Period

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CapScope = Literal["seller", "person", "subject", "number"]
RefusalScope = Literal["seller", "person", "product", "number"]
Channel = Literal["call", "text"]

SCHEMA_ID = "kaden.policy-pack/1"
_RULE_ID = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")
_JURISDICTION = re.compile(r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Rule(_Strict):
    id: str

    @field_validator("id")
    @classmethod
    def _rule_id(cls, value: str) -> str:
        if not _RULE_ID.match(value):
            raise ValueError("rule ids are lower-case words joined by '.' or '-'")
        return value


class TimeWindow(_Strict):
    """Local-time window ``start <= t < end`` (half-open) on the listed weekdays."""

    days: list[Weekday] = Field(min_length=1)
    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if not self.start < self.end:
            raise ValueError(f"start {self.start:%H:%M} must be before end {self.end:%H:%M}")
        return self


class CallingHours(_Strict):
    """The windows of the called party's local time; a weekday with no window is closed."""

    windows: list[TimeWindow] = Field(min_length=1)


class HolidayCalendar(_Strict):
    """Public holidays from the ``holidays`` package for a country and subdivision."""

    country: str
    subdivision: str | None = None

    @model_validator(mode="after")
    def _known(self) -> HolidayCalendar:
        subdivisions = holiday_subdivisions(self.country)
        if subdivisions is None:
            raise ValueError(f"country {self.country!r} has no calendar in the holidays package")
        if self.subdivision is not None and self.subdivision not in subdivisions:
            raise ValueError(f"{self.country} has no holiday subdivision {self.subdivision!r}")
        return self


@cache
def holiday_subdivisions(country: str) -> tuple[str, ...] | None:
    """Subdivision codes the ``holidays`` package knows for ``country`` (None: no calendar).

    Asks for one country only: listing all of them imports every module (~3 s).
    """
    try:
        return tuple(holidays.country_holidays(country).subdivisions)
    except NotImplementedError:
        return None


class DayBans(_Strict):
    """Whole days on which no call may be placed (in every candidate zone's local date)."""

    weekdays: list[Weekday] = []
    public_holidays: list[HolidayCalendar] = []
    declared_emergency: bool = False


class AttemptCap(_Rule):
    """At most ``max_attempts`` attempts in a rolling ``window``, counted per ``scope``."""

    max_attempts: int = Field(ge=1)
    window: Period
    scope: list[CapScope] = Field(min_length=1)
    channels: list[Channel] = ["call"]


class RedialRule(_Rule):
    """After an attempt with ``after_outcome``, wait ``min_gap`` or the next local day."""

    after_outcome: Literal["abandoned", "machine"]
    min_gap: Period | None = None
    not_same_local_day: bool = False
    unless_agent_guaranteed: bool = True

    @model_validator(mode="after")
    def _has_effect(self) -> RedialRule:
        if self.min_gap is None and not self.not_same_local_day:
            raise ValueError("set min_gap or not_same_local_day")
        return self


class RefusalBan(_Rule):
    """No call after a refusal, per ``scope``; ``duration: null`` means permanent."""

    scope: list[RefusalScope] = Field(min_length=1)
    duration: Period | None


class EbrExemption(_Strict):
    """Established business relationship: a registry hit is exempt for these periods."""

    after_purchase: Period
    after_inquiry: Period


class Registry(_Strict):
    """A national do-not-call registry consulted through an imported copy."""

    name: str = Field(pattern=r"^[A-Z]{2}-[A-Z0-9-]+$")
    max_age: Period | None = None
    legal_grace: Period | None = None
    ebr_exemption: EbrExemption | None = None


class InternalDnc(_Strict):
    """Company list: honoured at once; ``legal_deadline`` (None: immediately) is reported,
    never used; ``retention`` is how long an entry must be kept."""

    legal_deadline: Period | None = None
    retention: Period


class Abandonment(_Rule):
    """Abandon-rate budget per campaign, published to the dialer's pacing engine."""

    max_rate: float = Field(gt=0, le=1)
    period: Period
    connect_within_s: float = Field(gt=0)
    min_ring_s: float | None = Field(default=None, gt=0)
    counts_amd_misclassified: bool = False


class PolicyPack(_Strict):
    """One versioned pack. ``kind`` jurisdiction packs state the law of ``jurisdiction``;
    tenant and campaign overlays name the jurisdictions they tighten in ``tightens``."""

    schema_id: Literal["kaden.policy-pack/1"] = Field(alias="schema")
    id: str
    kind: Literal["jurisdiction", "tenant", "campaign"]
    version: str = Field(min_length=1)
    title: str = ""
    sources: list[str] = []
    jurisdiction: str | None = None
    countries: list[str] = []
    tenant_id: str | None = None
    campaign_id: str | None = None
    tightens: list[str] = []
    area_code_presumption: bool = False
    calling_hours: CallingHours | None = None
    day_bans: DayBans = DayBans()
    attempt_caps: list[AttemptCap] = []
    redial_rules: list[RedialRule] = []
    refusal_bans: list[RefusalBan] = []
    registries: list[Registry] = []
    internal_dnc: InternalDnc | None = None
    abandonment: Abandonment | None = None
    caller_id_required: bool = False
    requires_consent: bool = False

    @model_validator(mode="after")
    def _kind_fields(self) -> PolicyPack:
        if self.kind == "jurisdiction":
            if self.jurisdiction is None or not _JURISDICTION.match(self.jurisdiction):
                raise ValueError("jurisdiction packs need 'jurisdiction' like 'US' or 'US-FL'")
            if self.tightens:
                raise ValueError("'tightens' is for tenant and campaign overlays")
        else:
            if self.jurisdiction is not None or self.countries or self.area_code_presumption:
                raise ValueError("overlays cannot declare jurisdiction, countries or presumption")
            if not self.tightens:
                raise ValueError("overlays must list the jurisdictions they tighten")
            if self.tenant_id is None:
                raise ValueError("overlays need tenant_id")
            if self.kind == "campaign" and self.campaign_id is None:
                raise ValueError("campaign overlays need campaign_id")
        ids = [r.id for r in (*self.attempt_caps, *self.redial_rules, *self.refusal_bans)]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule ids {duplicates}")
        return self

    @property
    def is_overlay(self) -> bool:
        """True for tenant and campaign packs (which may only tighten)."""
        return self.kind != "jurisdiction"
