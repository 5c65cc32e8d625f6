"""Inputs and output of a screening: request, facts, and the decision record.

All instants are timezone-aware UTC datetimes. Models are frozen pydantic models, so a
decision serialises with ``decision.to_dict()`` (JSON-ready) and parses back with
``Decision.model_validate``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from compliance.domain.zones import Address, CandidateZone

Outcome = Literal["cleared", "blocked"]
Effect = Literal["block", "allow", "note"]
ListKind = Literal["internal", "tenant", "campaign", "national"]
AttemptOutcome = Literal["answered", "no_answer", "busy", "failed", "abandoned", "machine"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScreeningRequest(_Frozen):
    """A lead to screen. ``person_key`` identifies the called person across numbers (it
    defaults to the number); ``subject`` is the call's subject for attempt caps and
    ``product`` the product for re-solicitation bans. ``lead_zones`` are the candidate
    zones the lead record carries (united with the located ones); ``None`` when the caller
    has none to give, an empty list when the lead was recorded without any zone: that
    blocks (``zone.unknown``), fail closed, even if the number alone would locate it."""

    tenant_id: str
    campaign_id: str
    lead_id: str
    number: str = Field(description="E.164")
    address: Address = Address()
    explicit_zone: str | None = None
    lead_zones: list[CandidateZone] | None = None
    person_key: str | None = None
    subject: str | None = None
    product: str | None = None
    caller_id: str | None = None
    agent_guaranteed: bool = False

    @property
    def person(self) -> str:
        """The person key, or the number when the lead has none."""
        return self.person_key or self.number


class DncHit(_Frozen):
    """The number was found on a list; ``version`` is the list copy or event position."""

    list_name: str
    kind: ListKind
    version: str
    recorded_at: AwareDatetime | None = None


class RegistryCopy(_Frozen):
    """An imported national registry copy: its name, version and download instant."""

    name: str
    version: str
    downloaded_at: AwareDatetime


class Attempt(_Frozen):
    """A past call or text to the person (the service supplies a superset; the rules
    filter by scope)."""

    at: AwareDatetime
    seller: str
    person_key: str
    number: str
    subject: str | None = None
    channel: Literal["call", "text"] = "call"
    outcome: AttemptOutcome = "answered"


class Refusal(_Frozen):
    """The person told ``seller`` they do not want to be solicited (for ``product``)."""

    at: AwareDatetime
    seller: str
    person_key: str
    number: str
    product: str | None = None


class Relationship(_Frozen):
    """A purchase or inquiry that starts an established business relationship."""

    kind: Literal["purchase", "inquiry"]
    at: AwareDatetime
    seller: str


class Consent(_Frozen):
    """Prior express consent for ``seller`` to call ``number``."""

    seller: str
    number: str
    granted_at: AwareDatetime
    revoked_at: AwareDatetime | None = None


class Emergency(_Frozen):
    """A declared state of emergency in a jurisdiction (``lifted_at`` None: ongoing)."""

    jurisdiction: str
    declared_at: AwareDatetime
    lifted_at: AwareDatetime | None = None


class ScreeningFacts(_Frozen):
    """Everything the rules need besides the request and the policy."""

    dnc_hits: list[DncHit] = []
    registry_copies: list[RegistryCopy] = []
    attempts: list[Attempt] = []
    refusals: list[Refusal] = []
    relationships: list[Relationship] = []
    consents: list[Consent] = []
    disconnected_at: AwareDatetime | None = Field(
        default=None, description="latest disconnection of the number (reassigned-numbers data)"
    )
    emergencies: list[Emergency] = []
    waived_registries: list[str] = Field(
        default=[],
        description="registries without an imported copy that configuration waives (a note "
        "instead of registry.missing): only until registry imports exist, never in production",
    )


class Reason(_Frozen):
    """A rule that fired. ``until`` is when a block lifts (None with ``permanent``
    or when it depends on a future fact, e.g. a fresh registry copy)."""

    rule_id: str
    effect: Effect
    text: str
    source: str
    until: datetime | None = None
    permanent: bool = False


class Decision(_Frozen):
    """The record of one screening. ``valid_until`` bounds a clearance;
    ``earliest_callable_at`` is the next instant a blocked lead could be cleared (None:
    never by the passage of time alone)."""

    outcome: Outcome
    decided_at: datetime
    tenant_id: str
    campaign_id: str
    lead_id: str
    number_masked: str
    policy_version: str
    packs: list[dict[str, str]]
    jurisdictions: list[str]
    zones: list[CandidateZone]
    inputs: dict[str, Any]
    reasons: list[Reason]
    valid_until: datetime | None = None
    earliest_callable_at: datetime | None = None

    @property
    def blocking(self) -> list[Reason]:
        """The reasons that block."""
        return [r for r in self.reasons if r.effect == "block"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (ISO 8601 instants)."""
        return self.model_dump(mode="json")
