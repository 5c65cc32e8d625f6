"""Migrations and the repository's optimistic concurrency, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import agent.main
from agent.adapters.db import agent_campaigns, metadata
from agent.adapters.repository import AgentRepository
from agent.domain.session import AgentSession
from common.db import core_metadata, create_engine, create_session_factory, event_store
from common.eventstore import ConcurrencyError, EventStore
from common.migrations import alembic_config, upgrade_to_head

MIGRATIONS = Path(agent.main.__file__).parent / "migrations"
T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_to_head(database_url, MIGRATIONS, [metadata])
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


async def test_migrations_build_the_declared_tables_and_downgrade_cleans_up(
        engine: AsyncEngine, database_url: str) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(
            MigrationContext.configure(c), [core_metadata, metadata]))
    assert diff == [], f"migrations drifted from agent.adapters.db: {diff}"
    cfg = alembic_config(database_url, MIGRATIONS, [metadata])
    await asyncio.to_thread(command.downgrade, cfg, "0001")
    async with engine.connect() as conn:
        left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert not left & set(metadata.tables)


async def test_a_stale_save_raises_concurrency_error_and_changes_nothing(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    repo = AgentRepository(EventStore("/kaden/agent"))
    new = AgentSession("agent-3")
    as_paused = new.login(["camp-1"], ready=False, session_id="sess-1", now=T0)
    as_ready = new.login(["camp-2", "camp-3"], ready=True, session_id="sess-2", now=T0)
    async with sessions() as s, s.begin():
        await repo.save(s, "acme", new, as_paused)
        with pytest.raises(ConcurrencyError):  # decided on the same (now stale) state
            await repo.save(s, "acme", new, as_ready)
        stored = await repo.get(s, "acme", "agent-3")
        ready = as_paused.session.make_ready(T0)
        await repo.save(s, "acme", as_paused.session, ready)  # the session is still usable
        with pytest.raises(ConcurrencyError):  # stale state, on an existing stream
            await repo.save(s, "acme", as_paused.session, ready)
    assert stored == as_paused.session
    async with sessions() as s:
        versions = (await s.execute(select(event_store.c.version)
                                    .order_by(event_store.c.version))).scalars().all()
        campaigns = (await s.execute(select(agent_campaigns.c.campaign_id))).scalars().all()
        assert await repo.get(s, "acme", "agent-3") == ready.session
        assert await repo.get(s, "globex", "agent-3") is None
    assert (versions, campaigns) == ([1, 2], ["camp-1"])
