"""Compliance settings (environment variables ``KADEN_...``), validated at start-up."""

from __future__ import annotations

from pydantic import Field, model_validator

from common.settings import ServiceSettings


class ComplianceSettings(ServiceSettings):
    """Screening settings on top of the shared ones."""

    clearance_max_s: int = Field(
        900, gt=0, description="a clearance never outlives this many seconds after the "
        "decision (besides the calling-window end), so stale clearances expire")
    caller_id: str | None = Field(
        None, description="E.164 caller ID (accepts DNC requests) for a known campaign "
        "whose campaign.state_changed carries none; packs that require one block without it")
    unknown_campaign_retry_s: float = Field(
        10.0, gt=0, description="a lead.due whose campaign compliance has not heard of yet "
        "is blocked (campaign.unknown) until this many seconds later, when leads re-dues it")
    unknown_campaign_retry_max_s: float = Field(
        900.0, gt=0, description="campaign.unknown retries double with each consecutive "
        "campaign.unknown decision of the lead, up to this many seconds")
    facts_max_lag_s: float = Field(
        120.0, gt=0, description="screening blocks facts.stale when the compliance-facts "
        "consumer (attempts, refusals, consents, campaigns) was last caught up with its "
        "topics longer ago than this many seconds")
    facts_watermark_interval_s: float = Field(
        5.0, gt=0, description="how often the facts worker checks its consumer against the "
        "partition ends to advance the facts watermark, seconds")
    facts_stale_retry_s: float = Field(
        30.0, gt=0, description="a lead blocked facts.stale is screened again this many "
        "seconds later")
    waived_registries: list[str] = Field(
        default_factory=list, description="national registries (US-DNC, CA-DNCL, ...) "
        "whose missing copy is recorded as a note instead of blocking: registry imports "
        "come in the next slice. Refused when environment is 'production'")
    policy_cache_size: int = Field(
        4096, ge=1, description="effective policies kept per (jurisdictions, tenant, campaign)")
    refusal_dispositions: list[str] = Field(
        default_factory=lambda: ["not_interested", "refused", "do_not_call"],
        description="agent dispositions that record a refusal of the campaign's product "
        "(re-solicitation bans: JP permanent, FR 60 days); category 'dnc' always does")
    registry_dir: str = Field(
        ".run/registries", description="national registry copies (.npy) and uploads in "
        "progress; shared by the API and worker processes (a shared volume in Kubernetes)")
    registry_upload_max_bytes: int = Field(
        8 * 1024**3, gt=0, description="largest registry file accepted, bytes (US: ~3 GB)")
    registry_job_lease_s: float = Field(
        60.0, gt=0, description="a running import whose progress is older than this many "
        "seconds is reported failed (its process stopped)")
    export_max_days: int = Field(
        366, ge=1, description="longest period of one decisions export, days")
    export_settle_s: float = Field(
        60.0, ge=0, description="an export's 'to' is capped at now minus this many seconds: "
        "decisions stamped earlier may still be committing")

    @model_validator(mode="after")
    def _no_waiver_in_production(self) -> ComplianceSettings:
        if self.waived_registries and self.environment == "production":
            raise ValueError("waived_registries must be empty in production")
        if self.facts_watermark_interval_s * 2 > self.facts_max_lag_s:
            raise ValueError("facts_max_lag_s must be at least twice "
                             "facts_watermark_interval_s (the watermark advances per check)")
        return self
