"""The reporting revisions build exactly the tables ``reporting.adapters.db`` declares."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from common.db import core_metadata
from common.migrations import alembic_config, upgrade_to_head
from reporting.adapters.db import metadata
from reporting.main import SPEC


async def test_upgrade_matches_declared_schema_and_downgrade_cleans_up(database_url: str) -> None:
    await upgrade_to_head(database_url, SPEC.migrations, [metadata])
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c), [core_metadata, metadata]))
            indexes = await conn.run_sync(
                lambda c: {i["name"] for i in inspect(c).get_indexes("agent_intervals")})
        assert diff == [], f"migrations drifted from reporting.adapters.db: {diff}"
        assert indexes == {"ix_agent_intervals_agent", "ix_agent_intervals_open"}

        cfg = alembic_config(database_url, SPEC.migrations, [metadata])
        await asyncio.to_thread(command.downgrade, cfg, "0001")
        async with engine.connect() as conn:
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert not left & {t.name for t in metadata.sorted_tables}
    finally:
        await engine.dispose()
