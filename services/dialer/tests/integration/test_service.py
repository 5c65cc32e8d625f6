"""The dialer service in-process on the real broker and both databases: the campaigns
API, the hopper fed from Kafka, and a small simulated campaign end to end."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from common.events import EventEnvelope, EventPayload, build_envelope
from common.events.catalog import AgentStateChangedV1, ComplianceDecidedV1, DncEntryAddedV1
from common.testing.kafka_tools import produce, read_all
from common.testing.services import RunningService, bearer, running_service, wait_for
from dialer.main import SPEC

pytestmark = pytest.mark.kafka
PHONE = "+13125550142"
CALLER_ID = "+12125550100"
MESSAGE = "Acme calling; press 9 to opt out."


async def send(svc: RunningService, broker: Any, topic: str, *payloads: EventPayload,
               tenant: str = "acme") -> None:
    await produce(broker.bootstrap_servers, svc.topic_prefix + topic,
                  [build_envelope(p, tenant_id=tenant, source="/test") for p in payloads])


async def events(svc: RunningService, broker: Any, topic: str, kind: str) -> list[dict[str, Any]]:
    records = await read_all(broker.bootstrap_servers, svc.topic_prefix + topic, timeout_s=5)
    envs = [EventEnvelope.from_kafka(r.key, r.value, r.headers) for r in records]
    return [e.data for e in envs if kind in e.type]


def cleared(campaign_id: str, lead: str, phone: str, valid_s: float = 600) -> ComplianceDecidedV1:
    return ComplianceDecidedV1(
        decision_id=f"dec-{lead}", lead_id=lead, list_id="list-1", campaign_id=campaign_id,
        attempt=1, phone_e164=phone, outcome="cleared",
        valid_until=datetime.now(UTC) + timedelta(seconds=valid_s), policy_version="sha256:t")


def agent_state(agent_id: str, state: str, campaign_id: str,
                call_id: str | None = None) -> AgentStateChangedV1:
    return AgentStateChangedV1(agent_id=agent_id, session_id=f"s-{agent_id}", state=state,  # type: ignore[arg-type]
                               campaign_ids=[campaign_id], call_id=call_id, at=datetime.now(UTC))


async def test_campaign_api_state_machine_tenancy_and_hopper_returns(
        kafka_broker: Any, database_url: str) -> None:
    async with running_service(SPEC, kafka_bootstrap=kafka_broker.bootstrap_servers,
                               database_url=database_url, dial_tick_s=0.05) as svc:
        c, acme = svc.client, bearer("acme")
        r = await c.post("/v1/campaigns", headers=acme,
                         json={"name": "Renewals", "list_ids": ["list-1"]})
        assert r.status_code == 201, r.text
        camp = r.json()
        assert (camp["state"], camp["dial_mode"], camp["max_attempts"], camp["retry_delay_s"],
                camp["abandon_threshold_s"]) == ("created", "progressive", 3, 3600, 2.0)
        cid = camp["campaign_id"]

        for body, needle in (
                ({"dial_mode": "turbo"}, "dial_mode"),
                ({"ring_timeout_s": 10}, "ring_timeout_s must be between 15 and 120 s"),
                ({"ring_timeout_s": float("inf")}, "ring_timeout_s"),
                ({"ring_timeout_s": float("nan")}, "ring_timeout_s"),
                ({"preview_timeout_s": 1e12}, "preview_timeout_s must be between 5 and 3600"),
                ({"preview_timeout_s": float("nan")}, "preview_timeout_s"),
                ({"priority": 2**31}, "priority"),
                ({"retry_delay_s": 2**31}, "retry_delay_s"),
                ({"target_abandon_rate": float("nan")}, "target_abandon_rate"),
                ({"caller_id": "12"}, "caller_id must be an E.164 number"),
                ({"amd_action": "leave_message"}, "needs amd_message"),
                ({"lead_ordering": "random"}, "lead_ordering"),
                ({"list_ids": []}, "list_ids"),
                ({"max_attempts": 21}, "max_attempts"),
                ({"abandon_threshold_s": 5}, "fixed at 2.0")):
            r = await c.post("/v1/campaigns", headers=acme | {"content-type": "application/json"},
                             content=json.dumps({"name": "x", "list_ids": ["l"]} | body))
            assert r.status_code == 422 and needle in r.text, (body, r.text)

        assert (await c.post(f"/v1/campaigns/{cid}/pause", headers=acme)).status_code == 409
        r = await c.post(f"/v1/campaigns/{cid}/start", headers=acme)
        assert r.status_code == 422 and "caller_id is required to start" in r.text, r.text
        patch = {"caller_id": "+1 212 555 0100", "dial_mode": "power", "lines_per_agent": 2.5,
                 "abandon_message": "Acme calling; press 9 to opt out.", "priority": 5}
        assert (await c.patch(f"/v1/campaigns/{cid}", headers=bearer("globex"),
                              json=patch)).status_code == 404
        r = await c.patch(f"/v1/campaigns/{cid}", headers=acme, json=patch | {"ring_timeout_s": 9})
        assert r.status_code == 422 and "between 15 and 120 s" in r.text
        r = await c.patch(f"/v1/campaigns/{cid}", headers=acme, json=patch)
        assert r.status_code == 200, r.text
        assert (r.json()["caller_id"], r.json()["dial_mode"], r.json()["priority"]) == (
            "+12125550100", "power", 5)
        r = await c.patch(f"/v1/campaigns/{cid}", headers=acme, json={"dial_mode": "progressive"})
        assert r.json()["dial_mode"] == "progressive" and r.json()["lines_per_agent"] == 2.5
        assert (await c.post(f"/v1/campaigns/{cid}/start", headers=acme)).json()["state"] == "running"
        r = await c.patch(f"/v1/campaigns/{cid}", headers=acme, json={"abandon_message": None})
        assert r.status_code == 422 and "abandon_message is required" in r.text, r.text
        r = await c.post(f"/v1/campaigns/{cid}/start", headers=acme)
        assert r.status_code == 409
        assert r.json()["error"]["details"]["current_state"] == "running"
        assert "campaign that is running" in r.json()["error"]["message"]

        # tenant isolation and scopes
        globex = bearer("globex")
        assert (await c.get(f"/v1/campaigns/{cid}", headers=globex)).status_code == 404
        assert (await c.get(f"/v1/campaigns/{cid}/status", headers=globex)).status_code == 404
        assert (await c.post(f"/v1/campaigns/{cid}/stop", headers=globex)).status_code == 404
        reader = bearer("acme", scopes=["campaigns:read"])
        assert (await c.get(f"/v1/campaigns/{cid}", headers=reader)).status_code == 200
        assert (await c.post(f"/v1/campaigns/{cid}/pause", headers=reader)).status_code == 403
        assert (await c.get(f"/v1/campaigns/{cid}")).status_code == 401

        # no agent: cleared leads wait in the hopper; a DNC addition takes one out
        await send(svc, kafka_broker, "compliance", cleared(cid, "lead-1", PHONE),
                   cleared(cid, "lead-2", "+13125550199"))
        # the same lead cleared for another tenant's campaign id is not ours
        await send(svc, kafka_broker, "compliance", cleared(cid, "lead-9", PHONE), tenant="globex")

        async def depth(n: int) -> bool:
            r = await c.get(f"/v1/campaigns/{cid}/status", headers=acme)
            return bool(r.json()["hopper_depth"] == n)

        await wait_for(lambda: depth(2), timeout_s=20, what="two leads in the hopper")
        await send(svc, kafka_broker, "dnc", DncEntryAddedV1(
            entry_key=f"acme/tenant:{PHONE}", list_id="tenant", phone_e164=PHONE, source="api",
            added_at=datetime.now(UTC)))
        await wait_for(lambda: depth(1), timeout_s=20, what="the DNC lead out of the hopper")
        assert (await c.post(f"/v1/campaigns/{cid}/pause", headers=acme)).json()["state"] == "paused"
        assert (await c.post(f"/v1/campaigns/{cid}/stop", headers=acme)).json()["state"] == "stopped"
        await wait_for(lambda: depth(0), timeout_s=20, what="the stopped campaign's hopper drained")
        assert (await c.post(f"/v1/campaigns/{cid}/start", headers=acme)).status_code == 409
        status = (await c.get(f"/v1/campaigns/{cid}/status", headers=acme)).json()
        assert status == {"campaign_id": cid, "state": "stopped", "hopper_depth": 0,
                          "calls_ringing": 0, "calls_waiting_for_agent": 0,
                          "calls_connected": 0, "ready_agents": 0}

        async def returned() -> list[tuple[str, str]]:
            found = await events(svc, kafka_broker, "leads", "lead.returned")
            return sorted((e["lead_id"], e["reason"]) for e in found)

        await wait_for(lambda: _eq(returned(), [("lead-1", "dnc"), ("lead-2", "campaign_stopped")]),
                       timeout_s=20, what="lead.returned events")
        assert (await c.patch(f"/v1/campaigns/{cid}", headers=acme,
                              json={"priority": 1})).status_code == 409
        changes = await events(svc, kafka_broker, "campaigns", "state_changed")
        assert [e["state"] for e in changes] == ["created", "created", "created", "running",
                                                  "paused", "stopped"]
        assert changes[-1]["caller_id"] == "+12125550100"
        assert await events(svc, kafka_broker, "calls", "call.") == []


async def _eq(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


@contextlib.asynccontextmanager
async def simulated_agents(svc: RunningService, broker: Any, campaign_id: str,
                           seen: list[EventEnvelope]) -> AsyncIterator[None]:
    """Play the agent service: on each call.connected the agent talks briefly, hangs up
    (wrap_up, which ends the call) and becomes ready again; records every call event."""
    consumer = AIOKafkaConsumer(svc.topic_prefix + "calls", bootstrap_servers=broker.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await consumer.start()
    await producer.start()

    async def publish(payload: AgentStateChangedV1) -> None:
        env = build_envelope(payload, tenant_id="acme", source="/test-agents")
        key, value, headers = env.to_kafka()
        await producer.send_and_wait(svc.topic_prefix + "agents", value, key=key, headers=headers)

    async def talk(agent_id: str, call_id: str) -> None:
        await publish(agent_state(agent_id, "on_call", campaign_id, call_id))
        await asyncio.sleep(0.05)
        await publish(agent_state(agent_id, "wrap_up", campaign_id, call_id))
        await publish(agent_state(agent_id, "ready", campaign_id))

    talks: set[asyncio.Task[None]] = set()

    async def play() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for rec in records:
                    env = EventEnvelope.from_kafka(rec.key, rec.value, rec.headers)
                    seen.append(env)
                    if env.type.endswith("call.connected.v1"):
                        t = asyncio.create_task(talk(env.data["agent_id"], env.data["call_id"]))
                        talks.add(t)
                        t.add_done_callback(talks.discard)

    task = asyncio.create_task(play())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
        await producer.stop()


async def test_simulated_campaign_every_dialed_call_ends_exactly_once(
        kafka_broker: Any, database_url: str) -> None:
    leads, agent_ids = 10, ("agent-1", "agent-2", "agent-3")
    async with running_service(
            SPEC, kafka_bootstrap=kafka_broker.bootstrap_servers, database_url=database_url,
            dial_tick_s=0.05, time_scale=0.01, carrier_seed=42,
            carrier_answer_probability=0.6) as svc:
        c, acme = svc.client, bearer("acme")
        cid = (await c.post("/v1/campaigns", headers=acme, json={
            "name": "sim", "list_ids": ["list-1"], "ring_timeout_s": 15,
            "caller_id": CALLER_ID, "abandon_message": MESSAGE})).json()["campaign_id"]
        await c.post(f"/v1/campaigns/{cid}/start", headers=acme)
        seen: list[EventEnvelope] = []
        async with simulated_agents(svc, kafka_broker, cid, seen):
            await send(svc, kafka_broker, "agents", *(agent_state(a, "ready", cid) for a in agent_ids))
            await send(svc, kafka_broker, "compliance",
                       *(cleared(cid, f"lead-{i}", f"+1312555{i:04d}") for i in range(leads)))

            def count(kind: str) -> int:
                return sum(1 for e in seen if e.type.endswith(f"call.{kind}.v1"))

            async def done() -> bool:
                return count("dialed") == leads and count("ended") == leads

            await wait_for(done, timeout_s=45, what="every lead dialed and every call ended")
            await asyncio.sleep(0.3)  # nothing more may arrive

        by_type = Counter(e.type.split(".")[2] for e in seen)
        assert by_type["dialed"] == by_type["ended"] == leads
        ended = Counter(e.data["call_id"] for e in seen if e.type.endswith("call.ended.v1"))
        dialed = {e.data["call_id"] for e in seen if e.type.endswith("call.dialed.v1")}
        assert set(ended) == dialed and set(ended.values()) == {1}
        assert len({e.data["lead_id"] for e in seen if e.type.endswith("call.dialed.v1")}) == leads
        outcomes = Counter(e.data["outcome"] for e in seen if e.type.endswith("call.ended.v1"))
        assert outcomes["completed"] == by_type["connected"] > 0
        assert outcomes["abandoned"] == 0  # progressive: every call had an idle agent
        # never more calls in flight (dialed, not yet connected or ended) than agents
        marks: list[tuple[datetime, int]] = []
        for e in seen:
            at = datetime.fromisoformat(e.data["at"])
            if e.type.endswith("call.dialed.v1"):
                marks.append((at, 1))
            elif e.type.endswith(("call.connected.v1",)) or (
                    e.type.endswith("call.ended.v1") and e.data["outcome"] != "completed"):
                marks.append((at, -1))
        level = peak = 0
        for _, step in sorted(marks):
            level += step
            peak = max(peak, level)
        assert peak <= len(agent_ids)
        status = (await c.get(f"/v1/campaigns/{cid}/status", headers=acme)).json()
        assert (status["hopper_depth"], status["calls_ringing"], status["calls_connected"],
                status["ready_agents"]) == (0, 0, 0, 3)


async def test_calls_live_when_the_service_stops_end_as_failed_on_restart(
        kafka_broker: Any, database_url: str) -> None:
    settings = {"kafka_bootstrap": kafka_broker.bootstrap_servers, "database_url": database_url,
                "dial_tick_s": 0.05, "carrier_answer_probability": 0.0,
                "carrier_busy_share": 0.0, "carrier_failed_share": 0.0,
                "owner_stale_after_s": 2.0}
    async with running_service(SPEC, **settings) as svc:  # calls ring for 60 s
        c, acme = svc.client, bearer("acme")
        cid = (await c.post("/v1/campaigns", headers=acme, json={
            "name": "r", "list_ids": ["list-1"], "ring_timeout_s": 60,
            "caller_id": CALLER_ID, "abandon_message": MESSAGE})).json()["campaign_id"]
        await c.post(f"/v1/campaigns/{cid}/start", headers=acme)
        await send(svc, kafka_broker, "agents", agent_state("a1", "ready", cid),
                   agent_state("a2", "ready", cid))
        await send(svc, kafka_broker, "compliance", cleared(cid, "lead-1", PHONE),
                   cleared(cid, "lead-2", "+13125550199"))

        async def ringing() -> bool:
            r = await c.get(f"/v1/campaigns/{cid}/status", headers=acme)
            return bool(r.json()["calls_ringing"] == 2)

        await wait_for(ringing, timeout_s=20, what="two calls ringing")
        prefix = svc.topic_prefix
    async with running_service(SPEC, topic_prefix=prefix, **settings) as svc:
        async def ended() -> bool:
            found = await events(svc, kafka_broker, "calls", "call.ended")
            return sorted((e["lead_id"], e["outcome"]) for e in found) == [
                ("lead-1", "failed"), ("lead-2", "failed")]

        await wait_for(ended, timeout_s=20, what="both calls ended as failed")
        assert len(await events(svc, kafka_broker, "calls", "call.dialed")) == 2
