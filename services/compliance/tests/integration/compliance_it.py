"""Helpers of the compliance integration tests (importable: conftest puts this folder on
sys.path)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from common.events import EventEnvelope, build_envelope
from common.events.catalog import (
    CampaignStateChangedV1,
    CandidateZone,
    ComplianceDecidedV1,
    EventPayload,
    LeadDueV1,
)
from common.testing.kafka_tools import produce, read_all
from common.testing.services import RunningService, bearer, wait_for
from compliance.adapters.facts_tables import campaign_facts
from compliance.app.facts_watermark import FACTS_GROUP, caught_up_at

NEW_YORK = ZoneInfo("America/New_York")
CALLER_ID = "+12125550100"


def offset_to_weekday(local: time, zone: ZoneInfo = NEW_YORK) -> float:
    """Clock offset (s) that makes ``clock.now()`` the next weekday's ``local`` in ``zone``."""
    now = datetime.now(UTC)
    day = now.astimezone(zone).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return (datetime.combine(day, local, zone) - now).total_seconds()


def lead_due(lead_id: str, phone: str, zones: list[str] | None = None,
             campaign_id: str = "camp-1") -> LeadDueV1:
    """A first-attempt ``lead.due`` (New York zone from the number prefix by default)."""
    zones = ["America/New_York"] if zones is None else zones
    return LeadDueV1(
        lead_id=lead_id, list_id="list-1", campaign_id=campaign_id, attempt=1,
        due_at=datetime.now(UTC), phone_e164=phone, country="US",
        candidate_zones=[CandidateZone(zone=z, source="number_prefix") for z in zones])


class Harness:
    """A running compliance service plus its topics: produce inputs, read outputs."""

    def __init__(self, svc: RunningService, bootstrap: str) -> None:
        self.svc = svc
        self.bootstrap = bootstrap

    @property
    def client(self) -> Any:
        return self.svc.client

    async def send(self, tenant: str, topic: str, *payloads: EventPayload) -> None:
        envelopes = [build_envelope(p, tenant_id=tenant, source="/tests") for p in payloads]
        await produce(self.bootstrap, self.svc.topic_prefix + topic, envelopes)

    async def known_campaigns(self, tenant: str, *campaign_ids: str) -> None:
        """Publish a ``running`` ``campaign.state_changed`` (no caller ID of its own: the
        setting applies) for each of ``campaign_ids`` and wait until the facts consumer
        stored them: screening blocks a lead of a campaign it has not heard of."""
        await self.send(tenant, "campaigns", *[
            CampaignStateChangedV1(campaign_id=c, state="running") for c in campaign_ids])
        c = campaign_facts.c

        async def stored() -> bool:
            async with self.svc.runtime.sessions() as s:
                found = set((await s.execute(select(c.campaign_id).where(
                    c.tenant_id == tenant, c.campaign_id.in_(campaign_ids)))).scalars())
            return found == set(campaign_ids)

        await wait_for(stored, timeout_s=30, what=f"campaigns {campaign_ids} of {tenant}")

    async def facts_caught_up(self) -> None:
        """Wait until the facts watermark is stored (screening blocks facts.stale before)."""
        group = f"{self.svc.topic_prefix}{FACTS_GROUP}"

        async def stored() -> bool:
            async with self.svc.runtime.sessions() as s:
                return await caught_up_at(s, group) is not None

        await wait_for(stored, timeout_s=30, what="the facts watermark")

    async def events(self, topic: str, expect: int | None = None) -> list[EventEnvelope]:
        records = await read_all(self.bootstrap, self.svc.topic_prefix + topic, expect=expect)
        return [EventEnvelope.from_kafka(r.key, r.value, r.headers) for r in records]

    async def decision(self, tenant: str, lead_id: str, *, count: int = 1) -> dict[str, Any]:
        """The lead's newest decision on the ``compliance`` topic once ``count`` are stored
        (waits on the API first: it is cheaper to poll than the broker)."""

        async def stored() -> bool:
            r = await self.client.get(f"/v1/leads/{lead_id}/decisions", headers=bearer(tenant))
            return r.status_code == 200 and len(r.json()["items"]) >= count

        await wait_for(stored, timeout_s=40, what=f"{count} decision(s) for {lead_id}")
        found: list[EventEnvelope] = []

        async def published() -> bool:
            found[:] = [e for e in await self.events("compliance")
                        if e.type == ComplianceDecidedV1.event_type
                        and e.data["lead_id"] == lead_id and e.tenantid == tenant]
            return len(found) >= count

        await wait_for(published, timeout_s=20, interval_s=0.3, what=f"{lead_id} published")
        return found[-1].data


