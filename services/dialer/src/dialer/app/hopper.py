"""The hopper: cleared leads waiting to be dialed, the DNC projection, and returns.

Consumers: ``compliance`` (cleared decisions fill the hopper; a consent revocation takes
the number's leads out of it at once and refuses clearances decided before it) and ``dnc``
(the tenant's DNC entries; an addition takes matching leads out of the hopper at once). A
lead that leaves the hopper without being dialed goes back to leads as ``LeadReturnedV1``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from common.clock import Clock
from common.consumer import ConsumedEvent
from common.events.catalog import (
    ComplianceDecidedV1,
    ConsentRevokedV1,
    DncEntryAddedV1,
    DncEntryRemovedV1,
    LeadReturnedV1,
)
from common.eventstore import EventStore
from dialer.adapters.db import campaigns, consent_revocations, dnc_entries, hopper
from dialer.domain.campaign import CampaignState
from dialer.domain.dialing import ReturnReason, dnc_list_applies

log = logging.getLogger(__name__)

# How long a seen revocation is kept to refuse clearances decided before it: far beyond a
# clearance's life (KADEN_CLEARANCE_MAX_S, 15 min) plus any consumer lag worth waiting for.
REVOCATION_MEMORY = timedelta(days=1)


@dataclass(frozen=True)
class LeadRef:
    """A lead of a campaign that is returned without ever entering the hopper."""

    tenant_id: str
    campaign_id: str
    lead_id: str
    list_id: str
    attempt: int


def return_stream(campaign_id: str, lead_id: str) -> str:
    """The dialer's stream for one lead's passages through one campaign's hopper."""
    return f"hopper-{campaign_id}-{lead_id}"


