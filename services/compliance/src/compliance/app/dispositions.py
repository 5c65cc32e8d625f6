"""A ``do_not_call`` disposition puts the lead's number on the tenant DNC list at once."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from common.clock import Clock
from common.consumer import ConsumedEvent
from common.events.catalog import DispositionSubmittedV1
from common.eventstore import EventStore
from compliance.adapters.db import decisions
from compliance.app.dnc import add_entry

log = logging.getLogger(__name__)


class UnknownLeadNumber(LookupError):
    """No decision of this service names the lead's number: the DNC request cannot be
    applied (the record is retried, then dead-lettered for an operator, never dropped)."""


class DispositionHandler:
    """The ``agents`` topic handler: DNC dispositions → ``dnc.added`` (source disposition)."""

    def __init__(self, store: EventStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def on_agent_event(self, session: AsyncSession, event: ConsumedEvent) -> None:
        """Add the number of the disposed lead to the tenant list; ignore other events."""
        payload = event.payload()
        if not isinstance(payload, DispositionSubmittedV1) or payload.category != "dnc":
            return
        tenant = event.envelope.tenantid
        phone = (await session.execute(
            select(decisions.c.phone_e164)
            .where(decisions.c.tenant_id == tenant, decisions.c.lead_id == payload.lead_id)
            .order_by(decisions.c.decided_at.desc()).limit(1))).scalar_one_or_none()
        if phone is None:
            raise UnknownLeadNumber(f"no screened number for lead {payload.lead_id}: "
                                    "its do-not-call disposition cannot be applied")
        _, created = await add_entry(session, self._store, tenant_id=tenant, phone_e164=phone,
                                     source="disposition", now=self._clock.now())
        log.info("lead %s: do-not-call disposition %s the tenant DNC list", payload.lead_id,
                 "added to" if created else "already on")
