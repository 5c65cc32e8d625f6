"""The projection's writes are order-free: any interleaving and any poll size, same tables.

Runs the batch handler directly (no broker) on SQLite and PostgreSQL. Each run delivers
the same events in a different order: the two topics interleaved at random, the events
of different calls shuffled and even the events of one call reversed (only an agent's own
state changes keep their order, as their shared partition guarantees), cut into polls of
random sizes. Every run must leave exactly the same rows.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from reporting_traffic import simulate
from sqlalchemy import delete, select

from common.consumer import ConsumedEvent
from common.db import create_engine, create_session_factory
from common.events import EventEnvelope
from common.migrations import upgrade_to_head
from common.topics import Topic
from reporting.adapters.db import agent_interval_campaigns, agent_intervals, call_facts, metadata
from reporting.app.projection import project_facts
from reporting.main import SPEC

TABLES = (call_facts, agent_intervals, agent_interval_campaigns)


def delivery(rng: random.Random, calls: list[EventEnvelope],
             agents: list[EventEnvelope]) -> list[ConsumedEvent]:
    """One possible delivery order (agent streams keep their order, nothing else does)."""
    calls = list(calls)
    rng.shuffle(calls)
    streams: dict[str, list[EventEnvelope]] = defaultdict(list)
    for envelope in agents:
        streams[envelope.key].append(envelope)
    pending = [("calls", calls), *(("agents", s) for s in streams.values())]
    order: list[ConsumedEvent] = []
    while pending:
        topic, stream = rng.choice(pending)
        order.append(ConsumedEvent(stream.pop(0), topic, 0, len(order)))
        if not stream:
            pending.remove((topic, stream))
    return order


async def snapshot(sessions: Any) -> dict[str, list[tuple[Any, ...]]]:
    async with sessions() as session:
        return {t.name: sorted(tuple(r) for r in await session.execute(select(t)))
                for t in TABLES}


async def test_every_delivery_order_and_poll_size_gives_the_same_facts(database_url) -> None:
    traffic = simulate(agents_per_campaign=2, calls_per_agent=6, unhandled_per_campaign=8)
    calls, agents = traffic.log.by_topic[Topic.CALLS], traffic.log.by_topic[Topic.AGENTS]
    await upgrade_to_head(database_url, SPEC.migrations, [metadata])
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    rng = random.Random(11)
    results = []
    try:
        for _ in range(4):
            async with sessions() as session, session.begin():
                for table in TABLES:
                    await session.execute(delete(table))
            events = delivery(rng, calls, agents)
            while events:
                size = rng.randint(1, 80)
                async with sessions() as session, session.begin():
                    await project_facts(session, events[:size])
                events = events[size:]
            results.append(await snapshot(sessions))
    finally:
        await engine.dispose()
    assert len(results[0]["call_facts"]) == len({(e.tenantid, e.key) for e in calls})
    assert all(r == results[0] for r in results[1:])
