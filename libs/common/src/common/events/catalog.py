"""Typed, versioned event payloads: the contract between the services.

Every payload class declares its CloudEvents ``type`` (with a version suffix), the topic it
travels on and the field that is its partition key. A breaking change is a new class with
a new version (``...v2``); the old class stays so stored events and old examples still
parse (``tests/unit/test_event_schemas.py`` checks every stored example).

Phone numbers appear in payloads (dialing needs them) but never in logs or metrics.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from common.topics import Topic


class EventPayload(BaseModel):
    """Base of every event's ``data``. Subclasses register themselves by ``event_type``."""

    # Readers ignore fields they do not know: producers may add optional fields within a
    # version without breaking older consumers.
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    topic: ClassVar[Topic]
    key_field: ClassVar[str]
    summary: ClassVar[str] = ""

    def partition_key(self) -> str:
        """The Kafka record key: the value of ``key_field``."""
        return str(getattr(self, self.key_field))

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        event_type = cls.__dict__.get("event_type")
        if event_type is None:
            return  # an abstract intermediate class
        if event_type in _REGISTRY:
            raise TypeError(f"event type {event_type} registered twice")
        if cls.key_field not in cls.model_fields:
            raise TypeError(f"{cls.__name__}.key_field {cls.key_field!r} is not a field")
        _REGISTRY[event_type] = cls


_REGISTRY: dict[str, type[EventPayload]] = {}


class UnknownEventType(LookupError):
    """An event ``type`` no payload class is registered for."""


def payload_class(event_type: str) -> type[EventPayload]:
    """The payload class registered for ``event_type``."""
    try:
        return _REGISTRY[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None


def registered_types() -> dict[str, type[EventPayload]]:
    """All registered event types, sorted by type name."""
    return dict(sorted(_REGISTRY.items()))


# --------------------------------------------------------------------------- leads
class CandidateZone(BaseModel):
    """An IANA zone the called party may be in, and where that belief came from."""

    model_config = ConfigDict(frozen=True)
    zone: str = Field(description="IANA time zone name, e.g. America/Chicago")
    source: Literal["number_prefix", "postal_code", "region", "explicit"]


class LeadImportedV1(EventPayload):
    event_type = "callcenter.lead.imported.v1"
    topic = Topic.LEADS
    key_field = "lead_id"
    summary = "A lead was accepted into a list (normalised, deduplicated)."

    lead_id: str
    list_id: str
    phone_e164: str = Field(description="E.164 number, personal data: never log it")
    country: str = Field(description="ISO 3166-1 alpha-2 region of the number")
    candidate_zones: list[CandidateZone] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)


class LeadDueV1(EventPayload):
    event_type = "callcenter.lead.due.v1"
    topic = Topic.LEADS
    key_field = "lead_id"
    summary = (
        "A lead of a running campaign should be attempted now (new, retry or callback). "
        "Carries what compliance needs to screen it."
    )

    lead_id: str
    list_id: str
    campaign_id: str
    attempt: int = Field(ge=1, description="1 for the first attempt")
    due_at: AwareDatetime
    reason: Literal["new", "retry", "callback"] = "new"
    phone_e164: str = Field(description="E.164 number, personal data: never log it")
    country: str = Field(description="ISO 3166-1 alpha-2 region of the number")
    candidate_zones: list[CandidateZone] = Field(default_factory=list)


class LeadReturnedV1(EventPayload):
    event_type = "callcenter.lead.returned.v1"
    topic = Topic.LEADS
    key_field = "lead_id"
    summary = (
        "The dialer gave a due lead back without dialing it (clearance expired, number put "
        "on DNC after clearance, campaign stopped, skipped by the agent in preview mode); "
        "leads reschedules or closes it."
    )

    lead_id: str
    list_id: str
    campaign_id: str
    attempt: int = Field(ge=1)
    reason: Literal["clearance_expired", "dnc", "campaign_stopped", "preview_skipped"]
    at: AwareDatetime


class LeadClosedV1(EventPayload):
    event_type = "callcenter.lead.closed.v1"
    topic = Topic.LEADS
    key_field = "lead_id"
    summary = "A lead will not be attempted again (final disposition, attempts exhausted, DNC)."

    lead_id: str
    list_id: str
    reason: str


# --------------------------------------------------------------------------- compliance
class DecisionReason(BaseModel):
    model_config = ConfigDict(frozen=True)
    rule_id: str
    message: str


