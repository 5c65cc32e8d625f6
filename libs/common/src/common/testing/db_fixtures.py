"""pytest fixtures for the database contract: every test using ``database_url`` runs once
on SQLite and once on the real PostgreSQL server (``postgres_server``), on a fresh database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from common.db import core_metadata, create_engine, create_session_factory


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(db_backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> str:
    """A URL to a fresh, empty database on the selected backend."""
    if db_backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/test.db"
    server = request.getfixturevalue("postgres_server")
    name = f"t_{uuid.uuid4().hex[:16]}"
    server.create_database(name)
    return str(server.dsn(name))


@pytest.fixture
async def core_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database holding the core tables."""
    engine = create_engine(database_url, pool_size=20)
    async with engine.begin() as conn:
        await conn.run_sync(core_metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(core_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(core_engine)
