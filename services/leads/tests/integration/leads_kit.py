"""Helpers of the leads integration tests: run the service, import, feed and read events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import select

from common.db import processed_events
from common.events import EventEnvelope, build_envelope
from common.events.catalog import EventPayload
from common.testing.kafka_tools import produce, read_all
from common.testing.services import RunningService, bearer, running_service, wait_for
from common.topics import Topic
from leads.main import SPEC

ACME, GLOBEX = "acme", "globex"
FAST = {"scheduler_interval_s": 0.1, "import_poll_interval_s": 0.05}


@asynccontextmanager
async def leads_service(kafka: str, database_url: str, **settings: Any,
                        ) -> AsyncIterator[RunningService]:
    """The leads service with fast loops (settings override the defaults)."""
    async with running_service(SPEC, kafka_bootstrap=kafka, database_url=database_url,
                               **{**FAST, **settings}) as svc:
        yield svc


async def new_list(client: httpx.AsyncClient, tenant: str = ACME, name: str = "Renewals") -> str:
    r = await client.post("/v1/lists", json={"name": name}, headers=bearer(tenant))
    assert r.status_code == 201, r.text
    return str(r.json()["list_id"])


async def finished_job(client: httpx.AsyncClient, accepted: httpx.Response,
                       tenant: str = ACME) -> dict[str, Any]:
    """Wait for the job a ``202`` response names to finish; returns its final status."""
    assert accepted.status_code == 202, accepted.text
    url = accepted.json()["status_url"]
    assert accepted.headers["location"] == url
    job: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal job
        job = (await client.get(url, headers=bearer(tenant))).json()
        return job["status"] in ("done", "failed")

    await wait_for(done, timeout_s=30, what="the import job to finish")
    return job


async def import_json(client: httpx.AsyncClient, list_id: str, leads: list[Any],
                      tenant: str = ACME, default_country: str | None = "US") -> dict[str, Any]:
    r = await client.post(f"/v1/lists/{list_id}/imports", headers=bearer(tenant),
                          json={"default_country": default_country, "leads": leads})
    return await finished_job(client, r, tenant)


async def publish(svc: RunningService, kafka: str, tenant: str,
                  *payloads: EventPayload) -> list[str]:
    """Produce real envelopes to the service's prefixed topics (each payload's own topic);
    returns their event ids."""
    ids = []
    for p in payloads:
        env = build_envelope(p, tenant_id=tenant, source="/kaden/test")
        await produce(kafka, svc.topic_prefix + p.topic.value, [env])
        ids.append(env.id)
    return ids


async def wait_consumed(svc: RunningService, event_ids: list[str]) -> None:
    """Wait until the service's consumers have processed (claimed) these events."""

    async def claimed() -> bool:
        async with svc.runtime.sessions() as s:
            found = await s.execute(select(processed_events.c.event_id).where(
                processed_events.c.event_id.in_(event_ids)))
            return len(set(found.scalars())) == len(set(event_ids))

    await wait_for(claimed, timeout_s=20, what=f"{len(event_ids)} events to be consumed")


async def published(svc: RunningService, kafka: str, event_type: str,
                    topic: Topic = Topic.LEADS) -> list[EventEnvelope]:
    """The events of ``event_type`` on the service's prefixed topic, in no particular order."""
    records = await read_all(kafka, svc.topic_prefix + topic.value, timeout_s=5)
    envelopes = [EventEnvelope.from_kafka(r.key, r.value, r.headers) for r in records]
    return [e for e in envelopes if e.type == event_type]


async def wait_published(svc: RunningService, kafka: str, event_type: str, count: int,
                         timeout_s: float = 20) -> list[EventEnvelope]:
    """Wait until at least ``count`` events of ``event_type`` were published."""
    found: list[EventEnvelope] = []

    async def enough() -> bool:
        nonlocal found
        found = await published(svc, kafka, event_type)
        return len(found) >= count

    await wait_for(enough, timeout_s=timeout_s, interval_s=0.2,
                   what=f"{count} {event_type} events")
    return found


async def lead_state(client: httpx.AsyncClient, lead_id: str,
                     tenant: str = ACME) -> dict[str, Any]:
    r = await client.get(f"/v1/leads/{lead_id}", headers=bearer(tenant))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def wait_lead(client: httpx.AsyncClient, lead_id: str, **expected: Any) -> dict[str, Any]:
    """Wait until the lead's fields have the ``expected`` values; returns the lead."""
    state: dict[str, Any] = {}

    async def matches() -> bool:
        nonlocal state
        state = await lead_state(client, lead_id)
        return all(state.get(k) == v for k, v in expected.items())

    try:
        await wait_for(matches, timeout_s=20, what=f"lead {lead_id} to have {expected}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last state {state}") from None
    return state


async def settle(seconds: float = 0.8) -> None:
    """Let the service's loops run a few times (to check that nothing more happens)."""
    await asyncio.sleep(seconds)
