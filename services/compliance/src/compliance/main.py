"""Composition root of the compliance service: `uvicorn --factory compliance.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from common.app import ServiceSpec, create_service_app
from compliance.adapters.db import metadata
from compliance.api import checks, consents, decisions, dnc, export, registries
from compliance.app.workers import workers
from compliance.settings import ComplianceSettings

SPEC = ServiceSpec(
    name="compliance",
    routers=[dnc.router, decisions.router, registries.router, checks.router, export.router,
             consents.router],
    migrations=Path(__file__).parent / "migrations",
    metadata=metadata,
    workers=workers,
    settings_cls=ComplianceSettings,
)


def create_app(settings: ComplianceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
