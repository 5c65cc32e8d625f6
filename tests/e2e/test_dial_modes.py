"""Predictive, power and preview campaigns through the five real services, on real Kafka
and PostgreSQL, with the simulated carrier and simulated agents (times compressed: ring
times 20x, talk and wrap-up 100x; the 2 s abandon threshold stays real).

- predictive: the abandon rate reporting measures stays within compliance's budget (3%),
  occupancy is reported, every call has exactly one terminal event, and the pacing
  decisions are on the ``pacing`` topic with mode predictive;
- power: never more lines than ``lines_per_agent`` per agent, per the decisions and per
  the calls in flight;
- preview: an agent previews and dials one lead, skips another (retried after the retry
  delay), and a preview left alone gets the campaign's timeout action.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from e2e_platform import Platform, by_type, start_platform

from common.testing.services import bearer, wait_for
from simulator.agents import AgentBehaviour, SimulatedAgent
from simulator.tenant import SimulationConfig, TenantSimulation

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]

TENANT = "acme"
MESSAGE = "This is Acme Renewals. We will call back; press 9 or call 212 555 0100 to opt out."
SETTINGS: dict[str, dict[str, Any]] = {
    "dialer": {"time_scale": 0.05, "carrier_seed": 17, "dial_tick_s": 0.1},
    "leads": {"scheduler_interval_s": 0.2},
    "compliance": {"caller_id": "+12125550100"},
}
FAST_AGENTS = AgentBehaviour(time_scale=0.01)


@pytest.fixture
async def platform(kafka_broker: Any, postgres_server: Any) -> Any:
    async with start_platform(kafka_broker, postgres_server, settings=SETTINGS) as p:
        yield p


def token() -> str:
    return bearer(TENANT)["Authorization"].split()[1]


async def budget_in_force(platform: Platform, campaign_id: str) -> dict[str, Any]:
    """Compliance's abandon budget for the campaign (published when it is created or
    started; until the dialer has it, power and predictive dial progressive)."""
    async def budgets() -> list[dict[str, Any]]:
        return [b for b in by_type(await platform.events("compliance", TENANT),
                                   "abandon_budget_set.v1") if b["campaign_id"] == campaign_id]

    async def published() -> bool:
        return bool(await budgets())

    await wait_for(published, timeout_s=30, what="compliance's abandon budget")
    return (await budgets())[-1]


async def every_lead_dialed_and_ended(platform: Platform, leads: int) -> bool:
    calls = await platform.events("calls", TENANT)
    dialed = by_type(calls, "call.dialed.v1")
    ended = {c["call_id"] for c in by_type(calls, "call.ended.v1")}
    return len({c["lead_id"] for c in dialed}) >= leads and ended == {c["call_id"] for c in dialed}


async def agents_work_until_every_lead_ended(platform: Platform, sim: TenantSimulation,
                                             leads: int) -> None:
    """Run the simulated agents until every lead was dialed and every call ended."""
    stop = asyncio.Event()
    agents = asyncio.create_task(sim.run_agents(stop))
    try:
        await wait_for(lambda: every_lead_dialed_and_ended(platform, leads), timeout_s=150,
                       what="every lead dialed and every call ended")
    finally:
        stop.set()
        await agents


def one_terminal_event_per_call(calls: list[Any]) -> None:
    dialed = {c["call_id"] for c in by_type(calls, "call.dialed.v1")}
    ended = Counter(c["call_id"] for c in by_type(calls, "call.ended.v1"))
    assert set(ended) == dialed and set(ended.values()) == {1}


async def test_predictive_campaign_stays_within_the_abandon_budget(platform: Platform) -> None:
    leads = 200
    sim = TenantSimulation(platform.clients, token(), SimulationConfig(
        tenant=TENANT, leads=leads, dnc=0, invalid=0, agents=8, max_attempts=1,
        dial_mode="predictive", behaviour=FAST_AGENTS,
        campaign_settings={"abandon_message": MESSAGE, "max_lines_per_agent": 4}))
    loop = asyncio.get_running_loop()
    began = loop.time()
    await platform.import_us_registry()
    await sim.prepare()
    budget = await budget_in_force(platform, sim.campaign_id or "")
    prepared = loop.time()
    await agents_work_until_every_lead_ended(platform, sim, leads)
    print(f"predictive e2e: prepared in {prepared - began:.1f} s, dialed in "
          f"{loop.time() - prepared:.1f} s")
    calls = await platform.events("calls", TENANT)
    one_terminal_event_per_call(calls)
    decisions = by_type(await platform.events("pacing", TENANT), "pacing.decided.v1")
    # until compliance's budget arrives the campaign dials progressive (fail closed)
    assert {d["reason"] for d in decisions if d["mode"] != "predictive"} <= {"no_abandon_budget"}
    decisions = [d for d in decisions if d["mode"] == "predictive"]
    assert any(d["lines_placed"] > 0 for d in decisions)
    live = sum(1 for a in by_type(calls, "call.answered.v1") if a["answered_by"] == "human")

    async def kpis_complete() -> bool:
        kpis = await sim.kpis()
        return bool(kpis) and kpis.get("dials") == len(by_type(calls, "call.dialed.v1"))

    await wait_for(kpis_complete, timeout_s=30, what="reporting caught up")
    kpis = await sim.kpis()
    assert kpis["abandon_rate"] is not None and kpis["abandon_rate"] <= budget["max_abandon_rate"]
    assert kpis["occupancy"] is not None and kpis["occupancy"] > 0
    overdialed = [d for d in decisions
                  if d["lines_to_dial"] + d["explain"]["calls_in_flight"]
                  > d["explain"]["idle_agents"]]
    assert overdialed, "predictive never dialed ahead of its idle agents"
    starved = [d for d in decisions if d["lines_placed"] < d["lines_to_dial"]]
    print(f"predictive e2e: {len(by_type(calls, 'call.dialed.v1'))} dials, {live} live answers,"
          f" abandon rate {kpis['abandon_rate']:.4f}, occupancy {kpis['occupancy']:.3f},"
          f" {len(decisions)} decisions ({len(overdialed)} overdialing, {len(starved)} placing"
          f" fewer than asked: hopper)")


async def test_power_campaign_respects_its_lines_per_agent(platform: Platform) -> None:
    leads, agents_n, per_agent = 120, 3, 2
    sim = TenantSimulation(platform.clients, token(), SimulationConfig(
        tenant=TENANT, leads=leads, dnc=0, invalid=0, agents=agents_n, max_attempts=1,
        dial_mode="power", behaviour=FAST_AGENTS,
        campaign_settings={"abandon_message": MESSAGE, "lines_per_agent": per_agent,
                           "max_lines_per_agent": per_agent}))
    await platform.import_us_registry()
    await sim.prepare()
    await budget_in_force(platform, sim.campaign_id or "")
    await agents_work_until_every_lead_ended(platform, sim, leads)
    calls = await platform.events("calls", TENANT)
    one_terminal_event_per_call(calls)
    decisions = [d for d in by_type(await platform.events("pacing", TENANT), "pacing.decided.v1")
                 if d["mode"] == "power"]
    assert decisions
    for d in decisions:
        e = d["explain"]
        available = e["idle_agents"] + e["busy_agents"]
        assert e["calls_in_flight"] + e["waiting_answers"] + d["lines_placed"] <= (
            per_agent * available), d
        assert d["lines_placed"] <= d["lines_to_dial"]
    # it did overdial: more lines than idle agents at some point
    assert any(d["lines_to_dial"] + d["explain"]["calls_in_flight"] > d["explain"]["idle_agents"]
               for d in decisions if d["explain"]["idle_agents"])
    # never more calls ringing or waiting than lines_per_agent x agents
    marks = []
    for c in by_type(calls, "call.dialed.v1"):
        marks.append((c["at"], 1))
    for kind in ("call.connected.v1", "call.abandoned.v1"):
        marks += [(c["at"], -1) for c in by_type(calls, kind)]
    connected_or_abandoned = {c["call_id"] for c in by_type(calls, "call.connected.v1")} | {
        c["call_id"] for c in by_type(calls, "call.abandoned.v1")}
    marks += [(c["at"], -1) for c in by_type(calls, "call.ended.v1")
              if c["call_id"] not in connected_or_abandoned]
    level = peak = 0
    for _, step in sorted(marks, key=lambda m: (datetime.fromisoformat(m[0]), m[1])):
        level += step
        peak = max(peak, level)
    assert peak <= per_agent * agents_n, peak


async def test_preview_dial_skip_and_timeout(platform: Platform) -> None:
    retry_delay_s = 4
    sim = TenantSimulation(platform.clients, token(), SimulationConfig(
        tenant=TENANT, leads=4, dnc=0, invalid=0, agents=0, max_attempts=3,
        retry_delay_s=retry_delay_s, dial_mode="preview", behaviour=FAST_AGENTS,
        campaign_settings={"preview_timeout_s": 5, "preview_timeout_action": "dial"}))
    await platform.import_us_registry()
    await sim.prepare()
    dialer, h, cid = platform.clients["dialer"], sim.headers, sim.campaign_id or ""
    agent = SimulatedAgent("agent-p", platform.clients["agent"], h, cid, FAST_AGENTS,
                           random.Random(1))
    stop = asyncio.Event()
    running = asyncio.create_task(agent.run(stop))

    async def preview() -> dict[str, Any]:
        for _ in range(300):
            r = await dialer.post("/v1/agents/agent-p/preview", headers=h)
            if r.status_code == 200:
                body: dict[str, Any] = r.json()
                return body
            assert r.status_code in (204, 404, 409), r.text  # no lead yet / agent not ready yet
            await asyncio.sleep(0.2)
        raise AssertionError("no preview within 60 s")

    async def settled(preview_id: str) -> bool:
        """The preview's call ended and the agent is free again."""
        p = (await dialer.get(f"/v1/previews/{preview_id}", headers=h)).json()
        if p["call_id"] is None:
            return False
        calls = await platform.events("calls", TENANT)
        ended = {c["call_id"] for c in by_type(calls, "call.ended.v1")}
        status = (await dialer.get(f"/v1/campaigns/{cid}/status", headers=h)).json()
        return p["call_id"] in ended and status["ready_agents"] == 1

    try:
        # 1. skip one lead: it goes back to leads, which retries it after the delay
        skipped = await preview()
        assert (await dialer.get(f"/v1/previews/{skipped['preview_id']}",
                                 headers=bearer("globex"))).status_code == 404
        r = await dialer.post(f"/v1/previews/{skipped['preview_id']}/skip", headers=h)
        assert r.status_code == 200 and r.json()["state"] == "skipped", r.text
        assert (await dialer.post(f"/v1/previews/{skipped['preview_id']}/dial",
                                  headers=h)).status_code == 409
        # 2. dial another: the call is placed and a live answer goes to this agent
        dialed = await preview()
        assert dialed["lead_id"] != skipped["lead_id"]
        r = await dialer.post(f"/v1/previews/{dialed['preview_id']}/dial", headers=h)
        assert r.status_code == 202 and r.json()["state"] == "dial_requested", r.text
        await wait_for(lambda: settled(dialed["preview_id"]), timeout_s=30,
                       what="the previewed call placed and ended")
        # 3. leave one alone: the timeout action (dial) applies after 5 s
        ignored = await preview()
        await wait_for(lambda: settled(ignored["preview_id"]), timeout_s=30,
                       what="the timed-out preview dialed")
        timed_out = (await dialer.get(f"/v1/previews/{ignored['preview_id']}", headers=h)).json()
        assert (timed_out["state"], timed_out["outcome"]) == ("dialed", "timeout_dialed")
        # 4. the skipped lead comes back after the retry delay
        again: dict[str, Any] = {}
        for _ in range(10):
            again = await preview()
            if again["lead_id"] == skipped["lead_id"]:
                break
            await dialer.post(f"/v1/previews/{again['preview_id']}/skip", headers=h)
        assert again["lead_id"] == skipped["lead_id"]
    finally:
        stop.set()
        await running
    calls = await platform.events("calls", TENANT)
    dialed_leads = [c["lead_id"] for c in by_type(calls, "call.dialed.v1")]
    assert dialed["lead_id"] in dialed_leads and ignored["lead_id"] in dialed_leads
    assert skipped["lead_id"] not in dialed_leads
    one_terminal_event_per_call(calls)
    leads_events = await platform.events("leads", TENANT)
    [returned] = [e for e in by_type(leads_events, "lead.returned.v1")
                  if e["lead_id"] == skipped["lead_id"]][:1]
    assert returned["reason"] == "preview_skipped"
    dues = [datetime.fromisoformat(e["due_at"]) for e in by_type(leads_events, "lead.due.v1")
            if e["lead_id"] == skipped["lead_id"]]
    assert len(dues) >= 2
    waited = (dues[1] - datetime.fromisoformat(returned["at"])).total_seconds()
    assert waited >= retry_delay_s - 0.5, waited
