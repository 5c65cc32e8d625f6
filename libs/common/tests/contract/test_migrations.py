"""The core revision builds exactly the tables common.db declares, on both databases."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from common.db import core_metadata
from common.migrations import alembic_config, upgrade_to_head


async def test_upgrade_matches_declared_schema_and_downgrade_cleans_up(database_url: str) -> None:
    await upgrade_to_head(database_url)
    await upgrade_to_head(database_url)  # idempotent
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), core_metadata))
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert diff == [], f"migrations drifted from common.db: {diff}"
        assert {t.name for t in core_metadata.sorted_tables} <= tables

        await asyncio.to_thread(command.downgrade, alembic_config(database_url), "base")
        async with engine.connect() as conn:
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert left <= {"alembic_version"}
    finally:
        await engine.dispose()
