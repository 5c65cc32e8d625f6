"""The agent service running in-process on the real broker, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from agent.main import SPEC
from common.events import EventEnvelope, EventPayload, build_envelope, parse_payload
from common.testing.kafka_tools import produce, read_all
from common.testing.services import RunningService, running_service

Publish = Callable[[str, EventPayload], Awaitable[None]]
Published = Callable[[str, int], Awaitable[list[EventPayload]]]


@pytest.fixture
async def svc(kafka_broker: Any, database_url: str) -> AsyncIterator[RunningService]:
    async with running_service(SPEC, kafka_bootstrap=kafka_broker.bootstrap_servers,
                               database_url=database_url) as service:
        yield service


@pytest.fixture
def publish_call_event(svc: RunningService, kafka_broker: Any) -> Publish:
    """Produce a call event of ``tenant`` to the service's ``calls`` topic, as the dialer."""

    async def publish(tenant: str, payload: EventPayload) -> None:
        envelope = build_envelope(payload, tenant_id=tenant, source="/kaden/dialer")
        await produce(kafka_broker.bootstrap_servers, f"{svc.topic_prefix}calls", [envelope])

    return publish


@pytest.fixture
def published(svc: RunningService, kafka_broker: Any) -> Published:
    """The payloads the service published on ``agents`` for ``tenant`` (waits for ``count``)."""

    async def read(tenant: str, count: int) -> list[EventPayload]:
        topic = f"{svc.topic_prefix}agents"
        records = []
        for _ in range(20):  # the relay publishes shortly after the commit
            records = [r for r in await read_all(kafka_broker.bootstrap_servers, topic,
                                                 timeout_s=5)
                       if dict(r.headers)["ce_tenantid"] == tenant.encode()]
            if len(records) >= count:
                break
        envelopes = [EventEnvelope.from_kafka(r.key, r.value, r.headers)
                     for r in sorted(records, key=lambda r: (r.partition, r.offset))]
        return [parse_payload(e) for e in envelopes]

    return read
