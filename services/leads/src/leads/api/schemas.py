"""Request and response bodies of the leads API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from common.events.catalog import CandidateZone
from leads.domain.lead import LeadStatus
from leads.domain.normalise import is_known_country


def parse_country(value: str | None) -> str | None:
    """A validated, upper-cased ISO alpha-2 country (``ValueError`` with the reason)."""
    if value is None:
        return None
    code = value.strip().upper()
    if not is_known_country(code):
        raise ValueError(f"unknown country '{value}' (expected an ISO 3166-1 alpha-2 code)")
    return code


class ListCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be blank")
        return v.strip()


class ListOut(BaseModel):
    list_id: str
    name: str
    created_at: datetime


class ListDetail(ListOut):
    lead_count: int
    counts: dict[str, int] = Field(description="leads per status (every status listed)")


class LeadOut(BaseModel):
    lead_id: str
    list_id: str
    phone_e164: str = Field(description="E.164 number (the tenant's own data)")
    country: str
    candidate_zones: list[CandidateZone]
    attributes: dict[str, str]
    status: LeadStatus
    attempts: int = Field(description="calls made to the lead so far")
    next_attempt_at: datetime | None = Field(
        description="when the lead becomes due again (status new or retry), UTC")
    campaign_id: str | None = Field(description="campaign of the latest due attempt")
    last_outcome: str | None = Field(description="outcome of the latest call")
    last_disposition: str | None
    closed_reason: str | None
    created_at: datetime
    updated_at: datetime


class LeadPage(BaseModel):
    items: list[LeadOut]
    next_after: str | None = Field(description="pass as `after` for the next page; null: last")


class JsonImport(BaseModel):
    """A JSON import: each lead is an object with ``phone`` and optional fields.

    Known fields: phone (required), country, timezone, first_name, last_name, postal_code,
    region; any other field becomes an attribute. Rows are checked by the import job, so
    one bad lead does not reject the others.
    """

    model_config = ConfigDict(extra="forbid")
    default_country: str | None = Field(
        None, description="ISO 3166-1 alpha-2 region for numbers without +country code")
    leads: list[Any] = Field(min_length=1)

    @field_validator("default_country")
    @classmethod
    def _known_country(cls, v: str | None) -> str | None:
        return parse_country(v)


class ImportAccepted(BaseModel):
    job_id: str
    status_url: str


class RowError(BaseModel):
    """A rejected row: ``row`` (CSV) or ``index`` (JSON), never both."""

    row: int | None = Field(None, description="CSV: line number in the file (header = 1)")
    index: int | None = Field(None, description="JSON: 0-based index in `leads`")
    reason: str

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class ImportStatus(BaseModel):
    job_id: str
    list_id: str
    status: Literal["queued", "running", "done", "failed"]
    total_rows: int
    processed_rows: int
    accepted: int
    duplicate: int
    invalid: int
    errors: list[RowError] = Field(description="invalid and duplicate rows, in file order")
    errors_truncated: bool = Field(description="more rows were rejected than `errors` lists")
    failure_reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
