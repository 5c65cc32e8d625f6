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
        None, description="E.164 caller ID presented on every call (accepts DNC requests), "
        "until campaigns carry their own; packs that require one block without it")
    waived_registries: list[str] = Field(
        default_factory=list, description="national registries (US-DNC, CA-DNCL, ...) "
        "whose missing copy is recorded as a note instead of blocking: registry imports "
        "come in the next slice. Refused when environment is 'production'")
    policy_cache_size: int = Field(
        4096, ge=1, description="effective policies kept per (jurisdictions, tenant, campaign)")

    @model_validator(mode="after")
    def _no_waiver_in_production(self) -> ComplianceSettings:
        if self.waived_registries and self.environment == "production":
            raise ValueError("waived_registries must be empty in production")
        return self
