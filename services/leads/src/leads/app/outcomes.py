"""What happens to a lead after it was due: compliance decisions, leads the dialer
returned, call outcomes and agent dispositions (one batch handler for the four topics).

For one poll: load the leads concerned in one query (locked on PostgreSQL, so the
scheduler cannot race), apply the events in order through the status machine
(:mod:`leads.domain.lead`), then write the changed rows in one statement and append
``lead.closed`` to the stream of each lead that closed. Events about unknown leads (or
another tenant's) and event types this service does not act on are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TypeAlias

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from common.app import ServiceRuntime
from common.consumer import BatchHandler, ConsumedEvent
from common.events.catalog import (
    CallEndedV1,
    ComplianceDecidedV1,
    DispositionSubmittedV1,
    LeadClosedV1,
    LeadReturnedV1,
)
from leads.adapters.db import leads
from leads.app.campaigns import retry_policies
from leads.app.lead_rows import lead_from_row, lead_values
from leads.domain.lead import Lead, RetryPolicy

log = logging.getLogger(__name__)
LeadEvent: TypeAlias = ComplianceDecidedV1 | LeadReturnedV1 | CallEndedV1 | DispositionSubmittedV1
_LEAD_EVENTS = (ComplianceDecidedV1, LeadReturnedV1, CallEndedV1, DispositionSubmittedV1)
HANDLED = frozenset(c.event_type for c in _LEAD_EVENTS)

_SAVE = update(leads).where(
    leads.c.tenant_id == bindparam("k_tenant"), leads.c.lead_id == bindparam("k_lead"),
).values({name: bindparam(name) for name in (
    "status", "attempts", "next_attempt_at", "next_reason", "campaign_id", "due_attempt",
    "last_call_id", "last_outcome", "last_disposition", "closed_reason", "version",
    "updated_at")})

Key = tuple[str, str]  # (tenant id, lead id)


def apply(lead: Lead, p: LeadEvent, now: datetime, policy: RetryPolicy) -> str | None:
    """Apply one consumed event to ``lead``; returns the closing reason if it closed."""
    if isinstance(p, ComplianceDecidedV1):
        return lead.screened(attempt=p.attempt, cleared=p.outcome == "cleared",
                             earliest_callable_at=p.earliest_callable_at,
                             rule_ids=[r.rule_id for r in p.reasons])
    if isinstance(p, LeadReturnedV1):
        return lead.returned(attempt=p.attempt, reason=p.reason, now=now, policy=policy)
    if isinstance(p, CallEndedV1):
        return lead.call_ended(call_id=p.call_id, outcome=p.outcome, now=now, policy=policy)
    return lead.disposed(disposition=p.disposition, category=p.category,
                         callback_at=p.callback_at, now=now, policy=policy)


def _lead_events(events: Sequence[ConsumedEvent]) -> list[tuple[str, LeadEvent]]:
    """(tenant id, payload) of the events this consumer acts on, in order."""
    todo = []
    for ev in events:
        if ev.envelope.type in HANDLED:
            p = ev.payload()
            assert isinstance(p, _LEAD_EVENTS)
            todo.append((ev.envelope.tenantid, p))
    return todo


def outcome_handler(runtime: ServiceRuntime) -> BatchHandler:
    """The batch handler of the outcomes consumer, bound to the runtime's clock and store."""

    async def handle(session: AsyncSession, events: Sequence[ConsumedEvent]) -> None:
        todo = _lead_events(events)
        if not todo:
            return
        keys = {(t, p.lead_id) for t, p in todo}
        rows = {(r["tenant_id"], r["lead_id"]): r for r in (await session.execute(
            select(leads).where(tuple_(leads.c.tenant_id, leads.c.lead_id).in_(list(keys)))
            # one lock order for every consumer instance: no deadlock between them
            .order_by(leads.c.tenant_id, leads.c.lead_id).with_for_update())).mappings()}
        policies = await retry_policies(session, {(t, p.campaign_id) for t, p in todo})
        now = runtime.clock.now()
        state: dict[Key, Lead] = {k: lead_from_row(r) for k, r in rows.items()}
        closed: dict[Key, str] = {}
        for tenant_id, p in todo:
            lead = state.get((tenant_id, p.lead_id))
            if lead is None:
                log.info("ignoring %s for unknown lead %s", p.event_type, p.lead_id)
                continue
            reason = apply(lead, p, now, policies.get((tenant_id, p.campaign_id), RetryPolicy()))
            if reason is not None:
                closed[(tenant_id, p.lead_id)] = reason
        changed = [k for k, lead in state.items() if lead != lead_from_row(rows[k])]
        for key, reason in closed.items():
            row = rows[key]
            await runtime.event_store.append(
                session, tenant_id=key[0], stream_id=key[1], expected_version=row["version"],
                payloads=[LeadClosedV1(lead_id=key[1], list_id=row["list_id"], reason=reason)])
        if changed:
            await session.execute(_SAVE, [
                {"k_tenant": k[0], "k_lead": k[1], **lead_values(state[k]),
                 "version": rows[k]["version"] + (1 if k in closed else 0), "updated_at": now}
                for k in changed])

    return handle
