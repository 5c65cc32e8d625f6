"""One outbound campaign end to end through all five services, on real Kafka and PostgreSQL.

A tenant imports 100 leads (3 invalid, 5 on its DNC list), runs a progressive campaign
with 3 simulated agents who take calls through the agent API, and the test then checks,
from the raw topics: invalid rows reported with their line numbers, DNC leads blocked with
the reason and never dialed, one attempt for every other lead, a terminal event for every
call, and the reporting API's KPIs equal to a recount from the events. The reporting
service is restarted mid-run, and a second tenant tries to read the first one's data.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from e2e_platform import Platform, by_type, start_platform

from common.events import EventEnvelope
from common.testing.services import bearer, wait_for
from simulator.agents import AgentBehaviour
from simulator.tenant import SimulationConfig, TenantSimulation

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

TENANT, OTHER = "acme", "globex"
SETTINGS: dict[str, dict[str, Any]] = {
    # ring times and no-answer timeouts 20x faster; the 2 s abandon threshold stays real
    "dialer": {"time_scale": 0.05, "carrier_seed": 11},
    "leads": {"scheduler_interval_s": 0.2},
    "compliance": {"caller_id": "+12125550100"},
}


@pytest.fixture
async def platform(kafka_broker, postgres_server) -> AsyncIterator[Platform]:
    async with start_platform(kafka_broker, postgres_server, settings=SETTINGS) as p:
        yield p


async def events(platform: Platform, topic: str) -> list[EventEnvelope]:
    return await platform.events(topic, TENANT)


async def test_one_campaign_end_to_end(platform: Platform) -> None:
    token = bearer(TENANT)["Authorization"].split()[1]
    sim = TenantSimulation(platform.clients, token, SimulationConfig(
        tenant=TENANT, leads=100, dnc=5, invalid=3, agents=3, max_attempts=1,
        behaviour=AgentBehaviour(time_scale=0.01)))
    await platform.import_us_registry()
    await sim.prepare()

    # 1. the import job reports the 3 invalid rows by CSV line, and the good rows imported
    job = sim.import_job
    assert (job["accepted"], job["invalid"], job["duplicate"]) == (97, 3, 0), job
    assert sorted(e["row"] for e in job["errors"]) == sorted(sim.lead_file.invalid_rows)
    assert all(e["reason"] for e in job["errors"])

    stop = asyncio.Event()
    agents = asyncio.create_task(sim.run_agents(stop))
    imported = by_type(await events(platform, "leads"), "lead.imported.v1")
    lead_of = {e["phone_e164"]: e["lead_id"] for e in imported}
    dnc_leads = {lead_of[n] for n in sim.lead_file.dnc_numbers}
    callable_leads = set(lead_of.values()) - dnc_leads
    assert len(callable_leads) == 92

    async def dialed_at_least(n: int) -> bool:
        return len(by_type(await events(platform, "calls"), "call.dialed.v1")) >= n

    async def finished() -> bool:
        calls = await events(platform, "calls")
        dialed = {c["lead_id"] for c in by_type(calls, "call.dialed.v1")}
        ended = by_type(calls, "call.ended.v1")
        connected = {c["call_id"] for c in by_type(calls, "call.connected.v1")}
        dispositioned = {d["call_id"] for d in by_type(await events(platform, "agents"),
                                                       "disposition_submitted.v1")}
        return dialed == callable_leads and len(ended) == len(dialed) and connected <= dispositioned

    try:
        # 2. restart the reporting service in the middle of the run
        await wait_for(lambda: dialed_at_least(40), timeout_s=240, what="40 dials")
        await platform.restart_service("reporting")
        await wait_for(finished, timeout_s=300, what="every lead dialed, every call ended")
    finally:
        stop.set()
        await agents

    calls = await events(platform, "calls")
    decisions = by_type(await events(platform, "compliance"), "compliance.decided.v1")

    # 3. DNC leads blocked with the reason recorded, never dialed
    for lead in dnc_leads:
        mine = [d for d in decisions if d["lead_id"] == lead]
        assert mine and all(d["outcome"] == "blocked" for d in mine), mine
        assert any("dnc" in r["rule_id"] for d in mine for r in d["reasons"]), mine
    dialed = Counter(c["lead_id"] for c in by_type(calls, "call.dialed.v1"))
    assert not dnc_leads & set(dialed)

    # 4. every other lead exactly one attempt; every dialed call exactly one terminal event
    assert set(dialed) == callable_leads and set(dialed.values()) == {1}
    ended = Counter(c["call_id"] for c in by_type(calls, "call.ended.v1"))
    assert set(ended) == {c["call_id"] for c in by_type(calls, "call.dialed.v1")}
    assert set(ended.values()) == {1}

    # 5. the KPIs from the reporting API equal a recount from the raw events
    expected = recount(calls, await events(platform, "agents"))
    r = await platform.clients["reporting"].get(f"/v1/campaigns/{sim.campaign_id}/kpis",
                                                 headers=bearer(TENANT))
    await wait_for(lambda: _kpis_equal(platform, sim.campaign_id, expected), timeout_s=60,
                   what=f"reporting KPIs to equal the recount {expected}")
    kpis = (await platform.clients["reporting"].get(f"/v1/campaigns/{sim.campaign_id}/kpis",
                                                     headers=bearer(TENANT))).json()
    assert expected["dials"] == 92 and expected["contacts"] > 0, expected
    assert 0 < kpis["occupancy"] <= 1 and kpis["acw_s"] > 0, kpis
    assert r.status_code == 200

    # 6. another tenant sees none of it
    other = bearer(OTHER)
    lead = next(iter(callable_leads))
    for service, path in (
        ("leads", f"/v1/leads/{lead}"), ("leads", f"/v1/lists/{sim.list_id}"),
        ("dialer", f"/v1/campaigns/{sim.campaign_id}"),
        ("reporting", f"/v1/campaigns/{sim.campaign_id}/kpis"),
        ("compliance", f"/v1/leads/{lead}/decisions"), ("agent", "/v1/agents/agent-1"),
    ):
        got = await platform.clients[service].get(path, headers=other)
        assert got.status_code == 404, (service, path, got.status_code, got.text)
        mine = await platform.clients[service].get(path, headers=bearer(TENANT))
        assert mine.status_code == 200, (service, path, mine.text)


def recount(calls: list[EventEnvelope], agents: list[EventEnvelope]) -> dict[str, Any]:
    """The campaign KPIs recomputed from the raw calls and agents topics (kpis.md)."""
    answered = by_type(calls, "call.answered.v1")
    contacts = {a["call_id"] for a in answered if a["answered_by"] == "human"}
    connected = {c["call_id"] for c in by_type(calls, "call.connected.v1")}
    ended = {e["call_id"]: e for e in by_type(calls, "call.ended.v1")}
    handled = [ended[c] for c in connected if c in ended]
    success = {d["call_id"] for d in by_type(agents, "disposition_submitted.v1")
               if d["category"] == "success"}
    dials = len(by_type(calls, "call.dialed.v1"))
    abandoned = len(by_type(calls, "call.abandoned.v1"))
    return {
        "dials": dials,
        "connects": len(answered),
        "contacts": len(contacts),
        "abandoned": abandoned,
        "conversions": len(success & contacts),
        "handled_calls": len(handled),
        "att_s": (sum(e["talk_ms"] for e in handled) / 1000 / len(handled)) if handled else None,
        "abandon_rate": abandoned / len(contacts) if contacts else None,
    }


async def _kpis_equal(platform: Platform, campaign_id: str, expected: dict[str, Any]) -> bool:
    r = await platform.clients["reporting"].get(f"/v1/campaigns/{campaign_id}/kpis",
                                                 headers=bearer(TENANT))
    if r.status_code != 200:
        return False
    got = r.json()
    for key, want in expected.items():
        if isinstance(want, float):
            if got[key] is None or abs(got[key] - want) > 1e-6:
                return False
        elif got[key] != want:
            return False
    return True
