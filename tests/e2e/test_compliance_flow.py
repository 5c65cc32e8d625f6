"""Compliance through the real services: a DNC request and a consent revocation while a
lead sits cleared in the dialer's hopper, and a lead outside its calling window dialed
once the window opens.

The platform clock starts at a New York weekday 14:00 (04:00 the next morning in Tokyo).
An operator imports a fresh US-DNC registry copy first (no waiver):

0. a New York lead whose number is on the national registry is blocked ``dnc.national``;
1. a New York lead is cleared and waits in the hopper (no agent is logged in); its number
   is then put on the tenant's DNC list; when an agent becomes ready the dialer's
   last-mile check gives the lead back (``dnc``) and it is never dialed;
2. a Tokyo lead is blocked by the Japanese calling hours with its earliest callable
   instant (09:00 JST); every service's clock then jumps to just after that instant, and
   the lead is screened again, cleared and dialed — not before.

And a campaign that needs consent: a lead cleared on its consent waits in the hopper, the
consent is revoked, and the dialer gives the lead back at once (not when its clearance
lapses); screened again it is blocked ``consent.missing``, closed, never dialed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from e2e_platform import Platform, by_type, start_platform

from common.testing.services import bearer, wait_for
from simulator.agents import AgentBehaviour, SimulatedAgent

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

TENANT = "kumo"
NEW_YORK_NUMBER = "+12125550142"
REGISTERED_NUMBER = "+16465550177"
TOKYO_NUMBER = "+81312345678"
CALLER_ID = "+12125550100"
RETRY_BLOCKS = {"campaign.unknown", "facts.stale"}
SETTINGS: dict[str, dict[str, Any]] = {
    "dialer": {"time_scale": 0.05, "carrier_seed": 5},
    "leads": {"scheduler_interval_s": 0.2},
    "compliance": {"caller_id": CALLER_ID},
}


@pytest.fixture
async def platform(kafka_broker, postgres_server) -> AsyncIterator[Platform]:
    async with start_platform(kafka_broker, postgres_server, settings=SETTINGS) as p:
        yield p


async def _ok(response: Any, what: str) -> dict[str, Any]:
    assert response.status_code < 300, (what, response.status_code, response.text)
    body: dict[str, Any] = response.json()
    return body


async def test_dnc_in_hopper_and_calling_window(platform: Platform) -> None:
    h = bearer(TENANT)
    leads, dialer, compliance = (platform.clients[n] for n in ("leads", "dialer", "compliance"))

    await platform.import_us_registry([REGISTERED_NUMBER])

    lst = await _ok(await leads.post("/v1/lists", json={"name": "window test"}, headers=h), "list")
    job = await _ok(await leads.post(f"/v1/lists/{lst['list_id']}/imports", headers=h, json={
        "default_country": "US",
        "leads": [{"phone": NEW_YORK_NUMBER}, {"phone": REGISTERED_NUMBER},
                  {"phone": TOKYO_NUMBER, "country": "JP"}]}),
        "import")

    async def imported() -> bool:
        r = await leads.get(f"/v1/imports/{job['job_id']}", headers=h)
        return r.json()["status"] == "done"

    await wait_for(imported, timeout_s=30, what="the import")
    campaign = await _ok(await dialer.post("/v1/campaigns", headers=h, json={
        "name": "window test", "list_ids": [lst["list_id"]], "dial_mode": "progressive",
        "max_attempts": 2, "retry_delay_s": 60, "caller_id": CALLER_ID,
        "abandon_message": "This is Kumo Insurance; to stop our calls press 9 or call 212 555 0100."}),
        "campaign")
    campaign_id = campaign["campaign_id"]
    await _ok(await dialer.post(f"/v1/campaigns/{campaign_id}/start", headers=h), "start")

    lead_of = {e["phone_e164"]: e["lead_id"]
               for e in by_type(await platform.events("leads", TENANT), "lead.imported.v1")}
    ny_lead, tokyo_lead = lead_of[NEW_YORK_NUMBER], lead_of[TOKYO_NUMBER]
    registered_lead = lead_of[REGISTERED_NUMBER]

    async def decisions(lead_id: str) -> list[dict[str, Any]]:
        """The lead's decisions, leaving out the short fail-closed blocks of a lead screened
        before compliance had the campaign's settings or had caught up with the call
        history (``campaign.unknown``, ``facts.stale``: retried soon)."""
        return [d for d in by_type(await platform.events("compliance", TENANT),
                                   "compliance.decided.v1")
                if d["lead_id"] == lead_id
                and not {r["rule_id"] for r in d["reasons"]} & RETRY_BLOCKS]

    async def hopper_depth() -> int:
        r = await dialer.get(f"/v1/campaigns/{campaign_id}/status", headers=h)
        return int(r.json()["hopper_depth"])

    # 1. the New York lead is cleared and waits in the hopper; the Tokyo lead is blocked
    await wait_for(lambda: _has(decisions(ny_lead)), timeout_s=60, what="NY decision")
    await wait_for(lambda: _has(decisions(tokyo_lead)), timeout_s=60, what="Tokyo decision")
    (ny_decision,) = await decisions(ny_lead)
    assert ny_decision["outcome"] == "cleared", ny_decision
    await wait_for(lambda: _has(decisions(registered_lead)), timeout_s=60, what="registry decision")
    (registered,) = await decisions(registered_lead)
    assert registered["outcome"] == "blocked", registered
    assert "dnc.national" in {r["rule_id"] for r in registered["reasons"]}, registered["reasons"]
    await wait_for(lambda: _at_least(hopper_depth(), 1), timeout_s=30, what="lead in hopper")

    (blocked,) = await decisions(tokyo_lead)
    assert blocked["outcome"] == "blocked", blocked
    assert any(r["rule_id"] == "hours.closed" and "Asia/Tokyo" in r["message"]
               for r in blocked["reasons"]), blocked["reasons"]
    earliest = datetime.fromisoformat(blocked["earliest_callable_at"])
    tokyo_time = earliest.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (tokyo_time.hour, tokyo_time.minute) == (9, 0), tokyo_time
    now = platform.services["compliance"].runtime.clock.now()
    assert timedelta(0) < earliest - now < timedelta(days=3), (now, earliest)

    # 2. the New York number goes on DNC while its lead sits cleared in the hopper
    await _ok(await compliance.post("/v1/dnc", json={"phone": NEW_YORK_NUMBER}, headers=h), "dnc")

    async def dnc_reached_dialer() -> bool:
        return any(e["phone_e164"] == NEW_YORK_NUMBER
                   for e in by_type(await platform.events("dnc", TENANT), "dnc.added.v1"))

    await wait_for(dnc_reached_dialer, timeout_s=30, what="the DNC entry on the dnc topic")
    await asyncio.sleep(1.0)  # the dialer's DNC consumer polls continuously; let it apply

    stop = asyncio.Event()
    agent = SimulatedAgent("agent-1", platform.clients["agent"], h, campaign_id,
                           AgentBehaviour(time_scale=0.01), random.Random(3))
    agent_task = asyncio.create_task(agent.run(stop))
    try:
        async def returned_dnc() -> bool:
            return any(e["lead_id"] == ny_lead and e["reason"] == "dnc" for e in by_type(
                await platform.events("leads", TENANT), "lead.returned.v1"))

        await wait_for(returned_dnc, timeout_s=60, what="the NY lead returned for DNC")

        # 3. jump every clock to just after 09:00 in Tokyo: the lead is screened again
        platform.shift_clock((earliest - now).total_seconds() + 30)

        async def tokyo_dialed() -> bool:
            return any(c["lead_id"] == tokyo_lead for c in by_type(
                await platform.events("calls", TENANT), "call.dialed.v1"))

        await wait_for(tokyo_dialed, timeout_s=90, what="the Tokyo lead dialed after 09:00 JST")
    finally:
        stop.set()
        await agent_task

    calls = by_type(await platform.events("calls", TENANT), "call.dialed.v1")
    assert not [c for c in calls if c["lead_id"] in (ny_lead, registered_lead)], "DNC dialed"
    (tokyo_call,) = [c for c in calls if c["lead_id"] == tokyo_lead]
    assert datetime.fromisoformat(tokyo_call["at"]) >= earliest
    assert [d["outcome"] for d in await decisions(tokyo_lead)] == ["blocked", "cleared"]
    ny = await _ok(await leads.get(f"/v1/leads/{ny_lead}", headers=h), "NY lead")
    assert (ny["status"], ny["closed_reason"]) == ("closed", "dnc"), ny

async def _has(items: Any) -> bool:
    return bool(await items)


async def _at_least(value: Any, n: int) -> bool:
    return int(await value) >= n


CONSENT_NUMBER = "+12125550188"


async def test_consent_revoked_while_the_lead_waits_in_the_hopper(platform: Platform) -> None:
    """A campaign that needs consent: the lead is cleared on its consent and waits in the
    hopper (no agent); the consent is revoked; the dialer gives the lead back at once, it is
    screened again, blocked ``consent.missing`` and closed, and never dialed."""
    h = bearer(TENANT)
    leads, dialer, compliance = (platform.clients[n] for n in ("leads", "dialer", "compliance"))
    await platform.import_us_registry([REGISTERED_NUMBER])
    lst = await _ok(await leads.post("/v1/lists", json={"name": "opt-in"}, headers=h), "list")
    campaign = await _ok(await dialer.post("/v1/campaigns", headers=h, json={
        "name": "opt-in", "list_ids": [lst["list_id"]], "dial_mode": "progressive",
        "requires_consent": True, "caller_id": CALLER_ID,
        "abandon_message": "This is Kumo Insurance; to stop our calls press 9 or call 212 555 0100."}),
        "campaign")
    campaign_id = campaign["campaign_id"]
    granted = platform.services["compliance"].runtime.clock.now() - timedelta(days=1)
    consent = await _ok(await compliance.post("/v1/consents", headers=h, json={
        "phone": CONSENT_NUMBER, "campaign_id": campaign_id, "granted_at": granted.isoformat(),
        "source": "web_form"}), "consent")
    await _ok(await leads.post(f"/v1/lists/{lst['list_id']}/imports", headers=h, json={
        "default_country": "US", "leads": [{"phone": CONSENT_NUMBER}]}), "import")
    await _ok(await dialer.post(f"/v1/campaigns/{campaign_id}/start", headers=h), "start")

    async def lead_id() -> str | None:
        return next((e["lead_id"] for e in by_type(await platform.events("leads", TENANT),
                                                    "lead.imported.v1")
                     if e["phone_e164"] == CONSENT_NUMBER), None)

    await wait_for(lambda: _has(lead_id()), timeout_s=30, what="the import")
    lead = await lead_id()

    async def decisions() -> list[dict[str, Any]]:
        return [d for d in by_type(await platform.events("compliance", TENANT),
                                   "compliance.decided.v1")
                if d["lead_id"] == lead and not {r["rule_id"] for r in d["reasons"]} & RETRY_BLOCKS]

    async def hopper_depth() -> int:
        r = await dialer.get(f"/v1/campaigns/{campaign_id}/status", headers=h)
        return int(r.json()["hopper_depth"])

    await wait_for(lambda: _has(decisions()), timeout_s=60, what="the lead's decision")
    (first,) = await decisions()
    assert first["outcome"] == "cleared", first["reasons"]
    assert "consent.present" in {r["rule_id"] for r in first["reasons"]}
    await wait_for(lambda: _at_least(hopper_depth(), 1), timeout_s=30, what="lead in hopper")

    await _ok(await compliance.post(f"/v1/consents/{consent['consent_id']}/revoke", headers=h,
                                    json={"reason": "asked on the phone"}), "revoke")

    async def closed() -> bool:
        r = await leads.get(f"/v1/leads/{lead}", headers=h)
        return bool(r.json()["status"] == "closed")

    await wait_for(closed, timeout_s=60, what="the lead closed after the revocation")
    returned = [e for e in by_type(await platform.events("leads", TENANT), "lead.returned.v1")
                if e["lead_id"] == lead]
    assert [e["reason"] for e in returned] == ["clearance_expired"]
    outcomes = [(d["outcome"], {r["rule_id"] for r in d["reasons"]}) for d in await decisions()]
    assert [o for o, _ in outcomes] == ["cleared", "blocked"], outcomes
    assert "consent.missing" in outcomes[-1][1], outcomes
    assert (await _ok(await leads.get(f"/v1/leads/{lead}", headers=h), "lead"))[
        "closed_reason"] == "consent.missing"
    assert await hopper_depth() == 0
    assert not [c for c in by_type(await platform.events("calls", TENANT), "call.dialed.v1")
                if c["lead_id"] == lead]