class ComplianceDecidedV1(EventPayload):
    event_type = "callcenter.compliance.decided.v1"
    topic = Topic.COMPLIANCE
    key_field = "lead_id"
    summary = "Compliance cleared or blocked a due lead; the stored decision record."

    decision_id: str
    lead_id: str
    list_id: str
    campaign_id: str
    attempt: int = Field(ge=1)
    phone_e164: str = Field(description="the number screened (the dialer dials it if cleared)")
    outcome: Literal["cleared", "blocked"]
    reasons: list[DecisionReason] = Field(default_factory=list)
    valid_until: AwareDatetime | None = Field(None, description="cleared: dial before this instant")
    earliest_callable_at: AwareDatetime | None = Field(
        None, description="blocked: earliest instant the lead may become callable; null = never"
    )
    policy_version: str
    inputs: dict[str, Any] = Field(default_factory=dict)


class AbandonBudgetSetV1(EventPayload):
    event_type = "callcenter.compliance.abandon_budget_set.v1"
    topic = Topic.COMPLIANCE
    key_field = "campaign_id"
    summary = (
        "Compliance set the abandon-rate budget a campaign's pacing must stay within: the "
        "strictest rule of the jurisdictions the campaign dials into."
    )

    campaign_id: str
    max_abandon_rate: float = Field(
        gt=0, le=1, description="abandoned calls per live answer allowed over the window")
    window_s: int = Field(gt=0, description="regulatory window length, seconds (rolling)")
    count_amd_misclassified: bool = Field(
        False, description="abandons include an estimate of live people the AMD classified "
        "as machines (UK Ofcom)")
    jurisdictions: list[str] = Field(description="the packs the budget was derived from")
    policy_version: str
    at: AwareDatetime


class ConsentRecordedV1(EventPayload):
    event_type = "callcenter.compliance.consent_recorded.v1"
    topic = Topic.COMPLIANCE
    key_field = "consent_id"
    summary = (
        "A tenant recorded a person's prior express consent to be called on a number (for "
        "campaigns that require consent), with its evidence."
    )

    consent_id: str
    phone_e164: str = Field(description="E.164 number the consent covers, personal data")
    campaign_id: str | None = Field(None, description="only this campaign; null: every campaign")
    product: str | None = Field(None, description="only campaigns selling this; null: any product")
    granted_at: AwareDatetime = Field(description="when the person gave the consent")
    source: str = Field(description="how it was collected: web_form, ivr, call, paper, ...")
    evidence: str | None = Field(None, description="reference to the proof (URL, document id)")
    recorded_at: AwareDatetime


class ConsentRevokedV1(EventPayload):
    event_type = "callcenter.compliance.consent_revoked.v1"
    topic = Topic.COMPLIANCE
    key_field = "consent_id"
    summary = (
        "A recorded consent was revoked: calls relying on it stop at revoked_at; the dialer "
        "gives back the number's cleared leads still waiting to be dialed, for re-screening."
    )

    consent_id: str
    revoked_at: AwareDatetime
    reason: str | None = None
    phone_e164: str | None = Field(
        None, description="the number the consent covered, personal data (null in events "
        "written before it was carried)")
    campaign_id: str | None = Field(
        None, description="the consent's campaign scope; null: every campaign (or, with a "
        "null phone_e164, not carried)")


class DncEntryAddedV1(EventPayload):
    event_type = "callcenter.dnc.added.v1"
    topic = Topic.DNC
    key_field = "entry_key"
    summary = "A number was put on a do-not-call list (effective at once)."

    entry_key: str = Field(
        description="compacted topic key '<tenant>/<list>:<E.164>': latest state per tenant list number"
    )
    list_id: str = Field(description="'tenant', 'campaign:<id>' or a national registry id")
    phone_e164: str
    source: str = Field(description="api, disposition, import, registry")
    added_at: AwareDatetime


class DncEntryRemovedV1(EventPayload):
    event_type = "callcenter.dnc.removed.v1"
    topic = Topic.DNC
    key_field = "entry_key"
    summary = "A number was taken off a do-not-call list."

    entry_key: str
    list_id: str
    phone_e164: str
    removed_at: AwareDatetime


