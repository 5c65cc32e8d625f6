"""aiokafka clients configured the way the platform needs them."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


def create_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    """An idempotent producer: acks from all in-sync replicas, no duplicates on retry,
    per-partition order kept. Batches for up to 5 ms to publish outbox rows in bulk."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
    )


def create_consumer(
    bootstrap_servers: str, group_id: str, client_id: str, max_poll_records: int = 500
) -> AIOKafkaConsumer:
    """A group consumer that never auto-commits: offsets are stored in the service's
    database with the handler's writes; Kafka commits follow only for lag monitoring."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        fetch_max_bytes=16 * 1024 * 1024,
        isolation_level="read_uncommitted",
        session_timeout_ms=30_000,
        heartbeat_interval_ms=3_000,
    )
