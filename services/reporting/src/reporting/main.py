"""Composition root of the reporting service: `uvicorn --factory reporting.main:create_app`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from common.app import ServiceRuntime, ServiceSpec, Worker, create_service_app
from common.settings import ServiceSettings
from common.topics import Topic
from reporting.adapters.db import metadata
from reporting.api.kpis import router as kpis_router
from reporting.app.projection import project_facts

PROJECTION_GROUP = "reporting-facts"


def _workers(runtime: ServiceRuntime) -> Sequence[Worker]:
    # One group over both topics: a call's facts merge from ``calls`` and ``agents`` events.
    return [runtime.consumer(PROJECTION_GROUP, [Topic.CALLS, Topic.AGENTS],
                             batch_handler=project_facts)]


SPEC = ServiceSpec(
    name="reporting",
    routers=[kpis_router],
    migrations=Path(__file__).parent / "migrations",
    metadata=metadata,
    workers=_workers,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
