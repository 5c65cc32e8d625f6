"""Alembic, shared by the services: one environment, the core revision, and each service's
own revisions.

The core tables (event store, outbox, consumer tracking) are revision ``0001`` in
``common/migrations/versions``. A service that owns tables keeps its revisions in
``services/<svc>/src/<svc>/migrations/`` (the first one revises ``0001``) and passes that
folder and its MetaData in its :class:`common.app.ServiceSpec`; alembic sees both folders
through ``version_locations``. :func:`upgrade_to_head` runs them from code (start-up of the
embedded default, test fixtures); ``kaden migrate`` runs them from a Kubernetes Job.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

HERE = Path(__file__).resolve().parent


def alembic_config(
    database_url: str,
    service_versions: Path | None = None,
    metadata: Sequence[MetaData] = (),
) -> Config:
    """An alembic Config for one service's database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    locations = [HERE / "versions"]
    if service_versions is not None:
        locations.append(service_versions)
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["target_metadata"] = list(metadata)
    return cfg


def _ensure_sqlite_dir(database_url: str) -> None:
    if database_url.startswith("sqlite") and ":///" in database_url:
        path = database_url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


async def upgrade_to_head(
    database_url: str,
    service_versions: Path | None = None,
    metadata: Sequence[MetaData] = (),
) -> None:
    """Apply every pending migration (alembic runs its own loop: use a worker thread)."""
    _ensure_sqlite_dir(database_url)
    cfg = alembic_config(database_url, service_versions, metadata)
    await asyncio.to_thread(command.upgrade, cfg, "head")
