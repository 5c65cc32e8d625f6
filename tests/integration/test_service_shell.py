"""Every service starts on real PostgreSQL and real Kafka, reports ready, serves metrics,
and publishes what it writes to its outbox."""

from __future__ import annotations

import asyncio
import importlib

import httpx
import pytest
from sqlalchemy import select

from common.db import outbox
from common.events import EventEnvelope
from common.events.catalog import LeadClosedV1
from common.settings import ServiceSettings
from common.testing.kafka_tools import read_all, unique_name
from common.topics import ensure_topics

SERVICES = ["leads", "compliance", "dialer", "agent", "reporting"]
pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.mark.parametrize("service", SERVICES)
async def test_service_starts_ready_and_relays_its_outbox(service, kafka_broker, postgres_server) -> None:
    db = unique_name(service).replace("-", "_")
    postgres_server.create_database(db)
    prefix = unique_name("svc") + "."
    await ensure_topics(kafka_broker.bootstrap_servers, prefix=prefix, partitions_override=1)
    settings = ServiceSettings(
        database_url=postgres_server.dsn(db), kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        kafka_topic_prefix=prefix, jwt_secret="test-secret-0123456789abcdef0123456789", log_json=True,
    )
    app = importlib.import_module(f"{service}.main").create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            assert (await client.get("/healthz")).json() == {"status": "ok", "service": service}
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["outbox-relay"] == "ok"

            runtime = app.state.runtime
            async with runtime.sessions() as s, s.begin():
                [env] = await runtime.event_store.append(
                    s, tenant_id="acme", stream_id="lead-9", expected_version=0,
                    payloads=[LeadClosedV1(lead_id="lead-9", list_id="l", reason="smoke")])
            records = await read_all(kafka_broker.bootstrap_servers, f"{prefix}leads", expect=1)
            assert [EventEnvelope.from_kafka(r.key, r.value, r.headers).id for r in records] == [env.id]
            assert EventEnvelope.from_kafka(records[0].key, records[0].value,
                                            records[0].headers).source == f"/kaden/{service}"
            for _ in range(50):
                async with runtime.sessions() as s:
                    if (await s.execute(select(outbox.c.published_at))).scalar_one() is not None:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("outbox row was never marked published")

            metrics = (await client.get("/metrics")).text
            red = f'method="GET",route="/readyz",service="{service}",status="200"'
            assert f"kaden_http_requests_total{{{red}}}" in metrics
            assert f'kaden_outbox_published_total{{service="{service}",topic="{prefix}leads"}}' in metrics
