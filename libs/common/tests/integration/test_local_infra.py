"""The session's real Kafka broker and PostgreSQL server answer and do real work."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import UnknownTopicOrPartitionError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from common.testing.infra_fixtures import KafkaService, PostgresService


@pytest.mark.kafka
async def test_broker_answers_describe_cluster(kafka_broker: KafkaService) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
    finally:
        await admin.close()
    assert [b["node_id"] for b in cluster["brokers"]] == [cluster["controller_id"]]
    assert cluster["cluster_id"]


@pytest.mark.kafka
async def test_produce_consume_round_trip(kafka_broker: KafkaService) -> None:
    servers = kafka_broker.bootstrap_servers
    topic = f"test-infra-{uuid.uuid4().hex}"
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=servers, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"value-{i}".encode(), key=f"k{i % 3}".encode())
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=servers, group_id=f"g-{topic}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        received: list[tuple[bytes | None, bytes | None]] = []
        async with asyncio.timeout(30):
            while len(received) < 10:
                batches = await consumer.getmany(timeout_ms=1000)
                received += [(r.key, r.value) for records in batches.values() for r in records]
        await consumer.commit()
    finally:
        await consumer.stop()
    assert sorted(v for _, v in received if v) == sorted(f"value-{i}".encode() for i in range(10))
    for key in (b"k0", b"k1", b"k2"):  # per-key order survives partitioning
        values = [v for k, v in received if k == key and v]
        assert values == sorted(values, key=lambda v: int(v.split(b"-")[1]))


@pytest.mark.kafka
async def test_topics_are_not_auto_created(kafka_broker: KafkaService) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    await admin.start()
    try:
        topic = f"test-never-created-{uuid.uuid4().hex}"
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers,
                                    request_timeout_ms=1000)
        await producer.start()
        try:
            with pytest.raises(UnknownTopicOrPartitionError):
                await producer.send_and_wait(topic, b"x")
        finally:
            await producer.stop()
        assert topic not in await admin.list_topics()
    finally:
        await admin.close()


@pytest.mark.postgres
async def test_postgres_answers_select_version(postgres_server: PostgresService) -> None:
    engine = create_async_engine(postgres_server.dsn())
    try:
        async with engine.connect() as conn:
            version = (await conn.execute(text("select version()"))).scalar_one()
    finally:
        await engine.dispose()
    assert version.startswith("PostgreSQL ")


@pytest.mark.postgres
async def test_create_database_is_idempotent(postgres_server: PostgresService) -> None:
    name = f"t_infra_{uuid.uuid4().hex[:12]}"
    postgres_server.create_database(name)
    postgres_server.create_database(name)
    engine = create_async_engine(postgres_server.dsn(name))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table probe (id int primary key)"))
            await conn.execute(text("insert into probe values (1)"))
            assert (await conn.execute(text("select current_database()"))).scalar_one() == name
    finally:
        await engine.dispose()
