"""``/v1/consents``: the tenant's records of prior express consent (for campaigns that
require consent). Scopes ``consents:write`` / ``consents:read``. A number is only ever in a
request body (``POST /v1/consents/search``), never in a URL: URLs end up in proxy and
access logs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, status
from pydantic import AwareDatetime, BaseModel, Field

from common.app import RuntimeDep, SessionDep
from common.auth import Principal, require_scopes
from compliance.app import consents
from compliance.app.dnc import normalize_phone

router = APIRouter(prefix="/v1/consents", tags=["consents"])

Writer = Annotated[Principal, Depends(require_scopes("consents:write"))]
Reader = Annotated[Principal, Depends(require_scopes("consents:read"))]


class ConsentIn(BaseModel):
    """A consent the person gave to the tenant (the seller) to be called on ``phone``."""

    phone: str = Field(min_length=1, max_length=32, examples=["+12125550123"])
    country: str = Field("US", pattern=r"^[A-Za-z]{2}$",
                         description="ISO 3166-1 alpha-2 used to read national digits")
    campaign_id: str | None = Field(None, min_length=1, max_length=64,
                                    description="only this campaign; omitted: every campaign")
    product: str | None = Field(None, min_length=1, max_length=100,
                                description="only campaigns selling this product; omitted: any")
    granted_at: AwareDatetime = Field(description="when the person consented (with offset)")
    source: str = Field(min_length=1, max_length=64, examples=["web_form"],
                        description="how it was collected: web_form, ivr, call, paper, ...")
    evidence: str | None = Field(None, max_length=2000,
                                 description="reference to the proof (URL, document id)")


class ConsentSearch(BaseModel):
    """The number whose consents to list."""

    phone: str = Field(min_length=1, max_length=32, examples=["+12125550123"])
    country: str = Field("US", pattern=r"^[A-Za-z]{2}$",
                         description="ISO 3166-1 alpha-2 used to read national digits")


class RevokeIn(BaseModel):
    revoked_at: AwareDatetime | None = Field(None, description="default: now")
    reason: str | None = Field(None, max_length=500)


class ConsentOut(BaseModel):
    consent_id: str
    phone_e164: str
    campaign_id: str | None
    product: str | None
    granted_at: datetime
    source: str
    evidence: str | None
    recorded_at: datetime
    revoked_at: datetime | None
    revoke_reason: str | None


class ConsentList(BaseModel):
    items: list[ConsentOut]


def _out(c: consents.ConsentRecord) -> ConsentOut:
    return ConsentOut(**c.__dict__)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConsentOut,
             responses={422: {"description": "invalid number, or granted_at in the future"}})
async def record(body: ConsentIn, principal: Writer, session: SessionDep,
                 runtime: RuntimeDep) -> ConsentOut:
    """Record a consent (event ``consent_recorded``); screening uses it at once."""
    phone = normalize_phone(body.phone, body.country)
    return _out(await consents.record_consent(
        session, runtime.event_store, tenant_id=principal.tenant_id, phone_e164=phone,
        campaign_id=body.campaign_id, product=body.product, granted_at=body.granted_at,
        source=body.source, evidence=body.evidence, now=runtime.clock.now()))


@router.post("/{consent_id}/revoke", response_model=ConsentOut,
             responses={404: {"description": "no such consent for this tenant"},
                        422: {"description": "revoked_at in the future or before the grant"}})
async def revoke(consent_id: str, principal: Writer, session: SessionDep, runtime: RuntimeDep,
                 body: RevokeIn | None = None) -> ConsentOut:
    """Revoke a consent (event ``consent_revoked``); idempotent."""
    body = body or RevokeIn()
    return _out(await consents.revoke_consent(
        session, runtime.event_store, tenant_id=principal.tenant_id, consent_id=consent_id,
        revoked_at=body.revoked_at, reason=body.reason, now=runtime.clock.now()))


@router.post("/search", response_model=ConsentList,
             responses={422: {"description": "invalid number"}})
async def search(body: ConsentSearch, principal: Reader, session: SessionDep) -> ConsentList:
    """The tenant's consents for a number (revoked ones included), oldest grant first."""
    items = await consents.consents_of(session, tenant_id=principal.tenant_id,
                                       phone_e164=normalize_phone(body.phone, body.country))
    return ConsentList(items=[_out(c) for c in items])


@router.get("/{consent_id}", response_model=ConsentOut,
            responses={404: {"description": "no such consent for this tenant"}})
async def get(consent_id: str, principal: Reader, session: SessionDep) -> ConsentOut:
    """One consent of the tenant."""
    return _out(await consents.get_consent(session, tenant_id=principal.tenant_id,
                                           consent_id=consent_id))
