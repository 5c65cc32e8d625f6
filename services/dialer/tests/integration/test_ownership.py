"""Two dialer processes on one database and one broker: each campaign is paced by exactly
one of them (partition ownership of the campaign key), and stopping one hands its
campaigns to the other."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from common.db import create_engine
from common.events import build_envelope
from common.events.catalog import AgentStateChangedV1, ComplianceDecidedV1
from common.testing.kafka_tools import produce, unique_name
from common.testing.services import bearer, running_service, wait_for
from dialer.adapters.db import calls, dialer_instances
from dialer.app.ownership import partition_of
from dialer.main import SPEC

pytestmark = pytest.mark.kafka


def cleared(campaign_id: str, lead: str, phone: str) -> ComplianceDecidedV1:
    return ComplianceDecidedV1(
        decision_id=f"dec-{lead}", lead_id=lead, list_id="list-1", campaign_id=campaign_id,
        attempt=1, phone_e164=phone, outcome="cleared",
        valid_until=datetime.now(UTC) + timedelta(seconds=600), policy_version="sha256:t")


def agent_state(agent_id: str, state: str, campaign_id: str) -> AgentStateChangedV1:
    return AgentStateChangedV1(agent_id=agent_id, session_id=f"s-{agent_id}", state=state,  # type: ignore[arg-type]
                               campaign_ids=[campaign_id], at=datetime.now(UTC))


async def test_each_campaign_has_one_pacing_owner_and_moves_when_it_stops(
        kafka_broker: Any, database_url: str) -> None:
    prefix = unique_name("it") + "."
    settings = {"kafka_bootstrap": kafka_broker.bootstrap_servers, "database_url": database_url,
                "topic_prefix": prefix, "dial_tick_s": 0.05, "time_scale": 0.01,
                "carrier_answer_probability": 0.0, "carrier_busy_share": 0.95,
                "carrier_failed_share": 0.05,
                "carrier_seed": 3}
    engine = create_engine(database_url)

    async def query(statement: Any) -> list[Any]:
        async with engine.connect() as conn:
            return list((await conn.execute(statement)).all())

    async def owners() -> dict[str, list[int]]:
        rows = await query(select(dialer_instances.c.instance_id, dialer_instances.c.partitions))
        return {name_of(i): p for i, p in rows if p}

    async def dialers_by_campaign() -> dict[str, set[str]]:
        found: dict[str, set[str]] = defaultdict(set)
        for campaign_id, owner in await query(select(calls.c.campaign_id, calls.c.owner_id)):
            found[campaign_id].add(name_of(owner))
        return found

    services = {name: running_service(SPEC, instance_id=name, **settings)
                for name in ("dialer-a", "dialer-b")}
    running = {name: await ctx.__aenter__() for name, ctx in services.items()}
    try:
        async def split() -> bool:
            return sorted(map(tuple, (await owners()).values())) == [(0,), (1,)]

        await wait_for(split, timeout_s=60, what="the two partitions split between two dialers")
        client, acme = running["dialer-a"].client, bearer("acme")
        campaign_ids: list[str] = []
        # six campaigns, both partitions among them (random ids: 1 in 32 would not be)
        while len(campaign_ids) < 6 or len({partition_of(c, 2) for c in campaign_ids}) < 2:
            i = len(campaign_ids)
            r = await client.post("/v1/campaigns", headers=acme, json={
                "name": f"c{i}", "list_ids": ["list-1"], "caller_id": "+12125550100",
                "abandon_message": "Acme calling; press 9 to opt out."})
            cid = r.json()["campaign_id"]
            await client.post(f"/v1/campaigns/{cid}/start", headers=acme)
            campaign_ids.append(cid)
        assert {partition_of(c, 2) for c in campaign_ids} == {0, 1}

        async def send(topic: str, *payloads: Any) -> None:
            await produce(kafka_broker.bootstrap_servers, prefix + topic,
                          [build_envelope(p, tenant_id="acme", source="/test") for p in payloads])

        async def dialed(per_campaign: int) -> bool:
            placed = Counter(c for (c,) in await query(select(calls.c.campaign_id)))
            return all(placed[c] >= per_campaign for c in campaign_ids)

        await send("agents", *(agent_state(f"agent-{i}", "ready", c)
                               for i, c in enumerate(campaign_ids)))
        await send("compliance", *(cleared(c, f"lead-{i}-{n}", f"+1312555{i}{n:03d}")
                                   for i, c in enumerate(campaign_ids) for n in range(3)))
        await wait_for(lambda: dialed(3), timeout_s=60, what="three calls per campaign")
        by_campaign = await dialers_by_campaign()
        partitions = await owners()
        for c in campaign_ids:  # one dialer per campaign: the holder of its partition
            [owner] = by_campaign[c]
            assert partitions[owner] == [partition_of(c, 2)], (c, by_campaign, partitions)
        assert {next(iter(by_campaign[c])) for c in campaign_ids} == {"dialer-a", "dialer-b"}

        await services.pop("dialer-a").__aexit__(None, None, None)
        await wait_for(lambda: _owns_all(owners, "dialer-b"), timeout_s=60,
                       what="dialer-b owning both partitions")
        await send("compliance", *(cleared(c, f"late-{i}", f"+1312556{i}000")
                                   for i, c in enumerate(campaign_ids)))
        await wait_for(lambda: dialed(4), timeout_s=60, what="a fourth call per campaign")
        late = await query(select(calls.c.campaign_id, calls.c.owner_id).where(
            calls.c.lead_id.like("late-%")))
        assert sorted(c for c, _ in late) == sorted(campaign_ids)
        assert {name_of(owner) for _, owner in late} == {"dialer-b"}
    finally:
        for ctx in services.values():
            await ctx.__aexit__(None, None, None)
        await engine.dispose()


def name_of(instance_id: str) -> str:
    """The configured name of a dialer start ``<name>-<nonce>``."""
    return instance_id.rsplit("-", 1)[0]


async def _owns_all(owners: Any, instance: str) -> bool:
    return bool((await owners()).get(instance) == [0, 1])
