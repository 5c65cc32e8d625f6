"""Consent records: record, revoke, read (the ``consents`` table is their read model).

Each consent is a stream ``consent-<id>`` in the compliance event store:
``consent_recorded`` (version 1), then at most one ``consent_revoked`` (version 2), each
appended in the same transaction as its row change and published through the outbox.
A consent belongs to one tenant (the seller); screening uses it for campaigns that
require consent when its scope covers the campaign (see ``lead_facts``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import Conflict, NotFound, Unprocessable
from common.events import parse_payload
from common.events.catalog import ConsentRecordedV1, ConsentRevokedV1
from common.eventstore import ConcurrencyError, EventStore
from compliance.adapters.facts_tables import consents


@dataclass(frozen=True)
class ConsentRecord:
    """A consent as stored; ``revoked_at`` None while it is in force."""

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


def consent_stream_id(consent_id: str) -> str:
    """The stream of one consent (tenant-scoped by the event store)."""
    return f"consent-{consent_id}"


async def record_consent(
    session: AsyncSession, store: EventStore, *, tenant_id: str, phone_e164: str,
    campaign_id: str | None, product: str | None, granted_at: datetime, source: str,
    evidence: str | None, now: datetime,
) -> ConsentRecord:
    """Record a consent given at ``granted_at`` (not after ``now``: 422)."""
    if granted_at > now:
        raise Unprocessable(f"granted_at {granted_at.isoformat()} is in the future "
                            f"(now {now.isoformat()})")
    consent_id = str(uuid.uuid4())
    event = ConsentRecordedV1(
        consent_id=consent_id, phone_e164=phone_e164, campaign_id=campaign_id, product=product,
        granted_at=granted_at, source=source, evidence=evidence, recorded_at=now)
    await store.append(session, tenant_id=tenant_id, stream_id=consent_stream_id(consent_id),
                       expected_version=0, payloads=[event])
    values: dict[str, Any] = {
        "consent_id": consent_id, "phone_e164": phone_e164, "campaign_id": campaign_id,
        "product": product, "granted_at": granted_at, "source": source, "evidence": evidence,
        "recorded_at": now, "revoked_at": None, "revoke_reason": None}
    await session.execute(insert(consents).values(tenant_id=tenant_id, **values))
    return ConsentRecord(**values)


async def revoke_consent(
    session: AsyncSession, store: EventStore, *, tenant_id: str, consent_id: str,
    revoked_at: datetime | None, reason: str | None, now: datetime,
) -> ConsentRecord:
    """Revoke at ``revoked_at`` (default ``now``; not in the future, not before the grant).
    Revoking a revoked consent returns it unchanged (idempotent), also when another
    request revoked it concurrently (the stored revocation is returned)."""
    current = await get_consent(session, tenant_id=tenant_id, consent_id=consent_id)
    if current.revoked_at is not None:
        return current
    at = revoked_at or now
    if at > now:
        raise Unprocessable(f"revoked_at {at.isoformat()} is in the future (now {now.isoformat()})")
    if at < current.granted_at:
        raise Unprocessable(f"revoked_at {at.isoformat()} is before the consent was granted "
                            f"({current.granted_at.isoformat()})")
    try:
        await store.append(session, tenant_id=tenant_id, stream_id=consent_stream_id(consent_id),
                           expected_version=1, payloads=[ConsentRevokedV1(
                               consent_id=consent_id, revoked_at=at, reason=reason,
                               phone_e164=current.phone_e164,
                               campaign_id=current.campaign_id)])
    except ConcurrencyError:
        return await _concurrent_revocation(session, store, tenant_id, consent_id, current)
    await session.execute(
        update(consents)
        .where(consents.c.tenant_id == tenant_id, consents.c.consent_id == consent_id)
        .values(revoked_at=at, revoke_reason=reason))
    return replace(current, revoked_at=at, revoke_reason=reason)


async def _concurrent_revocation(session: AsyncSession, store: EventStore, tenant_id: str,
                                 consent_id: str, current: ConsentRecord) -> ConsentRecord:
    """The revocation another request appended first (version 2 of the stream): the
    one in force, returned as if this request had made it."""
    for stored in await store.load(session, tenant_id=tenant_id,
                                   stream_id=consent_stream_id(consent_id), after_version=1):
        event = parse_payload(stored.envelope)
        if isinstance(event, ConsentRevokedV1):
            return replace(current, revoked_at=event.revoked_at, revoke_reason=event.reason)
    raise Conflict(f"consent {consent_id} changed concurrently; read it again")


async def get_consent(session: AsyncSession, *, tenant_id: str, consent_id: str) -> ConsentRecord:
    """The tenant's consent; :class:`NotFound` also when another tenant holds that id."""
    row = (await session.execute(_select().where(
        consents.c.tenant_id == tenant_id, consents.c.consent_id == consent_id))).first()
    if row is None:
        raise NotFound(f"consent {consent_id} not found")
    return ConsentRecord(*row)


async def consents_of(session: AsyncSession, *, tenant_id: str, phone_e164: str
                      ) -> list[ConsentRecord]:
    """Every consent of the tenant for a number, revoked ones included, oldest first."""
    rows = await session.execute(_select().where(
        consents.c.tenant_id == tenant_id, consents.c.phone_e164 == phone_e164)
        .order_by(consents.c.granted_at, consents.c.consent_id))
    return [ConsentRecord(*row) for row in rows]


def _select() -> Select[Any]:
    c = consents.c
    return select(c.consent_id, c.phone_e164, c.campaign_id, c.product, c.granted_at, c.source,
                  c.evidence, c.recorded_at, c.revoked_at, c.revoke_reason)
