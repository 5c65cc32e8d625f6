"""The leads revisions build exactly the tables leads.adapters.db declares, on both
databases, and downgrade cleanly."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from common.db import core_metadata
from common.migrations import alembic_config, upgrade_to_head
from leads.adapters.db import metadata
from leads.main import SPEC


async def test_migrations_match_the_declared_tables(database_url: str) -> None:
    await upgrade_to_head(database_url, SPEC.migrations, [metadata])
    declared = MetaData()
    for table in [*core_metadata.sorted_tables, *metadata.sorted_tables]:
        table.to_metadata(declared)
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), declared))
        assert diff == [], f"migrations drifted from leads.adapters.db: {diff}"
        config = alembic_config(database_url, SPEC.migrations, [metadata])
        await asyncio.to_thread(command.downgrade, config, "0001")
        async with engine.connect() as conn:
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert not left & {t.name for t in metadata.sorted_tables}
    finally:
        await engine.dispose()
