"""Settings of the leads service (environment variables ``KADEN_<FIELD>``)."""

from __future__ import annotations

from pydantic import Field

from common.settings import ServiceSettings


class LeadsSettings(ServiceSettings):
    """The shared service settings plus the scheduler's and the import worker's knobs."""

    max_in_flight_per_campaign: int = Field(
        50, ge=1, description="leads of one campaign that may be due or dialing at once")
    scheduler_interval_s: float = Field(1.0, gt=0, description="pause between scheduler ticks")
    scheduler_batch_size: int = Field(
        500, ge=1, description="most lead.due events one scheduler tick emits (all campaigns)")
    import_chunk_rows: int = Field(
        1000, ge=1, description="rows an import worker handles per database transaction")
    import_poll_interval_s: float = Field(
        0.5, gt=0, description="how often an idle import worker looks for queued jobs")
    import_lease_s: float = Field(
        60.0, gt=0, description="a running job whose worker was silent this long is taken over")
    max_upload_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="largest accepted import body (CSV or JSON)")
    max_reported_errors: int = Field(
        1000, ge=0, description="row errors kept per import job (all are counted)")
