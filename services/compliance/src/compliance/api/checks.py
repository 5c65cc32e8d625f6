"""``POST /v1/compliance/checks``: batch check (preview, manual dial, what-if).

Each item goes through the screening worker's own path (:meth:`Screener.screen_many`
on a screener built by :func:`build_screener`), so every fact and rule of ``lead.due``
screening applies (registries, tenant DNC, attempts, refusals, consents, campaign).
A check is **never recorded**: no decision row, no ``compliance.decided`` event (the
dialer would take a cleared one as a clearance and the leads service would act on it).
Only ``lead.due`` screening records decisions.

Input errors, consistently: a body that is not the documented shape (missing field,
wrong type, more than ``MAX_ITEMS`` items, a country that is not two letters) is a 422
naming the item index (``loc: ["body", "items", 3, "phone_e164"]``); a well-formed value
the rules cannot use (an invalid phone number, an unknown region or IANA zone) blocks
that item with the same precise rule id screening uses (``number.invalid``,
``jurisdiction.unknown``, ``zone.invalid``): the batch answers the other items. A
``campaign_id`` compliance has not heard of (no ``campaign.state_changed`` consumed for
this tenant) blocks ``campaign.unknown`` with ``earliest_callable_at`` = ``at`` +
``unknown_campaign_retry_s``, as screening does. An ``at`` further than
``MAX_WHAT_IF`` (366 days) from now is a 422: what-ifs are for the calling calendar of
the coming or past year, and the instants derived from ``at`` (attempt look-back,
clearance cap) must stay inside the datetime range.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import phonenumbers
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from common.app import RuntimeDep, ServiceRuntime, SessionDep
from common.auth import Principal, require_scopes
from common.errors import Unprocessable
from common.events.catalog import CandidateZone, LeadDueV1
from compliance.api.decisions import ReasonOut, ZoneOut
from compliance.app.screening import Screener
from compliance.app.workers import build_screener
from compliance.domain.zones import Address

router = APIRouter(prefix="/v1/compliance", tags=["compliance"])

Reader = Annotated[Principal, Depends(require_scopes("compliance:read"))]
MAX_ITEMS = 1000
MAX_WHAT_IF = timedelta(days=366)
_CHUNK = 100  # items decided per slice: ≈ 2 ms each of rule evaluation on the event loop
_CHECK_LIST = "check"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ZoneIn(_Strict):
    zone: str = Field(min_length=1, max_length=64, examples=["America/Chicago"])
    source: Literal["number_prefix", "postal_code", "region", "explicit"] = "explicit"


class AddressIn(_Strict):
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    region: str | None = Field(None, min_length=1, max_length=8,
                               description="ISO 3166-2 subdivision, e.g. FL")
    postal_code: str | None = Field(None, min_length=1, max_length=16)


class CheckItem(_Strict):
    phone_e164: str = Field(min_length=1, max_length=32, examples=["+12125550123"])
    campaign_id: str = Field(min_length=1, max_length=64)
    lead_id: str | None = Field(None, min_length=1, max_length=64,
                                description="the lead, if any (its attempt history applies)")
    candidate_zones: list[ZoneIn] | None = Field(
        None, max_length=16, description="the lead record's zones; omit to let compliance "
        "locate the number; an empty list blocks (zone.unknown), as in screening")
    address: AddressIn | None = None
    explicit_zone: str | None = Field(None, min_length=1, max_length=64)


class CheckRequest(_Strict):
    items: list[CheckItem] = Field(min_length=1, max_length=MAX_ITEMS)
    at: AwareDatetime | None = Field(
        None, description="what-if instant (default: now), at most 366 days from now")


class CheckResult(BaseModel):
    index: int
    lead_id: str | None
    outcome: Literal["cleared", "blocked"]
    number_masked: str
    reasons: list[ReasonOut]
    earliest_callable_at: datetime | None = Field(None, description="null: not by time alone")
    valid_until: datetime | None = None
    policy_version: str
    packs: list[dict[str, str]]
    jurisdictions: list[str]
    zones: list[ZoneOut] = Field(description="candidate time zones with their provenance")
    inputs: dict[str, Any]


class CheckResponse(BaseModel):
    at: datetime
    what_if: bool = Field(description="true when `at` was given")
    recorded: bool = Field(False, description="checks are never recorded")
    items: list[CheckResult]


async def _screener(app: FastAPI, runtime: ServiceRuntime) -> Screener:
    """This process's check screener (built on first use, then reused)."""
    state = app.state
    if not hasattr(state, "check_lock"):
        state.check_lock = asyncio.Lock()
    async with state.check_lock:
        if not hasattr(state, "check_screener"):
            state.check_screener = await build_screener(runtime)
    screener: Screener = state.check_screener
    return screener


def _country(phone: str) -> str:
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone)) or "ZZ"
    except phonenumbers.NumberParseException:
        return "ZZ"


def _due(index: int, item: CheckItem, at: datetime) -> LeadDueV1:
    return LeadDueV1(
        lead_id=item.lead_id or f"check-{index}", list_id=_CHECK_LIST,
        campaign_id=item.campaign_id, attempt=1, due_at=at, phone_e164=item.phone_e164,
        country=_country(item.phone_e164),
        candidate_zones=[CandidateZone(zone=z.zone, source=z.source)
                         for z in item.candidate_zones or ()])


def _extra(item: CheckItem) -> dict[str, Any]:
    extra: dict[str, Any] = {"explicit_zone": item.explicit_zone}
    if item.address is not None:
        extra["address"] = Address(**item.address.model_dump())
    if item.candidate_zones is None:
        extra["lead_zones"] = None
    return extra


@router.post("/checks", response_model=CheckResponse, responses={
    422: {"description": "malformed body (`details[].loc` names the item index), or "
                 "`at` more than 366 days from now"}})
async def check(body: CheckRequest, principal: Reader, session: SessionDep,
                runtime: RuntimeDep, request: Request) -> CheckResponse:
    """Decide up to 1000 numbers for this tenant, now or at ``at`` (what-if), exactly as
    screening would; nothing is recorded."""
    now = runtime.clock.now()
    if body.at is not None and not now - MAX_WHAT_IF <= body.at <= now + MAX_WHAT_IF:
        raise Unprocessable(f"'at' ({body.at.isoformat()}) must be within "
                            f"{MAX_WHAT_IF.days} days of now ({now.isoformat()})")
    screener = await _screener(request.app, runtime)
    at = body.at or now
    tenant = principal.tenant_id
    dues = [(tenant, _due(i, item, at)) for i, item in enumerate(body.items)]
    extras = [_extra(i) for i in body.items]
    screened = []
    for start in range(0, len(dues), _CHUNK):  # the event loop breathes between chunks
        part = slice(start, start + _CHUNK)
        screened += await screener.screen_many(session, dues[part], at, extras[part])
    items = []
    for i, (item, s) in enumerate(zip(body.items, screened, strict=True)):
        record = s.record
        items.append(CheckResult(
            index=i, lead_id=item.lead_id, outcome=record["outcome"],
            number_masked=record["number_masked"], reasons=record["reasons"],
            earliest_callable_at=record["earliest_callable_at"],
            valid_until=record["valid_until"], policy_version=record["policy_version"],
            packs=record["packs"], jurisdictions=record["jurisdictions"], zones=record["zones"],
            inputs={**record["inputs"], "lists_consulted": record["lists_consulted"]}))
    return CheckResponse(at=at, what_if=body.at is not None, items=items)
