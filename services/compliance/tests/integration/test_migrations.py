"""The compliance revision builds exactly the tables ``adapters/db.py`` declares."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from common.db import core_metadata
from common.migrations import alembic_config, upgrade_to_head
from compliance.adapters.db import metadata
from compliance.main import SPEC


async def test_upgrade_matches_declared_schema_and_downgrade_cleans_up(database_url: str) -> None:
    assert SPEC.migrations is not None and SPEC.migrations.name == "migrations"
    await upgrade_to_head(database_url, SPEC.migrations, [metadata])
    engine = create_async_engine(database_url)
    merged = MetaData()
    for source in (core_metadata, metadata):
        for table in source.tables.values():
            table.to_metadata(merged)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), merged))
        assert diff == [], f"migrations drifted from compliance.adapters.db: {diff}"
        await asyncio.to_thread(command.downgrade,
                                alembic_config(database_url, Path(SPEC.migrations)), "0001")
        async with engine.connect() as conn:
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert not left & {"dnc_lists", "dnc_entries", "decisions"}
    finally:
        await engine.dispose()