# --------------------------------------------------------------------------- campaigns
class CampaignStateChangedV1(EventPayload):
    event_type = "callcenter.campaign.state_changed.v1"
    topic = Topic.CAMPAIGNS
    key_field = "campaign_id"
    summary = "A campaign was created, started, paused or stopped."

    campaign_id: str
    name: str = ""
    state: Literal["created", "running", "paused", "stopped"]
    list_ids: list[str] = Field(default_factory=list)
    dial_mode: Literal["preview", "progressive", "power", "predictive"] = "progressive"
    max_attempts: int = Field(3, ge=1, description="attempts per lead before it is closed")
    retry_delay_s: int = Field(3600, ge=0, description="wait after an unanswered attempt")
    caller_id: str | None = Field(
        None, description="E.164 number presented on every call; must accept DNC requests")
    product: str | None = Field(
        None, description="what the campaign sells: the subject of attempt caps and "
        "re-solicitation bans (Japan, France)")
    requires_consent: bool = Field(
        False, description="dial only numbers with a recorded, unrevoked consent")


# --------------------------------------------------------------------------- calls
class _CallEvent(EventPayload):
    topic = Topic.CALLS
    key_field = "call_id"

    call_id: str
    campaign_id: str
    lead_id: str
    at: AwareDatetime


class CallDialedV1(_CallEvent):
    event_type = "callcenter.call.dialed.v1"
    summary = "The dialer placed a call attempt."
    attempt: int = Field(ge=1)


class CallAnsweredV1(_CallEvent):
    event_type = "callcenter.call.answered.v1"
    summary = "The called party answered (a person or a machine, per detection)."
    answered_by: Literal["human", "machine"]


class CallConnectedV1(_CallEvent):
    event_type = "callcenter.call.connected.v1"
    summary = "An answered call was bridged to an agent."
    agent_id: str
    wait_ms: int = Field(ge=0, description="from answer to agent connection")


class CallAbandonedV1(_CallEvent):
    event_type = "callcenter.call.abandoned.v1"
    summary = "A live answer found no agent within the threshold; the abandon message played."
    wait_ms: int = Field(ge=0)


class CallEndedV1(_CallEvent):
    event_type = "callcenter.call.ended.v1"
    summary = "Terminal event of every dialed call."
    outcome: Literal[
        "completed", "abandoned", "machine", "no_answer", "busy", "failed", "blocked"
    ]
    ring_ms: int = Field(ge=0)
    talk_ms: int = Field(ge=0, default=0)
    agent_id: str | None = None


# --------------------------------------------------------------------------- pacing
class PacingDecidedV1(EventPayload):
    event_type = "callcenter.pacing.decided.v1"
    topic = Topic.PACING
    key_field = "campaign_id"
    summary = "The dialer's pacing engine decided how many lines a campaign dials now, and why."

    campaign_id: str
    mode: Literal["preview", "progressive", "power", "predictive"]
    lines_to_dial: int = Field(ge=0, description="lines the engine asked for")
    lines_placed: int = Field(
        ge=0, description="lines actually dialed (hopper, shared agents and carrier limits "
        "may place fewer)")
    reason: str = Field(description="why, e.g. abandon_threshold, budget_exhausted, line_cap")
    explain: dict[str, Any] = Field(
        default_factory=dict, description="every input of the decision and the budget plan")
    at: AwareDatetime


# --------------------------------------------------------------------------- agents
class AgentStateChangedV1(EventPayload):
    event_type = "callcenter.agent.state_changed.v1"
    topic = Topic.AGENTS
    key_field = "agent_id"
    summary = "An agent session moved to a new state."

    agent_id: str
    session_id: str
    state: Literal["logged_out", "ready", "paused", "on_call", "wrap_up"]
    reason: str | None = None
    campaign_ids: list[str] = Field(default_factory=list)
    call_id: str | None = Field(None, description="on_call / wrap_up: the call concerned")
    at: AwareDatetime


class DispositionSubmittedV1(EventPayload):
    event_type = "callcenter.agent.disposition_submitted.v1"
    topic = Topic.AGENTS
    key_field = "agent_id"
    summary = "An agent recorded the result of a call, ending wrap-up."

    agent_id: str
    call_id: str
    lead_id: str
    campaign_id: str
    disposition: str = Field(description="sale, not_interested, callback, do_not_call, ...")
    category: Literal["success", "contact", "callback", "dnc", "other"]
    callback_at: AwareDatetime | None = None
    at: AwareDatetime
