"""Small Kafka helpers for tests and benchmarks (create topics, produce, read back)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from common.events import EventEnvelope


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def create_topic(bootstrap: str, name: str, partitions: int = 1) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def produce(bootstrap: str, topic: str, envelopes: Sequence[EventEnvelope]) -> None:
    """Publish envelopes (binary CloudEvents) and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for env in envelopes:
            key, value, headers = env.to_kafka()
            futures.append(await producer.send(topic, value, key=key, headers=headers))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_raw(bootstrap: str, topic: str, key: bytes, value: bytes,
                      headers: list[tuple[str, bytes]] | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=headers or [])
    finally:
        await producer.stop()


async def read_all(bootstrap: str, topic: str, expect: int | None = None,
                   timeout_s: float = 20.0) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning (until ``expect`` records or the end)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in
                      sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        target = expect if expect is not None else sum(end.values())
        records: list[ConsumerRecord] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(records) < target and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for recs in batch.values():
                records.extend(recs)
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return set(parts)
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions")
