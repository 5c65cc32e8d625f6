"""A crash of the projection mid-stream changes no KPI; a rebuild from the log gives the same.

The test generates an hour of traffic for 2 tenants × 2 campaigns (seeded), keeps its own
recount of every total from what it generated (``reporting_traffic``), and then:
1. publishes the first half, starts the service with small polls and kills the consumer
   task in the middle of the stream (no graceful stop);
2. publishes the second half while the service is down, restarts it on the same database
   and checks every KPI against the recount;
3. projects the whole log into a fresh database and checks it gives exactly the same JSON.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from reporting_kit import get_kpis, projected_offsets, publish, wait_projected
from reporting_traffic import Traffic, expected_campaign, expected_handling, simulate

import reporting.main as reporting_main
from common.testing.kafka_tools import unique_name
from common.testing.services import bearer, running_service
from common.topics import ensure_topics
from reporting.app.projection import project_facts
from reporting.main import PROJECTION_GROUP, SPEC

pytestmark = pytest.mark.kafka


def approx(expected: dict[str, Any]) -> dict[str, Any]:
    return {k: v if v is None else pytest.approx(v) for k, v in expected.items()}


async def all_kpis(svc, traffic: Traffic) -> dict[str, dict[str, Any]]:
    """Every campaign's and agent's KPIs of every tenant, keyed by tenant/path."""
    result = {}
    for tenant in traffic.tenants:
        reader = bearer(tenant, ["kpis:read"])
        for campaign in traffic.campaigns:
            paths = [f"/v1/campaigns/{campaign}/kpis",
                     *(f"/v1/agents/{agent}/kpis" for agent in traffic.agent_ids(campaign))]
            for path in paths:
                result[f"{tenant}{path}"] = await get_kpis(svc, path, reader)
    return result


@pytest.fixture
def second_database_url(db_backend: str, tmp_path, request) -> str:
    """Another fresh, empty database on the same backend (for the rebuild)."""
    if db_backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/rebuild.db"
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:16]}"
    server.create_database(name)
    return str(server.dsn(name))


async def test_crash_mid_stream_and_rebuild_change_no_kpi(
        kafka_broker, database_url, second_database_url, monkeypatch) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    traffic = simulate()
    log = traffic.log
    halves = [{topic: events[: len(events) // 2] for topic, events in log.by_topic.items()},
              {topic: events[len(events) // 2:] for topic, events in log.by_topic.items()}]
    first_half = sum(map(len, halves[0].values()))
    prefix = unique_name("it") + "."
    await ensure_topics(bootstrap, prefix=prefix, partitions_override=2)
    await publish(bootstrap, prefix, halves[0])

    # The process dies inside the poll that takes the projection past 300 events: that
    # transaction is lost (deterministic, however fast the machine is).
    seen = 0

    async def dies_mid_stream(session: Any, events: Any) -> None:
        nonlocal seen
        await project_facts(session, events)
        seen += len(events)
        if seen >= 300:
            raise asyncio.CancelledError

    monkeypatch.setattr(reporting_main, "project_facts", dies_mid_stream)
    async with running_service(SPEC, kafka_bootstrap=bootstrap, database_url=database_url,
                               topic_prefix=prefix, consumer_batch_size=20) as svc:
        consumer = svc.runtime.workers[f"consumer:{prefix}{PROJECTION_GROUP}"]
        await asyncio.wait_for(asyncio.wait([consumer]), 60)
        at_crash = sum((await projected_offsets(svc)).values())
    monkeypatch.undo()
    assert 100 <= at_crash < first_half, "the crash must happen in the middle of the stream"

    await publish(bootstrap, prefix, halves[1])
    async with running_service(SPEC, kafka_bootstrap=bootstrap, database_url=database_url,
                               topic_prefix=prefix, consumer_batch_size=200) as svc:
        await wait_projected(svc, log.counts())
        restarted = await all_kpis(svc, traffic)
    for (tenant, campaign), totals in traffic.by_campaign.items():
        got = restarted[f"{tenant}/v1/campaigns/{campaign}/kpis"]
        assert {k: got[k] for k in expected_campaign(totals)} == approx(
            expected_campaign(totals)), (tenant, campaign)
    for (tenant, agent), totals in traffic.by_agent.items():
        got = restarted[f"{tenant}/v1/agents/{agent}/kpis"]
        assert {k: got[k] for k in expected_handling(totals)} == approx(
            expected_handling(totals)), (tenant, agent)

    async with running_service(SPEC, kafka_bootstrap=bootstrap,
                               database_url=second_database_url, topic_prefix=prefix,
                               consumer_batch_size=500) as svc:
        await wait_projected(svc, log.counts())
        assert await all_kpis(svc, traffic) == restarted
