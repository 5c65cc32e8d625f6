"""The due scheduler: hands waiting leads of running campaigns to compliance (``lead.due``).

Every tick (``scheduler_interval_s``), in one transaction: read the running campaigns,
count each one's leads in flight (due or dialing), and for each campaign with room under
``max_in_flight_per_campaign`` take its owned lists' waiting leads whose
``next_attempt_at`` has passed, oldest first, at most ``scheduler_batch_size`` in all.
Each becomes ``due`` with ``lead.due`` appended to its stream in the same transaction, so
a restart never hands out a lead twice. On PostgreSQL one scheduler runs at a time (a
transaction advisory lock) and rows are locked, so replicas and consumers do not race.
"""

from __future__ import annotations

import logging
import zlib

from sqlalchemy import RowMapping, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from common.app import ServiceRuntime
from common.events.catalog import CandidateZone, LeadDueV1
from leads.adapters.db import campaigns, leads
from leads.app.lead_rows import lead_from_row
from leads.app.loop import PeriodicWorker
from leads.domain.lead import IN_FLIGHT
from leads.domain.scheduling import Allotment, RunningCampaign, allot
from leads.settings import LeadsSettings

log = logging.getLogger(__name__)
_LOCK_KEY = zlib.crc32(b"kaden-leads-scheduler")

_MARK_DUE = update(leads).where(
    leads.c.tenant_id == bindparam("k_tenant"), leads.c.lead_id == bindparam("k_lead"),
).values(status="due", campaign_id=bindparam("campaign_id"),
         due_attempt=bindparam("due_attempt"), next_attempt_at=None,
         version=bindparam("version"), updated_at=bindparam("updated_at"))


class DueScheduler(PeriodicWorker):
    """Emits ``lead.due`` for waiting leads of running campaigns, keeping the cap."""

    def __init__(self, runtime: ServiceRuntime, settings: LeadsSettings) -> None:
        super().__init__("due-scheduler", settings.scheduler_interval_s)
        self._rt = runtime
        self._settings = settings
        self._rotation = 0

    async def tick(self) -> bool:
        """One scheduling pass; True when the batch was full (more may be waiting)."""
        async with self._rt.sessions() as s, s.begin():
            if s.bind.dialect.name == "postgresql" and not (await s.execute(
                    text("select pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})).scalar_one():
                return False  # another replica is scheduling
            running = await _running_campaigns(s)
            if not running:
                return False
            self._rotation += 1
            allotments = allot(running, await _in_flight(s), rotation=self._rotation,
                               cap=self._settings.max_in_flight_per_campaign)
            budget = self._settings.scheduler_batch_size
            for allotment in allotments:
                if budget <= 0:
                    break
                budget -= await self._make_due(s, allotment, min(allotment.quota, budget))
        return budget <= 0

    async def _make_due(self, s: AsyncSession, allotment: Allotment, quota: int) -> int:
        """Make up to ``quota`` waiting leads of the allotment's lists due; returns how many."""
        campaign = allotment.campaign
        now = self._rt.clock.now()
        due: list[RowMapping] = []
        for list_id in allotment.list_ids:
            if len(due) >= quota:
                break
            due += (await s.execute(
                select(leads).where(
                    leads.c.tenant_id == campaign.tenant_id, leads.c.list_id == list_id,
                    leads.c.next_attempt_at <= now)
                .order_by(leads.c.next_attempt_at).limit(quota - len(due))
                .with_for_update(skip_locked=True))).mappings().all()
        if not due:
            return 0
        updates = []
        for row in due:
            lead = lead_from_row(row)
            attempt, reason = lead.make_due(campaign.campaign_id)
            updates.append({"k_tenant": campaign.tenant_id, "k_lead": row["lead_id"],
                            "campaign_id": campaign.campaign_id, "due_attempt": attempt,
                            "version": row["version"] + 1, "updated_at": now})
            await self._rt.event_store.append(
                s, tenant_id=campaign.tenant_id, stream_id=row["lead_id"],
                expected_version=row["version"],
                payloads=[LeadDueV1(
                    lead_id=row["lead_id"], list_id=row["list_id"],
                    campaign_id=campaign.campaign_id, attempt=attempt, due_at=now,
                    reason=reason, phone_e164=row["phone_e164"], country=row["country"],
                    candidate_zones=[CandidateZone.model_validate(z)
                                     for z in row["candidate_zones"]])])
        await s.execute(_MARK_DUE, updates)
        log.debug("campaign %s: %d leads due", campaign.campaign_id, len(due))
        return len(due)


async def _running_campaigns(s: AsyncSession) -> list[RunningCampaign]:
    result = await s.execute(select(campaigns).where(campaigns.c.state == "running"))
    return [RunningCampaign(r.tenant_id, r.campaign_id, tuple(r.list_ids), r.running_since)
            for r in result]


async def _in_flight(s: AsyncSession) -> dict[tuple[str, str], int]:
    result = await s.execute(
        select(leads.c.tenant_id, leads.c.campaign_id, func.count())
        .where(leads.c.status.in_([st.value for st in IN_FLIGHT]))
        .group_by(leads.c.tenant_id, leads.c.campaign_id))
    return {(t, c): int(n) for t, c, n in result}
