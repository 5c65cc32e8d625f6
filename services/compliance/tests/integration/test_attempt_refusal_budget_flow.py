"""Facts from events, end to end on one running service: campaigns (product, caller ID),
call attempts (Florida's cap), refusals (Japan's permanent ban per product) and the
abandon budget published on campaign start and widened by screening; never across
tenants."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from compliance_it import Harness, lead_due, offset_to_weekday
from facts_it import blocking, decided, rows
from sqlalchemy import select

from common.events.catalog import (
    CallAnsweredV1,
    CallDialedV1,
    CallEndedV1,
    CampaignStateChangedV1,
    DispositionSubmittedV1,
)
from common.testing.services import wait_for
from compliance.adapters.facts_tables import call_attempts, campaign_facts, refusals

pytestmark = pytest.mark.kafka

MIAMI = "+13055551234"
TOKYO = "+81312345678"
BUDGET = "callcenter.compliance.abandon_budget_set.v1"


def campaign(campaign_id: str, product: str, state: str = "running") -> CampaignStateChangedV1:
    return CampaignStateChangedV1(campaign_id=campaign_id, state=state, product=product,
                                  caller_id="+13055550100")


def due(lead_id: str, phone: str, campaign_id: str, attempt: int = 1, zone: str = "America/New_York"
        ) -> Any:
    return lead_due(lead_id, phone, [zone], campaign_id).model_copy(update={"attempt": attempt})


async def budgets(h: Harness, tenant: str, campaign_id: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def published() -> bool:
        found[:] = [e.data for e in await h.events("compliance") if e.type == BUDGET
                    and e.tenantid == tenant and e.data["campaign_id"] == campaign_id]
        return len(found) >= count

    await wait_for(published, timeout_s=30, interval_s=0.3, what=f"{count} budget(s)")
    return found


async def test_attempts_refusals_and_budgets_from_events(start_compliance: Any) -> None:
    async with start_compliance(clock_offset_s=offset_to_weekday(time(15))) as h:
        now = h.svc.runtime.clock.now()
        await h.send("acme", "campaigns", campaign("c-fl", "solar", "created"),
                     campaign("c-fl", "solar"), campaign("c-jp-a", "insurance"),
                     campaign("c-jp-b", "pension"))
        await h.send("globex", "campaigns", campaign("c-fl", "solar"))
        await rows(h, campaign_facts, "acme", 3)
        await rows(h, campaign_facts, "globex", 1)

        # Created → the strictest budget of every pack (3 % over 24 h, AMD counted).
        first = (await budgets(h, "acme", "c-fl", 1))[0]
        assert (first["max_abandon_rate"], first["window_s"], first["count_amd_misclassified"]) \
            == (0.03, 86400, True)
        assert {"US", "GB", "CA", "JP", "FR"} <= set(first["jurisdictions"])

        # Screening the leads maps them to their numbers.
        await h.send("acme", "leads", due("fl-1", MIAMI, "c-fl"),
                     due("jp-a", TOKYO, "c-jp-a", zone="Asia/Tokyo"))
        await h.send("globex", "leads", due("g-fl", MIAMI, "c-fl"))
        assert (await decided(h, "acme", "fl-1"))["outcome"] == "cleared"
        assert (await decided(h, "globex", "g-fl"))["outcome"] == "cleared"
        await decided(h, "acme", "jp-a")

        # ... and widens c-fl's budget to its jurisdictions: US 3 % over 30 days.
        # (``running`` had the same limits as ``created``: not re-published.)
        widened = (await budgets(h, "acme", "c-fl", 2))[-1]
        assert (widened["max_abandon_rate"], widened["window_s"],
                widened["count_amd_misclassified"]) == (0.03, 30 * 86400, False)
        assert {"US", "US-FL"} <= set(widened["jurisdictions"]) and "GB" not in widened[
            "jurisdictions"]

        # Three calls to the Florida number in the last hours (one answered)...
        starts = [now - timedelta(hours=h_) for h_ in (3, 2, 1)]
        await h.send("acme", "calls", *[
            e for i, at in enumerate(starts) for e in (
                CallDialedV1(call_id=f"call-{i}", campaign_id="c-fl", lead_id="fl-1", at=at,
                             attempt=i + 1),
                CallAnsweredV1(call_id=f"call-{i}", campaign_id="c-fl", lead_id="fl-1",
                               at=at + timedelta(seconds=9), answered_by="human"),
                CallEndedV1(call_id=f"call-{i}", campaign_id="c-fl", lead_id="fl-1",
                            at=at + timedelta(seconds=60), outcome="completed", ring_ms=9000))])
        # ... and a refusal of the insurance product in Japan.
        await h.send("acme", "agents", DispositionSubmittedV1(
            agent_id="ag-1", call_id="call-jp", lead_id="jp-a", campaign_id="c-jp-a",
            disposition="not_interested", category="contact", at=now - timedelta(minutes=5)))
        await rows(h, call_attempts, "acme", 3)
        await rows(h, refusals, "acme", 1)
        async with h.svc.runtime.sessions() as s:
            stored = (await s.execute(select(call_attempts.c.at, call_attempts.c.outcome)
                                      .order_by(call_attempts.c.at))).all()
        assert [(at, o) for at, o in stored] == [(at, "answered") for at in starts]

        # The fourth lead.due within 24 h is capped until the first call ages out.
        await h.send("acme", "leads", due("fl-1", MIAMI, "c-fl", attempt=2),
                     due("jp-a", TOKYO, "c-jp-a", attempt=2, zone="Asia/Tokyo"),
                     due("jp-b", TOKYO, "c-jp-b", zone="Asia/Tokyo"))
        capped = await decided(h, "acme", "fl-1", 2)
        assert capped["outcome"] == "blocked" and blocking(capped) == ["cap.us-fl.attempts-24h"]
        assert datetime.fromisoformat(capped["earliest_callable_at"]) == starts[0] + timedelta(
            hours=24)
        assert capped["inputs"]["counters"]["cap.us-fl.attempts-24h"]["count"] == 3
        # Japan: the refused product is banned for good, another product is not.
        refused = await decided(h, "acme", "jp-a", 2)
        assert "refusal.jp.resolicitation" in blocking(refused)
        assert refused["earliest_callable_at"] is None
        other = await decided(h, "acme", "jp-b")
        assert "refusal.jp.resolicitation" not in blocking(other)

        # Tenant B's facts never change: the same number in globex's c-fl is still clear.
        await h.send("globex", "leads", due("g-fl", MIAMI, "c-fl", attempt=2))
        again = await decided(h, "globex", "g-fl", 2)
        assert again["outcome"] == "cleared", again["reasons"]
        assert again["inputs"]["counters"]["cap.us-fl.attempts-24h"]["count"] == 0
        assert datetime.fromisoformat(again["decided_at"]).astimezone(UTC) >= now