class Hopper:
    """Hopper intake, DNC projection and lead returns, in the caller's transaction."""

    def __init__(self, event_store: EventStore, clock: Clock, cap: int) -> None:
        self.events = event_store
        self.clock = clock
        self.cap = cap

    # ------------------------------------------------------------------ returns
    async def give_back(self, session: AsyncSession, entries: Sequence[Row[Any]],
                        reason: ReturnReason, now: datetime) -> int:
        """Remove stored hopper entries and emit ``LeadReturnedV1`` for each one removed
        here (an entry a concurrent transaction already took is skipped)."""
        if not entries:
            return 0
        removed = set((await session.execute(
            delete(hopper).where(hopper.c.id.in_([e.id for e in entries]))
            .returning(hopper.c.id))).scalars())
        for entry in entries:
            if entry.id in removed:
                await self.emit_return(session, entry, reason, now)
        return len(removed)

    async def emit_return(self, session: AsyncSession, entry: Row[Any] | LeadRef,
                          reason: ReturnReason, now: datetime) -> None:
        """Emit ``LeadReturnedV1`` for one lead of one campaign."""
        stream = return_stream(entry.campaign_id, entry.lead_id)
        version = await self.events.current_version(
            session, tenant_id=entry.tenant_id, stream_id=stream)
        await self.events.append(
            session, tenant_id=entry.tenant_id, stream_id=stream, expected_version=version,
            payloads=[LeadReturnedV1(lead_id=entry.lead_id, list_id=entry.list_id,
                                     campaign_id=entry.campaign_id, attempt=entry.attempt,
                                     reason=reason.value, at=now)])

    async def sweep(self, session: AsyncSession, now: datetime, limit: int) -> int:
        """Return up to ``limit`` entries of stopped campaigns and entries whose clearance
        expired (so leads can reschedule them without waiting for an agent)."""
        stopped = await session.execute(
            select(hopper).join(campaigns, (campaigns.c.tenant_id == hopper.c.tenant_id)
                                & (campaigns.c.campaign_id == hopper.c.campaign_id))
            .where(campaigns.c.state == CampaignState.STOPPED.value)
            .order_by(hopper.c.id).limit(limit))
        n = await self.give_back(session, stopped.all(), ReturnReason.CAMPAIGN_STOPPED, now)
        expired = await session.execute(
            select(hopper).where(hopper.c.valid_until <= now)
            .order_by(hopper.c.valid_until).limit(limit))
        return n + await self.give_back(session, expired.all(), ReturnReason.CLEARANCE_EXPIRED, now)

    # ------------------------------------------------------------------ DNC
    async def dnc_lists(self, session: AsyncSession, tenant_id: str,
                        phones: Sequence[str]) -> dict[str, set[str]]:
        """The DNC lists each of ``phones`` is on, for one tenant."""
        if not phones:
            return {}
        result = await session.execute(
            select(dnc_entries.c.phone_e164, dnc_entries.c.list_id)
            .where(dnc_entries.c.tenant_id == tenant_id,
                   dnc_entries.c.phone_e164.in_(set(phones))))
        lists: dict[str, set[str]] = defaultdict(set)
        for phone, list_id in result:
            lists[phone].add(list_id)
        return lists

    async def on_dnc_events(self, session: AsyncSession, events: Sequence[ConsumedEvent]) -> None:
        """Project DNC additions/removals (last event per entry wins) and pull newly
        forbidden numbers out of the hopper (``LeadReturnedV1(reason="dnc")``)."""
        latest: dict[tuple[str, str, str], datetime | None] = {}
        for event in events:
            p = event.payload()
            tenant = event.envelope.tenantid
            if isinstance(p, DncEntryAddedV1):
                latest[(tenant, p.phone_e164, p.list_id)] = p.added_at
            elif isinstance(p, DncEntryRemovedV1):
                latest[(tenant, p.phone_e164, p.list_id)] = None
        if not latest:
            return
        keys = [{"t": t, "p": p, "l": lst} for t, p, lst in latest]
        await session.execute(
            delete(dnc_entries).where(dnc_entries.c.tenant_id == bindparam("t"),
                                      dnc_entries.c.phone_e164 == bindparam("p"),
                                      dnc_entries.c.list_id == bindparam("l")), keys)
        added: list[dict[str, Any]] = [{"tenant_id": t, "phone_e164": p, "list_id": lst, "added_at": at}
                 for (t, p, lst), at in latest.items() if at is not None]
        if not added:
            return
        await session.execute(insert(dnc_entries), added)
        by_tenant: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for row in added:
            by_tenant[row["tenant_id"]][row["phone_e164"]].add(row["list_id"])
        now = self.clock.now()
        for tenant, lists in by_tenant.items():
            entries = await session.execute(
                select(hopper).where(hopper.c.tenant_id == tenant,
                                     hopper.c.phone_e164.in_(list(lists))))
            forbidden = [e for e in entries.all()
                         if any(dnc_list_applies(lst, e.campaign_id) for lst in lists[e.phone_e164])]
            await self.give_back(session, forbidden, ReturnReason.DNC, now)

    # ------------------------------------------------------------------ intake
    async def on_compliance_events(self, session: AsyncSession,
                                   events: Sequence[ConsumedEvent]) -> None:
        """Put cleared leads of running or paused campaigns in the hopper; give leads of
        stopped (or never started) campaigns back; ignore blocked decisions. A consent
        revocation gives the number's hopper leads back, and a clearance decided before a
        revocation that covers it is given back instead of queued (``clearance_expired``:
        leads has them screened again, which now sees the revocation)."""
        parsed = [(e.envelope, e.payload()) for e in events]
        now = self.clock.now()
        await self._on_revocations(session, [(env.tenantid, env.time, p) for env, p in parsed
                                             if isinstance(p, ConsentRevokedV1)], now)
        decided = [(env.tenantid, env.time, p) for env, p in parsed
                   if isinstance(p, ComplianceDecidedV1) and p.outcome == "cleared"]
        if not decided:
            return
        cleared = [(tenant, p) for tenant, _, p in decided]
        revoked = await self._predating_revocations(session, decided)
        states = await self._campaign_states(session, {(t, p.campaign_id) for t, p in cleared})
        queued: set[tuple[str, str, str]] = await self._already_queued(session, cleared)
        rows: list[dict[str, Any]] = []
        returns: list[tuple[LeadRef, ReturnReason]] = []
        for tenant, p in cleared:
            state = states.get((tenant, p.campaign_id))
            key = (tenant, p.campaign_id, p.lead_id)
            ref = LeadRef(tenant, p.campaign_id, p.lead_id, p.list_id, p.attempt)
            if p.decision_id in revoked:
                log.info("cleared decision %s predates a consent revocation for its number: "
                         "lead %s given back", p.decision_id, p.lead_id)
                returns.append((ref, ReturnReason.CLEARANCE_EXPIRED))
            elif state is None:
                log.warning("cleared decision %s for unknown campaign %s: ignored",
                            p.decision_id, p.campaign_id)
            elif p.valid_until is None:
                log.warning("cleared decision %s has no valid_until: ignored", p.decision_id)
            elif key in queued:
                log.info("lead %s is already in the hopper of %s", p.lead_id, p.campaign_id)
            else:
                queued.add(key)
                if state in (CampaignState.RUNNING, CampaignState.PAUSED):
                    rows.append({"tenant_id": tenant, "campaign_id": p.campaign_id,
                                 "lead_id": p.lead_id, "list_id": p.list_id,
                                 "attempt": p.attempt, "phone_e164": p.phone_e164,
                                 "valid_until": p.valid_until, "decision_id": p.decision_id,
                                 "queued_at": now})
                else:
                    returns.append((ref, ReturnReason.CAMPAIGN_STOPPED))
        if rows:
            await session.execute(insert(hopper), rows)
            await self._warn_over_cap(session, {(r["tenant_id"], r["campaign_id"]) for r in rows})
        for ref, reason in returns:
            await self.emit_return(session, ref, reason, now)

    async def _on_revocations(self, session: AsyncSession,
                              revocations: Sequence[tuple[str, datetime, ConsentRevokedV1]],
                              now: datetime) -> None:
        """Remember each revocation (when compliance recorded it; older ones of the tenant
        are forgotten after ``REVOCATION_MEMORY`` on that same time base) and give back the
        number's hopper leads in its scope, fail-closed: every campaign of the scope, also
        one that does not need the consent (leads has them screened again at once). A
        revocation written before events carried the number cannot be matched (logged)."""
        for tenant, recorded_at, p in revocations:
            if p.phone_e164 is None:
                log.warning("consent %s revoked without its number (an older event): "
                            "hopper leads cannot be matched", p.consent_id)
                continue
            await session.execute(delete(consent_revocations).where(
                consent_revocations.c.tenant_id == tenant,
                (consent_revocations.c.consent_id == p.consent_id)
                | (consent_revocations.c.recorded_at < recorded_at - REVOCATION_MEMORY)))
            await session.execute(insert(consent_revocations).values(
                tenant_id=tenant, consent_id=p.consent_id, phone_e164=p.phone_e164,
                campaign_id=p.campaign_id, recorded_at=recorded_at))
            query = select(hopper).where(hopper.c.tenant_id == tenant,
                                         hopper.c.phone_e164 == p.phone_e164)
            if p.campaign_id is not None:
                query = query.where(hopper.c.campaign_id == p.campaign_id)
            entries = (await session.execute(query)).all()
            pulled = await self.give_back(session, entries, ReturnReason.CLEARANCE_EXPIRED, now)
            log.info("consent %s revoked: %d hopper lead(s) given back for re-screening",
                     p.consent_id, pulled)

    async def _predating_revocations(
            self, session: AsyncSession,
            cleared: Sequence[tuple[str, datetime, ComplianceDecidedV1]]) -> set[str]:
        """Ids of the clearances decided before a seen revocation that covers their number
        and campaign (compliance could not have known of it)."""
        refused: set[str] = set()
        for tenant in {t for t, _, _ in cleared}:
            mine = [(at, p) for t, at, p in cleared if t == tenant]
            result = await session.execute(
                select(consent_revocations.c.phone_e164, consent_revocations.c.campaign_id,
                       consent_revocations.c.recorded_at)
                .where(consent_revocations.c.tenant_id == tenant,
                       consent_revocations.c.phone_e164.in_({p.phone_e164 for _, p in mine})))
            seen: dict[str, list[tuple[str | None, datetime]]] = defaultdict(list)
            for phone, campaign, recorded_at in result:
                seen[phone].append((campaign, recorded_at))
            refused.update(p.decision_id for at, p in mine if any(
                at < recorded_at and campaign in (None, p.campaign_id)
                for campaign, recorded_at in seen.get(p.phone_e164, ())))
        return refused

    async def _campaign_states(self, session: AsyncSession,
                               keys: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
        states: dict[tuple[str, str], str] = {}
        for tenant in {t for t, _ in keys}:
            result = await session.execute(
                select(campaigns.c.campaign_id, campaigns.c.state)
                .where(campaigns.c.tenant_id == tenant,
                       campaigns.c.campaign_id.in_({c for t, c in keys if t == tenant})))
            states.update({(tenant, c): s for c, s in result})
        return states

    async def _already_queued(self, session: AsyncSession,
                              cleared: Sequence[tuple[str, ComplianceDecidedV1]]
                              ) -> set[tuple[str, str, str]]:
        queued: set[tuple[str, str, str]] = set()
        for tenant in {t for t, _ in cleared}:
            result = await session.execute(
                select(hopper.c.campaign_id, hopper.c.lead_id)
                .where(hopper.c.tenant_id == tenant,
                       hopper.c.lead_id.in_({p.lead_id for t, p in cleared if t == tenant})))
            queued.update((tenant, c, lead) for c, lead in result)
        return queued

    async def _warn_over_cap(self, session: AsyncSession, keys: set[tuple[str, str]]) -> None:
        for tenant, campaign in keys:
            depth = await hopper_depth(session, tenant, campaign)
            if depth > self.cap:
                log.warning("hopper of campaign %s holds %d leads, over its cap of %d",
                            campaign, depth, self.cap)


async def hopper_depth(session: AsyncSession, tenant_id: str, campaign_id: str) -> int:
    """How many cleared leads wait in the campaign's hopper."""
    result = await session.execute(
        select(func.count()).select_from(hopper)
        .where(hopper.c.tenant_id == tenant_id, hopper.c.campaign_id == campaign_id))
    return int(result.scalar_one())
