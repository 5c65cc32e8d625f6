"""Test support: build call and agent events, publish them, wait for the projection."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from common.db import consumer_offsets
from common.events import EventEnvelope, build_envelope
from common.events.catalog import (
    AgentStateChangedV1,
    CallAbandonedV1,
    CallAnsweredV1,
    CallConnectedV1,
    CallDialedV1,
    CallEndedV1,
    DispositionSubmittedV1,
    EventPayload,
)
from common.testing.kafka_tools import produce
from common.testing.services import RunningService, wait_for
from common.topics import Topic
from reporting.main import PROJECTION_GROUP

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """``T0`` + ``seconds``."""
    return T0 + timedelta(seconds=seconds)


class EventLog:
    """Events of one test, per topic in production order (per-key order = list order)."""

    def __init__(self) -> None:
        self.by_topic: dict[Topic, list[EventEnvelope]] = defaultdict(list)

    def add(self, tenant: str, *payloads: EventPayload) -> None:
        for payload in payloads:
            self.by_topic[payload.topic].append(
                build_envelope(payload, tenant_id=tenant, source="/kaden/test"))

    # ------------------------------------------------------------------ calls
    def call(self, tenant: str, campaign: str, call_id: str, *, dialed: float,
             answered: tuple[float, str] | None = None,
             connected: tuple[float, str] | None = None, abandoned: float | None = None,
             ended: float, outcome: str, talk_ms: int = 0) -> None:
        """The ``calls`` events of one call, in the order the dialer emits them."""
        ids = {"call_id": call_id, "campaign_id": campaign, "lead_id": f"lead-{call_id}"}
        events: list[EventPayload] = [CallDialedV1(**ids, at=at(dialed), attempt=1)]
        ring_ms = int(((answered[0] if answered else ended) - dialed) * 1000)
        if answered:
            events.append(CallAnsweredV1(**ids, at=at(answered[0]), answered_by=answered[1]))
        agent = None
        if connected:
            assert answered
            agent = connected[1]
            events.append(CallConnectedV1(**ids, at=at(connected[0]), agent_id=agent,
                                          wait_ms=int((connected[0] - answered[0]) * 1000)))
        if abandoned is not None:
            assert answered
            events.append(CallAbandonedV1(**ids, at=at(abandoned),
                                          wait_ms=int((abandoned - answered[0]) * 1000)))
        events.append(CallEndedV1(**ids, at=at(ended), outcome=outcome, ring_ms=ring_ms,
                                  talk_ms=talk_ms, agent_id=agent))
        self.add(tenant, *events)

    # ------------------------------------------------------------------ agents
    def states(self, tenant: str, agent: str, campaigns: Iterable[str],
               *steps: tuple[float, str] | tuple[float, str, str | None]) -> None:
        """An agent session: ``(at_s, state[, call_id or pause reason])`` in time order."""
        for step in steps:
            seconds, state = step[0], step[1]
            extra = step[2] if len(step) > 2 else None
            on_call = state in ("on_call", "wrap_up")
            self.add(tenant, AgentStateChangedV1(
                agent_id=agent, session_id=f"sess-{agent}", state=state,
                campaign_ids=list(campaigns), at=at(seconds),
                call_id=extra if on_call else None, reason=None if on_call else extra))

    def disposition(self, tenant: str, agent: str, campaign: str, call_id: str, *,
                    at_s: float, disposition: str, category: str) -> None:
        self.add(tenant, DispositionSubmittedV1(
            agent_id=agent, call_id=call_id, lead_id=f"lead-{call_id}", campaign_id=campaign,
            disposition=disposition, category=category, at=at(at_s)))

    def counts(self) -> dict[Topic, int]:
        return {topic: len(events) for topic, events in self.by_topic.items()}


async def publish(bootstrap: str, prefix: str, events: dict[Topic, list[EventEnvelope]]) -> None:
    for topic, envelopes in events.items():
        await produce(bootstrap, f"{prefix}{topic}", envelopes)


async def projected_offsets(svc: RunningService) -> dict[str, int]:
    """Records of each topic the projection has committed (sum of next offsets)."""
    group = f"{svc.topic_prefix}{PROJECTION_GROUP}"
    o = consumer_offsets
    async with svc.runtime.sessions() as session:
        rows = await session.execute(
            select(o.c.topic, func.sum(o.c.next_offset)).where(o.c.group_id == group)
            .group_by(o.c.topic))
        return {topic.removeprefix(svc.topic_prefix): int(n) for topic, n in rows}


async def wait_projected(svc: RunningService, counts: dict[Topic, int],
                         timeout_s: float = 60.0) -> None:
    """Wait until the projection committed ``counts`` records per topic (fresh topics)."""
    want = {str(topic): n for topic, n in counts.items()}

    async def done() -> bool:
        got = await projected_offsets(svc)
        return all(got.get(topic, 0) >= n for topic, n in want.items())

    await wait_for(done, timeout_s=timeout_s, interval_s=0.1, what=f"projection of {want}")


async def get_kpis(svc: RunningService, path: str, headers: dict[str, str],
                   **params: str) -> dict[str, Any]:
    response = await svc.client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
