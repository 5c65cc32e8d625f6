"""Fixtures for the consumer/relay contract: a side-effect table and event factories."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from common.consumer import ConsumedEvent
from common.events import EventEnvelope, build_envelope
from common.events.catalog import LeadClosedV1

test_metadata = MetaData()
effects = Table(
    "test_effects",
    test_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("partition", Integer, nullable=False),
)


@pytest.fixture
async def effect_tables(core_engine: AsyncEngine) -> AsyncIterator[None]:
    async with core_engine.begin() as conn:
        await conn.run_sync(test_metadata.create_all)
    yield


def make_events(n: int, tenant: str = "t1", prefix: str = "lead") -> list[EventEnvelope]:
    return [
        build_envelope(LeadClosedV1(lead_id=f"{prefix}-{i}", list_id="l", reason="r"),
                       tenant_id=tenant, source="/kaden/test")
        for i in range(n)
    ]


async def record_effect(session: AsyncSession, event: ConsumedEvent) -> None:
    """The handler's side effect: one row per handling, written in the runner's transaction."""
    await session.execute(insert(effects).values(event_id=event.envelope.id,
                                                 partition=event.partition))


async def effect_counts(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as s:
        rows = await s.execute(select(effects.c.event_id, func.count()).group_by(effects.c.event_id))
        return {r[0]: int(r[1]) for r in rows}
