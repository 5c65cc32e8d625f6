"""Outbox relay contract on real Kafka, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from sqlalchemy import select

from common.consumer import ConsumerRunner
from common.db import outbox
from common.events import EventEnvelope
from common.events.catalog import LeadClosedV1
from common.eventstore import EventStore, Outbox
from common.kafka import create_producer
from common.relay import OutboxRelay
from common.testing.kafka_tools import create_topic, read_all, unique_name

from .conftest import effect_counts, record_effect

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("effect_tables")]


@pytest.fixture
async def producer(kafka_broker):
    p = create_producer(kafka_broker.bootstrap_servers, "test-relay")
    await p.start()
    yield p
    await p.stop()


async def append_leads(sessions, store: EventStore, n: int, streams: int = 5) -> list[EventEnvelope]:
    out: list[EventEnvelope] = []
    for i in range(n):
        stream = f"lead-{i % streams}"
        async with sessions() as s, s.begin():
            version = await store.current_version(s, tenant_id="t1", stream_id=stream)
            out += await store.append(s, tenant_id="t1", stream_id=stream, expected_version=version,
                                      payloads=[LeadClosedV1(lead_id=stream, list_id="l", reason=str(i))])
    return out


async def test_relay_publishes_in_per_key_order_and_marks_published(kafka_broker, sessions, producer) -> None:
    prefix = unique_name("r") + "."
    await create_topic(kafka_broker.bootstrap_servers, f"{prefix}leads", partitions=3)
    store = EventStore("/kaden/test", Outbox(prefix))
    sent = await append_leads(sessions, store, 40)
    relay = OutboxRelay(sessions, producer, "test", batch_size=15)
    assert await relay.backlog() == 40
    while await relay.run_once():
        pass
    assert await relay.backlog() == 0

    records = await read_all(kafka_broker.bootstrap_servers, f"{prefix}leads", expect=40)
    got = [EventEnvelope.from_kafka(r.key, r.value, r.headers) for r in records]
    assert sorted(e.id for e in got) == sorted(e.id for e in sent)
    for stream in {e.key for e in sent}:  # order within a key is the append order
        assert [e.id for e in got if e.key == stream] == [e.id for e in sent if e.key == stream]
    assert all(e.tenantid == "t1" and e.type == "callcenter.lead.closed.v1" for e in got)


async def test_relay_crash_between_publish_and_mark_republishes_and_consumer_ignores_duplicate(
    kafka_broker, sessions, producer
) -> None:
    prefix = unique_name("r") + "."
    topic = await create_topic(kafka_broker.bootstrap_servers, f"{prefix}leads")
    store = EventStore("/kaden/test", Outbox(prefix))
    sent = await append_leads(sessions, store, 10)

    crashed = OutboxRelay(sessions, producer, "test")
    rows = await crashed.fetch_pending()
    await crashed.publish(rows)  # acknowledged by Kafka ... then the relay dies before marking
    restarted = OutboxRelay(sessions, producer, "test")
    assert await restarted.run_once() == 10  # published again
    records = await read_all(kafka_broker.bootstrap_servers, topic, expect=20)
    assert len(records) == 20

    r = ConsumerRunner(group_id=unique_name("g"), topics=[topic], handler=record_effect,
                       session_factory=sessions, bootstrap_servers=kafka_broker.bootstrap_servers,
                       dead_letter_topic="unused")
    task = asyncio.create_task(r.run())
    try:
        for _ in range(300):
            counts = await effect_counts(sessions)
            if len(counts) == 10:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # give a double effect the chance to show
        counts = await effect_counts(sessions)
    finally:
        r.stop()
        await task
    assert counts == {e.id: 1 for e in sent}


async def test_unpublished_rows_survive_a_broker_error(kafka_broker, sessions) -> None:
    prefix = unique_name("r") + "."
    store = EventStore("/kaden/test", Outbox(prefix))
    await append_leads(sessions, store, 3)  # topic deliberately missing: publishing fails
    p = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, request_timeout_ms=2000,
                         enable_idempotence=True)
    await p.start()
    try:
        relay = OutboxRelay(sessions, p, "test")
        with pytest.raises(KafkaError):
            await asyncio.wait_for(relay.run_once(), 10)
    finally:
        await p.stop()
    async with sessions() as s:
        pending = (await s.execute(select(outbox.c.id).where(outbox.c.published_at.is_(None)))).all()
    assert len(pending) == 3  # nothing lost: retried by the next run
